/* cmd_keys_test.c -- the key commands where redis_diff_test.c cannot
 * compare replies line by line: the glob matcher against a table of
 * Redis's answers, the sets KEYS and SCAN reply (their orders differ from
 * Redis's), RANDOMKEY, what FLUSHDB, FLUSHALL, SWAPDB, RENAME, COPY and
 * MOVE leave in the log, dropping entries the log writer may still read,
 * and running out of memory in the middle of a command. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glob.h"
#include "layerdb.h"
#include "reply_text.h"
#include "test.h"



static layerdb *reopen(layerdb *db, const char *name) {
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    return open_db(name, NULL);
}

/* Run argv (with lengths) and return the reply tree, NULL if the engine
 * failed. */
static layerdb_reply *callv(layerdb *db, int argc, const char **argv, const size_t *lens) {
    layerdb_reply *r = NULL;
    return layerdb_command(db, argc, argv, lens, &r) == LAYERDB_OK ? r : NULL;
}

/* ---- The glob matcher ---- */

/* Pattern, string, Redis's answer (checked against redis-server 7.0.15's
 * KEYS on x86-64). Lengths are strlen unless given: binary cases. */
static const struct glob_case {
    const char *pattern, *string;
    int match;
    int plen, slen; /* -1: strlen */
} glob_cases[] = {
    {"", "", 1, -1, -1},
    {"*", "", 0, -1, -1}, /* "" matches only "" (KEYS and SCAN take "*" as all keys) */
    {"**", "", 0, -1, -1},
    {"?", "", 0, -1, -1},
    {"", "a", 0, -1, -1},
    {"*", "abc", 1, -1, -1},
    {"a*", "a", 1, -1, -1}, /* a final star may take nothing */
    {"a**", "a", 1, -1, -1},
    {"a*?", "a", 0, -1, -1},
    {"*a", "a", 1, -1, -1},
    {"*a", "ba", 1, -1, -1},
    {"*a", "ab", 0, -1, -1},
    {"a*b*c", "aXbYc", 1, -1, -1},
    {"a*b*c", "abcabc", 1, -1, -1},
    {"a*b*c", "acb", 0, -1, -1},
    {"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, -1, -1},
    {"h?llo", "hello", 1, -1, -1},
    {"h?llo", "hllo", 0, -1, -1},
    {"h[ae]llo", "hallo", 1, -1, -1},
    {"h[ae]llo", "hillo", 0, -1, -1},
    {"h[^e]llo", "hallo", 1, -1, -1},
    {"h[^e]llo", "hello", 0, -1, -1},
    {"h[a-b]llo", "hbllo", 1, -1, -1},
    {"h[b-a]llo", "hallo", 1, -1, -1}, /* a range's ends in either order */
    {"[a-]", "]", 1, -1, -1},          /* "a-]" is the range ']'..'a' */
    {"[a-]", "^", 1, -1, -1},
    {"[a-]", "-", 0, -1, -1},
    {"[a-]x", "ax", 0, -1, -1},        /* ... and the set stays open */
    {"[a-]x", "a", 1, -1, -1},
    {"[]a]", "]", 0, -1, -1},          /* "[]" is an empty set */
    {"[]a]", "a", 0, -1, -1},
    {"[^]", "x", 1, -1, -1},
    {"[^]x", "ax", 1, -1, -1},
    {"[", "[", 0, -1, -1},             /* an open set with nothing in it */
    {"[^", "q", 1, -1, -1},
    {"[ab", "b", 1, -1, -1},
    {"[ab", "ba", 0, -1, -1},
    {"[\\]]", "]", 1, -1, -1},
    {"[\\", "\\", 1, -1, -1},          /* a backslash ending the pattern is itself */
    {"[a\\-z]", "-", 1, -1, -1},
    {"[a\\-z]", "b", 0, -1, -1},
    {"[--0]", "/", 1, -1, -1},
    {"\\*", "*", 1, -1, -1},
    {"\\*", "a", 0, -1, -1},
    {"\\", "\\", 1, -1, -1},
    {"a\\", "a\\", 1, -1, -1},
    {"\\a", "a", 1, -1, -1},
    {"\\?", "?", 1, -1, -1},
    {"\\?", "x", 0, -1, -1},
    {"[*]", "*", 1, -1, -1},
    {"[?]", "x", 0, -1, -1},
    {"*[", "a[", 0, -1, -1},
    {"a\0b", "a\0b", 1, 3, 3},         /* binary-safe */
    {"a?b", "a\0b", 1, 3, 3},
    {"a*", "a\0", 1, 2, 2},
    {"a\0", "a", 0, 2, 1},
    {"[\0]", "\0", 1, 3, 1},
    {"[\x01-\x7f]", "\0", 0, -1, 1},
    {"[a-\xff]", "\xff", 1, -1, -1},   /* bytes compare as signed chars */
    {"[a-\xff]", "\x01", 1, -1, -1},
    {"[a-\xff]", "b", 0, -1, -1},
    {"[a-\xff]", "\x80", 0, -1, -1},
    {"[\x80-\xff]", "\x90", 1, -1, -1},
    {"[\x80-\xff]", "a", 0, -1, -1},
    {"[\x7f-\x80]", "a", 1, -1, -1},
    {"?", "\xff", 1, -1, -1},
};

TEST("the glob matcher agrees with Redis's stringmatchlen on its edge cases") {
    for (size_t i = 0; i < sizeof glob_cases / sizeof glob_cases[0]; i++) {
        const struct glob_case *g = &glob_cases[i];
        size_t plen = g->plen < 0 ? strlen(g->pattern) : (size_t)g->plen;
        size_t slen = g->slen < 0 ? strlen(g->string) : (size_t)g->slen;
        int got = ldb_glob_match(g->pattern, plen, g->string, slen, 0);
        if (got != g->match) printf("# case %zu: '%s' vs '%s' gave %d\n", i, g->pattern, g->string, got);
        CHECK(got == g->match);
    }
}

TEST("the glob matcher without case: letters only, a range lowered after ordering") {
    CHECK(ldb_glob_match("HeLLo", 5, "hello", 5, 1));
    CHECK(!ldb_glob_match("HeLLo", 5, "hello", 5, 0));
    CHECK(ldb_glob_match("h[A-Z]llo", 9, "hello", 5, 1));
    CHECK(ldb_glob_match("[Z-a]", 5, "_", 1, 0)); /* '_' lies between 'Z' and 'a' */
    CHECK(!ldb_glob_match("[Z-a]", 5, "_", 1, 1)); /* 'z'..'a' holds nothing */
    CHECK(!ldb_glob_match("[\\E]", 4, "e", 1, 1)); /* an escaped byte compares exactly */
    CHECK(ldb_glob_match("[E]", 3, "e", 1, 1));
    CHECK(ldb_glob_match("\\E", 2, "e", 1, 1));
    CHECK(!ldb_glob_match("\xc9", 1, "\xe9", 1, 1)); /* no case beyond ASCII */
}

TEST("the glob matcher takes polynomial time on star-heavy patterns") {
    char pat[4001], str[4001];
    for (int i = 0; i < 4000; i++) pat[i] = i % 2 ? 'a' : '*';
    memset(str, 'a', 4000);
    pat[3999] = 'b'; /* "*a*a...*b" never matches a run of a's */
    CHECK(!ldb_glob_match(pat, 4000, str, 4000, 0));
    CHECK(ldb_glob_match(pat, 3998, str, 4000, 0));
}

/* ---- KEYS ---- */

/* Replies and expected lists as sorted arrays of byte strings. */
typedef struct bytes {
    const char *p;
    size_t n;
} bytes;

static int by_bytes(const void *a, const void *b) {
    const bytes *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = n ? memcmp(x->p, y->p, n) : 0;
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static int same_sets(bytes *a, size_t na, bytes *b, size_t nb) {
    if (na != nb) return 0;
    qsort(a, na, sizeof *a, by_bytes);
    qsort(b, nb, sizeof *b, by_bytes);
    for (size_t i = 0; i < na; i++)
        if (by_bytes(&a[i], &b[i]) != 0) return 0;
    return 1;
}

#define NKEYS 1500

TEST("KEYS replies every live key a pattern matches, and nothing else") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    static const char alpha[] = "ab*?[]^-\\\0\xff";
    static char keybuf[NKEYS][8];
    static bytes keys[NKEYS], want[NKEYS + 1], got[NKEYS + 1];
    static int dead[NKEYS];
    test_rand_state = 42;
    size_t nkeys = 0;
    for (int i = 0; i < NKEYS; i++) {
        size_t len = test_rand() % 7;
        for (size_t j = 0; j < len; j++) keybuf[i][j] = alpha[test_rand() % (sizeof alpha - 1)];
        const char *argv[5] = {"SET", keybuf[i], "v", "PX", "1"};
        size_t lens[5] = {3, len, 1, 2, 1};
        dead[nkeys] = test_rand() % 5 == 0; /* expired: never listed */
        layerdb_reply *r = callv(db, dead[nkeys] ? 5 : 3, argv, lens);
        layerdb_reply_free(r);
        /* a key drawn twice is set twice: keep its last state only */
        size_t k;
        for (k = 0; k < nkeys; k++)
            if (keys[k].n == len && memcmp(keys[k].p, keybuf[i], len) == 0) break;
        dead[k] = dead[nkeys];
        if (k == nkeys) keys[nkeys++] = (bytes){keybuf[i], len};
    }
    usleep(20 * 1000);
    int patterns = 0, nonempty = 0;
    for (int t = 0; t < 600; t++, patterns++) {
        char pat[12];
        size_t plen = test_rand() % 8;
        for (size_t j = 0; j < plen; j++) pat[j] = alpha[test_rand() % (sizeof alpha - 1)];
        if (t == 0) pat[0] = '*', plen = 1;
        const char *argv[2] = {"KEYS", pat};
        size_t lens[2] = {4, plen};
        layerdb_reply *r = callv(db, 2, argv, lens);
        REQUIRE(r && r->type == LAYERDB_REPLY_ARRAY);
        size_t nwant = 0;
        for (size_t k = 0; k < nkeys; k++)
            if (!dead[k] && ((plen == 1 && pat[0] == '*') ||
                             ldb_glob_match(pat, plen, keys[k].p, keys[k].n, 0)))
                want[nwant++] = keys[k];
        for (size_t k = 0; k < r->elements; k++) got[k] = (bytes){r->element[k]->str, r->element[k]->len};
        int same = same_sets(got, r->elements, want, nwant);
        if (!same) printf("# pattern %d (%zu bytes): %zu keys, want %zu\n", t, plen, r->elements, nwant);
        CHECK(same);
        nonempty += nwant > 0;
        layerdb_reply_free(r);
    }
    printf("# %d patterns, %d matching some key, %zu keys\n", patterns, nonempty, nkeys);
    CHECK(nonempty > 50);
    layerdb_close(db);
}

/* ---- SCAN ---- */

/* One SCAN call: its next cursor, and each key "key:N" it replied
 * counted in seen[N] (other keys counted in *other). */
static unsigned long long scan_once(layerdb *db, unsigned long long cursor, const char *opts,
                                    int *seen, int nseen, int *other) {
    char line[256];
    snprintf(line, sizeof line, "SCAN %llu %s", cursor, opts);
    char words[256];
    const char *argv[16];
    int argc = split_words(line, words, sizeof words, argv, 16);
    layerdb_reply *r = callv(db, argc, argv, NULL);
    if (!r || r->type != LAYERDB_REPLY_ARRAY || r->elements != 2) {
        printf("# %s: bad reply\n", line);
        (*other)++;
        layerdb_reply_free(r);
        return 0;
    }
    unsigned long long next = strtoull(r->element[0]->str, NULL, 10);
    const layerdb_reply *keys = r->element[1];
    for (size_t i = 0; i < keys->elements; i++) {
        int n = -1;
        if (sscanf(keys->element[i]->str, "key:%d", &n) == 1 && n >= 0 && n < nseen) seen[n]++;
        else (*other)++;
    }
    layerdb_reply_free(r);
    return next;
}

/* Set key:from .. key:to-1 (with type 'list' impossible yet, all strings). */
static void set_range(layerdb *db, int from, int to) {
    char line[64];
    for (int i = from; i < to; i++) {
        snprintf(line, sizeof line, "SET key:%d v", i);
        CHECK(strcmp(cmd(db, line), "+OK") == 0);
    }
}

#define NSCAN 5000

TEST("SCAN replies every key exactly once, for any COUNT, with MATCH and TYPE") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    set_range(db, 0, NSCAN);
    static int seen[NSCAN];
    static const char *const opts[] = {"", "COUNT 1", "COUNT 7", "COUNT 100", "COUNT 100000",
                                       "MATCH key:1*", "MATCH key:1* COUNT 3", "TYPE string",
                                       "TYPE list", "TYPE STRING COUNT 50 MATCH *"};
    for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++) {
        memset(seen, 0, sizeof seen);
        int other = 0, calls = 0;
        unsigned long long cursor = 0;
        do {
            cursor = scan_once(db, cursor, opts[o], seen, NSCAN, &other);
            calls++;
        } while (cursor != 0 && calls < 100000);
        int wrong = 0;
        for (int i = 0; i < NSCAN; i++) {
            char name[16];
            int len = snprintf(name, sizeof name, "key:%d", i);
            int want = strstr(opts[o], "list") ? 0
                       : strstr(opts[o], "key:1*") ? ldb_glob_match("key:1*", 6, name, (size_t)len, 0)
                       : 1;
            wrong += seen[i] != want;
        }
        if (wrong || other) printf("# SCAN %s: %d keys wrong, %d others, %d calls\n", opts[o], wrong, other, calls);
        CHECK(wrong == 0 && other == 0);
        if (strcmp(opts[o], "COUNT 100000") == 0) CHECK(calls == 1);
        if (strcmp(opts[o], "COUNT 1") == 0) CHECK(calls > NSCAN / 20);
    }
    layerdb_close(db);
}

