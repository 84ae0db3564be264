/* bench_commands.c -- the command layer: layerdb_command's throughput for
 * SET, GET, INCR, MSET and MGET of 10 keys, EXPIRE and SETEX, next to the
 * plain layerdb_set; gets from two threads sharing one handle; and a cold
 * first fill and a cold open, each in a fresh process.
 *
 * Every command run uses a fresh database under fsync everysec with the
 * run's keys and values. The SET pair (layerdb_command against
 * layerdb_set) runs BENCH_CMD_ROUNDS rounds, the two taking turns, and
 * shows the medians and the median of the per-round ratios: the generic
 * path's target is at least half the fast path's rate.
 *
 * The cold rows exec this program again (bench_cold_main), so the process
 * has a heap that nothing touched yet: the warm rounds above reuse the
 * memory earlier rounds freed and never pay the page faults a first load
 * pays. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define ENGINE "layerdb"
#define BENCH_CMD_ROUNDS 7
#define BATCH 10 /* keys per MSET and MGET */

static layerdb *open_db(struct bench *b, const char *name) {
    char path[PATH_MAX];
    bench_path(b, name, path);
    unlink(path);
    layerdb_options o;
    layerdb_options_init(&o);
    layerdb *db = NULL;
    if (layerdb_open(&db, path, &o) != LAYERDB_OK)
        bench_die(b, "open %s: %s", path, layerdb_errmsg(db));
    return db;
}

static void close_db(struct bench *b, layerdb *db) {
    if (layerdb_close(db) != LAYERDB_OK) bench_die(b, "layerdb_close failed");
    bench_clear_dir(b);
}

/* Run one command; dies on an engine failure or an error reply. */
static void run(struct bench *b, layerdb *db, int argc, const char **argv, const size_t *lens) {
    layerdb_reply *r = NULL;
    int rc = layerdb_command(db, argc, argv, lens, &r);
    if (rc != LAYERDB_OK) bench_die(b, "layerdb_command %s: %s", argv[0], layerdb_errmsg(db));
    if (r->type == LAYERDB_REPLY_ERROR) bench_die(b, "%s replied %s", argv[0], r->str);
    layerdb_reply_free(r);
}

/* ---- SET: the command path against the fast path ---- */

static double set_plain(struct bench *b) {
    layerdb *db = open_db(b, "set-plain.db");
    char val[BENCH_VAL_LEN];
    bench_settle(b);
    double t0 = bench_now();
    for (size_t i = 0; i < b->nkeys; i++) {
        bench_value(b, i, val);
        if (layerdb_set(db, bench_key(b, i), BENCH_KEY_LEN, val, BENCH_VAL_LEN) != LAYERDB_OK)
            bench_die(b, "layerdb_set: %s", layerdb_errmsg(db));
    }
    double secs = bench_now() - t0;
    close_db(b, db);
    return (double)b->nkeys / secs;
}

static double set_command(struct bench *b) {
    layerdb *db = open_db(b, "set-cmd.db");
    char val[BENCH_VAL_LEN];
    const char *argv[3] = {"SET", NULL, val};
    size_t lens[3] = {3, BENCH_KEY_LEN, BENCH_VAL_LEN};
    bench_settle(b);
    double t0 = bench_now();
    for (size_t i = 0; i < b->nkeys; i++) {
        bench_value(b, i, val);
        argv[1] = bench_key(b, i);
        run(b, db, 3, argv, lens);
    }
    double secs = bench_now() - t0;
    close_db(b, db);
    return (double)b->nkeys / secs;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, by_value);
    return v[n / 2];
}

