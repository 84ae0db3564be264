/* crash_test.c -- kills real writer processes with SIGKILL and checks what
 * the reopened file holds.
 *
 * A forked child opens the database, sets "k00000000", "k00000001", ... and
 * after each successful layerdb_set writes an ack (index, CLOCK_MONOTONIC
 * time) to a pipe. The parent reads acks, sends SIGKILL at a random moment
 * (after a delay or after a number of acks), reaps the child, reopens the
 * file and checks:
 *  (1) every acknowledged key is there with its exact value (FSYNC_ALWAYS),
 *      or every key acknowledged 1.5 s before the kill (FSYNC_EVERYSEC);
 *  (2) the keys form a prefix 0..k-1 and info.keys == k: the log is ordered
 *      and append-only, so a crash may lose a suffix but never leave a hole;
 *  (3) k <= acks + 1: only the one set in flight may appear unacknowledged.
 * The kills repeat over the same file, each child continuing from what the
 * last reopen recovered, so recovery after recovery is exercised too.
 *
 * Values are derived from (seed, index), so the parent checks the bytes
 * without being told them. LAYERDB_SEED=n replays the same lengths, bytes
 * and kill delays (the timing itself cannot replay). A child never returns
 * into the harness: it ends in _exit() or by the parent's SIGKILL, and dies
 * with the parent (PR_SET_PDEATHSIG) if the parent itself crashes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "layerdb.h"
#include "test.h"

#define VALUE_MAX 300                 /* value lengths are 1..VALUE_MAX */
#define KEY_CAP 32
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define EVERYSEC_BOUND_NS (1500 * NS_PER_MS) /* what a kill may lose */
#define ACK_WAIT_LIMIT_NS (10 * NS_PER_S)    /* a child this slow is a bug */
#define CHILD_MAX_KEYS 10000000u             /* a runaway child stops here */

/* Exit statuses of a child that was not killed. */
enum child_exit {
    CHILD_DONE = 10,       /* wrote CHILD_MAX_KEYS keys without being killed */
    CHILD_ORPHANED,        /* the parent was gone before the child started */
    CHILD_OPEN_FAILED,     /* layerdb_open did not return LAYERDB_OK */
    CHILD_WRONG_START,     /* the file did not hold the keys the parent saw */
    CHILD_SET_FAILED,      /* layerdb_set did not return LAYERDB_OK */
    CHILD_ACK_FAILED       /* the ack pipe broke */
};

/* ---- Keys and values derived from the index ---- */

