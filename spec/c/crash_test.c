/* crash_test.c -- kills real writer processes with SIGKILL and checks what
 * the reopened file holds.
 *
 * A forked child opens the database, sets "k00000000", "k00000001", ... and
 * after each successful layerdb_set writes an ack (index, CLOCK_MONOTONIC
 * time) to a pipe. The parent reads acks, sends SIGKILL at a random moment
 * (after a delay or after a number of acks), reaps the child, reopens the
 * file and checks:
 *  (1) every acknowledged key is there with its exact value (FSYNC_ALWAYS),
 *      or, under EVERYSEC and NO, every acknowledged key but the last ones
 *      that fit in LOSS_BOUND bytes of records: a kill loses only records
 *      not yet handed to the OS, which sit in the batch the writer thread
 *      is writing and the one callers fill, and callers wait once a batch
 *      reaches max_pending_bytes (writer.c, ldb_writer_reserve_slow). That
 *      bound holds however the thread is scheduled; a time window would
 *      not (a loaded machine can starve the thread for seconds);
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
#include "log_format.h"
#include "test.h"
#include "workload.h"

#define KILL_MAX_PENDING (16 * 1024) /* max_pending_bytes of the lossy rounds */
/* The largest SET record of a workload key: 'SET', a 9-byte key, a value of
 * VALUE_MAX bytes, and the framing (log_format.h). */
static size_t largest_record(void) {
    static unsigned char val[VALUE_MAX];
    ldb_slice argv[3] = {{(const unsigned char *)"SET", 3}, {(const unsigned char *)"k00000000", 9},
                         {val, VALUE_MAX}};
    return ldb_logfmt_command_record_size(3, argv);
}
/* What a kill may lose: the records not yet given to pwrite(), which are
 * in two batches at most: 'flushing', which the thread is writing, and
 * 'active', which callers fill. The thread asks for (or takes) the next
 * batch only once it has written the last (writer_main, take_batch,
 * hand_over), and each holds at most max(max_pending_bytes, a SYNCED
 * record plus one record) bytes: ldb_writer_reserve_slow admits a record
 * to a batch with records in it only within max_pending, and only an
 * empty batch takes one of any size, after a SYNCED record. */
static size_t one_batch_bound(void) {
    size_t alone = LDB_SYNCED_RECORD_SIZE + largest_record();
    return KILL_MAX_PENDING > alone ? KILL_MAX_PENDING : alone;
}
#define LOSS_BOUND (2 * one_batch_bound())

/* ---- The child acknowledges each key on a pipe ---- */

struct ack {
    uint64_t index; /* the key just set */
    uint64_t t_ns;  /* CLOCK_MONOTONIC when layerdb_set returned */
};

static void child_send_ack(layerdb *db, int fd, uint64_t i) {
    (void)db;
    struct ack a = {i, now_ns()};
    child_send(fd, &a, sizeof a);
}

static const struct ack *ack_at(const struct child_run *run, size_t k) {
    return (const struct ack *)(const void *)(run->recs.items + k * sizeof(struct ack));
}

/* The child must have died of our SIGKILL, having acked keys in order. */
static void check_child_run(const struct child_run *run, uint64_t start) {
    int killed = WIFSIGNALED(run->status) && WTERMSIG(run->status) == SIGKILL;
    if (!killed) printf("# child status %d, not SIGKILL\n", run->status);
    CHECK(killed);
    CHECK(run->recs.partial_len == 0);
    size_t out_of_order = 0;
    for (size_t k = 0; k < run->recs.n; k++) out_of_order += ack_at(run, k)->index != start + k;
    CHECK(out_of_order == 0);
}

/* ---- The kill loops ---- */

static struct kill_plan quick_kill(int round) {
    struct kill_plan kp = {UINT64_MAX, SIZE_MAX, NULL};
    if (round % 2 == 0) kp.delay_ns = random_between(0, 30) * NS_PER_MS;
    else kp.after_records = (size_t)random_between(0, 299);
    return kp;
}

/* Under everysec and no: most kills come after 500-4000 acks, so that
 * LOSS_BOUND covers real keys on any machine; every fourth after 0-30 ms. */
