/* bench_layerdb.c -- layerdb's rows: set throughput under each persistence
 * and fsync policy (one writer; four writers sharing a handle for
 * "always"), random gets, and the replay speed of reopening a 1M-key file.
 *
 * Only the set (or get) loop is timed. For the persisted runs the time
 * layerdb_flush then takes to drain the writer thread goes in the notes:
 * set returns once its record is queued, so that time is not in the rate. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

#define ENGINE "layerdb"

/* One writer's share of a load: keys [first, first + count). */
struct load_job {
    struct bench *b;
    layerdb *db;
    size_t first;     /* index of the first key */
    size_t count;     /* keys to write at most */
    double deadline;  /* bench_now() to stop at; 0 = no bound */
    size_t done;      /* keys written */
    int rc;           /* first error; LAYERDB_OK if none */
};

/* ---- Handles ---- */

static layerdb *open_db(struct bench *b, const char *path, int persistence,
                        int fsync) {
    layerdb_options o;
    layerdb *db;
    layerdb_options_init(&o);
    o.persistence = persistence;
    o.fsync = fsync;
    int rc = layerdb_open(&db, path, &o);
    if (rc != LAYERDB_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", layerdb_errmsg(db));
        layerdb_close(db);
        bench_die(b, "layerdb_open '%s': %s", path ? path : "(none)", msg);
    }
    return db;
}

static void close_db(struct bench *b, layerdb *db) {
    int rc = layerdb_close(db);
    if (rc != LAYERDB_OK)
        bench_die(b, "layerdb_close: %s", layerdb_strerror(rc));
}

/* Compare the handle's key count with what was written. */
static void check_keys(struct bench *b, layerdb *db, size_t want,
                       const char *what) {
    layerdb_info info;
    int rc = layerdb_info_get(db, &info);
    if (rc != LAYERDB_OK)
        bench_die(b, "layerdb_info_get: %s", layerdb_errmsg(db));
    if (info.keys != want)
        bench_fail(b, "layerdb %s: %llu keys, want %zu", what,
                   (unsigned long long)info.keys, want);
}

/* ---- Loading ---- */

static void *load_run(void *arg) {
    struct load_job *j = arg;
    char val[BENCH_VAL_LEN];
    for (size_t i = j->first; i < j->first + j->count; i++) {
        bench_value(j->b, i, val);
        j->rc = layerdb_set(j->db, bench_key(j->b, i), BENCH_KEY_LEN, val,
                            sizeof val);
        if (j->rc != LAYERDB_OK) break;
        j->done++;
        if (j->deadline > 0 && bench_now() >= j->deadline) break;
    }
    return NULL;
}

static void start_jobs(struct load_job *jobs, pthread_t *tids, int n) {
    for (int t = 1; t < n; t++)
        if (pthread_create(&tids[t], NULL, load_run, &jobs[t]) != 0)
            bench_die(jobs[0].b, "pthread_create failed");
    load_run(&jobs[0]);   /* the calling thread is writer 0 */
    for (int t = 1; t < n; t++) pthread_join(tids[t], NULL);
}

/* Declared in bench.h. */
size_t bench_layerdb_load(struct bench *b, layerdb *db, size_t count,
                          int nthreads, double seconds, double *elapsed) {
    struct load_job jobs[BENCH_THREADS];
    pthread_t tids[BENCH_THREADS];
    size_t per = count / (size_t)nthreads, done = 0;
    double start = bench_now();
    for (int t = 0; t < nthreads; t++) {
        struct load_job *j = &jobs[t];
        j->b = b;
        j->db = db;
        j->first = per * (size_t)t;
        j->count = t == nthreads - 1 ? count - j->first : per; /* the rest */
        j->deadline = seconds > 0 ? start + seconds : 0;
        j->done = 0;
        j->rc = LAYERDB_OK;
    }
    start_jobs(jobs, tids, nthreads);
    *elapsed = bench_now() - start;
    for (int t = 0; t < nthreads; t++) {
        if (jobs[t].rc != LAYERDB_OK)
            bench_die(b, "layerdb_set: %s", layerdb_strerror(jobs[t].rc));
        done += jobs[t].done;
    }
    return done;
}

static double flush_seconds(struct bench *b, layerdb *db) {
    double start = bench_now();
    int rc = layerdb_flush(db);
    if (rc != LAYERDB_OK) bench_die(b, "layerdb_flush: %s", layerdb_errmsg(db));
    return bench_now() - start;
}

/* ---- Set rows ---- */

