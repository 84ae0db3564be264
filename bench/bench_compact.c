/* bench_compact.c -- the log file over time: how fast a compaction rewrites
 * a file, what compactions running in the background do to the latency of
 * sets, and how fast and how soon a read-only follower sees what a writer
 * appends (README.md, "The file over time" rows).
 *
 * Every file is opened with fsync everysec and compact_factor 0, so that
 * no compaction starts unless this file asks for one, and is deleted after
 * its run.
 *  - Compaction speed: every key written twice (half the file is dead),
 *    then layerdb_compact(WAIT) timed alone; the new file is read back.
 *  - Set latency at b->nkeys and 10 x b->nkeys keys: two overwrites per
 *    key, of random keys, each set timed, once with no compaction
 *    and once with compactions back to back (a new one started at the
 *    first look, every CHECK_EVERY sets, that finds none running). Each
 *    value carries a stamp (which write it was), so the checks after the
 *    run, on the handle and on the file reopened, catch a lost or an older
 *    write. Sets over 1 ms are told apart by the set thread's CPU time and
 *    context switches (classify): on CPU (layerdb's own work), blocked (a
 *    lock, the writer's back-pressure), preempted, or stalled (the VM).
 *  - Follower refresh: a reader opened before a writer's sets times one
 *    layerdb_refresh of them all.
 *  - Follower lag: from the writer's set (followed by layerdb_flush)
 *    returning to a reader thread, polling refresh + get in a loop,
 *    seeing the new value. The writer thread writes the record before it
 *    fsyncs it, so the reader mostly sees it before the flush returns:
 *    timing from the flush's return would mostly give 0. */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define ENGINE "layerdb"
#define COMPACT_ROUNDS 3      /* compaction speed: median of this many */
#define REFRESH_ROUNDS 3      /* follower refresh: median of this many */
#define LAT_SETS_PER_KEY 2    /* timed overwrites per loop: 2 per key in the table */
#define LAT_NS 100            /* histogram bucket width */
#define LAT_BUCKETS 1000000   /* 100 ns buckets up to 100 ms */
#define CHECK_EVERY 4096      /* sets between looks at info.compacting */
#define SLOW_US 1000.0        /* a "slow" set */
#define SLOW_SHOWN 12         /* the slowest sets, described on stderr, per loop */
#define MAX_RUNS 256          /* compactions whose times are kept, per loop */
#define TAIL_SECONDS 600.0    /* the most a loop goes on for its last compaction */
#define SAMPLE 100000         /* values checked after a run, about */
#define LAG_ROUNDS 1000
#define COUNTER "lag:counter"

/* ---- Handles and checks ---- */

/* Open b->dir/name: a fresh file for a writer (fresh = 1), or as it is. */
static layerdb *open_db(struct bench *b, const char *name, int fresh, int readonly) {
    char path[PATH_MAX];
    bench_path(b, name, path);
    if (fresh) unlink(path);
    layerdb_options o;
    layerdb_options_init(&o);
    o.fsync = LAYERDB_FSYNC_EVERYSEC;
    o.compact_factor = 0;
    o.readonly = readonly;
    layerdb *db = NULL;
    if (layerdb_open(&db, path, &o) != LAYERDB_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", db ? layerdb_errmsg(db) : "out of memory");
        layerdb_close(db);
        bench_die(b, "layerdb_open '%s': %s", path, msg);
    }
    return db;
}

static void close_db(struct bench *b, layerdb *db) {
    int rc = layerdb_close(db);
    if (rc != LAYERDB_OK) bench_die(b, "layerdb_close: %s", layerdb_strerror(rc));
}

static layerdb_info get_info(struct bench *b, layerdb *db) {
    layerdb_info info;
    if (layerdb_info_get(db, &info) != LAYERDB_OK)
        bench_die(b, "layerdb_info_get: %s", layerdb_errmsg(db));
    return info;
}

static void flush_db(struct bench *b, layerdb *db) {
    if (layerdb_flush(db) != LAYERDB_OK) bench_die(b, "layerdb_flush: %s", layerdb_errmsg(db));
}

