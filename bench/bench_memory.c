/* bench_memory.c -- layerdb's bytes of memory per key beyond the 116 bytes
 * of payload (16-byte key + 100-byte value), measured three ways:
 *  (a) a counting allocator (layerdb_options.alloc) that sums
 *      malloc_usable_size of live blocks: what malloc really hands out,
 *      rounding included, but not its per-chunk header (8 bytes in glibc);
 *  (b) RSS growth from /proc/self/statm around loading every key into a
 *      fresh persistence-off database: everything, fragmentation included;
 *  (c) layerdb_info.memory_bytes / keys: what the engine asked for.
 * (b) runs in a forked child before any other run, so no memory freed by an
 * earlier run is reused unseen and the figure is a clean process's. */
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define ENGINE "layerdb"

/* What the RSS child sends its parent through a pipe. */
struct rss_result {
    int ok;                 /* 1 if the child measured */
    double grown_bytes;     /* RSS after the load minus before */
    uint64_t keys;          /* layerdb_info.keys after the load */
    double seconds;         /* load time */
};

/* ---- The counting allocator ---- */

struct counter {
    atomic_llong live_bytes; /* usable bytes of live blocks (relaxed: only
                                read after the writes it counts are done) */
};

static void count(void *ud, long long delta) {
    struct counter *c = ud;
    atomic_fetch_add_explicit(&c->live_bytes, delta, memory_order_relaxed);
}

static void *counting_malloc(size_t n, void *ud) {
    void *p = malloc(n);
    if (p != NULL) count(ud, (long long)malloc_usable_size(p));
    return p;
}

static void *counting_realloc(void *p, size_t n, void *ud) {
    long long old = p != NULL ? (long long)malloc_usable_size(p) : 0;
    void *q = realloc(p, n);
    if (q != NULL) count(ud, (long long)malloc_usable_size(q) - old);
    return q;
}

static void counting_free(void *p, void *ud) {
    if (p != NULL) count(ud, -(long long)malloc_usable_size(p));
    free(p);
}

/* ---- Helpers ---- */

static layerdb *open_unpersisted(struct bench *b, const layerdb_allocator *a) {
    layerdb_options o;
    layerdb *db;
    layerdb_options_init(&o);
    o.persistence = LAYERDB_PERSIST_OFF;
    if (a != NULL) o.alloc = *a;
    int rc = layerdb_open(&db, NULL, &o);
    if (rc != LAYERDB_OK) {
        fprintf(stderr, "bench: layerdb_open: %s\n", layerdb_errmsg(db));
        layerdb_close(db);
        bench_die(b, "cannot open an in-memory layerdb");
    }
    return db;
}

static layerdb_info info_of(struct bench *b, layerdb *db) {
    layerdb_info info;
    if (layerdb_info_get(db, &info) != LAYERDB_OK)
        bench_die(b, "layerdb_info_get: %s", layerdb_errmsg(db));
    return info;
}

static double resident_bytes(void) {
    long pages_total = 0, pages_resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2)
        pages_resident = -1;
    fclose(f);
    return (double)pages_resident * (double)sysconf(_SC_PAGESIZE);
}

/* ---- (b) RSS growth, in a child ---- */

static void rss_child(struct bench *b, int fd) {
    struct rss_result r = {0};
    double before = resident_bytes();
    layerdb *db = open_unpersisted(b, NULL);
    bench_layerdb_load(b, db, b->nkeys, 1, 0, &r.seconds);
    double after = resident_bytes();
    r.keys = info_of(b, db).keys;
    r.ok = before >= 0 && after >= 0;
    r.grown_bytes = after - before;
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
    _exit(0);  /* the parent owns the temp dir; skip atexit and close */
}

static void measure_rss(struct bench *b) {
    struct rss_result r = {0};
    int fds[2], status;
    bench_progress("layerdb memory: RSS growth (child process)");
    if (pipe(fds) != 0) bench_die(b, "pipe failed");
    pid_t pid = fork();
    if (pid < 0) bench_die(b, "fork failed");
    if (pid == 0) {
        close(fds[0]);
        rss_child(b, fds[1]);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], &r, sizeof r);
    close(fds[0]);
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof r || !r.ok)
        bench_die(b, "the RSS child failed (status %d)", status);
    if (r.keys != b->nkeys)
        bench_fail(b, "RSS child: %llu keys, want %zu",
                   (unsigned long long)r.keys, b->nkeys);
    b->mem_rss = bench_add_per_key(b, ENGINE, "memory: RSS growth", r.grown_bytes, r.keys,
                                   "/proc/self/statm around loading a fresh persistence-off db");
}

/* ---- (a) and (c): counting allocator and layerdb_info ---- */

static void measure_counted(struct bench *b) {
    struct counter c;
    layerdb_allocator a = {counting_malloc, counting_realloc, counting_free,
                           &c};
    double secs;
    bench_progress("layerdb memory: counting allocator");
    atomic_init(&c.live_bytes, 0);
    layerdb *db = open_unpersisted(b, &a);
    long long empty = atomic_load(&c.live_bytes);
    size_t done = bench_layerdb_load(b, db, b->nkeys, 1, 0, &secs);
    long long loaded = atomic_load(&c.live_bytes);
    layerdb_info info = info_of(b, db);
    if (info.keys != done) bench_fail(b, "counted run: %llu keys, want %zu",
                                      (unsigned long long)info.keys, done);
    if (layerdb_close(db) != LAYERDB_OK) bench_die(b, "layerdb_close failed");
    long long left = atomic_load(&c.live_bytes);
    if (left != 0) bench_fail(b, "layerdb_close left %lld bytes allocated "
                              "(a leak)", left);
    b->mem_counted = bench_add_per_key(b, ENGINE, "memory: counting allocator",
                                       (double)(loaded - empty), info.keys,
                                       "growth of malloc_usable_size over live blocks");
    bench_add_per_key(b, ENGINE, "memory: layerdb_info.memory_bytes / keys",
                      (double)info.memory_bytes, info.keys, "bytes the engine requested, whole table");
}

void bench_memory(struct bench *b) {
    measure_rss(b);
    measure_counted(b);
}