static void bench_set_pair(struct bench *b) {
    double plain[BENCH_CMD_ROUNDS], cmd[BENCH_CMD_ROUNDS], ratio[BENCH_CMD_ROUNDS];
    for (int r = 0; r < BENCH_CMD_ROUNDS; r++) {
        bench_progress("layerdb_command SET against layerdb_set, round %d of %d", r + 1,
                       BENCH_CMD_ROUNDS);
        if (r % 2) { cmd[r] = set_command(b); plain[r] = set_plain(b); }
        else { plain[r] = set_plain(b); cmd[r] = set_command(b); }
        ratio[r] = cmd[r] / plain[r];
    }
    double p = median(plain, BENCH_CMD_ROUNDS), c = median(cmd, BENCH_CMD_ROUNDS);
    double q = median(ratio, BENCH_CMD_ROUNDS);
    char notes[320];
    snprintf(notes, sizeof notes, "everysec; median of %d rounds, taking turns with SET below",
             BENCH_CMD_ROUNDS);
    bench_add_rate(b, ENGINE, "layerdb_set (the fast path)", b->nkeys, p, notes);
    snprintf(notes, sizeof notes,
             "everysec; %.0f%% of layerdb_set as the median of paired rounds (target: at least "
             "50%%): %s",
             100 * q, q >= 0.5 ? "met" : "NOT met");
    bench_add_rate(b, ENGINE, "layerdb_command SET", b->nkeys, c, notes);
}

/* ---- The other commands ---- */

/* Fill db with every key (plain sets), for the commands that read them. */
static void fill(struct bench *b, layerdb *db) {
    char val[BENCH_VAL_LEN];
    for (size_t i = 0; i < b->nkeys; i++) {
        bench_value(b, i, val);
        if (layerdb_set(db, bench_key(b, i), BENCH_KEY_LEN, val, BENCH_VAL_LEN) != LAYERDB_OK)
            bench_die(b, "layerdb_set: %s", layerdb_errmsg(db));
    }
}

static void get_cmd(struct bench *b, layerdb *db, size_t i) {
    const char *argv[2] = {"GET", bench_key(b, b->get_order[i])};
    size_t lens[2] = {3, BENCH_KEY_LEN};
    run(b, db, 2, argv, lens);
}

static void incr_cmd(struct bench *b, layerdb *db, size_t i) {
    char key[32];
    size_t n = (size_t)snprintf(key, sizeof key, "counter:%zu", i % 1000);
    const char *argv[2] = {"INCR", key};
    size_t lens[2] = {4, n};
    run(b, db, 2, argv, lens);
}

static void expire_cmd(struct bench *b, layerdb *db, size_t i) {
    const char *argv[3] = {"EXPIRE", bench_key(b, b->get_order[i]), "100000"};
    size_t lens[3] = {6, BENCH_KEY_LEN, 6};
    run(b, db, 3, argv, lens);
}

static void setex_cmd(struct bench *b, layerdb *db, size_t i) {
    char val[BENCH_VAL_LEN];
    bench_value(b, i, val);
    const char *argv[4] = {"SETEX", bench_key(b, i), "100000", val};
    size_t lens[4] = {5, BENCH_KEY_LEN, 6, BENCH_VAL_LEN};
    run(b, db, 4, argv, lens);
}

/* MSET or MGET of keys i*BATCH .. i*BATCH + BATCH - 1. */
static void batch_cmd(struct bench *b, layerdb *db, size_t i, int set) {
    const char *argv[1 + 2 * BATCH];
    size_t lens[1 + 2 * BATCH];
    static char vals[BATCH][BENCH_VAL_LEN];
    int argc = 1;
    argv[0] = set ? "MSET" : "MGET";
    lens[0] = 4;
    for (size_t k = 0; k < BATCH; k++) {
        size_t key = (i * BATCH + k) % b->nkeys;
        argv[argc] = bench_key(b, key);
        lens[argc++] = BENCH_KEY_LEN;
        if (!set) continue;
        bench_value(b, key, vals[k]);
        argv[argc] = vals[k];
        lens[argc++] = BENCH_VAL_LEN;
    }
    run(b, db, argc, argv, lens);
}

static void mset_cmd(struct bench *b, layerdb *db, size_t i) { batch_cmd(b, db, i, 1); }
static void mget_cmd(struct bench *b, layerdb *db, size_t i) { batch_cmd(b, db, i, 0); }

struct command_run {
    const char *test;
    int prefill;       /* the keys exist before the timed loop */
    size_t per_key;    /* 1, or BATCH for a command over BATCH keys */
    void (*one)(struct bench *b, layerdb *db, size_t i);
    const char *notes;
};