static struct kill_plan lossy_kill(int round) {
    struct kill_plan kp = {UINT64_MAX, SIZE_MAX, NULL};
    if (round % 4 == 3) kp.delay_ns = random_between(0, 30) * NS_PER_MS;
    else kp.after_records = (size_t)random_between(500, 4000);
    return kp;
}

/* Bytes of key i's SET record. */
static size_t record_size(uint64_t seed, uint64_t i) {
    char key[KEY_CAP];
    unsigned char val[VALUE_MAX];
    ldb_slice argv[3] = {{(const unsigned char *)"SET", 3}, {(const unsigned char *)key, key_for(i, key)},
                         {val, value_for(seed, i, val)}};
    return ldb_logfmt_command_record_size(3, argv);
}

/* How many of the acknowledged keys must survive: all but the last ones
 * whose records fit in 'bound' bytes. */
static uint64_t acked_beyond_bound(const struct child_run *run, uint64_t seed, uint64_t bound) {
    uint64_t n = run->recs.n, tail = 0;
    while (n > 0) {
        tail += record_size(seed, ack_at(run, n - 1)->index);
        if (tail > bound) break;
        n--;
    }
    return n;
}

static void report_round(int round, const struct kill_plan *kp, uint64_t start,
                         const struct child_run *run) {
    printf("# round %d: start %llu, delay %lld ms, after %lld acks, %zu acks\n", round,
           (unsigned long long)start,
           kp->delay_ns == UINT64_MAX ? -1LL : (long long)(kp->delay_ns / NS_PER_MS),
           kp->after_records == SIZE_MAX ? -1LL : (long long)kp->after_records, run->recs.n);
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
    st->kills_before_first_ack += run->recs.n == 0;
    st->acked += run->recs.n;
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
        struct writer_plan plan = {path, seed, recovered, LAYERDB_FSYNC_ALWAYS, 0, child_send_ack,
                                   sizeof(struct ack), 0};
        struct kill_plan kp = quick_kill(round);
        struct child_run run;
        REQUIRE(crash_child(&run, &plan, &kp) == 0);
        check_child_run(&run, recovered);
        struct expectation want = {recovered + run.recs.n, recovered + run.recs.n + 1, 0};
        recovered = check_recovered(path, seed, want);
        count_round(&st, &run, want, recovered);
        if (test_failures_in_case) report_round(round, &kp, plan.start, &run);
        child_run_free(&run);
    }
    print_stats(&st);
}

/* The kill loop of a policy that may lose the unwritten tail. */
static void kill_lossy(const char *name, int policy) {
    uint64_t seed = start_seed();
    char path[512];
    snprintf(path, sizeof path, "%s", test_path(name));
    uint64_t recovered = 0, rounds_bound = 0, acked = 0, lost = 0;
    for (int round = 0; round < 12 && !test_failures_in_case; round++) {
        struct writer_plan plan = {path, seed, recovered, policy, 0, child_send_ack,
                                   sizeof(struct ack), KILL_MAX_PENDING};
        struct kill_plan kp = lossy_kill(round);
        struct child_run run;
        REQUIRE(crash_child(&run, &plan, &kp) == 0);
        check_child_run(&run, recovered);
        uint64_t durable = acked_beyond_bound(&run, seed, LOSS_BOUND);
        struct expectation want = {recovered + durable, recovered + run.recs.n + 1, 0};
        uint64_t start = recovered;
        recovered = check_recovered(path, seed, want);
        rounds_bound += durable > 0;
        acked += run.recs.n;
        if (recovered != UINT64_MAX && recovered < start + run.recs.n) lost += start + run.recs.n - recovered;
        if (test_failures_in_case) report_round(round, &kp, plan.start, &run);
        child_run_free(&run);
    }
    printf("# %llu keys acked, %llu of them lost by the kills; the bound is %zu bytes\n",
           (unsigned long long)acked, (unsigned long long)lost, (size_t)LOSS_BOUND);
    CHECK(rounds_bound >= 6); /* the kills after 500+ acks: the bound had keys to keep */
}

TEST("loses at most max_pending_bytes twice over of acknowledged writes to SIGKILL (everysec)") {
    kill_lossy("everysec.db", LAYERDB_FSYNC_EVERYSEC);
}

TEST("loses at most max_pending_bytes twice over of acknowledged writes to SIGKILL (no)") {
    kill_lossy("no.db", LAYERDB_FSYNC_NO);
}

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
