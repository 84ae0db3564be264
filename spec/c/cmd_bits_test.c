/* cmd_bits_test.c -- SETBIT, GETBIT, BITCOUNT and BITPOS against naive
 * models: BITCOUNT and BITPOS over random values and random ranges (both
 * units, negative and out-of-range indexes, the forms with and without an
 * end) against a bit-by-bit reading of Redis 7.0's rules; SETBIT and GETBIT
 * against a byte array, across a reopen; and what SETBIT leaves in the log.
 * Replies and error texts are checked against a live redis-server by
 * redis_diff_test.c (spec/diff/bits.txt); this file checks the arithmetic
 * at scale. LAYERDB_SEED=n replays one run. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerdb.h"
#include "reply_text.h"
#include "test.h"



/* Run argv (binary-safe) and return its integer reply; LLONG_MIN, after
 * saying what came instead, for any other reply. */
static long long int_cmd(layerdb *db, int argc, const char **argv, const size_t *lens) {
    layerdb_reply *r = NULL;
    int rc = layerdb_command(db, argc, argv, lens, &r);
    long long v = LLONG_MIN;
    if (rc == LAYERDB_OK && r->type == LAYERDB_REPLY_INTEGER) {
        v = r->integer;
    } else {
        char text[256] = "";
        if (rc == LAYERDB_OK) render(r, text, sizeof text);
        printf("# %s: not an integer: rc=%d %s\n", argv[0], rc, text);
    }
    layerdb_reply_free(r);
    return v;
}

/* SET key to the len bytes at val. */
static void set_binary(layerdb *db, const char *key, const unsigned char *val, size_t len) {
    const char *argv[3] = {"SET", key, (const char *)val};
    size_t lens[3] = {3, strlen(key), len};
    layerdb_reply *r = NULL;
    CHECK_RC(layerdb_command(db, 3, argv, lens, &r), LAYERDB_OK);
    CHECK(r && r->type == LAYERDB_REPLY_STATUS);
    layerdb_reply_free(r);
}

/* Does key hold exactly the len bytes at want? */
static int value_is(layerdb *db, const char *key, const unsigned char *want, size_t len) {
    const char *argv[2] = {"GET", key};
    layerdb_reply *r = NULL;
    int ok = layerdb_command(db, 2, argv, NULL, &r) == LAYERDB_OK;
    if (len == 0) ok = ok && r->type == LAYERDB_REPLY_NIL;
    else ok = ok && r->type == LAYERDB_REPLY_STRING && r->len == len && memcmp(r->str, want, len) == 0;
    layerdb_reply_free(r);
    return ok;
}

/* ---- The naive model: one bit at a time ---- */

static int bit_at(const unsigned char *s, long long i) {
    return (s[i / 8] >> (7 - i % 8)) & 1;
}

/* Redis's index rules: negative counts from the end of n units, then both
 * are clamped into 0..n-1. 0 when the range is empty. */
static int model_range(long long *start, long long *end, long long n) {
    if (*start < 0) *start = n + *start;
    if (*end < 0) *end = n + *end;
    if (*start < 0) *start = 0;
    if (*end < 0) *end = 0;
    if (*end > n - 1) *end = n - 1;
    return *start <= *end;
}

/* BITCOUNT with a range (ranged) or without. */
static long long model_bitcount(const unsigned char *s, size_t len, int ranged, long long start,
                                long long end, int bits) {
    if (!ranged) { start = 0; end = -1; bits = 0; }
    if (ranged && start < 0 && end < 0 && start > end) return 0;
    long long n = bits ? (long long)len * 8 : (long long)len, count = 0;
    if (!model_range(&start, &end, n)) return 0;
    for (long long i = 0; i < (long long)len * 8; i++) {
        long long unit = bits ? i : i / 8;
        if (unit >= start && unit <= end) count += bit_at(s, i);
    }
    return count;
}

/* BITPOS with 'given' of start, end, unit (0..3). */
static long long model_bitpos(const unsigned char *s, size_t len, int bit, int given,
                              long long start, long long end, int bits) {
    if (given < 1) start = 0;
    if (given < 2) end = -1;
    if (given < 3) bits = 0;
    long long n = bits ? (long long)len * 8 : (long long)len;
    if (!model_range(&start, &end, n)) return -1;
    for (long long i = 0; i < (long long)len * 8; i++) {
        long long unit = bits ? i : i / 8;
        if (unit >= start && unit <= end && bit_at(s, i) == bit) return i;
    }
    /* No 0 in the range: without an end, the value counts as padded with
     * zeros, so the answer is the bit after it. */
    return bit == 0 && given < 2 ? (end + 1) * 8 : -1;
}

