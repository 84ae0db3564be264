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
#include "workload.h"

#define VALUE_MAX 300                 /* value lengths are 1..VALUE_MAX */
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

/* The value of key i: 1..VALUE_MAX bytes, all from (seed, i). */
static size_t value_for(uint64_t seed, uint64_t i, unsigned char buf[VALUE_MAX]) {
    return value_of_varying_length(seed, i, buf, VALUE_MAX);
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
    struct rec_pipe acks;      /* every struct ack received, in order */
    uint64_t start_ns, kill_ns; /* fork and SIGKILL times (monotonic) */
    int status;                /* from waitpid */
};

static const struct ack *ack_at(const struct child_run *run, size_t k) {
    return (const struct ack *)(const void *)(run->acks.items + k * sizeof(struct ack));
}

/* SIGKILL the child, reap it, then drain the acks it wrote before dying. */
static void kill_and_reap(struct child_run *run) {
    run->kill_ns = now_ns();
    kill_child_and_drain(run->pid, &run->acks, &run->status);
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
    rec_pipe_init(&run->acks, fds[0], sizeof(struct ack));
    uint64_t limit = kp->delay_ns < ACK_WAIT_LIMIT_NS ? kp->delay_ns : ACK_WAIT_LIMIT_NS;
    rec_pipe_wait(&run->acks, run->start_ns + limit, kp->after_acks);
    kill_and_reap(run);
    return 0;
}

static void child_run_free(struct child_run *run) {
    rec_pipe_free(&run->acks);
}

/* The child must have died of our SIGKILL, having acked keys in order. */
static void check_child_run(const struct child_run *run, uint64_t start) {
    int killed = WIFSIGNALED(run->status) && WTERMSIG(run->status) == SIGKILL;
    if (!killed) printf("# child status %d, not SIGKILL\n", run->status);
    CHECK(killed);
    CHECK(run->acks.partial_len == 0);
    size_t out_of_order = 0;
    for (size_t k = 0; k < run->acks.n; k++) out_of_order += ack_at(run, k)->index != start + k;
    CHECK(out_of_order == 0);
}

/* ---- Checking the reopened file ---- */

struct expectation {
    uint64_t must_have; /* keys 0..must_have-1 must be there */
    uint64_t may_have;  /* and no more than this many keys */
};

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
    uint64_t prefix = count_prefix(db, seed, VALUE_MAX, &bad_values);
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
    while (n < run->acks.n && ack_at(run, n)->t_ns + bound_ns <= run->kill_ns) n++;
    return n;
}

static void report_round(int round, const struct kill_plan *kp, uint64_t start,
                         const struct child_run *run) {
    printf("# round %d: start %llu, delay %lld ms, after %lld acks, %zu acks\n", round,
           (unsigned long long)start,
           kp->delay_ns == UINT64_MAX ? -1LL : (long long)(kp->delay_ns / NS_PER_MS),
           kp->after_acks == SIZE_MAX ? -1LL : (long long)kp->after_acks, run->acks.n);
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
    st->kills_before_first_ack += run->acks.n == 0;
    st->acked += run->acks.n;
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
        struct expectation want = {recovered + run.acks.n, recovered + run.acks.n + 1};
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
    uint64_t writing_ms = run->acks.n ? (run->kill_ns - ack_at(run, 0)->t_ns) / NS_PER_MS : 0;
    printf("# wrote %llu ms, %zu acks, %llu due by the bound, %llu of them recovered\n",
           (unsigned long long)writing_ms, run->acks.n, (unsigned long long)durable,
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
        struct expectation want = {recovered + durable, recovered + run.acks.n + 1};
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
