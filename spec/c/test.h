/* test.h -- a tiny test harness for layerdb's C tests, printing TAP.
 *
 *   TEST("reopens with every record before a cut") { ... CHECK(x == 1); }
 *   int main(void) { return test_main(); }
 *
 * Each TEST registers itself (a constructor), test_main runs them in order
 * and prints "ok N - name" or "not ok N - name" with the failed CHECKs as
 * "# file:line: expr" diagnostics, then "1..N". make check counts these
 * lines. LAYERDB_SEED=n makes randomised tests replay; tests print their seed.
 * Header-only on purpose: each test program is one .c file plus this. */
#ifndef LAYERDB_TEST_H
#define LAYERDB_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TEST_UNUSED __attribute__((unused))
typedef void (*test_fn)(void);
struct test_case { const char *name; test_fn fn; };

#define TEST_MAX 256
static struct test_case test_cases[TEST_MAX];
static int test_count;
static int test_failures_in_case;
TEST_UNUSED static const char *test_skip_reason; /* set by SKIP() */

TEST_UNUSED static void test_register(const char *name, test_fn fn) {
    if (test_count < TEST_MAX) {
        test_cases[test_count].name = name;
        test_cases[test_count].fn = fn;
        test_count++;
    }
}

#define TEST_CAT2(a, b) a##b
#define TEST_CAT(a, b) TEST_CAT2(a, b)
#define TEST(name)                                                        \
    static void TEST_CAT(test_fn_, __LINE__)(void);                       \
    __attribute__((constructor)) static void TEST_CAT(test_reg_, __LINE__)(void) { \
        test_register(name, TEST_CAT(test_fn_, __LINE__));                \
    }                                                                     \
    static void TEST_CAT(test_fn_, __LINE__)(void)

/* CHECK records a failure and goes on; REQUIRE returns from the test. */
#define CHECK(expr)                                                       \
    do {                                                                  \
        if (!(expr)) {                                                    \
            printf("# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr); \
            test_failures_in_case++;                                      \
        }                                                                 \
    } while (0)
#define REQUIRE(expr)                                                     \
    do {                                                                  \
        if (!(expr)) {                                                    \
            printf("# %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #expr); \
            test_failures_in_case++;                                      \
            return;                                                       \
        }                                                                 \
    } while (0)
#define CHECK_RC(call, want)                                              \
    do {                                                                  \
        int rc_ = (call);                                                 \
        if (rc_ != (want)) {                                              \
            printf("# %s:%d: %s returned %d, want %d\n", __FILE__, __LINE__, \
                   #call, rc_, (int)(want));                              \
            test_failures_in_case++;                                      \
        }                                                                 \
    } while (0)

/* SKIP("why") ends the test and reports it as skipped ("# SKIP why"). */
#define SKIP(why)                                                         \
    do {                                                                  \
        test_skip_reason = (why);                                         \
        return;                                                           \
    } while (0)

/* The seed for randomised tests: $LAYERDB_SEED, or the clock. */
TEST_UNUSED static uint64_t test_seed(void) {
    const char *s = getenv("LAYERDB_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    return seed;
}

/* xorshift64*: deterministic per seed, good enough for tests. */
static uint64_t test_rand_state = 88172645463325252ull;
TEST_UNUSED static uint64_t test_rand(void) {
    uint64_t x = test_rand_state;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    test_rand_state = x;
    return x * 2685821657736338717ull;
}

/* A fresh path under $TMPDIR for a test database. */
TEST_UNUSED static const char *test_tmpdir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/layerdb-test-XXXXXX", t ? t : "/tmp");
        if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
    }
    return dir;
}
TEST_UNUSED static const char *test_path(const char *name) {
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

TEST_UNUSED static int test_main(void) {
    int failed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("1..%d\n", test_count);
    for (int i = 0; i < test_count; i++) {
        test_failures_in_case = 0;
        test_skip_reason = NULL;
        test_cases[i].fn();
        if (test_failures_in_case) failed++;
        printf("%sok %d - %s%s%s\n", test_failures_in_case ? "not " : "", i + 1,
               test_cases[i].name, test_skip_reason ? " # SKIP " : "",
               test_skip_reason ? test_skip_reason : "");
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_tmpdir());
    if (system(cmd) != 0) printf("# could not remove %s\n", test_tmpdir());
    return failed ? 1 : 0;
}

#endif
