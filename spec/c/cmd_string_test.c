/* cmd_string_test.c -- the string commands of t_string.c, for what the
 * differential cases (spec/diff/strings.txt) cannot see: what each write
 * logs (read back from the file), that a refused command logs nothing,
 * WRONGTYPE (no command makes a key of another type yet, so a test flips
 * an entry's type), the 512 MB limit, INCRBYFLOAT's long results across a
 * reopen, binary values, and a write cut short by the allocator.
 *
 * cmd() (reply_text.h) runs a command given as words and renders its
 * reply: "$bytes", "+status", "-error", ":n", "(nil)", "[a,b]". */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "db.h"
#include "keyspace.h"
#include "layerdb.h"
#include "recovery.h"
#include "reply_text.h"
#include "test.h"

/* The same for a reply rendered already (cmdv). */
#define SAME(got, want)                                                              \
    do {                                                                             \
        const char *got_ = (got);                                                    \
        if (strcmp(got_, want) != 0) printf("# line %d: %s, want %s\n", __LINE__, got_, want); \
        CHECK(strcmp(got_, want) == 0);                                              \
    } while (0)



static uint64_t log_bytes(layerdb *db) {
    layerdb_info info;
    CHECK_RC(layerdb_info_get(db, &info), LAYERDB_OK);
    return info.log_bytes;
}

/* A command given as argc arguments with their lengths; the rendered
 * reply, or "rc=N" when the engine failed. */
static const char *cmdv(layerdb *db, int argc, const char **argv, const size_t *lens) {
    static char out[4096];
    layerdb_reply *r = NULL;
    int rc = layerdb_command(db, argc, argv, lens, &r);
    out[0] = '\0';
    if (rc != LAYERDB_OK) snprintf(out, sizeof out, "rc=%d", rc);
    else render(r, out, sizeof out);
    layerdb_reply_free(r);
    return out;
}

/* A command's reply as a whole (binary, long), or NULL; the caller frees. */
static layerdb_reply *call(layerdb *db, const char *line) {
    char words[2048];
    const char *argv[64];
    int argc = split_words(line, words, sizeof words, argv, 64);
    layerdb_reply *r = NULL;
    return layerdb_command(db, argc, argv, NULL, &r) == LAYERDB_OK ? r : NULL;
}

/* ---- The log, read back ---- */

/* What a closed database's log holds: each logged command as its words,
 * one per line ("SET k v PXAT 4000000000000\n"). */
typedef struct log_text {
    char text[16384];
    size_t len;
} log_text;

static int log_add(void *ud, int dry_run, size_t argc, const ldb_slice *argv, char *msg,
                   size_t cap) {
    (void)msg, (void)cap;
    log_text *t = ud;
    if (dry_run || argc == 0) return LAYERDB_OK;
    for (size_t i = 0; i < argc; i++) {
        int n = snprintf(t->text + t->len, sizeof t->text - t->len, "%s%.*s", i ? " " : "",
                         (int)argv[i].len, (const char *)argv[i].p);
        if (n > 0) t->len += (size_t)n < sizeof t->text - t->len ? (size_t)n : 0;
    }
    if (t->len + 1 < sizeof t->text) t->text[t->len++] = '\n';
    t->text[t->len] = '\0';
    return LAYERDB_OK;
}

static void read_log(const char *path, log_text *t) {
    t->len = 0;
    t->text[0] = '\0';
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    if (fd < 0) return;
    ldb_recovery rec;
    char msg[256];
    CHECK_RC(ldb_recover(fd, path, ldb_alloc_libc(), 0, log_add, t, &rec, msg, sizeof msg),
             LAYERDB_OK);
    close(fd);
}

/* The integer reply of a command (PEXPIRETIME), -3 if it is no integer. */
static long long int_reply(layerdb *db, const char *line) {
    layerdb_reply *r = call(db, line);
    long long v = r && r->type == LAYERDB_REPLY_INTEGER ? r->integer : -3;
    layerdb_reply_free(r);
    return v;
}

