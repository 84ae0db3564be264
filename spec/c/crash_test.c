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

#define EVERYSEC_BOUND_NS (1500 * NS_PER_MS) /* what a kill may lose */

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
    struct kill_plan kp = {UINT64_MAX, SIZE_MAX};
    if (round % 2 == 0) kp.delay_ns = random_between(0, 30) * NS_PER_MS;
    else kp.after_records = (size_t)random_between(0, 299);
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
    while (n < run->recs.n && ack_at(run, n)->t_ns + bound_ns <= run->kill_ns) n++;
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
        struct writer_plan plan = {path, seed, recovered, LAYERDB_FSYNC_ALWAYS, 0, child_send_ack, sizeof(struct ack)};
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

/* A long everysec round: how long the child wrote and what the bound held. */
static void print_long_round(const struct child_run *run, uint64_t durable,
                             uint64_t start, uint64_t recovered) {
    uint64_t writing_ms = run->recs.n ? (run->kill_ns - ack_at(run, 0)->t_ns) / NS_PER_MS : 0;
    printf("# wrote %llu ms, %zu acks, %llu due by the bound, %llu of them recovered\n",
           (unsigned long long)writing_ms, run->recs.n, (unsigned long long)durable,
           (unsigned long long)(recovered >= start ? recovered - start : 0));
}

TEST("keeps every write acknowledged 1.5 s before a SIGKILL under fsync everysec") {
    uint64_t seed = start_seed();
    char path[512];
    snprintf(path, sizeof path, "%s", test_path("everysec.db"));
    uint64_t recovered = 0, long_rounds_bound = 0;
    for (int round = 0; round < 12 && !test_failures_in_case; round++) {
        struct writer_plan plan = {path, seed, recovered, LAYERDB_FSYNC_EVERYSEC, 1000, child_send_ack,
                                   sizeof(struct ack)};
        struct kill_plan kp = everysec_kill(round);
        struct child_run run;
        REQUIRE(crash_child(&run, &plan, &kp) == 0);
        check_child_run(&run, recovered);
        uint64_t durable = acked_before(&run, EVERYSEC_BOUND_NS);
        struct expectation want = {recovered + durable, recovered + run.recs.n + 1, 0};
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
