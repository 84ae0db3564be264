/* compact_test.c -- compaction (compact.c) through the public API: the
 * file shrinks to its live data and opens to the same state; writes made
 * while a compaction runs (INCR and APPEND among them) are neither lost
 * nor applied twice; the automatic trigger keeps a file of overwrites
 * bounded; BGREWRITEAOF, the info fields and the errors. No check depends
 * on timing: waits are for a compaction to end, however long it takes. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerdb.h"
#include "os.h"
#include "reply_text.h"
#include "state_dump.h"
#include "test.h"

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static layerdb_options manual_options(void) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.compact_factor = 0; /* only on demand */
    return o;
}

/* Keys in several databases, some with deadlines, some binary. */
static void fill(layerdb *db, int rounds, int keys) {
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < keys; i++) {
            char k[32], v[128];
            snprintf(k, sizeof k, "key:%d", i);
            int n = snprintf(v, sizeof v, "round %d value %d ........................................", r, i);
            REQUIRE(layerdb_set(db, k, strlen(k), v, (size_t)n) == LAYERDB_OK);
        }
    EXPECT(db, "SELECT 3", "+OK");
    EXPECT(db, "SET three 3 PX 100000000", "+OK");
    EXPECT(db, "SET gone soon PX 1", "+OK"); /* expired before the compaction */
    EXPECT(db, "RPUSH nothing x", "-ERR unknown command 'RPUSH', with args beginning with: 'nothing' 'x' ");
    EXPECT(db, "SELECT 0", "+OK");
    const char bin_key[] = {'b', 0, 'k'}, bin_val[] = {0, 1, 2, (char)0xff};
    REQUIRE(layerdb_set(db, bin_key, sizeof bin_key, bin_val, sizeof bin_val) == LAYERDB_OK);
    EXPECT(db, "INCRBY counter 41", ":41");
    EXPECT(db, "EXPIRE key:1 100000", ":1");
    usleep(5 * 1000); /* let "gone" pass its deadline */
}

TEST("a compaction shrinks the file to its live data and reopens to the same state") {
    layerdb_options o = manual_options();
    const char *path = test_path("shrink.db");
    layerdb *db = open_db("shrink.db", &o);
    REQUIRE(db);
    fill(db, 10, 2000);
    REQUIRE(layerdb_flush(db) == LAYERDB_OK);
    uint64_t before = file_size(path);
    char *want = dump_state(db);
    layerdb_info info;
    REQUIRE(layerdb_info_get(db, &info) == LAYERDB_OK);
    CHECK(info.compactions == 0 && info.compacting == 0);
    CHECK(info.file_bytes == before);
    CHECK_RC(layerdb_compact(db, LAYERDB_COMPACT_WAIT), LAYERDB_OK);
    REQUIRE(layerdb_info_get(db, &info) == LAYERDB_OK);
    CHECK(info.compactions == 1 && info.compacting == 0);
    uint64_t after = file_size(path);
    printf("# %llu bytes before, %llu after, live estimate %llu\n", (unsigned long long)before,
           (unsigned long long)after, (unsigned long long)info.live_bytes);
    CHECK(after < before / 5);
    CHECK(after <= info.live_bytes * 3 / 2 && info.live_bytes <= after * 3 / 2);
    CHECK(access(test_path("shrink.db.compact"), F_OK) != 0); /* renamed away */
    /* The handle goes on writing, now into the new file. */
    CHECK_RC(layerdb_set(db, "after", 5, "x", 1), LAYERDB_OK);
    EXPECT(db, "APPEND after y", ":2");
    char *want2 = dump_state(db);
    CHECK(strcmp(want, want2) != 0);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db("shrink.db", &o);
    REQUIRE(db);
    char *got = dump_state(db);
    CHECK(strcmp(got, want2) == 0);
    EXPECT(db, "GET after", "$xy");
    EXPECT(db, "SELECT 3", "+OK");
    EXPECT(db, "EXISTS gone", ":0");
    EXPECT(db, "DBSIZE", ":1");
    layerdb_close(db);
    free(want);
    free(want2);
    free(got);
}