TEST("SCAN replies each key present throughout once while keys come and go") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    set_range(db, 0, 1000);
    static int seen[20000];
    int other = 0, calls = 0, added = 1000;
    unsigned long long cursor = 0;
    /* Adding keys between calls grows the table (and resizes it) under
     * the cursor. */
    do {
        cursor = scan_once(db, cursor, "COUNT 20", seen, 20000, &other);
        if (added < 20000) {
            set_range(db, added, added + 200);
            added += 200;
        }
    } while (cursor != 0 && ++calls < 100000);
    for (int i = 0; i < 1000; i++) CHECK(seen[i] == 1);
    int twice = 0;
    for (int i = 1000; i < 20000; i++) twice += seen[i] > 1;
    CHECK(twice == 0 && other == 0);
    /* Deleting keys between calls shrinks it. */
    memset(seen, 0, sizeof seen);
    cursor = 0;
    int deleted = 19999;
    char line[64];
    do {
        cursor = scan_once(db, cursor, "COUNT 50", seen, 20000, &other);
        for (int j = 0; j < 300 && deleted >= 1000; j++, deleted--) {
            snprintf(line, sizeof line, "DEL key:%d", deleted);
            cmd(db, line);
        }
    } while (cursor != 0 && ++calls < 200000);
    for (int i = 0; i < 1000; i++) CHECK(seen[i] == 1);
    twice = 0;
    for (int i = 1000; i < 20000; i++) twice += seen[i] > 1;
    CHECK(twice == 0 && other == 0);
    layerdb_close(db);
}

