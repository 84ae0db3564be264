/* powerloss_test.c -- simulates power loss: a SIGKILL, then the file loses
 * or mangles whatever was not yet fsynced, and must still reopen whole.
 *
 * A forked child sets "k00000000", "k00000001", ... and after each successful
 * layerdb_set writes a report (index, info.synced_bytes, info.log_bytes) to a
 * pipe. The parent SIGKILLs it at a random moment, reaps it, then does to the
 * file what a power cut may do to the bytes past the last reported
 * synced_bytes, and reopens it:
 *  - cut it at synced_bytes (the disk kept nothing unsynced);
 *  - cut it at a random point of the unsynced tail (the disk kept part);
 *  - overwrite the unsynced tail and a little beyond with random garbage, or
 *    with zeros (blocks allocated but never written);
 *  - append random garbage past the end of the file;
 *  - under FSYNC_NO, where nothing past what open left is ever fsynced,
 *    lose random 4 KiB pages of the tail (pages written out of order).
 * Every variant must open with LAYERDB_OK and keep every key acknowledged
 * under FSYNC_ALWAYS, exact values, as a prefix 0..k-1 with info.keys == k:
 * never a record replayed after a hole. Under FSYNC_EVERYSEC a key is
 * durable once a later report shows synced_bytes >= the log_bytes reported
 * right after its set; every durable key must survive. Under always the
 * unsynced tail is at most one record, so each variant also runs everysec
 * rounds, whose tail is long enough for the damage to matter.
 * The kills repeat over one file per variant, each child continuing from
 * what the last reopen recovered. Values come from (seed, index) and
 * LAYERDB_SEED=n replays the lengths, bytes, delays and damage. A child ends
 * in _exit() or SIGKILL, never in the harness. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "layerdb.h"
#include "test.h"
#include "workload.h"

#define GARBAGE_MAX 4096              /* bytes of garbage added past the end */
#define PAGE 4096                     /* the unit a disk writes out of order */
#define ALWAYS_ROUNDS 6   /* quick kills under always per damage variant */
#define EVERYSEC_ROUNDS 2 /* then kills under everysec, for a longer tail */

/* ---- The child reports each key on a pipe ---- */

struct report {
    uint64_t index;        /* the key just set */
    uint64_t synced_bytes; /* info.synced_bytes right after that set */
    uint64_t log_bytes;    /* info.log_bytes right after that set */
};

static void child_send_report(layerdb *db, int report_fd, uint64_t i) {
    layerdb_info info;
    int rc = layerdb_info_get(db, &info);
    if (rc != LAYERDB_OK) child_fail(db, "info", i, rc, CHILD_SET_FAILED);
    struct report r = {i, info.synced_bytes, info.log_bytes};
    child_send(report_fd, &r, sizeof r);
}

static const struct report *report_at(const struct child_run *run, size_t k) {
    return (const struct report *)(const void *)(run->recs.items + k * sizeof(struct report));
}

/* The child must have died of our SIGKILL, its reports in order and sane:
 * synced_bytes never shrinks nor passes log_bytes; under FSYNC_ALWAYS it
 * covers the key just set, under FSYNC_NO it never passes what open left
 * ('baseline'). */
static void check_child_run(const struct child_run *run, uint64_t start, int fsync,
                            uint64_t baseline) {
    int killed = WIFSIGNALED(run->status) && WTERMSIG(run->status) == SIGKILL;
    if (!killed) printf("# child status %d, not SIGKILL\n", run->status);
    CHECK(killed);
    CHECK(run->recs.partial_len == 0);
    size_t out_of_order = 0, insane = 0, unsynced_acks = 0;
    for (size_t k = 0; k < run->recs.n; k++) {
        const struct report *r = report_at(run, k);
        out_of_order += r->index != start + k;
        insane += r->synced_bytes > r->log_bytes ||
                  (k > 0 && r->synced_bytes < r[-1].synced_bytes);
        unsynced_acks += fsync == LAYERDB_FSYNC_ALWAYS && r->synced_bytes < r->log_bytes;
        insane += fsync == LAYERDB_FSYNC_NO && r->synced_bytes > baseline;
    }
    CHECK(out_of_order == 0);
    CHECK(insane == 0);
    CHECK(unsynced_acks == 0);
}