static void bench_command(struct bench *b, const struct command_run *c) {
    bench_progress("layerdb_command %s", c->test);
    layerdb *db = open_db(b, "cmd.db");
    if (c->prefill) fill(b, db);
    size_t n = b->nkeys / c->per_key;
    bench_settle(b);
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) c->one(b, db, i);
    double secs = bench_now() - t0;
    close_db(b, db);
    char notes[320];
    if (c->per_key > 1)
        snprintf(notes, sizeof notes, "%s; %.2fM keys/s", c->notes,
                 (double)(n * c->per_key) / secs / 1e6);
    else
        snprintf(notes, sizeof notes, "%s", c->notes);
    bench_add_ops(b, ENGINE, c->test, n, secs, notes);
}

/* ---- Gets from two threads on one handle ---- */

struct get_job {
    struct bench *b;
    layerdb *db;
    size_t first, count;
};

static void *get_worker(void *arg) {
    struct get_job *j = arg;
    for (size_t i = 0; i < j->count; i++) {
        size_t k = j->b->get_order[(j->first + i) % j->b->nkeys];
        const void *v;
        size_t vlen;
        if (layerdb_get(j->db, bench_key(j->b, k), BENCH_KEY_LEN, &v, &vlen) != LAYERDB_OK)
            bench_fail(j->b, "get from a thread missed a key");
    }
    return NULL;
}

static double gets_with_threads(struct bench *b, layerdb *db, int nthreads) {
    struct get_job jobs[2];
    pthread_t tids[2];
    double t0 = bench_now();
    for (int t = 0; t < nthreads; t++) {
        jobs[t] = (struct get_job){b, db, (size_t)t * (b->nkeys / 2), b->nkeys};
        if (pthread_create(&tids[t], NULL, get_worker, &jobs[t]) != 0) bench_die(b, "pthread_create");
    }
    for (int t = 0; t < nthreads; t++) pthread_join(tids[t], NULL);
    return (double)nthreads * (double)b->nkeys / (bench_now() - t0);
}

/* The machine's own: how much faster two threads of plain arithmetic
 * finish than one, as a control for the two-thread gets (a VM may not run
 * its two vCPUs at once). */
static void *spin(void *arg) {
    volatile uint64_t x = 0;
    for (uint64_t i = 0; i < 100000000u; i++) x += i;
    (void)arg;
    return NULL;
}

static double spin_ratio(struct bench *b) {
    double secs[3];
    for (int n = 1; n <= 2; n++) {
        pthread_t t[2];
        double t0 = bench_now();
        for (int i = 0; i < n; i++)
            if (pthread_create(&t[i], NULL, spin, NULL) != 0) bench_die(b, "pthread_create");
        for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
        secs[n] = bench_now() - t0;
    }
    return 2 * secs[1] / secs[2]; /* twice the work, in so much more time */
}

static void bench_get_threads(struct bench *b) {
    bench_progress("layerdb_get from one thread and from two");
    layerdb *db = open_db(b, "threads.db");
    fill(b, db);
    double one[BENCH_CMD_ROUNDS], two[BENCH_CMD_ROUNDS], ratio[BENCH_CMD_ROUNDS],
        control[BENCH_CMD_ROUNDS];
    for (int r = 0; r < BENCH_CMD_ROUNDS; r++) {
        control[r] = spin_ratio(b);
        one[r] = gets_with_threads(b, db, 1);
        two[r] = gets_with_threads(b, db, 2);
        ratio[r] = two[r] / one[r];
    }
    close_db(b, db);
    double q = median(ratio, BENCH_CMD_ROUNDS);
    char notes[320];
    snprintf(notes, sizeof notes,
             "two threads, one handle, together; %.2fx one thread (%.2fM/s) as the median of %d "
             "paired rounds (target: at least 1.5x): %s; the machine itself: two threads of plain "
             "arithmetic ran %.2fx one, in the same rounds",
             q, median(one, BENCH_CMD_ROUNDS) / 1e6, BENCH_CMD_ROUNDS, q >= 1.5 ? "met" : "NOT met",
             median(control, BENCH_CMD_ROUNDS));
    bench_add_rate(b, ENGINE, "get, 2 threads sharing a handle", 2 * b->nkeys,
                   median(two, BENCH_CMD_ROUNDS), notes);
}

/* ---- Cold: a fresh process ---- */

