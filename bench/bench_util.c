/* bench_util.c -- the benchmark's keys and values, clock, temporary
 * directory and error exits (see bench.h for the key layout).
 *
 * Keys and orders come from a fixed-seed generator, so every run and every
 * engine sees the same keys in the same order. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define KEY_SEED 0x6c61796572646231ull   /* insertion order */
#define GET_SEED 0x6765742d6f726465ull   /* random-get order */
#define MAX_KEYS 100000000ull            /* ids fit in uint32_t */

/* ---- Keys and values ---- */

/* splitmix64: small, fast and good enough to shuffle keys. */
uint64_t bench_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Fill a[0..n) with a permutation of [0, n) (Fisher-Yates). */
static void shuffle(uint32_t *a, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) a[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(bench_random(&seed) % i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static size_t keys_from_env(void) {
    const char *s = getenv("BENCH_KEYS");
    if (s == NULL || *s == '\0') return BENCH_DEFAULT_KEYS;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > MAX_KEYS) {
        fprintf(stderr, "bench: BENCH_KEYS=%s: want a number from 1 to %llu\n",
                s, MAX_KEYS);
        exit(2);
    }
    return (size_t)n;
}

static void *alloc_or_exit(size_t n) {
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void make_keys(struct bench *b) {
    char text[BENCH_KEY_LEN + 1];   /* snprintf's NUL needs the extra byte */
    b->keys = alloc_or_exit(b->nkeys * BENCH_KEY_LEN);
    b->ids = alloc_or_exit(b->nkeys * sizeof *b->ids);
    b->get_order = alloc_or_exit(b->nkeys * sizeof *b->get_order);
    shuffle(b->ids, b->nkeys, KEY_SEED);
    shuffle(b->get_order, b->nkeys, GET_SEED);
    for (size_t i = 0; i < b->nkeys; i++) {
        snprintf(text, sizeof text, "key:%012u", (unsigned)b->ids[i]);
        memcpy(b->keys + i * BENCH_KEY_LEN, text, BENCH_KEY_LEN);
    }
    for (size_t i = 0; i < BENCH_VAL_LEN; i++)
        b->pattern[i] = (char)('a' + i % 26);
}

/* The value of key i: the filler with the key's id at both ends, so a value
 * returned for the wrong key is caught. Cheap: runs inside timed loops. */
void bench_value(const struct bench *b, size_t i, char *val) {
    uint32_t id = b->ids[i];
    memcpy(val, b->pattern, BENCH_VAL_LEN);
    memcpy(val, &id, sizeof id);
    memcpy(val + BENCH_VAL_LEN - sizeof id, &id, sizeof id);
}

size_t bench_min(size_t a, size_t b) { return a < b ? a : b; }

/* ---- Setup and teardown ---- */

static void make_dir(struct bench *b) {
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == '\0') tmp = "/tmp";
    snprintf(b->dir, sizeof b->dir, "%s/layerdb-bench-XXXXXX", tmp);
    if (mkdtemp(b->dir) == NULL) {
        fprintf(stderr, "bench: mkdtemp '%s': %s\n", b->dir, strerror(errno));
        exit(1);
    }
    b->owner = getpid();
}

/* The machine's load average: other processes skew every figure here. */
void bench_loadavg(char *out, size_t cap) {
    double l1, l5, l15;
    FILE *f = fopen("/proc/loadavg", "r");
    snprintf(out, cap, "unknown");
    if (f == NULL) return;
    if (fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3)
        snprintf(out, cap, "%.2f %.2f %.2f", l1, l5, l15);
    fclose(f);
}

void bench_init(struct bench *b) {
    memset(b, 0, sizeof *b);
    bench_loadavg(b->load_start, sizeof b->load_start);
    b->nkeys = keys_from_env();
    make_keys(b);
    make_dir(b);
}

/* out must hold PATH_MAX bytes. */
void bench_path(struct bench *b, const char *name, char *out) {
    int n = snprintf(out, PATH_MAX, "%s/%s", b->dir, name);
    if (n < 0 || n >= PATH_MAX)
        bench_die(b, "path too long: %s/%s", b->dir, name);
}

void bench_clear_dir(struct bench *b) {
    char path[PATH_MAX];
    DIR *d = opendir(b->dir);
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", b->dir, e->d_name);
        if (n < 0 || n >= (int)sizeof path) continue; /* bench_die calls us */
        if (unlink(path) != 0)
            fprintf(stderr, "bench: unlink '%s': %s\n", path, strerror(errno));
    }
    closedir(d);
}

/* Write out what earlier runs left dirty in the page cache, so the kernel's
 * writeback (and ext4's journal, which an fsync must wait for) does not
 * slow the next timed run. Untimed; cheap when nothing is dirty. */
void bench_settle(struct bench *b) {
    int fd = open(b->dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) bench_die(b, "open '%s': %s", b->dir, strerror(errno));
    if (syncfs(fd) != 0)
        bench_die(b, "syncfs '%s': %s", b->dir, strerror(errno));
    close(fd);
}

/* Only the process that made the directory removes it: a forked child
 * that fails must not pull it from under its parent. */
static void remove_dir(struct bench *b) {
    if (b->dir[0] == '\0' || getpid() != b->owner) return;
    bench_clear_dir(b);
    if (rmdir(b->dir) != 0)
        fprintf(stderr, "bench: rmdir '%s': %s\n", b->dir, strerror(errno));
    b->dir[0] = '\0';
}

void bench_free(struct bench *b) {
    remove_dir(b);
    free(b->keys);
    free(b->ids);
    free(b->get_order);
}

/* ---- Clock and messages ---- */

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line on stderr: "bench: ", the prefix, the message. */
static void say(const char *prefix, const char *fmt, va_list ap) {
    fputs("bench: ", stderr);
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* Progress goes to stderr, so stdout holds only the report. */
void bench_progress(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
}

/* A check failed (wrong value, lost key): say so, go on, exit 1 at the end. */
void bench_fail(struct bench *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say("CHECK FAILED: ", fmt, ap);
    va_end(ap);
    b->failures++;
}

void bench_die(struct bench *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
    remove_dir(b);
    exit(1);
}