/* ---- Writes while compactions run ---- */

typedef struct writer_arg {
    layerdb *db;
    int ops;
} writer_arg;

/* A stream of writes whose result depends on every one being applied
 * exactly once. */
static void *write_stream(void *p) {
    writer_arg *a = p;
    layerdb_client *cl = layerdb_client_new(a->db);
    for (int i = 0; i < a->ops; i++) {
        char line[128], words[256];
        const char *argv[8];
        int k = i % 500;
        switch (i % 8) {
        case 0: snprintf(line, sizeof line, "INCR n:%d", k); break;
        case 1: snprintf(line, sizeof line, "APPEND s:%d %d,", k, i); break;
        case 2: snprintf(line, sizeof line, "SET v:%d %d", k, i); break;
        case 3: snprintf(line, sizeof line, "DEL v:%d", (k + 7) % 500); break;
        case 4: snprintf(line, sizeof line, "PEXPIREAT s:%d %lld", k, 4000000000000LL + i); break;
        case 5: snprintf(line, sizeof line, "MOVE v:%d %d", k, (i / 8) % 3); break;
        case 6: snprintf(line, sizeof line, "RENAME s:%d r:%d", (k + 1) % 500, k); break;
        default: snprintf(line, sizeof line, "SELECT %d", i % 3); break;
        }
        int argc = split_words(line, words, sizeof words, argv, 8);
        layerdb_reply *r = NULL;
        if (layerdb_client_command(cl, argc, argv, NULL, &r) != LAYERDB_OK) {
            printf("# %s failed\n", line);
            break;
        }
        layerdb_reply_free(r);
    }
    layerdb_client_free(cl);
    return NULL;
}

TEST("writes made during compactions are all kept, each applied once (INCR, APPEND)") {
    layerdb_options o = manual_options();
    layerdb *db = open_db("during.db", &o), *model = open_db(NULL, &o);
    REQUIRE(db && model);
    for (int i = 0; i < 60000; i++) {
        char k[16];
        snprintf(k, sizeof k, "n:%d", i % 20000);
        REQUIRE(layerdb_set(db, k, strlen(k), "7", 1) == LAYERDB_OK);
        REQUIRE(layerdb_set(model, k, strlen(k), "7", 1) == LAYERDB_OK);
    }
    writer_arg a = {db, 300000}, m = {model, 300000};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, write_stream, &a) == 0);
    for (int i = 0; i < 5; i++) CHECK_RC(layerdb_compact(db, LAYERDB_COMPACT_WAIT), LAYERDB_OK);
    pthread_join(t, NULL);
    write_stream(&m);
    CHECK_RC(layerdb_compact(db, LAYERDB_COMPACT_WAIT), LAYERDB_OK);
    layerdb_info info;
    REQUIRE(layerdb_info_get(db, &info) == LAYERDB_OK);
    CHECK(info.compactions == 6);
    char *want = dump_state(model), *before = dump_state(db);
    CHECK(strcmp(before, want) == 0);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db("during.db", &o);
    REQUIRE(db);
    char *got = dump_state(db);
    CHECK(strcmp(got, want) == 0);
    if (strcmp(got, want) != 0) printf("# state differs after reopen (%zu vs %zu bytes)\n", strlen(got), strlen(want));
    layerdb_close(db);
    layerdb_close(model);
    free(want);
    free(before);
    free(got);
}

/* ---- The automatic trigger ---- */

/* Wait (without a time limit that could fail a loaded machine: a
 * compaction always ends) until none runs. */
static void wait_idle(layerdb *db) {
    layerdb_info info;
    while (layerdb_info_get(db, &info) == LAYERDB_OK && info.compacting) usleep(1000);
}