/* A policy fast enough to repeat. One 1M-key run's rate swings by up to 2x
 * on 2 cores (the writer thread, page faults, the kernel's flushing, the
 * VM's neighbours), so each policy runs BENCH_REPS times and the row
 * reports the median. The policies take turns, and the order rotates
 * each round, so that none always runs first or last in a round (a slow
 * drift of the machine would otherwise favour one). */
struct policy {
    const char *test;        /* the row's test column */
    const char *durability;  /* the start of its notes */
    int persistence;         /* enum layerdb_persistence */
    int fsync;               /* enum layerdb_fsync */
    const char *file;        /* file name in b->dir; NULL for none */
    double ops[BENCH_REPS];  /* the rate of each run */
    double drain_max;        /* longest flush after a run, seconds */
    uint64_t batch_max;      /* largest writer batch over the runs, bytes */
    size_t done;             /* keys written by the last run */
};

/* One run of 'p' into a new database; its file is deleted unless
 * 'keep_file'. */
static void set_once(struct bench *b, struct policy *p, int rep,
                     int keep_file) {
    char path[PATH_MAX];
    double secs;
    if (p->file != NULL) bench_path(b, p->file, path);
    bench_settle(b);
    layerdb *db = open_db(b, p->file != NULL ? path : NULL, p->persistence,
                          p->fsync);
    p->done = bench_layerdb_load(b, db, b->nkeys, 1, 0, &secs);
    p->ops[rep] = secs > 0 ? (double)p->done / secs : 0;
    double drain = flush_seconds(b, db);
    if (drain > p->drain_max) p->drain_max = drain;
    check_keys(b, db, p->done, p->test);
    layerdb_info info;
    if (layerdb_info_get(db, &info) != LAYERDB_OK)
        bench_die(b, "layerdb_info_get: %s", layerdb_errmsg(db));
    if (info.largest_batch_bytes > p->batch_max)
        p->batch_max = info.largest_batch_bytes;
    close_db(b, db);
    if (p->file != NULL && !keep_file) unlink(path);
}

/* s = v sorted, n <= BENCH_REPS. */
static void sort_copy(const double *v, int n, double *s) {
    memcpy(s, v, (size_t)n * sizeof *s);
    for (int i = 1; i < n; i++)   /* insertion sort: n is tiny */
        for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
            double t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
}