/* The last synced_bytes the child saw; 'baseline' if it reported nothing. */
static uint64_t last_synced(const struct child_run *run, uint64_t baseline) {
    return run->recs.n ? report_at(run, run->recs.n - 1)->synced_bytes : baseline;
}

/* Reports whose key's record lies wholly within 'synced' bytes. */
static uint64_t durable_reports(const struct child_run *run, uint64_t synced) {
    uint64_t n = 0;
    while (n < run->recs.n && report_at(run, n)->log_bytes <= synced) n++;
    return n;
}

/* ---- What a power cut does to the unsynced tail ---- */

enum damage {
    CUT_AT_SYNCED,        /* nothing past synced_bytes reached the disk */
    CUT_IN_UNSYNCED_TAIL, /* some of it did */
    GARBAGE_TAIL,         /* the tail, and a little beyond, is random bytes */
    ZERO_TAIL,            /* the tail, and a little beyond, reads as zeros */
    GARBAGE_PAST_END,     /* the tail is intact but garbage follows it */
    LOSE_RANDOM_PAGES     /* pages of the tail reached the disk out of order:
                             each 4 KiB page is kept, zeroed or garbage */
};

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Write 'len' random bytes (or zeros) at 'off'. Returns 0 or -1. */
static int scribble(const char *path, uint64_t off, uint64_t len, int zeros) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    unsigned char buf[4096];
    int rc = 0;
    while (len > 0 && rc == 0) {
        size_t n = len < sizeof buf ? (size_t)len : sizeof buf;
        for (size_t j = 0; j < n; j++) buf[j] = zeros ? 0 : (unsigned char)test_rand();
        rc = pwrite(fd, buf, n, (off_t)off) == (ssize_t)n ? 0 : -1;
        off += n;
        len -= n;
    }
    close(fd);
    return rc;
}

/* Lose pages of [synced, end of file) independently: a disk may persist a
 * later page of unsynced data and not an earlier one. A page is kept (one
 * chance in two), or reads back as zeros or as stale garbage. */
static int lose_random_pages(const char *path, uint64_t synced) {
    uint64_t size = file_size(path);
    for (uint64_t page = synced - synced % PAGE; page < size; page += PAGE) {
        uint64_t from = page > synced ? page : synced;
        uint64_t to = page + PAGE < size ? page + PAGE : size;
        uint64_t fate = test_rand() % 4; /* 0, 1: kept; 2: zeros; 3: garbage */
        if (fate >= 2 && scribble(path, from, to - from, fate == 2) != 0) return -1;
    }
    return 0;
}

/* Damage 'path' past 'synced' as 'how' says. Returns the bytes of garbage
 * or zeros that now follow the file's whole records (0 for a cut), or -1. */
static int64_t damage_file(const char *path, enum damage how, uint64_t synced) {
    uint64_t size = file_size(path);
    uint64_t tail_end = size > synced ? size : synced;
    uint64_t extra = random_between(1, GARBAGE_MAX);
    switch (how) {
    case CUT_AT_SYNCED:
        return truncate(path, (off_t)synced) == 0 ? 0 : -1;
    case CUT_IN_UNSYNCED_TAIL:
        return truncate(path, (off_t)random_between(synced, tail_end)) == 0 ? 0 : -1;
    case GARBAGE_TAIL:
        return scribble(path, synced, tail_end - synced + extra, 0) == 0
                   ? (int64_t)(tail_end - synced + extra) : -1;
    case ZERO_TAIL:
        return scribble(path, synced, tail_end - synced + extra, 1) == 0
                   ? (int64_t)(tail_end - synced + extra) : -1;
    case GARBAGE_PAST_END:
        return scribble(path, size, extra, 0) == 0 ? (int64_t)extra : -1;
    case LOSE_RANDOM_PAGES:
        return lose_random_pages(path, synced);
    }
    return -1;
}

/* ---- The kill loops ---- */