TEST("overwriting the same 100k keys 50 times keeps the file within the factor") {
    layerdb_options o;
    layerdb_options_init(&o);
    o.compact_factor = 2.0;
    o.compact_min_bytes = 1024 * 1024;
    const char *path = test_path("bounded.db");
    layerdb *db = open_db("bounded.db", &o);
    REQUIRE(db);
    uint64_t biggest = 0;
    for (int r = 0; r < 50; r++) {
        for (int i = 0; i < 100000; i++) {
            char k[16], v[100];
            snprintf(k, sizeof k, "k%06d", i);
            memset(v, 'a' + r % 26, sizeof v);
            memcpy(v, k, 7);
            REQUIRE(layerdb_set(db, k, 7, v, sizeof v) == LAYERDB_OK);
        }
        uint64_t size = file_size(path);
        if (size > biggest) biggest = size;
    }
    /* Settle: once no compaction runs, one more write checks the
     * trigger again; then the file holds the data and what was written
     * during the last compaction, at most one write. */
    wait_idle(db);
    REQUIRE(layerdb_set(db, "last", 4, "1", 1) == LAYERDB_OK);
    wait_idle(db);
    REQUIRE(layerdb_flush(db) == LAYERDB_OK);
    layerdb_info info;
    REQUIRE(layerdb_info_get(db, &info) == LAYERDB_OK);
    uint64_t size = file_size(path);
    printf("# %llu compactions; file %llu bytes, live %llu, largest seen %llu\n",
           (unsigned long long)info.compactions, (unsigned long long)size,
           (unsigned long long)info.live_bytes, (unsigned long long)biggest);
    CHECK(info.compactions >= 1); /* how many depends on the speed of the disk: not checked */
    CHECK(size <= 2 * info.live_bytes);
    CHECK(info.file_bytes == size);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db("bounded.db", &o);
    REQUIRE(db);
    REQUIRE(layerdb_info_get(db, &info) == LAYERDB_OK);
    CHECK(info.keys == 100001);
    for (int i = 0; i < 100000; i += 997) {
        char k[16], v[100];
        snprintf(k, sizeof k, "k%06d", i);
        memset(v, 'a' + 49 % 26, sizeof v);
        memcpy(v, k, 7);
        char got[128];
        size_t n;
        CHECK(layerdb_get_copy(db, k, 7, got, sizeof got, &n) == LAYERDB_OK && n == 100 &&
              memcmp(got, v, 100) == 0);
    }
    layerdb_close(db);
}

/* ---- Commands, info, errors ---- */

TEST("BGREWRITEAOF starts a compaction; a second one while it runs is refused") {
    layerdb_options o = manual_options();
    layerdb *db = open_db("bg.db", &o);
    REQUIRE(db);
    fill(db, 2, 30000);
    EXPECT(db, "BGREWRITEAOF", "+Background append only file rewriting started");
    const char *second = cmd(db, "BGREWRITEAOF");
    layerdb_info info;
    REQUIRE(layerdb_info_get(db, &info) == LAYERDB_OK);
    /* Either it still runs (refused) or it ended (a new one started). */
    CHECK(strcmp(second, "-ERR Background append only file rewriting already in progress") == 0 ||
          strcmp(second, "+Background append only file rewriting started") == 0);
    CHECK_RC(layerdb_compact(db, LAYERDB_COMPACT_WAIT), LAYERDB_OK);
    wait_idle(db);
    REQUIRE(layerdb_info_get(db, &info) == LAYERDB_OK);
    CHECK(info.compactions >= 1 && info.compacting == 0);
    EXPECT(db, "MULTI", "+OK");
    EXPECT(db, "BGREWRITEAOF", "+QUEUED");
    const char *r = cmd(db, "EXEC");
    CHECK(strcmp(r, "[+Background append only file rewriting started]") == 0 ||
          strcmp(r, "[-ERR Background append only file rewriting already in progress]") == 0);
    CHECK_RC(layerdb_close(db), LAYERDB_OK); /* cancels or ends the one EXEC started */
    CHECK(access(test_path("bg.db.compact"), F_OK) != 0);
    db = open_db("bg.db", &o);
    REQUIRE(db);
    EXPECT(db, "GET counter", "$41");
    EXPECT(db, "GET key:7", "$round 1 value 7 ........................................");
    layerdb_close(db);
}