static uint64_t mix64(uint64_t x) { /* splitmix64's finalizer */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static size_t key_for(uint64_t i, char key[KEY_CAP]) {
    return (size_t)snprintf(key, KEY_CAP, "k%08llu", (unsigned long long)i);
}

/* The value of key i: 1..VALUE_MAX bytes, all from (seed, i). */
static size_t value_for(uint64_t seed, uint64_t i, unsigned char buf[VALUE_MAX]) {
    uint64_t h = mix64(seed ^ mix64(i));
    size_t len = 1 + (size_t)(h % VALUE_MAX);
    for (size_t j = 0; j < len; j++) {
        if (j % 8 == 0) h = mix64(h + j);
        buf[j] = (unsigned char)(h >> (8 * (j % 8)));
    }
    return len;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t start_seed(void) {
    uint64_t seed = test_seed();
    printf("# seed %llu\n", (unsigned long long)seed);
    test_rand_state = seed ? seed : 1; /* xorshift must not start at 0 */
    return seed;
}

/* ---- The child: set keys in order, acknowledge each on a pipe ---- */

struct ack {
    uint64_t index; /* the key just set */
    uint64_t t_ns;  /* CLOCK_MONOTONIC when layerdb_set returned */
};

struct writer_plan {
    const char *path;
    uint64_t seed;
    uint64_t start;    /* keys 0..start-1 are already in the file */
    int fsync;         /* enum layerdb_fsync */
    unsigned pause_us; /* sleep after each ack, to keep the file small */
};

static _Noreturn void child_fail(layerdb *db, const char *what, uint64_t i, int rc,
                                 int status) {
    dprintf(STDOUT_FILENO, "# child: %s at key %llu returned %d: %s\n", what,
            (unsigned long long)i, rc, layerdb_errmsg(db));
    _exit(status);
}

static void child_send_ack(int ack_fd, uint64_t i) {
    struct ack a = {i, now_ns()};
    /* At most PIPE_BUF bytes: the pipe takes the record whole or not at all. */
    if (write(ack_fd, &a, sizeof a) != (ssize_t)sizeof a) _exit(CHILD_ACK_FAILED);
}

static _Noreturn void child_write_keys(const struct writer_plan *plan, int ack_fd,
                                       pid_t parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(CHILD_ORPHANED);
    layerdb_options opts;
    layerdb_options_init(&opts);
    opts.fsync = plan->fsync;
    layerdb *db = NULL;
    int rc = layerdb_open(&db, plan->path, &opts);
    if (rc != LAYERDB_OK) child_fail(db, "open", plan->start, rc, CHILD_OPEN_FAILED);
    layerdb_info info;
    rc = layerdb_info_get(db, &info);
    if (rc != LAYERDB_OK || info.keys != plan->start)
        child_fail(db, "info.keys != start", info.keys, rc, CHILD_WRONG_START);
    char key[KEY_CAP];
    unsigned char val[VALUE_MAX];
    for (uint64_t i = plan->start; i < plan->start + CHILD_MAX_KEYS; i++) {
        rc = layerdb_set(db, key, key_for(i, key), val, value_for(plan->seed, i, val));
        if (rc != LAYERDB_OK) child_fail(db, "set", i, rc, CHILD_SET_FAILED);
        child_send_ack(ack_fd, i);
        if (plan->pause_us) usleep(plan->pause_us);
    }
    _exit(CHILD_DONE);
}

/* ---- The parent: start, listen, kill, reap ---- */

struct kill_plan {
    uint64_t delay_ns; /* kill this long after fork... */
    size_t after_acks; /* ...or after this many acks, whichever comes first */
};

struct child_run {
    pid_t pid;
    int ack_fd;                /* read end of the ack pipe; -1 once closed */
    struct ack *acks;          /* every ack received, in order */
    size_t n_acks, cap_acks;
    unsigned char partial[sizeof(struct ack)]; /* a record cut by read() */
    size_t partial_len;
    uint64_t start_ns, kill_ns; /* fork and SIGKILL times (monotonic) */
    int status;                /* from waitpid */
};

static void push_ack(struct child_run *run, const unsigned char *bytes) {
    if (run->n_acks == run->cap_acks) {
        size_t cap = run->cap_acks ? 2 * run->cap_acks : 1024;
        struct ack *grown = realloc(run->acks, cap * sizeof *grown);
        if (!grown) { perror("realloc"); exit(2); }
        run->acks = grown;
        run->cap_acks = cap;
    }
    memcpy(&run->acks[run->n_acks++], bytes, sizeof(struct ack));
}

/* Read what the child has sent. Returns 0 at end of file (the child is gone
 * and the pipe is empty), 1 otherwise. */
static int read_acks(struct child_run *run) {
    unsigned char buf[4096];
    size_t have = run->partial_len;
    memcpy(buf, run->partial, have);
    ssize_t got = read(run->ack_fd, buf + have, sizeof buf - have);
    if (got < 0 && errno == EINTR) got = 0;
    else if (got <= 0) return 0;
    have += (size_t)got;
    size_t off = 0;
    for (; have - off >= sizeof(struct ack); off += sizeof(struct ack))
        push_ack(run, buf + off);
    run->partial_len = have - off;
    memcpy(run->partial, buf + off, run->partial_len);
    return 1;
}

/* Collect acks until the deadline or until 'want' acks have arrived. */
static void wait_for_acks(struct child_run *run, uint64_t deadline_ns, size_t want) {
    for (;;) {
        uint64_t now = now_ns();
        if (run->n_acks >= want || now >= deadline_ns) return;
        struct pollfd p = {.fd = run->ack_fd, .events = POLLIN};
        int timeout_ms = (int)((deadline_ns - now + NS_PER_MS - 1) / NS_PER_MS);
        int ready = poll(&p, 1, timeout_ms);
        if (ready > 0 && !read_acks(run)) return; /* the child ended early */
    }
}

/* SIGKILL the child, reap it, then drain the acks it wrote before dying. */
static void kill_and_reap(struct child_run *run) {
    run->kill_ns = now_ns();
    kill(run->pid, SIGKILL);
    while (waitpid(run->pid, &run->status, 0) < 0 && errno == EINTR) {}
    while (read_acks(run)) {}
    close(run->ack_fd);
    run->ack_fd = -1;
}

/* Fork a writer per 'plan' and kill it per 'kp'. Returns 0, or -1 if no
 * child could be started. */
static int crash_child(struct child_run *run, const struct writer_plan *plan,
                       const struct kill_plan *kp) {
    memset(run, 0, sizeof *run);
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout); /* or the child's copy of the buffer prints twice */
    pid_t parent = getpid();
    run->start_ns = now_ns();
    run->pid = fork();
    if (run->pid < 0) { close(fds[0]); close(fds[1]); return -1; }
    if (run->pid == 0) {
        close(fds[0]);
        child_write_keys(plan, fds[1], parent);
    }
    close(fds[1]);
    run->ack_fd = fds[0];
    uint64_t limit = kp->delay_ns < ACK_WAIT_LIMIT_NS ? kp->delay_ns : ACK_WAIT_LIMIT_NS;
    wait_for_acks(run, run->start_ns + limit, kp->after_acks);
    kill_and_reap(run);
    return 0;
}

static void child_run_free(struct child_run *run) {
    free(run->acks);
    run->acks = NULL;
}

/* The child must have died of our SIGKILL, having acked keys in order. */
static void check_child_run(const struct child_run *run, uint64_t start) {
    int killed = WIFSIGNALED(run->status) && WTERMSIG(run->status) == SIGKILL;
    if (!killed) printf("# child status %d, not SIGKILL\n", run->status);
    CHECK(killed);
    CHECK(run->partial_len == 0);
    size_t out_of_order = 0;
    for (size_t k = 0; k < run->n_acks; k++) out_of_order += run->acks[k].index != start + k;
    CHECK(out_of_order == 0);
}

/* ---- Checking the reopened file ---- */

struct expectation {
    uint64_t must_have; /* keys 0..must_have-1 must be there */
    uint64_t may_have;  /* and no more than this many keys */
};

/* Length of the run of keys 0,1,2,... present; counts wrong values. */
static uint64_t count_prefix(layerdb *db, uint64_t seed, uint64_t *bad_values) {
    char key[KEY_CAP];
    unsigned char want[VALUE_MAX];
    uint64_t i = 0;
    for (;; i++) {
        const void *val;
        size_t vlen;
        if (layerdb_get(db, key, key_for(i, key), &val, &vlen) != LAYERDB_OK) return i;
        size_t want_len = value_for(seed, i, want);
        if (vlen != want_len || memcmp(val, want, vlen) != 0) {
            if (*bad_values == 0) printf("# %s has a wrong value\n", key);
            (*bad_values)++;
        }
    }
}

/* Keys past the prefix, looked up one by one up to 'scan_to' (a hole). */
static uint64_t count_keys_after(layerdb *db, uint64_t from, uint64_t scan_to) {
    char key[KEY_CAP];
    uint64_t found = 0;
    for (uint64_t i = from + 1; i < scan_to; i++) {
        if (layerdb_get(db, key, key_for(i, key), NULL, NULL) != LAYERDB_OK) continue;
        if (found++ == 0) printf("# %s present after a hole at %llu\n", key,
                                 (unsigned long long)from);
    }
    return found;
}

/* Reopen 'path' and check what a crash may leave (see the file's header).
 * Returns the number of keys recovered, or UINT64_MAX if it would not open. */
static uint64_t check_recovered(const char *path, uint64_t seed, struct expectation want) {
    layerdb *db = NULL;
    int rc = layerdb_open(&db, path, NULL);
    if (rc != LAYERDB_OK) printf("# reopen: %s\n", layerdb_errmsg(db));
    CHECK_RC(rc, LAYERDB_OK);
    if (rc != LAYERDB_OK) { layerdb_close(db); return UINT64_MAX; }
    layerdb_info info;
    CHECK_RC(layerdb_info_get(db, &info), LAYERDB_OK);
    uint64_t bad_values = 0;
    uint64_t prefix = count_prefix(db, seed, &bad_values);
    CHECK(bad_values == 0);
    CHECK(count_keys_after(db, prefix, want.may_have + 64) == 0);
    CHECK(info.keys == prefix);
    CHECK(prefix >= want.must_have);
    CHECK(prefix <= want.may_have);
    if (prefix < want.must_have || prefix > want.may_have || info.keys != prefix)
        printf("# recovered %llu keys (info.keys %llu), want %llu..%llu\n",
               (unsigned long long)prefix, (unsigned long long)info.keys,
               (unsigned long long)want.must_have, (unsigned long long)want.may_have);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    return prefix;
}

/* ---- The kill loops ---- */

static uint64_t random_between(uint64_t lo, uint64_t hi) { /* inclusive */
    return lo + test_rand() % (hi - lo + 1);
}

/* Alternate: kill 0-30 ms after fork, or after 0-299 acks. */
static struct kill_plan quick_kill(int round) {
    struct kill_plan kp = {UINT64_MAX, SIZE_MAX};
    if (round % 2 == 0) kp.delay_ns = random_between(0, 30) * NS_PER_MS;
    else kp.after_acks = (size_t)random_between(0, 299);
    return kp;
}

/* Under everysec: every fourth kill comes after 2.2-3 s of writing, so the
 * 1.5 s bound covers real keys; the others after 0-300 ms. */
static struct kill_plan everysec_kill(int round) {
    struct kill_plan kp = {UINT64_MAX, SIZE_MAX};
    if (round % 4 == 3) kp.delay_ns = random_between(2200, 3000) * NS_PER_MS;
    else kp.delay_ns = random_between(0, 300) * NS_PER_MS;
    return kp;
}

/* Keys acknowledged at least EVERYSEC_BOUND_NS before the kill. */
static uint64_t acked_before(const struct child_run *run, uint64_t bound_ns) {
    uint64_t n = 0;
    while (n < run->n_acks && run->acks[n].t_ns + bound_ns <= run->kill_ns) n++;
    return n;
}

static void report_round(int round, const struct kill_plan *kp, uint64_t start,
                         const struct child_run *run) {
    printf("# round %d: start %llu, delay %lld ms, after %lld acks, %zu acks\n", round,
           (unsigned long long)start,
           kp->delay_ns == UINT64_MAX ? -1LL : (long long)(kp->delay_ns / NS_PER_MS),
           kp->after_acks == SIZE_MAX ? -1LL : (long long)kp->after_acks, run->n_acks);
}

/* What the kills covered, printed so a run shows the test had teeth. */
struct kill_stats {
    unsigned kills, kills_before_first_ack;
    uint64_t acked;     /* acks received over all kills */
    uint64_t in_flight; /* keys recovered without an ack (set not yet acked) */
};

static void count_round(struct kill_stats *st, const struct child_run *run,
                        struct expectation want, uint64_t recovered) {
    st->kills++;
    st->kills_before_first_ack += run->n_acks == 0;
    st->acked += run->n_acks;
    if (recovered != UINT64_MAX && recovered + 1 == want.may_have) st->in_flight++;
}

static void print_stats(const struct kill_stats *st) {
    printf("# %u kills (%u before the first ack), %llu keys acked, %llu recovered"
           " without an ack\n", st->kills, st->kills_before_first_ack,
           (unsigned long long)st->acked, (unsigned long long)st->in_flight);
}

TEST("keeps every acknowledged write across 24 SIGKILLs under fsync always") {
    uint64_t seed = start_seed();
    char path[512];
    snprintf(path, sizeof path, "%s", test_path("always.db"));
    uint64_t recovered = 0;
    struct kill_stats st = {0};
    for (int round = 0; round < 24 && !test_failures_in_case; round++) {
        struct writer_plan plan = {path, seed, recovered, LAYERDB_FSYNC_ALWAYS, 0};
        struct kill_plan kp = quick_kill(round);
        struct child_run run;
        REQUIRE(crash_child(&run, &plan, &kp) == 0);
        check_child_run(&run, recovered);
        struct expectation want = {recovered + run.n_acks, recovered + run.n_acks + 1};
        recovered = check_recovered(path, seed, want);
        count_round(&st, &run, want, recovered);
        if (test_failures_in_case) report_round(round, &kp, plan.start, &run);
        child_run_free(&run);
    }
    print_stats(&st);
}

/* A long everysec round: how long the child wrote and what the bound held. */
static void print_long_round(const struct child_run *run, uint64_t durable,
                             uint64_t start, uint64_t recovered) {
    uint64_t writing_ms = run->n_acks ? (run->kill_ns - run->acks[0].t_ns) / NS_PER_MS : 0;
    printf("# wrote %llu ms, %zu acks, %llu due by the bound, %llu of them recovered\n",
           (unsigned long long)writing_ms, run->n_acks, (unsigned long long)durable,
           (unsigned long long)(recovered >= start ? recovered - start : 0));
}

TEST("keeps every write acknowledged 1.5 s before a SIGKILL under fsync everysec") {
    uint64_t seed = start_seed();
    char path[512];
    snprintf(path, sizeof path, "%s", test_path("everysec.db"));
    uint64_t recovered = 0, long_rounds_bound = 0;
    for (int round = 0; round < 12 && !test_failures_in_case; round++) {
        struct writer_plan plan = {path, seed, recovered, LAYERDB_FSYNC_EVERYSEC, 1000};
        struct kill_plan kp = everysec_kill(round);
        struct child_run run;
        REQUIRE(crash_child(&run, &plan, &kp) == 0);
        check_child_run(&run, recovered);
        uint64_t durable = acked_before(&run, EVERYSEC_BOUND_NS);
        struct expectation want = {recovered + durable, recovered + run.n_acks + 1};
        recovered = check_recovered(path, seed, want);
        if (round % 4 == 3) {
            print_long_round(&run, durable, plan.start, recovered);
            long_rounds_bound += durable > 0;
        }
        if (test_failures_in_case) report_round(round, &kp, plan.start, &run);
        child_run_free(&run);
    }
    CHECK(long_rounds_bound >= 2); /* or the 1.5 s bound was never tested */
}

/* A kill between creating the file and writing its header leaves it empty. */
TEST("opens an empty file left by a crash before its header was written") {
    char path[512];
    snprintf(path, sizeof path, "%s", test_path("empty.db"));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    layerdb *db = NULL;
    int rc = layerdb_open(&db, path, NULL);
    if (rc != LAYERDB_OK) printf("# open: %s\n", layerdb_errmsg(db));
    CHECK_RC(rc, LAYERDB_OK);
    if (rc != LAYERDB_OK) { layerdb_close(db); return; }
    CHECK_RC(layerdb_set(db, "k", 1, "v", 1), LAYERDB_OK);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    rc = layerdb_open(&db, path, NULL);
    CHECK_RC(rc, LAYERDB_OK);
    if (rc == LAYERDB_OK) CHECK_RC(layerdb_get(db, "k", 1, NULL, NULL), LAYERDB_OK);
    layerdb_close(db);
}

int main(void) { return test_main(); }