static double file_mb(struct bench *b, const char *name) {
    char path[PATH_MAX];
    struct stat st;
    bench_path(b, name, path);
    return stat(path, &st) == 0 ? (double)st.st_size / 1e6 : 0;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The value at 'fraction' of v[0..n) once sorted (sorts v). */
static double quantile(double *v, size_t n, double fraction) {
    qsort(v, n, sizeof *v, by_value);
    size_t i = (size_t)((double)n * fraction);
    return v[i < n ? i : n - 1];
}

/* ---- The run's keys: writing and checking ---- */

static void set_or_die(struct bench *b, layerdb *db, const char *key, const char *val) {
    if (layerdb_set(db, key, BENCH_KEY_LEN, val, BENCH_VAL_LEN) != LAYERDB_OK)
        bench_die(b, "layerdb_set: %s", layerdb_errmsg(db));
}

static void write_keys(struct bench *b, layerdb *db) {
    char val[BENCH_VAL_LEN];
    for (size_t i = 0; i < b->nkeys; i++) {
        bench_value(b, i, val);
        set_or_die(b, db, bench_key(b, i), val);
    }
}

/* The handle holds b->nkeys keys, and a sample of them their values. */
static void check_run_keys(struct bench *b, layerdb *db, const char *what) {
    layerdb_info info = get_info(b, db);
    if (info.keys != b->nkeys)
        bench_fail(b, "%s: %llu keys, want %zu", what, (unsigned long long)info.keys, b->nkeys);
    size_t stride = b->nkeys > SAMPLE ? b->nkeys / SAMPLE : 1, wrong = 0;
    char want[BENCH_VAL_LEN], got[BENCH_VAL_LEN];
    for (size_t i = 0; i < b->nkeys; i += stride) {
        size_t vlen = 0;
        bench_value(b, i, want);
        int rc = layerdb_get_copy(db, bench_key(b, i), BENCH_KEY_LEN, got, sizeof got, &vlen);
        if (rc != LAYERDB_OK || vlen != BENCH_VAL_LEN || memcmp(got, want, vlen) != 0) wrong++;
    }
    if (wrong) bench_fail(b, "%s: %zu sampled keys missing or wrong", what, wrong);
}

/* ---- Compaction speed ---- */

struct compact_round {
    double seconds;      /* layerdb_compact(WAIT) */
    double before_mb;    /* the file's size before, 10^6 bytes */
    double after_mb;     /* and after */
};

static struct compact_round compact_once(struct bench *b) {
    struct compact_round r;
    layerdb *db = open_db(b, "compact.db", 1, 0);
    write_keys(b, db);
    write_keys(b, db); /* the same values again: the first half is dead */
    flush_db(b, db);
    r.before_mb = file_mb(b, "compact.db");
    bench_settle(b);
    double t0 = bench_now();
    if (layerdb_compact(db, LAYERDB_COMPACT_WAIT) != LAYERDB_OK)
        bench_die(b, "layerdb_compact: %s", layerdb_errmsg(db));
    r.seconds = bench_now() - t0;
    r.after_mb = file_mb(b, "compact.db");
    if (get_info(b, db).compactions != 1) bench_fail(b, "compaction: not counted in info");
    check_run_keys(b, db, "after a compaction");
    close_db(b, db);
    db = open_db(b, "compact.db", 0, 0);
    check_run_keys(b, db, "the compacted file reopened");
    close_db(b, db);
    bench_clear_dir(b);
    return r;
}

static void bench_compact_speed(struct bench *b) {
    struct compact_round r[COMPACT_ROUNDS];
    double mbs[COMPACT_ROUNDS], secs[COMPACT_ROUNDS];
    for (int i = 0; i < COMPACT_ROUNDS; i++) {
        bench_progress("compaction of a file of every key written twice, round %d of %d", i + 1,
                       COMPACT_ROUNDS);
        r[i] = compact_once(b);
        mbs[i] = r[i].after_mb / r[i].seconds;
        secs[i] = r[i].seconds;
    }
    double med = quantile(mbs, COMPACT_ROUNDS, 0.5), mid = quantile(secs, COMPACT_ROUNDS, 0.5);
    char keys[48], result[48], notes[320];
    bench_fmt_count(keys, sizeof keys, b->nkeys);
    snprintf(result, sizeof result, "%.0f MB/s", med);
    snprintf(notes, sizeof notes,
             "layerdb_compact(WAIT) alone: every key written twice, %.1f MB -> %.1f MB in "
             "%.2f s (median of %d rounds, %.2f-%.2f s; MB/s of the new file, fastest round "
             "%.0f MB/s); everysec; the new file reopened and checked",
             r[0].before_mb, r[0].after_mb, mid, COMPACT_ROUNDS, secs[0],
             secs[COMPACT_ROUNDS - 1], r[0].after_mb / secs[0]);
    bench_add_row(b, ENGINE, "compaction: rewrite a half-dead file", keys, result, notes);
}

/* ---- Set latency, with and without compactions: keys and values ---- */

/* The keys of these rows are "key:%012u" of ids 0 .. n-1 (10 x b->nkeys
 * for the 10M rows); each value carries its key's id and a stamp, the
 * number of the write that set it (0 for the load). */
static void put_key(char *out, uint32_t id) {
    memcpy(out, "key:", 4);
    for (int i = BENCH_KEY_LEN - 1; i >= 4; i--) {
        out[i] = (char)('0' + id % 10);
        id /= 10;
    }
}

static void put_value(const struct bench *b, uint32_t id, uint32_t stamp, char *val) {
    memcpy(val, b->pattern, BENCH_VAL_LEN);
    memcpy(val, &id, sizeof id);
    memcpy(val + BENCH_VAL_LEN - sizeof stamp, &stamp, sizeof stamp);
}

/* Set ids 0 .. n-1, in a scattered order (2654435761 is prime). */
static void load_ids(struct bench *b, layerdb *db, size_t n) {
    char key[BENCH_KEY_LEN], val[BENCH_VAL_LEN];
    for (size_t i = 0; i < n; i++) {
        uint32_t id = (uint32_t)((uint64_t)i * 2654435761u % n);
        put_key(key, id);
        put_value(b, id, 0, val);
        set_or_die(b, db, key, val);
    }
}

/* Every key is there, and a sample holds the stamp of its last write. */
static void check_ids(struct bench *b, layerdb *db, size_t n, const uint32_t *stamps,
                      const char *what) {
    layerdb_info info = get_info(b, db);
    if (info.keys != n)
        bench_fail(b, "%s: %llu keys, want %zu", what, (unsigned long long)info.keys, n);
    size_t stride = n > SAMPLE ? n / SAMPLE : 1, wrong = 0;
    char key[BENCH_KEY_LEN], want[BENCH_VAL_LEN], got[BENCH_VAL_LEN];
    for (size_t id = 0; id < n; id += stride) {
        size_t vlen = 0;
        put_key(key, (uint32_t)id);
        put_value(b, (uint32_t)id, stamps[id], want);
        int rc = layerdb_get_copy(db, key, BENCH_KEY_LEN, got, sizeof got, &vlen);
        if (rc != LAYERDB_OK || vlen != BENCH_VAL_LEN || memcmp(got, want, vlen) != 0) wrong++;
    }
    if (wrong) bench_fail(b, "%s: %zu sampled keys missing or holding an older value", what, wrong);
}

/* ---- Set latency: one timed loop ---- */

struct slow_set {
    double at;         /* start, seconds into the loop */
    double us;         /* how long it took */
    double off_us;     /* of which off CPU, about (see classify) */
    char kind;         /* see classify */
};

/* What the set thread has done so far. */
struct thread_mark {
    double wall;       /* bench_now() */
    double cpu;        /* its CPU time (CLOCK_THREAD_CPUTIME_ID) */
    long nvcsw;        /* voluntary context switches: it waited (lock, condition) */
    long nivcsw;       /* involuntary ones: another thread took its core */
};

struct lat_loop {
    int compact;              /* start compactions back to back */
    size_t n;                 /* keys in the table */
    size_t sets;              /* sets to time, 2 per key */
    size_t timed;             /* sets timed: more with compactions (timed_sets) */
    uint32_t *stamps;         /* stamps[id]: the last write of key id */
    uint32_t next_stamp;      /* the next write's number */
    uint32_t *hist;           /* LAT_BUCKETS buckets of LAT_NS */
    double worst_us, seconds;
    uint64_t over_1ms, on_cpu, waited, preempted, stalled; /* see classify */
    struct thread_mark mark;  /* at the last look or slow set */
    double started_at[MAX_RUNS], ended_at[MAX_RUNS]; /* seconds into the loop */
    int started, ended;       /* compactions started; seen ended in the loop */
    int running;              /* one ran at the last look */
    double after_s;           /* seconds a compaction still ran after the loop */
    uint64_t done_before;     /* info.compactions before the loop */
    struct slow_set slow[SLOW_SHOWN];
    int nslow;
};

static struct thread_mark mark_now(void) {
    struct rusage ru;
    struct timespec ts;
    getrusage(RUSAGE_THREAD, &ru);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (struct thread_mark){bench_now(), (double)ts.tv_sec + (double)ts.tv_nsec / 1e9,
                                ru.ru_nvcsw, ru.ru_nivcsw};
}

/* Every CHECK_EVERY sets, in both loops alike: mark the set thread's
 * times; with compactions, note one that ended and, if 'start', start the
 * next. Untimed. */
static void look(struct bench *b, layerdb *db, struct lat_loop *l, double t0, int start) {
    l->mark = mark_now();
    layerdb_info info = get_info(b, db);
    double now = bench_now() - t0;
    l->running = info.compacting;
    if (!l->compact) return;
    if (l->started > l->ended && !info.compacting) {
        if (l->ended < MAX_RUNS) l->ended_at[l->ended] = now;
        l->ended++;
    }
    if (info.compacting || !start) return;
    if (layerdb_compact(db, 0) != LAYERDB_OK) bench_die(b, "layerdb_compact: %s", layerdb_errmsg(db));
    if (l->started < MAX_RUNS) l->started_at[l->started] = now;
    l->started++;
}

/* Keep the SLOW_SHOWN slowest sets. */
static void keep_slow(struct lat_loop *l, struct slow_set s) {
    if (l->nslow < SLOW_SHOWN) {
        l->slow[l->nslow++] = s;
        return;
    }
    int min = 0;
    for (int i = 1; i < SLOW_SHOWN; i++)
        if (l->slow[i].us < l->slow[min].us) min = i;
    if (s.us > l->slow[min].us) l->slow[min] = s;
}

/* A set over 1 ms. Since the last mark (at most CHECK_EVERY sets before,
 * the others fast), was the set thread off CPU for most of the set? If
 * not: 'c', on CPU (layerdb's own work, a page fault). If so: 'b' it
 * blocked (a voluntary switch: a lock, the writer's back-pressure), 'p'
 * it was preempted (an involuntary one: another thread, of this process
 * or not, took the core), or 's' stalled with neither (the VM stopped
 * the vCPU: steal time is not the thread's CPU time). */
static void classify(struct lat_loop *l, double at, double us) {
    struct thread_mark m = mark_now();
    double off_us = ((m.wall - l->mark.wall) - (m.cpu - l->mark.cpu)) * 1e6;
    off_us = off_us < 0 ? 0 : off_us > us ? us : off_us;
    char kind = off_us < us / 2 ? 'c' : m.nvcsw > l->mark.nvcsw ? 'b'
              : m.nivcsw > l->mark.nivcsw ? 'p' : 's';
    l->mark = m;
    l->over_1ms++;
    l->on_cpu += kind == 'c';
    l->waited += kind == 'b';
    l->preempted += kind == 'p';
    l->stalled += kind == 's';
    keep_slow(l, (struct slow_set){at, us, off_us, kind});
}

static void record(struct lat_loop *l, double at, double us) {
    size_t bucket = (size_t)(us * 1000 / LAT_NS);
    l->hist[bucket < LAT_BUCKETS ? bucket : LAT_BUCKETS - 1]++;
    if (us > l->worst_us) l->worst_us = us;
    if (us > SLOW_US) classify(l, at, us);
}

/* Past its 2 sets per key, a loop with compactions goes on (starting no
 * more) until the one running ends, so that each is timed whole: its
 * last steps (the switch to the new file) too. */
static int more_sets(const struct lat_loop *l, double t0) {
    return l->compact && l->running && bench_now() - t0 < TAIL_SECONDS;
}

static void timed_sets(struct bench *b, layerdb *db, struct lat_loop *l, uint64_t seed) {
    char key[BENCH_KEY_LEN], val[BENCH_VAL_LEN];
    double t0 = bench_now();
    size_t i;
    for (i = 0; i < l->sets || more_sets(l, t0); i++) {
        if (i % CHECK_EVERY == 0) look(b, db, l, t0, i < l->sets);
        uint32_t id = (uint32_t)(bench_random(&seed) % l->n), stamp = l->next_stamp++;
        put_key(key, id);
        put_value(b, id, stamp, val);
        double t1 = bench_now();
        if (layerdb_set(db, key, BENCH_KEY_LEN, val, BENCH_VAL_LEN) != LAYERDB_OK)
            bench_die(b, "layerdb_set: %s", layerdb_errmsg(db));
        double t2 = bench_now();
        record(l, t1 - t0, (t2 - t1) * 1e6);
        l->stamps[id] = stamp;
    }
    l->timed = i;
    l->seconds = bench_now() - t0;
}

/* After the loop: wait for the compaction still running, then every one
 * started must have succeeded. */
static void finish_compactions(struct bench *b, layerdb *db, struct lat_loop *l) {
    struct timespec pause = {0, 10 * 1000 * 1000};
    double t0 = bench_now();
    while (get_info(b, db).compacting) nanosleep(&pause, NULL);
    l->after_s = bench_now() - t0;
    uint64_t done = get_info(b, db).compactions - l->done_before;
    if (done != (uint64_t)l->started)
        bench_fail(b, "%llu of %d compactions failed", (unsigned long long)(l->started - done),
                   l->started);
}

/* ---- Set latency: the report ---- */

/* The time (in us) below which 'fraction' of the loop's sets took. */
static double percentile_us(const struct lat_loop *l, double fraction) {
    uint64_t want = (uint64_t)((double)l->timed * fraction), seen = 0;
    for (size_t i = 0; i < LAT_BUCKETS; i++) {
        seen += l->hist[i];
        if (seen >= want) return (double)(i + 1) * LAT_NS / 1000;
    }
    return (double)LAT_BUCKETS * LAT_NS / 1000;
}

/* The control: the loop's untimed work for 'seconds' without layerdb,
 * each pass timed; a pause of the OS or the VM shows up here too. */
static void machine_pauses(struct bench *b, double seconds, uint64_t *over_1ms, double *worst) {
    char key[BENCH_KEY_LEN], val[BENCH_VAL_LEN];
    uint64_t seed = 1;
    double start = bench_now(), prev = start;
    *over_1ms = 0;
    *worst = 0;
    while (prev - start < seconds) {
        uint32_t id = (uint32_t)(bench_random(&seed) % b->nkeys);
        put_key(key, id);
        put_value(b, id, 0, val);
        double t = bench_now(), us = (t - prev) * 1e6;
        if (us > *worst) *worst = us;
        if (us > SLOW_US) (*over_1ms)++;
        prev = t;
    }
}

/* The second control, for the loop with compactions: the same, while a
 * thread spins (as the compaction thread works) and another writes a file
 * in 4 MiB pieces, each fdatasync'ed (as the compaction and the log do).
 * On this VM, disk writes beside two busy threads stall the whole machine
 * for tens of milliseconds now and then: pauses that no code of layerdb's
 * can avoid, and that its slow sets "on CPU" include. */
#define LOAD_SECONDS 20.0
#define LOAD_PIECE (4 * 1024 * 1024)
#define LOAD_FILE_BYTES (512ull * 1024 * 1024) /* then it starts over */

struct machine_load {
    struct bench *b;
    atomic_int stop;
    int failed;
};

static void *spin_load(void *arg) {
    struct machine_load *m = arg;
    uint64_t seed = 7, sink = 0;
    while (!atomic_load_explicit(&m->stop, memory_order_relaxed)) sink += bench_random(&seed);
    return (void *)(uintptr_t)(sink & 1);
}

static void *disk_load(void *arg) {
    struct machine_load *m = arg;
    char path[PATH_MAX];
    bench_path(m->b, "machine-load.tmp", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *piece = malloc(LOAD_PIECE);
    if (fd < 0 || !piece) m->failed = 1;
    if (piece) memset(piece, 'x', LOAD_PIECE);
    for (uint64_t off = 0; !m->failed && !atomic_load(&m->stop); off = (off + LOAD_PIECE) % LOAD_FILE_BYTES)
        if (pwrite(fd, piece, LOAD_PIECE, (off_t)off) != LOAD_PIECE || fdatasync(fd) != 0) m->failed = 1;
    if (fd >= 0) close(fd);
    unlink(path);
    free(piece);
    return NULL;
}

static void machine_pauses_loaded(struct bench *b, double seconds, uint64_t *over_1ms,
                                  double *worst) {
    struct machine_load m = {.b = b};
    pthread_t spin, disk;
    atomic_init(&m.stop, 0);
    if (pthread_create(&spin, NULL, spin_load, &m) != 0) bench_die(b, "cannot start a thread");
    if (pthread_create(&disk, NULL, disk_load, &m) != 0) bench_die(b, "cannot start a thread");
    machine_pauses(b, seconds, over_1ms, worst);
    atomic_store(&m.stop, 1);
    pthread_join(spin, NULL);
    pthread_join(disk, NULL);
    if (m.failed) bench_die(b, "the disk load of the machine control failed");
}

/* A compaction's place, for a slow set 'at' seconds into the loop. */
static void where(const struct lat_loop *l, double at, char *out, size_t cap) {
    snprintf(out, cap, "no compaction running");
    int n = l->started < MAX_RUNS ? l->started : MAX_RUNS;
    for (int i = 0; i < n; i++) {
        if (at < l->started_at[i]) continue;
        if (i < l->ended && i < MAX_RUNS && at > l->ended_at[i]) continue;
        if (i < l->ended && i < MAX_RUNS)
            snprintf(out, cap, "compaction %d, %.3f s after its start, %.3f s before its end was seen",
                     i + 1, at - l->started_at[i], l->ended_at[i] - at);
        else
            snprintf(out, cap, "compaction %d, %.3f s after its start (still running at the end)",
                     i + 1, at - l->started_at[i]);
    }
}

static const char *kind_name(char kind) {
    return kind == 'c' ? "on CPU" : kind == 'b' ? "blocked" : kind == 'p' ? "preempted"
                                                                           : "stalled";
}

static int by_time(const void *a, const void *b) {
    double x = ((const struct slow_set *)a)->at, y = ((const struct slow_set *)b)->at;
    return (x > y) - (x < y);
}

/* On stderr: the slowest sets, in time order, each with where it fell. */
static void describe_slow(struct lat_loop *l, const char *label) {
    char place[160];
    qsort(l->slow, (size_t)l->nslow, sizeof *l->slow, by_time);
    for (int i = 0; i < l->nslow; i++) {
        const struct slow_set *s = &l->slow[i];
        where(l, s->at, place, sizeof place);
        bench_progress("  %s: a set of %.0f us at %.3f s, %s (%.0f us off CPU); %s", label,
                       s->us, s->at, kind_name(s->kind), s->off_us, place);
    }
}

static void add_latency_row(struct bench *b, layerdb *db, const struct lat_loop *l) {
    uint64_t pauses;
    double pause_worst;
    bench_progress("compaction latency: the machine alone for %.1f s", l->seconds);
    machine_pauses(b, l->seconds, &pauses, &pause_worst);
    char loaded[160] = "";
    if (l->compact) {
        uint64_t lp;
        double lw, secs = l->seconds < LOAD_SECONDS ? l->seconds : LOAD_SECONDS;
        bench_progress("compaction latency: the machine with a spinning thread and a disk writer, %.1f s", secs);
        machine_pauses_loaded(b, secs, &lp, &lw);
        snprintf(loaded, sizeof loaded, "; the machine beside a spinning thread and a file "
                 "written and fsynced every 4 MiB (%.1f s): %llu pauses over 1 ms, worst %.0f us",
                 secs, (unsigned long long)lp, lw);
    }
    char sets[32], n[32], test[96], keys[80], result[48], notes[480], runs[96] = "";
    bench_fmt_count(sets, sizeof sets, l->timed);
    bench_fmt_count(n, sizeof n, l->n);
    snprintf(test, sizeof test, "set latency at %s keys, %s", n,
             l->compact ? "compactions running" : "no compaction");
    snprintf(keys, sizeof keys, "%s sets, %s keys", sets, n);
    snprintf(result, sizeof result, "%.0f us worst", l->worst_us);
    if (l->compact && l->ended == l->started)
        snprintf(runs, sizeof runs, "%d compaction%s, each timed whole (%.1f s); ", l->started,
                 l->started == 1 ? "" : "s", l->seconds);
    else if (l->compact)
        snprintf(runs, sizeof runs, "%d compactions ended in the loop (%d started; the last "
                 "%.1f s after it); ", l->ended, l->started, l->after_s);
    snprintf(notes, sizeof notes,
             "random overwrites; p50 %.1f, p99 %.1f, p99.99 %.0f us; %llu over 1 ms (on CPU "
             "%llu, blocked %llu, preempted %llu, stalled %llu); %slargest write batch %.1f "
             "MiB; the machine alone (%.1f s): %llu pauses over 1 ms, worst %.0f us%s",
             percentile_us(l, 0.5), percentile_us(l, 0.99), percentile_us(l, 0.9999),
             (unsigned long long)l->over_1ms, (unsigned long long)l->on_cpu,
             (unsigned long long)l->waited, (unsigned long long)l->preempted,
             (unsigned long long)l->stalled, runs,
             (double)get_info(b, db).largest_batch_bytes / (1 << 20), l->seconds,
             (unsigned long long)pauses, pause_worst, loaded);
    bench_add_row(b, ENGINE, test, keys, result, notes);
}

/* One timed loop of overwrites over the n keys in db; *stamp numbers the
 * writes on from one loop to the next. */
static void latency_loop(struct bench *b, layerdb *db, size_t n, int compact, uint32_t *stamps,
                         uint32_t *stamp, uint32_t *hist) {
    struct lat_loop *l = calloc(1, sizeof *l);
    if (!l) bench_die(b, "out of memory");
    memset(hist, 0, LAT_BUCKETS * sizeof *hist);
    *l = (struct lat_loop){.compact = compact, .n = n, .sets = LAT_SETS_PER_KEY * n,
                           .stamps = stamps, .next_stamp = *stamp, .hist = hist};
    l->done_before = get_info(b, db).compactions;
    flush_db(b, db);
    bench_settle(b);
    bench_progress("compaction latency: %zu timed overwrites over %zu keys, %s", l->sets, n,
                   compact ? "compactions back to back (then on until the last ends)"
                           : "no compaction");
    timed_sets(b, db, l, 0x636f6d70616374ull + (uint64_t)compact);
    *stamp = l->next_stamp;
    if (compact) finish_compactions(b, db, l);
    bench_progress("compaction latency: %zu sets timed in %.1f s; compactions: %d", l->timed,
                   l->seconds, l->started);
    describe_slow(l, compact ? "with compactions" : "without");
    add_latency_row(b, db, l);
    free(l);
}

/* Load n keys, time the overwrites without and then with compactions,
 * check the handle and the file reopened. */
static void bench_latency_at(struct bench *b, size_t n) {
    uint32_t *stamps = calloc(n, sizeof *stamps), *hist = malloc(LAT_BUCKETS * sizeof *hist);
    if (!stamps || !hist) bench_die(b, "out of memory");
    bench_progress("compaction latency: loading %zu keys", n);
    layerdb *db = open_db(b, "latency.db", 1, 0);
    load_ids(b, db, n);
    uint32_t stamp = 1;
    latency_loop(b, db, n, 0, stamps, &stamp, hist);
    latency_loop(b, db, n, 1, stamps, &stamp, hist);
    check_ids(b, db, n, stamps, "after the latency loops");
    close_db(b, db);
    db = open_db(b, "latency.db", 0, 0);
    check_ids(b, db, n, stamps, "the latency loops' file reopened");
    close_db(b, db);
    bench_clear_dir(b);
    free(stamps);
    free(hist);
}

/* ---- Follower refresh ---- */

struct refresh_round {
    double records_per_s;
    double mb_per_s;      /* the file's bytes after the header, per second */
    double file_mb;
};

static struct refresh_round refresh_once(struct bench *b) {
    struct refresh_round r;
    layerdb *w = open_db(b, "follow.db", 1, 0);
    flush_db(b, w); /* the header is in the file: the reader may open it */
    double header_mb = file_mb(b, "follow.db");
    layerdb *rd = open_db(b, "follow.db", 0, 1);
    write_keys(b, w);
    flush_db(b, w);
    r.file_mb = file_mb(b, "follow.db");
    uint64_t records = 0;
    double t0 = bench_now();
    if (layerdb_refresh(rd, &records) != LAYERDB_OK)
        bench_die(b, "layerdb_refresh: %s", layerdb_errmsg(rd));
    double secs = bench_now() - t0;
    if (records != b->nkeys) bench_fail(b, "refresh applied %llu records, want %zu",
                                        (unsigned long long)records, b->nkeys);
    if (get_info(b, rd).keys != get_info(b, w).keys) bench_fail(b, "the reader's key count differs");
    check_run_keys(b, rd, "the follower after a refresh");
    r.records_per_s = (double)records / secs;
    r.mb_per_s = (r.file_mb - header_mb) / secs;
    close_db(b, rd);
    close_db(b, w);
    bench_clear_dir(b);
    return r;
}

static void bench_refresh(struct bench *b) {
    double rate[REFRESH_ROUNDS], mbs[REFRESH_ROUNDS], file = 0;
    for (int i = 0; i < REFRESH_ROUNDS; i++) {
        bench_progress("follower: one refresh of %zu sets, round %d of %d", b->nkeys, i + 1,
                       REFRESH_ROUNDS);
        struct refresh_round r = refresh_once(b);
        rate[i] = r.records_per_s;
        mbs[i] = r.mb_per_s;
        file = r.file_mb;
    }
    char notes[320];
    snprintf(notes, sizeof notes,
             "records/s; a read-only handle opened before a writer's sets (same process, "
             "everysec, flushed) applies them in one layerdb_refresh: %.0f MB/s of a %.1f MB "
             "file, page cache warm; median of %d rounds",
             quantile(mbs, REFRESH_ROUNDS, 0.5), file, REFRESH_ROUNDS);
    bench_add_rate(b, ENGINE, "follower: layerdb_refresh", b->nkeys,
                   quantile(rate, REFRESH_ROUNDS, 0.5), notes);
}

/* ---- Follower lag ---- */

/* The reader's thread polls in a loop: refresh, then get the counter; it
 * notes when each new value first shows. */
struct lag_job {
    layerdb *reader;
    double seen_at[LAG_ROUNDS + 1]; /* [r]: when round r's value showed */
    atomic_uint seen;               /* the last round seen */
    atomic_int stop;
    int rc;                         /* a failed refresh's code */
    uint64_t polls;
    double seconds;                 /* the thread's whole run */
};

static void *follow(void *arg) {
    struct lag_job *j = arg;
    char buf[32];
    double t0 = bench_now();
    while (!atomic_load(&j->stop)) {
        size_t len = 0;
        j->rc = layerdb_refresh(j->reader, NULL);
        if (j->rc != LAYERDB_OK) break;
        j->polls++;
        if (layerdb_get_copy(j->reader, COUNTER, strlen(COUNTER), buf, sizeof buf - 1, &len))
            continue;
        buf[len < sizeof buf ? len : sizeof buf - 1] = '\0';
        unsigned long v = strtoul(buf, NULL, 10);
        if (v > atomic_load(&j->seen) && v <= LAG_ROUNDS) {
            j->seen_at[v] = bench_now();
            atomic_store(&j->seen, (unsigned)v);
        }
    }
    j->seconds = bench_now() - t0;
    return NULL;
}

/* The figures of the lag rounds, one slot per round. */
struct lag_times {
    double from_set[LAG_ROUNDS];   /* us from set's return to the reader seeing it */
    double after_flush[LAG_ROUNDS];/* us from flush's return; < 0: seen before */
    double flush[LAG_ROUNDS];      /* us the flush took */
};

/* Round r: set the counter to r, flush, wait for the reader to see r.
 * Returns 0 if it did not within 10 s. */
static int lag_round(struct bench *b, layerdb *w, struct lag_job *j, unsigned r,
                     struct lag_times *t) {
    char val[16];
    int len = snprintf(val, sizeof val, "%u", r);
    if (layerdb_set(w, COUNTER, strlen(COUNTER), val, (size_t)len) != LAYERDB_OK)
        bench_die(b, "layerdb_set: %s", layerdb_errmsg(w));
    double set_done = bench_now();
    flush_db(b, w);
    double flushed = bench_now();
    while (atomic_load(&j->seen) < r) {
        if (j->rc != LAYERDB_OK || bench_now() - flushed > 10) return 0;
        sched_yield();
    }
    t->from_set[r - 1] = (j->seen_at[r] - set_done) * 1e6;
    t->after_flush[r - 1] = (j->seen_at[r] - flushed) * 1e6;
    t->flush[r - 1] = (flushed - set_done) * 1e6;
    return 1;
}

static void add_lag_row(struct bench *b, struct lag_job *j, struct lag_times *t) {
    size_t later = 0;
    for (size_t i = 0; i < LAG_ROUNDS; i++) later += t->after_flush[i] > 0;
    double median = quantile(t->from_set, LAG_ROUNDS, 0.5);
    double p99 = quantile(t->from_set, LAG_ROUNDS, 0.99), worst = t->from_set[LAG_ROUNDS - 1];
    double after_p99 = quantile(t->after_flush, LAG_ROUNDS, 0.99);
    char keys[48], result[48], notes[320];
    snprintf(keys, sizeof keys, "%d rounds", LAG_ROUNDS);
    snprintf(result, sizeof result, "%.0f us median", median);
    snprintf(notes, sizeof notes,
             "set a counter, then layerdb_flush (median %.0f us), to a reader thread (same "
             "process, polling refresh + get, %.1f us a poll) seeing it; p99 %.0f, worst %.0f "
             "us; seen after the flush returned in %zu rounds (p99 %+.0f us from it)",
             quantile(t->flush, LAG_ROUNDS, 0.5), j->seconds / (double)j->polls * 1e6, p99,
             worst, later, after_p99);
    bench_add_row(b, ENGINE, "follower lag: set + flush to seen", keys, result, notes);
}

static void bench_lag(struct bench *b) {
    bench_progress("follower: lag from a writer's set + flush to a reader thread seeing it, "
                   "%d rounds", LAG_ROUNDS);
    layerdb *w = open_db(b, "lag.db", 1, 0);
    flush_db(b, w);
    struct lag_job *j = calloc(1, sizeof *j);
    struct lag_times *t = calloc(1, sizeof *t);
    if (!j || !t) bench_die(b, "out of memory");
    j->reader = open_db(b, "lag.db", 0, 1);
    pthread_t tid;
    if (pthread_create(&tid, NULL, follow, j) != 0) bench_die(b, "pthread_create");
    unsigned r = 1;
    while (r <= LAG_ROUNDS && lag_round(b, w, j, r, t)) r++;
    atomic_store(&j->stop, 1);
    pthread_join(tid, NULL);
    if (r <= LAG_ROUNDS)
        bench_fail(b, "the reader never saw round %u (%s)", r, layerdb_strerror(j->rc));
    else
        add_lag_row(b, j, t);
    close_db(b, j->reader);
    close_db(b, w);
    bench_clear_dir(b);
    free(j);
    free(t);
}

/* ---- The section ---- */

void bench_compact_latency_10x(struct bench *b) {
    bench_latency_at(b, 10 * b->nkeys);
}

void bench_compact(struct bench *b) {
    bench_compact_speed(b);
    bench_latency_at(b, b->nkeys);
    bench_latency_at(b, 10 * b->nkeys);
    bench_refresh(b);
    bench_lag(b);
}