TEST("each write logs what it did, relative times made absolute") {
    const char *path = test_path("logged.db");
    layerdb *db = open_db("logged.db", NULL);
    REQUIRE(db);
    static const char *const cases[][2] = {
        {"SETEX a 100 v", "+OK"},
        {"PSETEX b 100000 w", "+OK"},
        {"MSET c 1 d 2", "+OK"},
        {"MSETNX c 9 e 9", ":0"},
        {"MSETNX e 5 f 6", ":1"},
        {"APPEND c 23", ":3"},
        {"SETRANGE d 2 x", ":3"},
        {"SETRANGE g 0 \"\"", ":0"},
        {"SETRANGE d 0 \"\"", ":3"},
        {"INCR c", ":124"},
        {"DECR c", ":123"},
        {"INCRBY c 5", ":128"},
        {"DECRBY c 2", ":126"},
        {"INCRBYFLOAT h 1.5", "$1.5"},
        {"INCRBYFLOAT h 1.0e1", "$11.5"},
        {"GETEX a", "$v"},
        {"GETRANGE d 0 -1", "$2"}, /* "2\0x": rendered up to the NUL */
        {"SUBSTR d 0 0", "$2"},
        {"INCR d", "-ERR value is not an integer or out of range"},
    };
    expect_all(db, cases, sizeof cases / sizeof cases[0]);
    long long ta = int_reply(db, "PEXPIRETIME a"), tb = int_reply(db, "PEXPIRETIME b");
    EXPECT(db, "GETEX a EX 200", "$v");
    long long ta2 = int_reply(db, "PEXPIRETIME a");
    static const char *const more[][2] = {
        {"GETEX a EXAT 4000000000", "$v"},
        {"GETEX a PERSIST", "$v"},
        {"GETEX a PERSIST", "$v"},
        {"GETEX c PXAT 1", "$126"},
        {"GET c", "(nil)"},
    };
    expect_all(db, more, sizeof more / sizeof more[0]);
    CHECK(ta > 0 && tb > 0 && ta2 > ta);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);

    log_text t;
    read_log(path, &t);
    char want[2048];
    snprintf(want, sizeof want,
             "SET a v PXAT %lld\n"
             "SET b w PXAT %lld\n"
             "MSET c 1 d 2\n"
             "MSET e 5 f 6\n"
             "APPEND c 23\n"
             "SETRANGE d 2 x\n"
             "INCR c\n"
             "DECR c\n"
             "INCRBY c 5\n"
             "DECRBY c 2\n"
             "SET h 1.5 KEEPTTL\n"
             "SET h 11.5 KEEPTTL\n"
             "PEXPIREAT a %lld\n"
             "PEXPIREAT a 4000000000000\n"
             "PERSIST a\n"
             "DEL c\n",
             ta, tb, ta2);
    if (strcmp(t.text, want) != 0) printf("# logged:\n%s# want:\n%s", t.text, want);
    CHECK(strcmp(t.text, want) == 0);

    db = open_db("logged.db", NULL);
    REQUIRE(db);
    EXPECT(db, "MGET a b c e f h", "[$v,$w,(nil),$5,$6,$11.5]");
    EXPECT(db, "TTL a", ":-1");
    CHECK(int_reply(db, "PEXPIRETIME b") == tb);
    layerdb_close(db);
}

