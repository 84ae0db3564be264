/* workload.h -- what the crash tests share (crash_test.c, powerloss_test.c,
 * fulldisk_test.c): keys and values derived from an index, the clock and
 * the seed, and the pipe on which a writer child reports each set.
 *
 * Key i is "k%08llu"; its value's bytes (and, for the kill tests, its
 * length) come from (seed, i), so a parent checks a reopened file without
 * being told the values. A child writes fixed-size records to a pipe (at
 * most PIPE_BUF bytes each, so each write is whole or nothing); the parent
 * collects them with rec_pipe_read/rec_pipe_wait, and kill_child_and_drain drains
 * what a SIGKILLed child wrote before it died; crash_child forks a writer
 * (child_write_keys) and kills it per a plan; count_prefix checks that a
 * reopened file holds keys 0..k-1 with their values and no hole. Header-only,
 * as test.h is. */
#ifndef LAYERDB_WORKLOAD_H
#define LAYERDB_WORKLOAD_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "test.h"

#define KEY_CAP 32
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* ---- Keys and values derived from the index ---- */

TEST_UNUSED static uint64_t mix64(uint64_t x) { /* splitmix64's finalizer */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

TEST_UNUSED static size_t key_for(uint64_t i, char key[KEY_CAP]) {
    return (size_t)snprintf(key, KEY_CAP, "k%08llu", (unsigned long long)i);
}

/* Fill buf with len bytes determined by (seed, i). */
TEST_UNUSED static void fill_value(uint64_t seed, uint64_t i, unsigned char *buf, size_t len) {
    uint64_t h = mix64(seed ^ mix64(i));
    for (size_t j = 0; j < len; j++) {
        if (j % 8 == 0) h = mix64(h + j);
        buf[j] = (unsigned char)(h >> (8 * (j % 8)));
    }
}

/* The value of key i when lengths vary too: 1..max bytes from (seed, i). */
TEST_UNUSED static size_t value_of_varying_length(uint64_t seed, uint64_t i, unsigned char *buf,
                                                  size_t max) {
    size_t len = 1 + (size_t)(mix64(seed ^ mix64(i)) % max);
    fill_value(seed, i, buf, len);
    return len;
}

/* ---- Checking a reopened file ---- */

#include "layerdb.h"

/* Length of the run of keys 0,1,2,... present, each checked against its
 * value_of_varying_length value; counts wrong values in *bad_values. */
TEST_UNUSED static uint64_t count_prefix(layerdb *db, uint64_t seed, size_t value_max,
                                         uint64_t *bad_values) {
    char key[KEY_CAP];
    unsigned char *want = malloc(value_max);
    if (!want) { perror("malloc"); exit(2); }
    uint64_t i = 0;
    for (;; i++) {
        const void *val;
        size_t vlen;
        if (layerdb_get(db, key, key_for(i, key), &val, &vlen) != LAYERDB_OK) break;
        size_t want_len = value_of_varying_length(seed, i, want, value_max);
        if (vlen != want_len || memcmp(val, want, vlen) != 0) {
            if (*bad_values == 0) printf("# %s has a wrong value\n", key);
            (*bad_values)++;
        }
    }
    free(want);
    return i;
}

/* Keys past the prefix, looked up one by one up to 'scan_to' (a hole). */
TEST_UNUSED static uint64_t count_keys_after(layerdb *db, uint64_t from, uint64_t scan_to) {
    char key[KEY_CAP];
    uint64_t found = 0;
    for (uint64_t i = from + 1; i < scan_to; i++) {
        if (layerdb_get(db, key, key_for(i, key), NULL, NULL) != LAYERDB_OK) continue;
        if (found++ == 0) printf("# %s present after a hole at %llu\n", key,
                                 (unsigned long long)from);
    }
    return found;
}


/* ---- Clock and seed ---- */

TEST_UNUSED static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* test_seed(), printed, and the test's random stream seeded with it. */
TEST_UNUSED static uint64_t start_seed(void) {
    uint64_t seed = test_seed();
    printf("# seed %llu\n", (unsigned long long)seed);
    test_rand_state = seed ? seed : 1; /* xorshift must not start at 0 */
    return seed;
}

TEST_UNUSED static uint64_t random_between(uint64_t lo, uint64_t hi) { /* inclusive */
    return lo + test_rand() % (hi - lo + 1);
}

/* ---- Records from a child on a pipe ---- */

#define REC_MAX 64 /* bytes in one record at most */

struct rec_pipe {
    int fd;                          /* read end; -1 once closed */
    size_t item_size;                /* bytes per record (<= REC_MAX) */
    unsigned char *items;            /* every record received, in order */
    size_t n, cap;                   /* records held, and room */
    unsigned char partial[REC_MAX];  /* a record cut by read() */
    size_t partial_len;
};

TEST_UNUSED static void rec_pipe_init(struct rec_pipe *p, int fd, size_t item_size) {
    memset(p, 0, sizeof *p);
    p->fd = fd;
    p->item_size = item_size;
}

TEST_UNUSED static void rec_pipe_push(struct rec_pipe *p, const unsigned char *bytes) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 1024;
        unsigned char *grown = realloc(p->items, cap * p->item_size);
        if (!grown) { perror("realloc"); exit(2); }
        p->items = grown;
        p->cap = cap;
    }
    memcpy(p->items + p->n++ * p->item_size, bytes, p->item_size);
}