/* Alternate: kill 0-30 ms after fork, or after 0-299 reports. */
static struct kill_plan quick_kill(int round) {
    struct kill_plan kp = {UINT64_MAX, SIZE_MAX, NULL};
    if (round % 2 == 0) kp.delay_ns = random_between(0, 30) * NS_PER_MS;
    else kp.after_records = (size_t)random_between(0, 299);
    return kp;
}

static void report_round(int round, uint64_t start, uint64_t synced,
                         const struct child_run *run) {
    printf("# round %d: start %llu, %zu reports, cut at synced_bytes %llu\n", round,
           (unsigned long long)start, run->recs.n, (unsigned long long)synced);
}

/* Create the file, so every kill finds a whole header already synced. */
static void create_db(const char *path) {
    layerdb *db = NULL;
    int rc = layerdb_open(&db, path, NULL);
    if (rc != LAYERDB_OK) printf("# create: %s\n", layerdb_errmsg(db));
    CHECK_RC(rc, LAYERDB_OK);
    if (rc == LAYERDB_OK) CHECK_RC(layerdb_close(db), LAYERDB_OK);
    else layerdb_close(db);
}

/* Always paces itself by its fsyncs; everysec and no are throttled so that
 * the files stay small (about 1000 and 5000 keys a second). */
static unsigned child_pause_us(int fsync) {
    if (fsync == LAYERDB_FSYNC_ALWAYS) return 0;
    return fsync == LAYERDB_FSYNC_NO ? 200 : 1000;
}

/* What the kills covered, printed so a run shows the test had teeth. */
struct cut_stats {
    unsigned kills;
    uint64_t reports;      /* reports received over all kills */
    uint64_t due;          /* keys the checks required to survive the cut */
    uint64_t tail_bytes;   /* unsynced bytes found past the cut points */
    uint64_t kept;         /* keys written by the children and recovered */
};

static void print_stats(const struct cut_stats *st) {
    printf("# %u kills, %llu keys reported, %llu required and %llu kept after the cuts,"
           " %llu unsynced bytes past the cut points\n", st->kills,
           (unsigned long long)st->reports, (unsigned long long)st->due,
           (unsigned long long)st->kept, (unsigned long long)st->tail_bytes);
}

/* One round: run a child under 'fsync', kill it, damage the file as 'how'
 * says and reopen. Under always every report is an acknowledged key; under
 * everysec only those durable by the last report. Returns the keys
 * recovered (UINT64_MAX on failure). */
static uint64_t power_cut_round(const char *path, uint64_t seed, uint64_t start,
                                int fsync, enum damage how, const struct kill_plan *kp,
                                struct cut_stats *st) {
    struct writer_plan plan = {path, seed, start, fsync, child_pause_us(fsync), child_send_report,
                               sizeof(struct report), 0};
    uint64_t baseline = file_size(path); /* synced: the last reopen closed it */
    struct child_run run;
    int started = crash_child(&run, &plan, kp) == 0;
    CHECK(started);
    if (!started) return UINT64_MAX;
    check_child_run(&run, start, fsync, baseline);
    uint64_t synced = last_synced(&run, baseline), size = file_size(path);
    CHECK(synced <= size);
    int64_t garbage = damage_file(path, how, synced);
    CHECK(garbage >= 0);
    struct expectation want = {start + durable_reports(&run, synced),
                               start + run.recs.n + 1, garbage > 0 ? (uint64_t)garbage : 0};
    uint64_t recovered = check_recovered(path, seed, want);
    if (test_failures_in_case) report_round(st->kills, start, synced, &run);
    st->kills++;
    st->reports += run.recs.n;
    st->due += want.must_have - start;
    st->tail_bytes += size > synced ? size - synced : 0;
    st->kept += recovered != UINT64_MAX && recovered > start ? recovered - start : 0;
    child_run_free(&run);
    return recovered;
}

/* ALWAYS_ROUNDS quick kills under always, then EVERYSEC_ROUNDS killed
 * 100-400 ms in, whose unsynced tail holds hundreds of records. */