TEST("SCAN and KEYS skip keys whose deadline passed; SCAN's cursor is any 64-bit number") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    set_range(db, 0, 100);
    char line[64];
    for (int i = 100; i < 200; i++) {
        snprintf(line, sizeof line, "SET key:%d v PX 1", i);
        cmd(db, line);
    }
    usleep(20 * 1000);
    static int seen[200];
    int other = 0;
    CHECK(scan_once(db, 0, "COUNT 1000", seen, 200, &other) == 0);
    for (int i = 0; i < 200; i++) CHECK(seen[i] == (i < 100));
    layerdb_reply *r = callv(db, 2, (const char *[]){"KEYS", "key:1??"}, NULL);
    CHECK(r && r->elements == 0);
    layerdb_reply_free(r);
    /* The last cursor is the end of the hash space; "-1" is the same. */
    EXPECT(db, "SCAN 18446744073709551615 MATCH nope", "[$0,[]]");
    EXPECT(db, "SCAN -1 MATCH nope", "[$0,[]]");
    layerdb_close(db);
}

/* ---- RANDOMKEY ---- */

TEST("RANDOMKEY replies only live keys, nil when none is left") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    char line[64];
    for (int i = 0; i < 500; i++) {
        snprintf(line, sizeof line, "SET dead:%d v PX 1", i);
        cmd(db, line);
    }
    set_range(db, 0, 3);
    usleep(20 * 1000);
    int seen[3] = {0}, bad = 0;
    for (int i = 0; i < 300; i++) {
        int n;
        const char *got = cmd(db, "RANDOMKEY");
        if (sscanf(got, "$key:%d", &n) == 1 && n >= 0 && n < 3) seen[n]++;
        else bad++;
    }
    CHECK(bad == 0);
    CHECK(seen[0] + seen[1] + seen[2] == 300);
    cmd(db, "DEL key:0 key:1 key:2");
    EXPECT(db, "RANDOMKEY", "(nil)");
    EXPECT(db, "DBSIZE", ":500"); /* a read reclaims nothing */
    cmd(db, "FLUSHDB");
    EXPECT(db, "RANDOMKEY", "(nil)");
    set_range(db, 0, 10);
    int distinct = 0, hits[10] = {0};
    for (int i = 0; i < 500; i++) {
        int n;
        if (sscanf(cmd(db, "RANDOMKEY"), "$key:%d", &n) == 1 && n >= 0 && n < 10 && !hits[n]++)
            distinct++;
    }
    CHECK(distinct >= 5);
    layerdb_close(db);
}

