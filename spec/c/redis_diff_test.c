/* redis_diff_test.c -- differential test: the same commands against the
 * real redis-server and against layerdb_command, replies compared.
 *
 * Starts Debian's redis-server on a free loopback port with no persistence
 * (skips, saying so, where none is installed), talks RESP2 to it over TCP
 * with the small client of redis_server.h, and stops it by its pid. Every command runs
 * on both sides, and both replies are rendered as text (reply_text.h) and
 * compared, error texts included. Two parts: the hand-written case files
 * in spec/diff/ (one command per line; see run_directive for the lines
 * starting with '!'), then a seeded random stream over a few keys
 * (LAYERDB_SEED=n replays one). */
#include <arpa/inet.h>
#include <dirent.h>
#include <stdlib.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "keyspace.h"
#include "layerdb.h"
#include "redis_server.h"
#include "reply_text.h"
#include "test.h"

/* ---- Rendering redis-server's replies ---- */

/* Read one reply, appending it to out as render() would. */
static int read_reply(struct conn *c, char *out, size_t cap) {
    char line[4096];
    if (read_line(c, line, sizeof line) != 0) return -1;
    size_t n = strlen(out);
    long long v = atoll(line + 1);
    switch (line[0]) {
    case '+': snprintf(out + n, cap - n, "+%.*s", (int)(cap - n), line + 1); return 0;
    case '-': snprintf(out + n, cap - n, "-%.*s", (int)(cap - n), line + 1); return 0;
    case ':': snprintf(out + n, cap - n, ":%lld", v); return 0;
    case '$': {
        if (v < 0) { snprintf(out + n, cap - n, "(nil)"); return 0; }
        char data[4096];
        if (v + 2 > (long long)sizeof data || read_bytes(c, data, (size_t)v + 2) != 0) return -1;
        snprintf(out + n, cap - n, "$%.*s", (int)v, data);
        return 0;
    }
    case '*':
        if (v < 0) { snprintf(out + n, cap - n, "(nil)"); return 0; }
        snprintf(out + n, cap - n, "[");
        for (long long i = 0; i < v; i++) {
            if (i) strncat(out, ",", cap - strlen(out) - 1);
            if (read_reply(c, out, cap) != 0) return -1;
        }
        strncat(out, "]", cap - strlen(out) - 1);
        return 0;
    }
    return -1;
}

/* Send the words of 'line' (split_words) as a RESP array and render the
 * reply. */