/* ---- Random values and indexes ---- */

/* A random value of len bytes: random bytes, or sparse ones, or sparse
 * zeros, or all zeros or all ones, so that long runs get skipped. */
static void random_value(unsigned char *s, size_t len) {
    int kind = (int)(test_rand() % 5);
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)test_rand();
        int rare = test_rand() % 64 == 0;
        switch (kind) {
        case 0: s[i] = b; break;
        case 1: s[i] = rare ? (unsigned char)(1u << (test_rand() % 8)) : 0; break;
        case 2: s[i] = rare ? (unsigned char)~(1u << (test_rand() % 8)) : 0xFF; break;
        case 3: s[i] = 0; break;
        default: s[i] = 0xFF; break;
        }
    }
}

static size_t random_len(void) {
    switch (test_rand() % 8) {
    case 0: return (size_t)(test_rand() % 4);
    case 1: return 1000 + (size_t)(test_rand() % 3000);
    default: return (size_t)(test_rand() % 200);
    }
}

/* An index for a value of n units: mostly near or inside it, from either
 * end, sometimes far out or at the extremes of a long long. */
static long long random_index(long long n) {
    switch (test_rand() % 10) {
    case 0: return test_rand() % 2 ? LLONG_MIN : LLONG_MAX;
    case 1: return (long long)(test_rand() % 1000000) - 500000;
    default: return (long long)(test_rand() % (uint64_t)(2 * n + 21)) - n - 10;
    }
}

/* ---- Tests ---- */

TEST("BITCOUNT matches a bit-by-bit count over random values and ranges") {
    test_rand_state = test_seed() | 1;
    printf("# seed %llu\n", (unsigned long long)test_rand_state);
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    static unsigned char s[4000];
    int bad = 0;
    for (int round = 0; round < 300 && bad < 5; round++) {
        size_t len = random_len();
        random_value(s, len);
        set_binary(db, "v", s, len);
        for (int q = 0; q < 30 && bad < 5; q++) {
            int form = (int)(test_rand() % 4); /* none, start end, + BYTE, + BIT */
            int bits = form == 3;
            long long n = bits ? (long long)len * 8 : (long long)len;
            long long start = random_index(n), end = random_index(n);
            char a[24], b[24];
            snprintf(a, sizeof a, "%lld", start);
            snprintf(b, sizeof b, "%lld", end);
            const char *argv[5] = {"BITCOUNT", "v", a, b, bits ? "BIT" : "BYTE"};
            int argc = form == 0 ? 2 : form == 1 ? 4 : 5;
            long long got = int_cmd(db, argc, argv, NULL);
            long long want = model_bitcount(s, len, form != 0, start, end, bits);
            if (got != want) {
                printf("# len %zu: BITCOUNT v %s %s %s -> %lld, want %lld\n", len,
                       argc > 2 ? a : "", argc > 2 ? b : "", argc > 4 ? argv[4] : "", got, want);
                bad++;
            }
        }
    }
    CHECK(bad == 0);
    layerdb_close(db);
}

TEST("BITPOS matches a bit-by-bit search over random values and ranges") {
    test_rand_state = test_seed() | 1;
    printf("# seed %llu\n", (unsigned long long)test_rand_state);
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    static unsigned char s[4000];
    int bad = 0;
    for (int round = 0; round < 300 && bad < 5; round++) {
        size_t len = random_len();
        random_value(s, len);
        set_binary(db, "v", s, len);
        for (int q = 0; q < 30 && bad < 5; q++) {
            int bit = (int)(test_rand() % 2);
            int given = (int)(test_rand() % 4); /* start, end, unit */
            int bits = given == 3 && test_rand() % 4 != 0;
            long long n = bits ? (long long)len * 8 : (long long)len;
            long long start = random_index(n), end = random_index(n);
            char a[24], b[24];
            snprintf(a, sizeof a, "%lld", start);
            snprintf(b, sizeof b, "%lld", end);
            const char *argv[6] = {"BITPOS", "v", bit ? "1" : "0", a, b, bits ? "bit" : "byte"};
            long long got = int_cmd(db, 3 + given, argv, NULL);
            long long want = model_bitpos(s, len, bit, given, start, end, bits);
            if (got != want) {
                printf("# len %zu: BITPOS v %d %s %s %s -> %lld, want %lld\n", len, bit,
                       given > 0 ? a : "", given > 1 ? b : "", given > 2 ? argv[5] : "", got, want);
                bad++;
            }
        }
    }
    CHECK(bad == 0);
    layerdb_close(db);
}