/* ---- What replays ---- */

TEST("FLUSHDB, FLUSHALL and SWAPDB survive a reopen") {
    const char *name = "flush.db";
    unlink(test_path(name));
    layerdb *db = open_db(name, NULL);
    REQUIRE(db);
    cmd(db, "SET a0 v");
    cmd(db, "SELECT 1");
    cmd(db, "SET a1 v EXAT 4000000000");
    cmd(db, "SELECT 2");
    cmd(db, "SET a2 v");
    cmd(db, "SWAPDB 1 2");
    cmd(db, "SELECT 0");
    cmd(db, "FLUSHDB");
    cmd(db, "SET b0 v");
    db = reopen(db, name);
    REQUIRE(db);
    EXPECT(db, "MGET a0 b0", "[(nil),$v]");
    EXPECT(db, "SELECT 1", "+OK");
    EXPECT(db, "MGET a1 a2", "[(nil),$v]");
    EXPECT(db, "SELECT 2", "+OK");
    EXPECT(db, "EXPIRETIME a1", ":4000000000");
    EXPECT(db, "FLUSHALL", "+OK");
    EXPECT(db, "SET c2 v", "+OK");
    db = reopen(db, name);
    REQUIRE(db);
    EXPECT(db, "DBSIZE", ":0");
    EXPECT(db, "SELECT 2", "+OK");
    EXPECT(db, "KEYS *", "[$c2]");
    EXPECT(db, "SELECT 1", "+OK");
    EXPECT(db, "DBSIZE", ":0");
    layerdb_close(db);
}