/* In the exec'd child: "fill PATH N" sets N keys into a new file and
 * prints sets/s; "open PATH" opens it and prints "MB/s records". */
int bench_cold_main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *what = argv[2], *path = argv[3];
    layerdb_options o;
    layerdb_options_init(&o);
    layerdb *db = NULL;
    if (strcmp(what, "fill") == 0 && argc == 5) {
        size_t n = strtoull(argv[4], NULL, 10);
        char key[32], val[BENCH_VAL_LEN];
        memset(val, 'v', sizeof val);
        unlink(path);
        if (layerdb_open(&db, path, &o) != LAYERDB_OK) return 3;
        double t0 = bench_now();
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof key, "key:%012zu", (i * 2654435761u) % n);
            if (layerdb_set(db, key, BENCH_KEY_LEN, val, sizeof val) != LAYERDB_OK) return 4;
        }
        double secs = bench_now() - t0;
        if (layerdb_close(db) != LAYERDB_OK) return 5;
        printf("%.0f\n", (double)n / secs);
        return 0;
    }
    if (strcmp(what, "open") == 0) {
        double t0 = bench_now();
        if (layerdb_open(&db, path, &o) != LAYERDB_OK) return 3;
        double secs = bench_now() - t0;
        layerdb_info info;
        layerdb_info_get(db, &info);
        layerdb_close(db);
        FILE *f = fopen(path, "rb");
        if (!f) return 6;
        fseek(f, 0, SEEK_END);
        double bytes = (double)ftell(f);
        fclose(f);
        printf("%.1f %llu\n", bytes / secs / 1e6, (unsigned long long)info.replayed_records);
        return 0;
    }
    return 2;
}

/* Run this program again with args; its one line of output into out. */
static int run_self(struct bench *b, char *const args[], char *out, size_t cap) {
    int fds[2];
    if (pipe(fds) != 0) bench_die(b, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) bench_die(b, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], out, cap - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void bench_cold(struct bench *b) {
    char path[PATH_MAX], count[32], out[128];
    bench_path(b, "cold.db", path);
    snprintf(count, sizeof count, "%zu", b->nkeys);
    bench_progress("a cold first fill and a cold open, each in a fresh process");
    char *fill_args[] = {"layerdb-bench", "--cold", "fill", path, count, NULL};
    if (run_self(b, fill_args, out, sizeof out) != 0) {
        bench_fail(b, "the cold fill failed");
        return;
    }
    bench_add_rate(b, ENGINE, "set, cold: a fresh process's first fill", b->nkeys, strtod(out, NULL),
                   "everysec; the heap and the table start empty: every page is a first touch, "
                   "which the warm rounds above (memory reused from earlier rounds) do not pay");
    char *open_args[] = {"layerdb-bench", "--cold", "open", path, NULL};
    double mbs = 0;
    unsigned long long records = 0;
    if (run_self(b, open_args, out, sizeof out) != 0 || sscanf(out, "%lf %llu", &mbs, &records) != 2) {
        bench_fail(b, "the cold open failed");
        return;
    }
    if (records != b->nkeys) bench_fail(b, "the cold open replayed %llu records", records);
    char result[48], notes[320];
    snprintf(result, sizeof result, "%.0f MB/s", mbs);
    snprintf(notes, sizeof notes,
             "layerdb_open of that file in another fresh process: the file is in the page "
             "cache, the heap is not");
    bench_add_row(b, ENGINE, "replay, cold: open in a fresh process", count, result, notes);
    bench_clear_dir(b);
}

void bench_commands(struct bench *b) {
    bench_set_pair(b);
    static const struct command_run runs[] = {
        {"GET (command)", 1, 1, get_cmd, "random order, every key present"},
        {"INCR", 0, 1, incr_cmd, "1000 counters, logged as INCR"},
        {"MSET of 10 keys", 0, BATCH, mset_cmd, "everysec"},
        {"MGET of 10 keys", 1, BATCH, mget_cmd, "every key present"},
        {"EXPIRE", 1, 1, expire_cmd, "on present keys; logged as PEXPIREAT"},
        {"SETEX", 0, 1, setex_cmd, "logged as SET ... PXAT"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) bench_command(b, &runs[i]);
    bench_get_threads(b);
    bench_cold(b);
}