TEST("a refused command, or one that changes nothing, logs nothing") {
    const char *name = "refused.db";
    layerdb *db = open_db(name, NULL);
    REQUIRE(db);
    cmd(db, "MSET s abc n 10 f 1.5 big 9223372036854775807");
    cmd(db, "SET t v EXAT 4000000000");
    uint64_t before = log_bytes(db);
    static const char *const cases[][2] = {
        {"SETEX k 0 v", "-ERR invalid expire time in 'setex' command"},
        {"PSETEX k x v", "-ERR value is not an integer or out of range"},
        {"MSET a 1 b", "-ERR wrong number of arguments for 'mset' command"},
        {"MSETNX a 1 b", "-ERR wrong number of arguments for 'msetnx' command"},
        {"MSETNX a 1 s 2", ":0"},
        {"GETEX s", "$abc"},
        {"GETEX s PERSIST", "$abc"},
        {"GETEX nope EX 10", "(nil)"},
        {"GETEX s EX 0", "-ERR invalid expire time in 'getex' command"},
        {"GETEX s KEEPTTL", "-ERR syntax error"},
        {"APPEND", "-ERR wrong number of arguments for 'append' command"},
        {"SETRANGE s -1 x", "-ERR offset is out of range"},
        {"SETRANGE s 536870912 x", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
        {"SETRANGE s 5 \"\"", ":3"},
        {"SETRANGE nope 5 \"\"", ":0"},
        {"INCR s", "-ERR value is not an integer or out of range"},
        {"INCR big", "-ERR increment or decrement would overflow"},
        {"DECRBY n -9223372036854775808", "-ERR decrement would overflow"},
        {"INCRBY n x", "-ERR value is not an integer or out of range"},
        {"INCRBYFLOAT s 1", "-ERR value is not a valid float"},
        {"INCRBYFLOAT f x", "-ERR value is not a valid float"},
        {"INCRBYFLOAT f inf", "-ERR increment would produce NaN or Infinity"},
        {"INCRBYFLOAT f 1e5000", "-ERR value is not a valid float"},
        {"GETRANGE s 0 -1", "$abc"},
        {"SUBSTR s 0 0", "$a"},
        {"SET t w EX 10 EX", "-ERR syntax error"},
        {"SET t w PERSIST", "-ERR syntax error"},
        {"MULTI", "+OK"},
        {"INCR s", "+QUEUED"},
        {"SETRANGE s -1 x", "+QUEUED"},
        {"EXEC", "[-ERR value is not an integer or out of range,-ERR offset is out of range]"},
    };
    expect_all(db, cases, sizeof cases / sizeof cases[0]);
    CHECK(log_bytes(db) == before);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db(name, NULL);
    REQUIRE(db);
    EXPECT(db, "MGET s n f big a nope k", "[$abc,$10,$1.5,$9223372036854775807,(nil),(nil),(nil)]");
    EXPECT(db, "EXPIRETIME t", ":4000000000");
    layerdb_close(db);
}

/* Make key hold a value of another type, as far as the commands can
 * tell: its entry's type byte says list. Its bytes stay a string's, so
 * it is freed as one. */
static void make_list(layerdb *db, const char *key) {
    char line[64];
    snprintf(line, sizeof line, "SET %s x", key);
    cmd(db, line);
    ldb_entry *e = ldb_ks_find(ldb_db_keyspace(db), 0, key, strlen(key), LDB_KS_NO_EXPIRY);
    if (!e) return;
    unsigned char *type = (unsigned char *)e;
    *type = (unsigned char)((*type & ~LDB_ENTRY_TYPE_MASK) | LDB_TYPE_LIST);
}

TEST("a key of another type: WRONGTYPE, or the error Redis checks first") {
    layerdb *db = open_db("wrongtype.db", NULL);
    REQUIRE(db);
    make_list(db, "l");
    EXPECT(db, "TYPE l", "+list");
    uint64_t before = log_bytes(db);
    const char *wt = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    /* The replies of redis-server 7.0 to the same commands on a list. */
    static const char *const cases[][2] = {
        {"INCRBY l abc", "-ERR value is not an integer or out of range"},
        {"SETRANGE l -1 x", "-ERR offset is out of range"},
        {"GETRANGE l a 1", "-ERR value is not an integer or out of range"},
        {"DECRBY l -9223372036854775808", "-ERR decrement would overflow"},
        {"GETEX l bogus", "-ERR syntax error"},
        {"SET l v EX 0 GET", "-ERR invalid expire time in 'set' command"},
        {"SETEX l 0 v", "-ERR invalid expire time in 'setex' command"},
        {"MGET l", "[(nil)]"},
        {"MSETNX l 1 z 1", ":0"},
        {"SETNX l 1", ":0"},
        {"SET l v NX", "(nil)"},
    };
    expect_all(db, cases, sizeof cases / sizeof cases[0]);
    static const char *const wrongtype[] = {
        "INCR l", "DECR l", "INCRBY l 1", "DECRBY l 1", "INCRBYFLOAT l abc",
        "INCRBYFLOAT l 1", "SETRANGE l 0 \"\"", "SETRANGE l 0 x", "GETRANGE l 0 1",
        "SUBSTR l 0 1", "GETEX l EX 0", "GETEX l", "GETEX l PERSIST", "APPEND l x",
        "APPEND l \"\"", "SET l v GET", "GETSET l v", "GETDEL l", "STRLEN l", "GET l",
    };
    for (size_t i = 0; i < sizeof wrongtype / sizeof wrongtype[0]; i++) EXPECT(db, wrongtype[i], wt);
    CHECK(log_bytes(db) == before);
    EXPECT(db, "EXISTS z", ":0");
    EXPECT(db, "TYPE l", "+list");
    /* What replaces a value of any type. */
    EXPECT(db, "MSET l 1", "+OK");
    EXPECT(db, "TYPE l", "+string");
    make_list(db, "l");
    EXPECT(db, "SETEX l 10 v", "+OK");
    EXPECT(db, "TYPE l", "+string");
    make_list(db, "l");
    EXPECT(db, "PSETEX l 10000 v", "+OK");
    make_list(db, "l");
    EXPECT(db, "SET l v XX", "+OK");
    EXPECT(db, "GET l", "$v");
    layerdb_close(db);
}

TEST("INCRBYFLOAT's results, however long, survive a reopen byte for byte") {
    const char *name = "float.db";
    layerdb *db = open_db(name, NULL);
    REQUIRE(db);
    cmd(db, "SET keep 1 PXAT 4000000000123");
    /* Replies checked against redis-server 7.0.15 (x86-64, 80-bit long
     * double): lengths, and the first and last digits. */
    static const struct {
        const char *line;
        size_t len;
        const char *head, *tail;
    } cases[] = {
        {"INCRBYFLOAT huge 1e4000", 4000, "9999999999999999999965463873099623", "9901340672"},
        {"INCRBYFLOAT max 1.18e4932", 4933, "1180000000000000000000652812918093", "8628785152"},
        {"INCRBYFLOAT min -1.18e4932", 4934, "-118000000000000000000065281291809", "8628785152"},
        {"INCRBYFLOAT tiny 1e-4940", 1, "0", "0"},
        {"INCRBYFLOAT neg -0.0000000000000000001", 1, "0", "0"},
        {"INCRBYFLOAT keep 0.1", 3, "1.1", "1.1"},
        {"INCRBYFLOAT keep 0.1", 3, "1.2", "1.2"},
        {"INCRBYFLOAT d 1.7976931348623157e308", 309, "1797693134862315699959210467741044", "3339536384"},
        {"INCRBYFLOAT third 3.3333333333333333333333", 19, "3.33333333333333333", "3"},
        {"INCRBYFLOAT h 0x1p-2", 4, "0.25", "0.25"},
        {"INCRBYFLOAT e 1e19", 20, "10000000000000000000", "0"},
        {"INCRBYFLOAT e 0.5", 20, "10000000000000000000", "0"},
    };
    char saved[sizeof cases / sizeof cases[0]][5000];
    size_t lens[sizeof cases / sizeof cases[0]];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        layerdb_reply *r = call(db, cases[i].line);
        REQUIRE(r);
        CHECK(r->type == LAYERDB_REPLY_STRING);
        size_t hl = strlen(cases[i].head), tl = strlen(cases[i].tail);
        int ok = r->len == cases[i].len && r->len >= hl && r->len >= tl &&
                 memcmp(r->str, cases[i].head, hl) == 0 &&
                 memcmp(r->str + r->len - tl, cases[i].tail, tl) == 0;
        if (!ok) printf("# %s -> %zu bytes: %.40s...\n", cases[i].line, r->len, r->str);
        CHECK(ok);
        lens[i] = r->len < sizeof saved[i] ? r->len : 0;
        memcpy(saved[i], r->str, lens[i]);
        layerdb_reply_free(r);
    }
    EXPECT(db, "PEXPIRETIME keep", ":4000000000123");
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db(name, NULL);
    REQUIRE(db);
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        char line[64], key[16], next[16] = "";
        sscanf(cases[i].line, "INCRBYFLOAT %15s", key);
        if (i + 1 < n) sscanf(cases[i + 1].line, "INCRBYFLOAT %15s", next);
        if (strcmp(key, next) == 0) continue; /* incremented again: the last counts */
        snprintf(line, sizeof line, "GET %s", key);
        layerdb_reply *r = call(db, line);
        REQUIRE(r);
        CHECK(r->type == LAYERDB_REPLY_STRING && r->len == lens[i] &&
              memcmp(r->str, saved[i], lens[i]) == 0);
        layerdb_reply_free(r);
    }
    EXPECT(db, "PEXPIRETIME keep", ":4000000000123");
    EXPECT(db, "INCRBYFLOAT max 1.18e4932", "-ERR increment would produce NaN or Infinity");
    /* A number's text may take up to 5119 bytes, as in Redis. */
    static char num[5120];
    memcpy(num, "1.", 2);
    memset(num + 2, '0', sizeof num - 2);
    const char *incr[] = {"INCRBYFLOAT", "long", num};
    size_t nlens[] = {11, 4, sizeof num - 1};
    SAME(cmdv(db, 3, incr, nlens), "$1");
    nlens[2] = sizeof num;
    SAME(cmdv(db, 3, incr, nlens), "-ERR value is not a valid float");
    const char *set[] = {"SET", "long", num};
    size_t slens[] = {3, 4, sizeof num};
    SAME(cmdv(db, 3, set, slens), "+OK");
    EXPECT(db, "INCRBYFLOAT long 1", "-ERR value is not a valid float");
    slens[2] = sizeof num - 1;
    SAME(cmdv(db, 3, set, slens), "+OK");
    EXPECT(db, "INCRBYFLOAT long 1", "$2");
    layerdb_close(db);
}