TEST("RENAME, COPY and MOVE replay with their deadlines, also across databases") {
    const char *name = "rename.db";
    unlink(test_path(name));
    layerdb *db = open_db(name, NULL);
    REQUIRE(db);
    const char *argv[] = {"SET", "k\0ey", "v\0al", "PXAT", "4000000000123"};
    const size_t lens[] = {3, 4, 4, 4, 13};
    layerdb_reply_free(callv(db, 5, argv, lens));
    const char *ren[] = {"RENAME", "k\0ey", "r\0"};
    const size_t ren_lens[] = {6, 4, 2};
    layerdb_reply_free(callv(db, 3, ren, ren_lens));
    const char *cp[] = {"COPY", "r\0", "c", "DB", "3"};
    const size_t cp_lens[] = {4, 2, 1, 2, 1};
    layerdb_reply_free(callv(db, 5, cp, cp_lens));
    EXPECT(db, "SET m v EXAT 4100000000", "+OK");
    EXPECT(db, "MOVE m 5", ":1");
    EXPECT(db, "SET n v", "+OK");
    EXPECT(db, "RENAMENX n n2", ":1");
    db = reopen(db, name);
    REQUIRE(db);
    EXPECT(db, "DBSIZE", ":2");
    const char *get[] = {"PEXPIRETIME", "r\0"};
    const size_t get_lens[] = {11, 2};
    layerdb_reply *r = callv(db, 2, get, get_lens);
    CHECK(r && r->type == LAYERDB_REPLY_INTEGER && r->integer == 4000000000123LL);
    layerdb_reply_free(r);
    EXPECT(db, "GET n2", "$v");
    EXPECT(db, "SELECT 3", "+OK");
    EXPECT(db, "PEXPIRETIME c", ":4000000000123");
    EXPECT(db, "SELECT 5", "+OK");
    EXPECT(db, "EXPIRETIME m", ":4100000000");
    layerdb_close(db);
}