TEST("compaction without a file, or read-only, is refused clearly") {
    layerdb_options o = manual_options();
    layerdb *db = open_db(NULL, &o);
    REQUIRE(db);
    CHECK_RC(layerdb_compact(db, 0), LAYERDB_INVALID);
    CHECK(strstr(layerdb_errmsg(db), "no log file") != NULL);
    EXPECT(db, "BGREWRITEAOF", "-ERR no log file to compact: persistence is off or the handle is read-only");
    CHECK_RC(layerdb_compact(db, 2), LAYERDB_INVALID);
    layerdb_close(db);
    db = open_db("ro.db", &o);
    REQUIRE(db);
    CHECK_RC(layerdb_set(db, "k", 1, "v", 1), LAYERDB_OK);
    layerdb_close(db);
    o.readonly = 1;
    db = open_db("ro.db", &o);
    REQUIRE(db);
    CHECK_RC(layerdb_compact(db, LAYERDB_COMPACT_WAIT), LAYERDB_READONLY);
    layerdb_close(db);
    layerdb_options_init(&o);
    o.compact_factor = 0.5;
    CHECK_RC(layerdb_open(&db, test_path("bad.db"), &o), LAYERDB_INVALID);
    CHECK(strstr(layerdb_errmsg(db), "compact_factor") != NULL);
    layerdb_close(db);
}

TEST("a compaction that fails (disk full) leaves the old file in use and the handle working") {
    layerdb_options o = manual_options();
    const char *path = test_path("full.db");
    layerdb *db = open_db("full.db", &o);
    REQUIRE(db);
    fill(db, 3, 3000);
    REQUIRE(layerdb_flush(db) == LAYERDB_OK);
    uint64_t before = file_size(path);
    char *want = dump_state(db);
    /* The writer thread is idle (all flushed): the next writes are the
     * compaction's own, the header and then its first batch of records. */
    ldb_fault_plan(LDB_FAULT_WRITE, 2, ENOSPC, 0);
    CHECK_RC(layerdb_compact(db, LAYERDB_COMPACT_WAIT), LAYERDB_FULL);
    ldb_fault_plan(LDB_FAULT_WRITE, 0, 0, 0);
    printf("# %s\n", layerdb_errmsg(db));
    CHECK(strstr(layerdb_errmsg(db), "full.db.compact") != NULL);
    CHECK(access(test_path("full.db.compact"), F_OK) != 0);
    CHECK(file_size(path) == before);
    layerdb_info info;
    REQUIRE(layerdb_info_get(db, &info) == LAYERDB_OK);
    CHECK(info.compactions == 0 && info.compacting == 0);
    CHECK_RC(layerdb_set(db, "later", 5, "1", 1), LAYERDB_OK); /* the handle carries on */
    CHECK_RC(layerdb_compact(db, LAYERDB_COMPACT_WAIT), LAYERDB_OK);
    CHECK(file_size(path) < before);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db("full.db", &o);
    REQUIRE(db);
    CHECK_RC(layerdb_remove(db, "later", 5), LAYERDB_OK);
    char *got = dump_state(db);
    CHECK(strcmp(got, want) == 0);
    layerdb_close(db);
    free(want);
    free(got);
}

TEST("a compaction left behind by a crash is removed at open") {
    layerdb_options o = manual_options();
    FILE *f = fopen(test_path("left.db.compact"), "wb");
    REQUIRE(f);
    fputs("half a compaction", f);
    fclose(f);
    layerdb *db = open_db("left.db", &o);
    REQUIRE(db);
    CHECK(access(test_path("left.db.compact"), F_OK) != 0);
    layerdb_close(db);
}

int main(void) { return test_main(); }