TEST("APPEND and SETRANGE are binary-safe and log their arguments, not the value") {
    const char *name = "range.db";
    layerdb *db = open_db(name, NULL);
    REQUIRE(db);
    EXPECT(db, "SETRANGE big 1048575 x", ":1048576");
    uint64_t before = log_bytes(db);
    EXPECT(db, "APPEND big yz", ":1048578");
    EXPECT(db, "SETRANGE big 0 abc", ":1048578");
    CHECK(log_bytes(db) - before < 100);
    const char *set[] = {"SETRANGE", "bin", "2", "a\0b"};
    size_t setlens[] = {8, 3, 1, 3};
    SAME(cmdv(db, 4, set, setlens), ":5");
    const char *app[] = {"APPEND", "bin", "\0\n"};
    size_t applens[] = {6, 3, 2};
    SAME(cmdv(db, 3, app, applens), ":7");
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db(name, NULL);
    REQUIRE(db);
    layerdb_reply *r = call(db, "GET bin");
    REQUIRE(r);
    CHECK(r->type == LAYERDB_REPLY_STRING && r->len == 7 && memcmp(r->str, "\0\0a\0b\0\n", 7) == 0);
    layerdb_reply_free(r);
    r = call(db, "GETRANGE big -5 -1");
    REQUIRE(r);
    CHECK(r->type == LAYERDB_REPLY_STRING && r->len == 5 && memcmp(r->str, "\0\0xyz", 5) == 0);
    layerdb_reply_free(r);
    EXPECT(db, "GETRANGE big 0 3", "$abc");
    EXPECT(db, "STRLEN big", ":1048578");
    layerdb_close(db);
}