/* ---- Entries the log writer may still read ---- */

/* layerdb_set's new keys are logged by reference to their entry (db.c's
 * log_set), which the writer thread reads later: keys 'prefix'0 .. n-1. */
static void set_by_reference(layerdb *db, const char *prefix, int n) {
    char key[32];
    for (int i = 0; i < n; i++) {
        int len = snprintf(key, sizeof key, "%s%d", prefix, i);
        CHECK_RC(layerdb_set(db, key, (size_t)len, "value", 5), LAYERDB_OK);
    }
}

TEST("FLUSHALL and FLUSHDB drop entries the log writer may still read, safely") {
    const char *name = "limbo.db";
    unlink(test_path(name));
    layerdb *db = open_db(name, NULL);
    REQUIRE(db);
    for (int round = 0; round < 30; round++) {
        set_by_reference(db, "r", round % 2 ? 2000 : 100);
        if (round % 3 == 0) {
            EXPECT(db, "FLUSHALL", "+OK");
        } else if (round % 3 == 1) {
            EXPECT(db, "FLUSHDB ASYNC", "+OK");
        } else { /* move them away, then flush there */
            EXPECT(db, "SWAPDB 0 7", "+OK");
            EXPECT(db, "SELECT 7", "+OK");
            EXPECT(db, "FLUSHDB", "+OK");
            EXPECT(db, "SELECT 0", "+OK");
        }
    }
    CHECK_RC(layerdb_set(db, "last", 4, "value", 5), LAYERDB_OK);
    db = reopen(db, name);
    REQUIRE(db);
    EXPECT(db, "DBSIZE", ":1");
    EXPECT(db, "GET last", "$value");
    EXPECT(db, "SELECT 7", "+OK");
    EXPECT(db, "DBSIZE", ":0");
    layerdb_close(db);
}

/* Inside EXEC a flush must leave the room the executor made for the
 * drops of the commands after it. */
TEST("a flush inside EXEC leaves room for the drops of the commands after it") {
    const char *name = "limbo_exec.db";
    char line[1024] = "DEL", key[16];
    for (int i = 0; i < 60; i++) { /* split_words takes 64 words */
        snprintf(key, sizeof key, " j%d", i);
        strcat(line, key);
    }
    for (int round = 0; round < 50; round++) {
        unlink(test_path(name));
        layerdb *db = open_db(name, NULL);
        REQUIRE(db);
        set_by_reference(db, "k", 100);
        EXPECT(db, "SWAPDB 0 1", "+OK");
        set_by_reference(db, "j", 300);
        EXPECT(db, "MULTI", "+OK");
        EXPECT(db, "SELECT 1", "+QUEUED");
        EXPECT(db, "FLUSHDB", "+QUEUED");
        EXPECT(db, "SELECT 0", "+QUEUED");
        EXPECT(db, line, "+QUEUED");
        EXPECT(db, "EXEC", "[+OK,+OK,+OK,:60]");
        db = reopen(db, name);
        REQUIRE(db);
        EXPECT(db, "DBSIZE", ":240");
        EXPECT(db, "SELECT 1", "+OK");
        EXPECT(db, "DBSIZE", ":0");
        layerdb_close(db);
    }
}