TEST("BITCOUNT and BITPOS on a 16 MB value, 64 bits at a time") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    size_t len = 16u << 20;
    unsigned char *s = malloc(len);
    REQUIRE(s);
    test_rand_state = 12345;
    long long ones = 0;
    for (size_t i = 0; i < len; i++) {
        s[i] = (unsigned char)test_rand();
        ones += __builtin_popcount(s[i]);
    }
    set_binary(db, "big", s, len);
    const char *count_all[2] = {"BITCOUNT", "big"};
    CHECK(int_cmd(db, 2, count_all, NULL) == ones);
    /* A range in bits that starts and ends inside bytes. */
    const char *count_bits[5] = {"BITCOUNT", "big", "3", "-5", "BIT"};
    long long want = ones - __builtin_popcount(s[0] >> 5) - __builtin_popcount(s[len - 1] & 0x0F);
    CHECK(int_cmd(db, 5, count_bits, NULL) == want);
    /* A single 1 at the very end of zeros, and a single 0 at the end of ones. */
    memset(s, 0, len);
    s[len - 1] = 0x01;
    set_binary(db, "big", s, len);
    const char *pos1[3] = {"BITPOS", "big", "1"};
    CHECK(int_cmd(db, 3, pos1, NULL) == (long long)len * 8 - 1);
    memset(s, 0xFF, len);
    s[len - 1] = 0xFE;
    set_binary(db, "big", s, len);
    const char *pos0[3] = {"BITPOS", "big", "0"};
    CHECK(int_cmd(db, 3, pos0, NULL) == (long long)len * 8 - 1);
    s[len - 1] = 0xFF;
    set_binary(db, "big", s, len);
    CHECK(int_cmd(db, 3, pos0, NULL) == (long long)len * 8);
    const char *pos0_end[5] = {"BITPOS", "big", "0", "0", "-1"};
    CHECK(int_cmd(db, 5, pos0_end, NULL) == -1);
    free(s);
    layerdb_close(db);
}

/* One random SETBIT or GETBIT on key k (of three), checked against its
 * model m (lens[k] bytes); 0 if it agreed. */
static int random_bit_op(layerdb *db, unsigned char m[][2048], size_t *lens) {
    int k = (int)(test_rand() % 3);
    static const char *const keys[3] = {"b0", "b1", "b2"};
    uint64_t limit = test_rand() % 4 ? lens[k] * 8 + 16 : sizeof m[0] * 8;
    uint64_t off = test_rand() % (limit < sizeof m[0] * 8 ? limit : sizeof m[0] * 8);
    size_t byte = (size_t)(off / 8);
    unsigned mask = 0x80u >> (off % 8);
    int old = byte < lens[k] && (m[k][byte] & mask);
    char o[24];
    snprintf(o, sizeof o, "%llu", (unsigned long long)off);
    long long got;
    if (test_rand() % 3 == 0) {
        const char *argv[3] = {"GETBIT", keys[k], o};
        got = int_cmd(db, 3, argv, NULL);
    } else {
        int on = (int)(test_rand() % 2);
        const char *argv[4] = {"SETBIT", keys[k], o, on ? "1" : "0"};
        got = int_cmd(db, 4, argv, NULL);
        if (byte >= lens[k]) {
            memset(m[k] + lens[k], 0, byte + 1 - lens[k]);
            lens[k] = byte + 1;
        }
        m[k][byte] = (unsigned char)(on ? m[k][byte] | mask : m[k][byte] & ~mask);
    }
    if (got == old) return 0;
    printf("# %s %s: %lld, want %d\n", keys[k], o, got, old);
    return 1;
}

static int values_match(layerdb *db, unsigned char m[][2048], const size_t *lens) {
    static const char *const keys[3] = {"b0", "b1", "b2"};
    int ok = 1;
    for (int k = 0; k < 3; k++) {
        if (value_is(db, keys[k], m[k], lens[k])) continue;
        printf("# %s differs from its model (%zu bytes)\n", keys[k], lens[k]);
        ok = 0;
    }
    return ok;
}