TEST("APPEND and SETRANGE refuse a result over 512 MB") {
    /* A 512 MiB argument that is never touched: mapped, not allocated. */
    size_t max = 512u << 20;
    char *huge = mmap(NULL, max + 1, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(huge != MAP_FAILED);
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    const char *err = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    cmd(db, "SET k x");
    const char *app[] = {"APPEND", "k", huge};
    size_t applens[] = {6, 1, max};
    SAME(cmdv(db, 3, app, applens), err);
    const char *sr[] = {"SETRANGE", "k", "1", huge};
    size_t srlens[] = {8, 1, 1, max};
    SAME(cmdv(db, 4, sr, srlens), err);
    const char *sr0[] = {"SETRANGE", "new", "0", huge};
    size_t sr0lens[] = {8, 3, 1, max + 1};
    SAME(cmdv(db, 4, sr0, sr0lens), err);
    EXPECT(db, "SETRANGE k 536870911 xy", err);
    EXPECT(db, "SETRANGE k 9223372036854775807 x", err);
    EXPECT(db, "GET k", "$x");
    EXPECT(db, "EXISTS new", ":0");
    layerdb_close(db);
    munmap(huge, max + 1);
}

/* ---- An allocator that refuses one call, on the test's thread ---- */

/* Refuse an allocation of refused_size bytes, or the fail_at-th call
 * since arm() (a single one: later calls succeed); only on the test's
 * thread, so the writer thread's allocations neither fail nor count.
 * refusing_thread is set before the handle (and its writer) exists; the
 * rest only the test's thread reads. */
static size_t refused_size;
static long fail_at, calls;
static pthread_t refusing_thread;

static int refuse(size_t n) {
    if (!pthread_equal(pthread_self(), refusing_thread)) return 0;
    calls++;
    return (refused_size && n == refused_size) || (fail_at && calls == fail_at);
}
static void *refusing_malloc(size_t n, void *ud) {
    (void)ud;
    return refuse(n) ? NULL : malloc(n);
}
static void *refusing_realloc(void *p, size_t n, void *ud) {
    (void)ud;
    return refuse(n) ? NULL : realloc(p, n);
}
static void refusing_free(void *p, void *ud) {
    (void)ud;
    free(p);
}

static void arm(size_t size, long at) {
    refused_size = size;
    fail_at = at;
    calls = 0;
}

static layerdb *open_refusing(const char *name) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.alloc.malloc = refusing_malloc;
    o.alloc.realloc = refusing_realloc;
    o.alloc.free = refusing_free;
    refusing_thread = pthread_self();
    arm(0, 0);
    return open_db(name, &o);
}