static double median_of_sorted(const double *s, int n) {
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double median(const double *v, int n) {
    double s[BENCH_REPS];
    sort_copy(v, n, s);
    return median_of_sorted(s, n);
}

/* The median over rounds of a's rate / b's rate. Both ran in each round,
 * seconds apart, so a drift of the machine over the minutes of the bench
 * cancels out of each round's ratio, as it does not out of the ratio of
 * the two medians. */
static double paired_ratio(const struct policy *a, const struct policy *b) {
    double r[BENCH_REPS];
    for (int i = 0; i < BENCH_REPS; i++) r[i] = b->ops[i] > 0 ? a->ops[i] / b->ops[i] : 0;
    return median(r, BENCH_REPS);
}

/* Add p's row; returns its median rate. The notes give the spread of the
 * runs: their range and the middle half (from the 25th to the 75th
 * percentile, nearest run). */
static double add_policy_row(struct bench *b, const struct policy *p) {
    char drain[128] = "", notes[320];
    double s[BENCH_REPS];
    sort_copy(p->ops, BENCH_REPS, s);
    if (p->persistence == LAYERDB_PERSIST_ON)
        snprintf(drain, sizeof drain, "; flush after the sets took <= %.2f s; "
                 "largest write batch %.1f MiB", p->drain_max,
                 (double)p->batch_max / (1 << 20));
    snprintf(notes, sizeof notes, "%s; median of %d runs (range %.2fM-%.2fM, "
             "middle half %.2fM-%.2fM ops/s)%s", p->durability, BENCH_REPS,
             s[0] / 1e6, s[BENCH_REPS - 1] / 1e6, s[BENCH_REPS / 4] / 1e6,
             s[(3 * BENCH_REPS) / 4] / 1e6, drain);
    double ops = median_of_sorted(s, BENCH_REPS);
    bench_add_rate(b, ENGINE, p->test, p->done, ops, notes);
    return ops;
}

/* "always": each set waits for its fsync, so the run is bounded. */
static void set_always(struct bench *b, int nthreads) {
    char path[PATH_MAX], test[64], notes[192];
    double secs;
    size_t cap = bench_min(b->nkeys, BENCH_SYNC_KEYS * (size_t)nthreads);
    bench_path(b, "always.ldb", path);
    snprintf(test, sizeof test, "set, fsync always, %d writer%s", nthreads,
             nthreads > 1 ? "s, one handle" : "");
    bench_progress("layerdb %s", test);
    bench_settle(b);
    layerdb *db = open_db(b, path, LAYERDB_PERSIST_ON, LAYERDB_FSYNC_ALWAYS);
    size_t done = bench_layerdb_load(b, db, cap, nthreads, BENCH_SYNC_SECONDS,
                                     &secs);
    check_keys(b, db, done, test);
    snprintf(notes, sizeof notes, "a crash loses no acked write%s",
             nthreads > 1 ? "; group commit shares fsyncs" : "");
    bench_add_ops(b, ENGINE, test, done, secs, notes);
    close_db(b, db);
    unlink(path);
}

/* ---- Gets and replay ---- */

static void get_random(struct bench *b, layerdb *db) {
    char want[BENCH_VAL_LEN];
    size_t wrong = 0;
    bench_progress("layerdb get, random order");
    double start = bench_now();
    for (size_t j = 0; j < b->nkeys; j++) {
        size_t i = b->get_order[j];
        const void *val;
        size_t vlen;
        bench_value(b, i, want);
        int rc = layerdb_get(db, bench_key(b, i), BENCH_KEY_LEN, &val, &vlen);
        if (rc != LAYERDB_OK || vlen != BENCH_VAL_LEN ||
            memcmp(val, want, vlen) != 0)
            wrong++;
    }
    double secs = bench_now() - start;
    if (wrong > 0)
        bench_fail(b, "layerdb get: %zu of %zu keys wrong or missing", wrong,
                   b->nkeys);
    bench_add_ops(b, ENGINE, "get, random order", b->nkeys, secs,
                  "one reader; value pointer, compared to the expected bytes");
}

/* Time layerdb_open of the file the everysec run left (page cache warm).
 * Returns the handle, open, for the gets. */
static layerdb *replay(struct bench *b, const char *path) {
    char keys[32], result[32], notes[192];
    struct stat st;
    layerdb_info info;
    bench_progress("layerdb replay (open) of %s", path);
    if (stat(path, &st) != 0) bench_die(b, "stat '%s' failed", path);
    double start = bench_now();
    layerdb *db = open_db(b, path, LAYERDB_PERSIST_ON, LAYERDB_FSYNC_EVERYSEC);
    double secs = bench_now() - start;
    check_keys(b, db, b->nkeys, "replay");
    if (layerdb_info_get(db, &info) != LAYERDB_OK)
        bench_die(b, "layerdb_info_get: %s", layerdb_errmsg(db));
    bench_fmt_count(keys, sizeof keys, info.keys);
    snprintf(result, sizeof result, "%.0f MB/s",
             (double)st.st_size / 1e6 / secs);
    snprintf(notes, sizeof notes, "open of a %.1f MB file took %.3f s; %llu "
             "records; page cache warm", (double)st.st_size / 1e6, secs,
             (unsigned long long)info.replayed_records);
    bench_add_row(b, ENGINE, "replay: layerdb_open of the everysec file",
                  keys, result, notes);
    return db;
}

/* ---- All layerdb rows ---- */

/* Runs every policy BENCH_REPS times, in an order that rotates each
 * round; keeps the file of the last run of p[n - 1] for the replay. */
static void set_policies(struct bench *b, struct policy *p, int n) {
    for (int rep = 0; rep < BENCH_REPS; rep++) {
        for (int k = 0; k < n; k++) {
            int i = (k + rep) % n;
            bench_progress("layerdb %s, run %d of %d", p[i].test, rep + 1,
                           BENCH_REPS);
            set_once(b, &p[i], rep, rep == BENCH_REPS - 1 && i == n - 1);
        }
    }
}

void bench_layerdb(struct bench *b) {
    char everysec[PATH_MAX];
    struct policy p[] = {   /* everysec last: its file is kept */
        {.test = "set, persistence off", .persistence = LAYERDB_PERSIST_OFF,
         .durability = "memory only: a crash loses all"},
        {.test = "set, fsync no", .fsync = LAYERDB_FSYNC_NO, .file = "no.ldb",
         .durability = "the OS decides: a power loss may lose more"},
        {.test = "set, fsync everysec", .fsync = LAYERDB_FSYNC_EVERYSEC,
         .file = "everysec.ldb", .durability = "a power loss loses about the last second"},
    };
    set_policies(b, p, 3);
    b->set_off_ops = add_policy_row(b, &p[0]);
    add_policy_row(b, &p[1]);
    b->set_everysec_ops = add_policy_row(b, &p[2]);
    b->set_paired_ratio = paired_ratio(&p[2], &p[0]);
    set_always(b, 1);
    set_always(b, BENCH_THREADS);
    bench_path(b, p[2].file, everysec);
    layerdb *db = replay(b, everysec);
    get_random(b, db);
    close_db(b, db);
    bench_clear_dir(b);
}