/* ---- Running out of memory ---- */

typedef struct failing {
    atomic_long calls; /* malloc + realloc calls */
    atomic_long fail_at; /* fail the call with this number; 0 = never */
} failing;

static void *f_malloc(size_t n, void *ud) {
    failing *f = ud;
    long call = atomic_fetch_add(&f->calls, 1) + 1;
    return call == atomic_load(&f->fail_at) ? NULL : malloc(n);
}
static void *f_realloc(void *p, size_t n, void *ud) {
    failing *f = ud;
    long call = atomic_fetch_add(&f->calls, 1) + 1;
    return call == atomic_load(&f->fail_at) ? NULL : realloc(p, n);
}
static void f_free(void *p, void *ud) {
    (void)ud;
    free(p);
}

/* The state the commands below can change, as text. */
static void dump_state(layerdb *db, char *out, size_t cap) {
    static const char *const lines[] = {
        "SELECT 0", "MGET src dst x", "PEXPIRETIME src", "PEXPIRETIME dst", "DBSIZE",
        "SELECT 1", "MGET src dst", "PEXPIRETIME src", "DBSIZE",
        "SELECT 3", "MGET src dst", "PEXPIRETIME dst", "DBSIZE", "SELECT 0"};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        strncat(out, cmd(db, lines[i]), cap - strlen(out) - 1);
        strncat(out, " ", cap - strlen(out) - 1);
    }
}

static void setup_state(layerdb *db) {
    cmd(db, "SET src one PXAT 4000000000001");
    cmd(db, "SET dst two PXAT 4000000000002");
    cmd(db, "SET x three");
    cmd(db, "SELECT 3");
    cmd(db, "SET dst four PXAT 4000000000004");
    cmd(db, "SELECT 0");
}

TEST("RENAME, COPY, MOVE, SWAPDB and FLUSHALL change all or nothing when memory runs out") {
    static const char *const commands[] = {"RENAME src dst", "RENAME src fresh",
                                           "COPY src dst DB 3 REPLACE", "COPY src dst REPLACE",
                                           "COPY src new DB 1", "MOVE src 1", "SWAPDB 0 3",
                                           "FLUSHALL"};
    const char *name = "nomem.db";
    int failures = 0;
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++) {
        /* The state after the command, from a run without failure. */
        char before[1024], after[1024], now[1024], replayed[1024];
        layerdb *db = open_db(NULL, NULL);
        REQUIRE(db);
        setup_state(db);
        dump_state(db, before, sizeof before);
        cmd(db, commands[k]);
        dump_state(db, after, sizeof after);
        layerdb_close(db);
        for (long n = 1; n < 40; n++) {
            failing f = {0, 0};
            layerdb_options o;
            layerdb_options_init(&o);
            o.alloc = (layerdb_allocator){f_malloc, f_realloc, f_free, &f};
            unlink(test_path(name));
            db = open_db(name, &o);
            REQUIRE(db);
            setup_state(db);
            atomic_store(&f.fail_at, atomic_load(&f.calls) + n);
            const char *got = cmd(db, commands[k]);
            atomic_store(&f.fail_at, 0);
            failures += strcmp(got, "rc=5") == 0; /* LAYERDB_NOMEM */
            dump_state(db, now, sizeof now);
            int ok = strcmp(now, before) == 0 || strcmp(now, after) == 0;
            if (!ok) printf("# %s failing at %ld (%s):\n#  %s\n#  want %s\n", commands[k], n, got, now, after);
            CHECK(ok);
            /* What the log replays is what the handle holds. */
            db = reopen(db, name);
            REQUIRE(db);
            dump_state(db, replayed, sizeof replayed);
            if (strcmp(replayed, now) != 0) printf("# %s failing at %ld: replayed %s\n", commands[k], n, replayed);
            CHECK(strcmp(replayed, now) == 0);
            layerdb_close(db);
        }
    }
    printf("# %d runs ended in LAYERDB_NOMEM\n", failures);
    CHECK(failures > 0);
}

int main(void) {
    return test_main();
}