TEST("SETBIT and GETBIT match a byte array, across a reopen, deadline kept") {
    test_rand_state = test_seed() | 1;
    printf("# seed %llu\n", (unsigned long long)test_rand_state);
    layerdb *db = open_db("setbit.db", NULL);
    REQUIRE(db);
    static unsigned char m[3][2048];
    size_t lens[3] = {5, 0, 0};
    memcpy(m[0], "hello", 5);
    EXPECT(db, "SET b0 hello", "+OK");
    EXPECT(db, "EXPIREAT b0 4000000000", ":1");
    int bad = 0;
    for (int i = 0; i < 3000 && bad < 5; i++) bad += random_bit_op(db, m, lens);
    CHECK(values_match(db, m, lens));
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db("setbit.db", NULL);
    REQUIRE(db);
    CHECK(values_match(db, m, lens));
    for (int i = 0; i < 3000 && bad < 5; i++) bad += random_bit_op(db, m, lens);
    CHECK(bad == 0);
    CHECK(values_match(db, m, lens));
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db("setbit.db", NULL);
    REQUIRE(db);
    CHECK(values_match(db, m, lens));
    EXPECT(db, "EXPIRETIME b0", ":4000000000");
    EXPECT(db, "EXPIRETIME b1", lens[1] ? ":-1" : ":-2");
    layerdb_close(db);
}

TEST("SETBIT logs what changed a value, and nothing for a no-op or an error") {
    layerdb *db = open_db("setbit_log.db", NULL);
    REQUIRE(db);
    layerdb_info before, after;
    EXPECT(db, "SETBIT k 9 1", ":0");  /* a new key of 2 bytes */
    EXPECT(db, "SETBIT k 15 0", ":0"); /* no change */
    EXPECT(db, "SETBIT k 9 1", ":1");  /* no change */
    CHECK_RC(layerdb_info_get(db, &before), LAYERDB_OK);
    static const char *const refused[][2] = {
        {"SETBIT k 9 0", ":1"}, /* the one change below */
        {"SETBIT k 9 0", ":0"},
        {"SETBIT k 3 0", ":0"},
        {"SETBIT k -1 1", "-ERR bit offset is not an integer or out of range"},
        {"SETBIT k 4294967296 1", "-ERR bit offset is not an integer or out of range"},
        {"SETBIT k 1 2", "-ERR bit is not an integer or out of range"},
        {"SETBIT k 1 x", "-ERR bit is not an integer or out of range"},
        {"SETBIT k", "-ERR wrong number of arguments for 'setbit' command"},
        {"GETBIT k 9", ":0"},
        {"BITCOUNT k", ":0"},
        {"BITPOS k 1", ":-1"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        EXPECT(db, refused[i][0], refused[i][1]);
        CHECK_RC(layerdb_info_get(db, &after), LAYERDB_OK);
        if (i == 0) CHECK(after.log_bytes > before.log_bytes);
        else CHECK(after.log_bytes == before.log_bytes);
        before = after;
    }
    EXPECT(db, "SETBIT k 23 0", ":0"); /* grows: logged */
    CHECK_RC(layerdb_info_get(db, &after), LAYERDB_OK);
    CHECK(after.log_bytes > before.log_bytes);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db("setbit_log.db", NULL);
    REQUIRE(db);
    EXPECT(db, "STRLEN k", ":3");
    EXPECT(db, "BITCOUNT k", ":0");
    layerdb_info info;
    CHECK_RC(layerdb_info_get(db, &info), LAYERDB_OK);
    CHECK(info.replayed_records == 3);
    layerdb_close(db);
}

TEST("the largest bit offset is 2^32 - 1, for GETBIT as for SETBIT") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    EXPECT(db, "GETBIT k 4294967295", ":0");
    EXPECT(db, "GETBIT k 4294967296", "-ERR bit offset is not an integer or out of range");
    EXPECT(db, "SETBIT k 4294967296 0", "-ERR bit offset is not an integer or out of range");
    EXPECT(db, "SETBIT k 18446744073709551615 0", "-ERR bit offset is not an integer or out of range");
    EXPECT(db, "EXISTS k", ":0");
    layerdb_close(db);
}

int main(void) { return test_main(); }