/* Read what the child has sent. Returns 0 at end of file (the child is gone
 * and the pipe is empty), 1 otherwise. */
TEST_UNUSED static int rec_pipe_read(struct rec_pipe *p) {
    unsigned char buf[4096];
    size_t have = p->partial_len;
    memcpy(buf, p->partial, have);
    ssize_t got = read(p->fd, buf + have, sizeof buf - have);
    if (got < 0 && errno == EINTR) got = 0;
    else if (got <= 0) return 0;
    have += (size_t)got;
    size_t off = 0;
    for (; have - off >= p->item_size; off += p->item_size) rec_pipe_push(p, buf + off);
    p->partial_len = have - off;
    memcpy(p->partial, buf + off, p->partial_len);
    return 1;
}

/* Collect records until the deadline, until 'want' have arrived, or until
 * 'until' (if not NULL) says the records so far are enough. */
TEST_UNUSED static void rec_pipe_wait(struct rec_pipe *p, uint64_t deadline_ns, size_t want,
                                      int (*until)(const struct rec_pipe *p)) {
    for (;;) {
        uint64_t now = now_ns();
        if (p->n >= want || now >= deadline_ns || (until && until(p))) return;
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        int timeout_ms = (int)((deadline_ns - now + NS_PER_MS - 1) / NS_PER_MS);
        int ready = poll(&pfd, 1, timeout_ms);
        if (ready > 0 && !rec_pipe_read(p)) return; /* the child ended early */
    }
}

TEST_UNUSED static void rec_pipe_free(struct rec_pipe *p) {
    free(p->items);
    p->items = NULL;
    p->n = p->cap = 0;
}

/* SIGKILL the child, reap it, then drain what it wrote before dying. */
TEST_UNUSED static void kill_child_and_drain(pid_t pid, struct rec_pipe *p, int *status) {
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
    while (rec_pipe_read(p)) {}
    close(p->fd);
    p->fd = -1;
}

/* ---- The writer child and its crash ---- */

#define VALUE_MAX 300                       /* value lengths are 1..VALUE_MAX */
#define RECORD_WAIT_LIMIT_NS (60 * NS_PER_S) /* a child this slow is a bug */
#define CHILD_MAX_KEYS 10000000u             /* a runaway child stops here */

/* Exit statuses of a child that was not killed. */
enum child_exit {
    CHILD_DONE = 10,       /* wrote CHILD_MAX_KEYS keys without being killed */
    CHILD_ORPHANED,        /* the parent was gone before the child started */
    CHILD_OPEN_FAILED,     /* layerdb_open did not return LAYERDB_OK */
    CHILD_WRONG_START,     /* the file did not hold the keys the parent saw */
    CHILD_SET_FAILED,      /* layerdb_set or layerdb_info_get failed */
    CHILD_REPORT_FAILED    /* the pipe broke */
};

/* The value of key i: 1..VALUE_MAX bytes, all from (seed, i). */
TEST_UNUSED static size_t value_for(uint64_t seed, uint64_t i, unsigned char buf[VALUE_MAX]) {
    return value_of_varying_length(seed, i, buf, VALUE_MAX);
}

struct writer_plan {
    const char *path;
    uint64_t seed;
    uint64_t start;    /* keys 0..start-1 are already in the file */
    int fsync;         /* enum layerdb_fsync */
    unsigned pause_us; /* sleep after each record, to keep the file small */
    /* After each set of key i: write one record of rec_size bytes to fd. */
    void (*send_record)(layerdb *db, int fd, uint64_t i);
    size_t rec_size;
    size_t max_pending; /* the max_pending_bytes option; 0 = the default */
};

TEST_UNUSED static _Noreturn void child_fail(layerdb *db, const char *what, uint64_t i, int rc,
                                             int status) {
    dprintf(STDOUT_FILENO, "# child: %s at key %llu returned %d: %s\n", what,
            (unsigned long long)i, rc, layerdb_errmsg(db));
    _exit(status);
}

/* Write one record whole: at most PIPE_BUF bytes, so the pipe takes it
 * whole or not at all. */