static void power_cut_loop(const char *name, enum damage how) {
    uint64_t seed = start_seed();
    char path[512];
    snprintf(path, sizeof path, "%s", test_path(name));
    create_db(path);
    uint64_t recovered = 0;
    struct cut_stats st = {0};
    for (int round = 0; round < ALWAYS_ROUNDS + EVERYSEC_ROUNDS; round++) {
        if (test_failures_in_case) break;
        struct kill_plan kp = quick_kill(round);
        int fsync = LAYERDB_FSYNC_ALWAYS;
        if (round >= ALWAYS_ROUNDS) {
            kp = (struct kill_plan){random_between(100, 400) * NS_PER_MS, SIZE_MAX, NULL};
            fsync = LAYERDB_FSYNC_EVERYSEC;
        }
        recovered = power_cut_round(path, seed, recovered, fsync, how, &kp, &st);
    }
    print_stats(&st);
}

TEST("keeps every synced write when power fails at the last fsync") {
    power_cut_loop("cut.db", CUT_AT_SYNCED);
}

TEST("keeps every synced write when part of the unsynced tail reaches the disk") {
    power_cut_loop("partial.db", CUT_IN_UNSYNCED_TAIL);
}

TEST("opens and keeps every synced write when the unsynced tail is random garbage") {
    power_cut_loop("garbage.db", GARBAGE_TAIL);
}

TEST("opens and keeps every synced write when the unsynced tail reads as zeros") {
    power_cut_loop("zeros.db", ZERO_TAIL);
}

TEST("opens and keeps every synced write when garbage follows the end of the file") {
    power_cut_loop("past-end.db", GARBAGE_PAST_END);
}

/* Under FSYNC_NO nothing past what open left is ever fsynced, and no record
 * can vouch for it, so losing any pages of it in any order is a state a
 * power cut may leave: recovery must stop at the first hole and never replay
 * a record after it. */
TEST("replays no record after a lost page when the tail reached the disk out of order") {
    uint64_t seed = start_seed();
    char path[512];
    snprintf(path, sizeof path, "%s", test_path("pages.db"));
    create_db(path);
    uint64_t recovered = 0;
    struct cut_stats st = {0};
    for (int round = 0; round < 6 && !test_failures_in_case; round++) {
        struct kill_plan kp = {random_between(20, 300) * NS_PER_MS, SIZE_MAX, NULL};
        recovered = power_cut_round(path, seed, recovered, LAYERDB_FSYNC_NO,
                                    LOSE_RANDOM_PAGES, &kp, &st);
    }
    print_stats(&st);
}

/* kill_plan.until for the everysec rounds: a report has shown the round's
 * first key synced, and tail_records more reports have come since, so the
 * cut has durable keys to keep and an unsynced tail to lose. Waiting for
 * reports, not for a time, holds however slow the machine's fsyncs are. */
static struct {
    size_t tail_records; /* set before each round */
    size_t synced_at;    /* reports received when the sync showed; 0: not yet */
} until_synced;

static int synced_then_tail(const struct rec_pipe *p) {
    if (until_synced.synced_at == 0 && p->n >= 2) {
        const struct report *first = (const void *)p->items;
        const struct report *last = (const void *)(p->items + (p->n - 1) * p->item_size);
        if (last->synced_bytes >= first->log_bytes) until_synced.synced_at = p->n;
    }
    return until_synced.synced_at != 0 && p->n >= until_synced.synced_at + until_synced.tail_records;
}

TEST("keeps every write synced before a power failure under fsync everysec") {
    uint64_t seed = start_seed();
    char path[512];
    snprintf(path, sizeof path, "%s", test_path("everysec.db"));
    create_db(path);
    uint64_t recovered = 0, rounds_with_durable_keys = 0;
    struct cut_stats st = {0};
    for (int round = 0; round < 3 && !test_failures_in_case; round++) {
        until_synced.tail_records = (size_t)random_between(50, 500);
        until_synced.synced_at = 0;
        struct kill_plan kp = {UINT64_MAX, SIZE_MAX, synced_then_tail};
        uint64_t due_before = st.due;
        recovered = power_cut_round(path, seed, recovered, LAYERDB_FSYNC_EVERYSEC,
                                    CUT_AT_SYNCED, &kp, &st);
        rounds_with_durable_keys += st.due > due_before;
    }
    print_stats(&st);
    CHECK(rounds_with_durable_keys == 3); /* each kill waited for a sync */
}

int main(void) { return test_main(); }
