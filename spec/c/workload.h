/* workload.h -- what the crash tests share (crash_test.c, powerloss_test.c,
 * fulldisk_test.c): keys and values derived from an index, the clock and
 * the seed, and the pipe on which a writer child reports each set.
 *
 * Key i is "k%08llu"; its value's bytes (and, for the kill tests, its
 * length) come from (seed, i), so a parent checks a reopened file without
 * being told the values. A child writes fixed-size records to a pipe (at
 * most PIPE_BUF bytes each, so each write is whole or nothing); the parent
 * collects them with rec_pipe_read/rec_pipe_wait, and kill_child_and_drain drains
 * what a SIGKILLed child wrote before it died; count_prefix checks that a
 * reopened file holds keys 0..k-1 with their values and no hole. Header-only,
 * as test.h is. */
#ifndef LAYERDB_WORKLOAD_H
#define LAYERDB_WORKLOAD_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
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

/* Collect records until the deadline or until 'want' have arrived. */
TEST_UNUSED static void rec_pipe_wait(struct rec_pipe *p, uint64_t deadline_ns, size_t want) {
    for (;;) {
        uint64_t now = now_ns();
        if (p->n >= want || now >= deadline_ns) return;
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

#endif