TEST_UNUSED static void child_send(int fd, const void *rec, size_t n) {
    if (write(fd, rec, n) != (ssize_t)n) _exit(CHILD_REPORT_FAILED);
}

/* Set key i: every third through the command layer, with a deadline far
 * in the future (the year 3000), so that the kill suites cover its records
 * ("SET k v PXAT ms", written whole by the executor) as well as the plain
 * call's; the key reads the same either way. */
static int child_set(layerdb *db, const char *key, size_t klen, const unsigned char *val,
                     size_t vlen, uint64_t i) {
    if (i % 3 != 1) return layerdb_set(db, key, klen, val, vlen);
    const char *argv[5] = {"SET", key, (const char *)val, "PXAT", "32503680000000"};
    size_t lens[5] = {3, klen, vlen, 4, 14};
    layerdb_reply *r = NULL;
    int rc = layerdb_command(db, 5, argv, lens, &r);
    if (rc == LAYERDB_OK && r->type == LAYERDB_REPLY_ERROR) rc = LAYERDB_INVALID;
    layerdb_reply_free(r);
    return rc;
}

/* The child: open the file, check it holds keys 0..start-1, then set keys
 * in order, sending a record after each. Ends in _exit() or SIGKILL, never
 * in the harness; dies with the parent if the parent crashes. */
static _Noreturn void child_write_keys(const struct writer_plan *plan, int fd, pid_t parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(CHILD_ORPHANED);
    layerdb_options opts;
    layerdb_options_init(&opts);
    opts.fsync = plan->fsync;
    if (plan->max_pending) opts.max_pending_bytes = plan->max_pending;
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
        size_t klen = key_for(i, key);
        rc = child_set(db, key, klen, val, value_for(plan->seed, i, val), i);
        if (rc != LAYERDB_OK) child_fail(db, "set", i, rc, CHILD_SET_FAILED);
        plan->send_record(db, fd, i);
        if (plan->pause_us) usleep(plan->pause_us);
    }
    _exit(CHILD_DONE);
}

struct kill_plan {
    uint64_t delay_ns;    /* kill this long after fork... */
    size_t after_records; /* ...or after this many records, whichever first, */
    int (*until)(const struct rec_pipe *p); /* or once this says so (NULL: no) */
};

struct child_run {
    pid_t pid;
    struct rec_pipe recs;       /* every record received, in order */
    uint64_t start_ns, kill_ns; /* fork and SIGKILL times (monotonic) */
    int status;                 /* from waitpid */
};

/* Fork a writer per 'plan' and SIGKILL it per 'kp'; run->recs then holds
 * every record it sent. Returns 0, or -1 if no child could be started. */
TEST_UNUSED static int crash_child(struct child_run *run, const struct writer_plan *plan,
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
    rec_pipe_init(&run->recs, fds[0], plan->rec_size);
    uint64_t limit = kp->delay_ns < RECORD_WAIT_LIMIT_NS ? kp->delay_ns : RECORD_WAIT_LIMIT_NS;
    rec_pipe_wait(&run->recs, run->start_ns + limit, kp->after_records, kp->until);
    run->kill_ns = now_ns();
    kill_child_and_drain(run->pid, &run->recs, &run->status);
    return 0;
}

TEST_UNUSED static void child_run_free(struct child_run *run) { rec_pipe_free(&run->recs); }

/* ---- Checking what a crash left ---- */

struct expectation {
    uint64_t must_have; /* keys 0..must_have-1 must be there */
    uint64_t may_have;  /* and no more than this many keys */
    uint64_t garbage;   /* at least this many bytes must be dropped */
};

TEST_UNUSED static void print_shortfall(uint64_t prefix, const layerdb_info *info,
                            struct expectation want) {
    printf("# recovered %llu keys (info.keys %llu, dropped %llu bytes), want %llu..%llu"
           " and %llu bytes dropped\n",
           (unsigned long long)prefix, (unsigned long long)info->keys,
           (unsigned long long)info->dropped_bytes, (unsigned long long)want.must_have,
           (unsigned long long)want.may_have, (unsigned long long)want.garbage);
}

/* Reopen 'path' and check what a crash or power cut may leave: keys
 * 0..k-1 with their values, no key after a hole, info.keys == k within
 * 'want', and at least want.garbage bytes dropped.
 * Returns the number of keys recovered, or UINT64_MAX if it would not open. */
TEST_UNUSED static uint64_t check_recovered(const char *path, uint64_t seed,
                                            struct expectation want) {
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
    CHECK(info.dropped_bytes >= want.garbage);
    if (prefix < want.must_have || prefix > want.may_have || info.keys != prefix ||
        info.dropped_bytes < want.garbage)
        print_shortfall(prefix, &info, want);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    return prefix;
}

#endif