static const char *redis_cmd(struct conn *c, const char *line) {
    static char out[1 << 16];
    char words[2048], req[8192];
    const char *argv[64];
    int argc = split_words(line, words, sizeof words, argv, 64);
    size_t len = (size_t)snprintf(req, sizeof req, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        len += (size_t)snprintf(req + len, sizeof req - len, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
    out[0] = '\0';
    if (send_all(c->fd, req, len) != 0 || read_reply(c, out, sizeof out) != 0)
        snprintf(out, sizeof out, "(connection lost)");
    return out;
}

/* ---- Comparing ---- */

static struct conn redis;
static int redis_up;

/* Run line on both; count and show a difference. */
static int same_reply(layerdb *db, const char *line) {
    static char ours[1 << 16]; /* as long as the two renderings */
    snprintf(ours, sizeof ours, "%s", cmd(db, line));
    const char *theirs = redis_cmd(&redis, line);
    if (strcmp(ours, theirs) == 0) return 1;
    printf("# %s: layerdb %s, redis %s\n", line, ours, theirs);
    return 0;
}

/* ---- The case files: spec/diff/ *.txt ---- */

#define CASE_DIR "spec/diff"

static layerdb *case_db;
static char case_db_path[1024];

static void case_db_open(void) {
    REQUIRE(layerdb_open(&case_db, case_db_path, NULL) == LAYERDB_OK);
}

/* A directive: !reopen closes the layerdb handle and opens its file again
 * (its log replayed; redis-server keeps its memory), and both sides go
 * back to database 0; !sleep N sleeps N ms (a key given a deadline of a
 * few ms is past it afterwards on both sides). 0, or -1 if unknown. */
static int run_directive(const char *line) {
    int ms;
    if (strcmp(line, "!reopen") == 0) {
        CHECK_RC(layerdb_close(case_db), LAYERDB_OK);
        case_db_open();
        redis_cmd(&redis, "SELECT 0");
        return 0;
    }
    if (sscanf(line, "!sleep %d", &ms) == 1) {
        usleep((useconds_t)ms * 1000);
        return 0;
    }
    return -1;
}

/* Run one case file against a fresh database on both sides; returns how
 * many replies differed. */
static int run_case_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { printf("# cannot open %s\n", path); return 1; }
    snprintf(case_db_path, sizeof case_db_path, "%s", test_path("cases.db"));
    unlink(case_db_path);
    case_db_open();
    redis_cmd(&redis, "SELECT 0");
    redis_cmd(&redis, "FLUSHALL");
    char line[2048];
    int differ = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#') continue;
        if (line[0] == '!') {
            if (run_directive(line) != 0) { printf("# %s:%d: unknown directive\n", path, lineno); differ++; }
            continue;
        }
        if (!same_reply(case_db, line)) { printf("#   at %s:%d\n", path, lineno); differ++; }
    }
    fclose(f);
    CHECK_RC(layerdb_close(case_db), LAYERDB_OK);
    case_db = NULL;
    return differ;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST("the case files in spec/diff reply as redis-server does, also after a reopen") {
    if (!redis_up) SKIP("no redis-server to compare with");
    DIR *dir = opendir(CASE_DIR);
    REQUIRE(dir);
    char *names[256];
    size_t n = 0;
    for (struct dirent *d; (d = readdir(dir)) && n < 256;) {
        size_t len = strlen(d->d_name);
        if (len > 4 && strcmp(d->d_name + len - 4, ".txt") == 0) names[n++] = strdup(d->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof names[0], by_name);
    CHECK(n > 0);
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", CASE_DIR, names[i]);
        int differ = run_case_file(path);
        printf("# %s: %d replies differ\n", names[i], differ);
        CHECK(differ == 0);
        free(names[i]);
    }
}

/* ---- The random stream ---- */

/* Templates of the random commands. In a template: %k a key k0..k5, %v a
 * value, %f a float, %n a small integer (may be negative), %o a bit or
 * byte offset, %b a bit, %t an absolute time in seconds in the future and
 * %T one in ms, %p a time in the past, %d a database, 0 or 1. No template
 * depends on when it runs (no TTL or PTTL, no relative expiry), on hash
 * order (no KEYS, SCAN, RANDOMKEY) or on a value's history (no OBJECT
 * ENCODING: Redis says "raw" after APPEND where layerdb, which keeps no
 * history, says "embstr"). */
static const char *const templates[] = {
    "GET %k", "SET %k %v", "SET %k %v NX", "SET %k %v XX", "SET %k %v GET", "SET %k %v NX GET",
    "SET %k %v EXAT %t", "SET %k %v PXAT %T", "SET %k %v KEEPTTL", "SET %k %v XX KEEPTTL GET",
    "SETNX %k %v", "GETSET %k %v", "GETDEL %k", "STRLEN %k", "MGET %k %k %k", "MSET %k %v %k %v",
    "MSETNX %k %v %k %v", "DEL %k %k", "UNLINK %k", "EXISTS %k %k", "TYPE %k", "APPEND %k %v",
    "INCR %k", "DECR %k", "INCRBY %k %n", "DECRBY %k %n", "INCRBYFLOAT %k %f",
    "GETRANGE %k %n %n", "SETRANGE %k %o %v", "SETBIT %k %o %b", "GETBIT %k %o", "BITCOUNT %k",
    "BITCOUNT %k %n %n", "BITPOS %k %b", "BITPOS %k %b %n %n BIT", "EXPIREAT %k %t",
    "PEXPIREAT %k %T", "EXPIREAT %k %t NX", "EXPIREAT %k %t XX", "EXPIREAT %k %t GT",
    "EXPIREAT %k %t LT", "EXPIREAT %k %p", "EXPIRETIME %k", "PEXPIRETIME %k", "PERSIST %k",
    "GETEX %k EXAT %t", "GETEX %k PERSIST", "GETEX %k", "SELECT %d", "DBSIZE", "PING", "ECHO %v",
    "MULTI", "MULTI", "EXEC", "EXEC", "DISCARD", "RENAME %k %k", "RENAMENX %k %k",
    "COPY %k %k", "COPY %k %k REPLACE", "COPY %k %k DB %d", "MOVE %k %d", "SWAPDB 0 1",
    "TOUCH %k %k",
};

static void fill_template(const char *t, char *line, size_t cap) {
    static const char *const values[] = {"v1", "hello", "10", "-3", "3.5", "\"\"", "0", "abc", "99"};
    static const char *const floats[] = {"1.5", "-0.25", "10", "3e2", "0", "0.1"};
    size_t n = 0;
    for (; *t && n + 32 < cap; t++) {
        if (*t != '%') { line[n++] = *t; continue; }
        uint64_t r = test_rand();
        switch (*++t) {
        case 'k': n += (size_t)snprintf(line + n, cap - n, "k%d", (int)(r % 6)); break;
        case 'v': n += (size_t)snprintf(line + n, cap - n, "%s", values[r % 9]); break;
        case 'f': n += (size_t)snprintf(line + n, cap - n, "%s", floats[r % 6]); break;
        case 'n': n += (size_t)snprintf(line + n, cap - n, "%d", (int)(r % 21) - 5); break;
        case 'o': n += (size_t)snprintf(line + n, cap - n, "%d", (int)(r % 40)); break;
        case 'b': n += (size_t)snprintf(line + n, cap - n, "%d", (int)(r % 2)); break;
        case 't': n += (size_t)snprintf(line + n, cap - n, "%lld", 4000000000LL + (long long)(r % 1000)); break;
        case 'T': n += (size_t)snprintf(line + n, cap - n, "%lld", 4000000000000LL + (long long)(r % 1000000)); break;
        case 'p': n += (size_t)snprintf(line + n, cap - n, "%d", 1 + (int)(r % 1000)); break;
        case 'd': n += (size_t)snprintf(line + n, cap - n, "%d", (int)(r % 2)); break;
        default: line[n++] = *t;
        }
    }
    line[n] = '\0';
}

static void random_command(char *line, size_t cap) {
    fill_template(templates[test_rand() % (sizeof templates / sizeof templates[0])], line, cap);
}

/* The state both sides hold, compared after a reopen. */
static int same_state(layerdb *db) {
    int same = 1;
    char line[64];
    for (int d = 0; d < 2; d++) {
        snprintf(line, sizeof line, "SELECT %d", d);
        same &= same_reply(db, line);
        same &= same_reply(db, "MGET k0 k1 k2 k3 k4 k5");
        same &= same_reply(db, "DBSIZE");
        for (int k = 0; k < 6; k++) {
            snprintf(line, sizeof line, "PEXPIRETIME k%d", k);
            same &= same_reply(db, line);
        }
    }
    return same & same_reply(db, "SELECT 0");
}

#define RANDOM_COMMANDS 20000

TEST("a seeded random stream of 20000 commands replies as redis-server does, and replays so") {
    if (!redis_up) SKIP("no redis-server to compare with");
    uint64_t seed = test_seed();
    printf("# seed %llu\n", (unsigned long long)seed);
    test_rand_state = seed ? seed : 1;
    redis_cmd(&redis, "SELECT 0");
    redis_cmd(&redis, "FLUSHALL");
    char path[512];
    snprintf(path, sizeof path, "%s", test_path("random.db"));
    layerdb *db = NULL;
    REQUIRE(layerdb_open(&db, path, NULL) == LAYERDB_OK);
    int differ = 0;
    char line[256];
    for (int i = 0; i < RANDOM_COMMANDS && differ < 5; i++) {
        random_command(line, sizeof line);
        if (!same_reply(db, line)) {
            printf("#   command %d of the stream\n", i);
            differ++;
        }
    }
    CHECK(differ == 0);
    same_reply(db, "DISCARD"); /* out of a MULTI the stream may end in */
    CHECK(same_state(db));
    CHECK(ldb_ks_check(ldb_db_keyspace(db))); /* deadlines and flags agree */
    /* What the log replays must match too. */
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    REQUIRE(layerdb_open(&db, path, NULL) == LAYERDB_OK);
    redis_cmd(&redis, "SELECT 0");
    CHECK(same_state(db));
    layerdb_close(db);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    int fd = start_server();
    redis_up = fd >= 0;
    if (!redis_up) printf("# redis-server could not be started: cases skipped\n");
    redis.fd = fd;
    int rc = test_main();
    if (redis_up) close(fd);
    stop_server();
    return rc;
}