TEST("a value or a deadline that cannot be allocated changes nothing and logs nothing") {
    const char *name = "cut.db";
    const char *path = test_path(name);
    layerdb *db = open_refusing(name);
    REQUIRE(db);
    uint64_t before = log_bytes(db);
    /* MSET whose third value's entry cannot be made: 1 type byte, the
     * key's length and byte, 3 bytes of value length, the value. */
    static char val[100000];
    memset(val, 'v', sizeof val);
    arm(1 + 1 + 1 + 3 + sizeof val, 0);
    const char *mset[] = {"MSET", "a", "1", "b", "2", "c", val, "d", "4"};
    size_t mlens[] = {4, 1, 1, 1, 1, 1, sizeof val, 1, 1};
    SAME(cmdv(db, 9, mset, mlens), "rc=5"); /* LAYERDB_NOMEM */
    const char *msetnx[] = {"MSETNX", "e", "5", "c", val};
    size_t nxlens[] = {6, 1, 1, 1, sizeof val};
    SAME(cmdv(db, 5, msetnx, nxlens), "rc=5");
    EXPECT(db, "MGET a b c d e", "[(nil),(nil),(nil),(nil),(nil)]");
    CHECK(log_bytes(db) == before);
    /* SETEX whose deadline cannot be kept: the expires entry of a
     * 5000-byte key holds 8 bytes (the value's entry holds 1). Nothing
     * changes: the value and its deadline go in together or not at all. */
    static char key[5000];
    memset(key, 'k', sizeof key);
    arm(1 + 2 + sizeof key + 1 + 8, 0);
    const char *setex[] = {"SETEX", key, "100", "v"};
    size_t selens[] = {5, sizeof key, 3, 1};
    SAME(cmdv(db, 4, setex, selens), "rc=5");
    const char *ttl[] = {"TTL", key};
    size_t ttllens[] = {3, sizeof key};
    SAME(cmdv(db, 2, ttl, ttllens), ":-2");
    CHECK(log_bytes(db) == before);
    arm(0, 0);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    log_text t;
    read_log(path, &t);
    CHECK(t.len == 0);
    db = open_db(name, NULL);
    REQUIRE(db);
    EXPECT(db, "MGET a b c d e", "[(nil),(nil),(nil),(nil),(nil)]");
    SAME(cmdv(db, 2, ttl, ttllens), ":-2");
    layerdb_close(db);
}

/* What the handle shows of the keys the script below writes. */
static void dump(layerdb *db, char *out, size_t cap) {
    static const char *const keys[] = {"a", "k0", "k1", "k13", "k14", "k19", "n", "f", "s", "p", "g"};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char line[64];
        size_t len = strlen(out);
        snprintf(line, sizeof line, "GET %s", keys[i]);
        snprintf(out + len, cap - len, "%s=%s ", keys[i], cmd(db, line));
        len = strlen(out);
        snprintf(line, sizeof line, "PEXPIRETIME %s", keys[i]);
        snprintf(out + len, cap - len, "%s; ", cmd(db, line));
    }
}

TEST("whichever allocation fails, the handle shows what its log replays") {
    static const char *const setup[] = {
        "SET a 1 PXAT 4000000000000", "SET n 41", "SET f 1.5 PXAT 4000000000000",
        "SET g v PXAT 4000000000000",
    };
    static const char *const script[] = {
        "MSET k0 0 k1 1 k2 2 k3 3 k4 4 k5 5 k6 6 k7 7 k8 8 k9 9 k10 10 k11 11 k12 12 k13 13 "
        "k14 14 k15 15 k16 16 k17 17 k18 18 k19 19",
        "MSETNX k0 0 k1 1 k2 2 k3 3 k4 4 k5 5 k6 6 k7 7 k8 8 k9 9 k10 10 k11 11 k12 12 k13 13 "
        "k14 14 k15 15 k16 16 k17 17 k18 18 k19 19",
        "SETEX s 100 v", "PSETEX p 100000 v", "SET s w PXAT 4000000000000", "APPEND a more",
        "APPEND new x", "SETRANGE a 10 x", "INCR n", "DECRBY n 5", "INCRBYFLOAT f 0.25",
        "INCRBYFLOAT n 0.5", "GETEX g PXAT 4000000001000", "GETEX g EX 100", "GETEX a PERSIST",
        "GETEX g PXAT 1", "GETSET a b", "SETNX s2 v",
    };
    long tried = 0;
    for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
        for (long at = 1; at < 1000; at++) {
            char name[32], shown[4096], replayed[4096];
            snprintf(name, sizeof name, "every%zu.db", i);
            unlink(test_path(name));
            layerdb *db = open_refusing(name);
            REQUIRE(db);
            for (size_t k = 0; k < sizeof setup / sizeof setup[0]; k++) cmd(db, setup[k]);
            arm(0, at);
            const char *got = cmd(db, script[i]);
            int refused = strcmp(got, "rc=5") == 0;
            arm(0, 0);
            CHECK(refused || got[0] != 'r');
            dump(db, shown, sizeof shown);
            CHECK_RC(layerdb_close(db), LAYERDB_OK);
            db = open_db(name, NULL);
            REQUIRE(db);
            dump(db, replayed, sizeof replayed);
            layerdb_close(db);
            if (strcmp(shown, replayed) != 0)
                printf("# %s, allocation %ld refused:\n#  shown    %s\n#  replayed %s\n",
                       script[i], at, shown, replayed);
            CHECK(strcmp(shown, replayed) == 0);
            tried++;
            if (!refused) break;
        }
    }
    printf("# %ld runs\n", tried);
}

int main(void) { return test_main(); }
