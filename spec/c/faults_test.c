/* faults_test.c -- disk errors forced through the syscall seam in src/os.c
 * (built with LAYERDB_FAULTS for tests): a failed write, a failed fsync, a
 * full disk, a short write, a failed read or fsync at open. Each error must
 * reach the caller, stick, and never be reported as success; reopening must
 * keep everything acknowledged before it. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "layerdb.h"
#include "os.h"
#include "test.h"

static void clear_faults(void) {
    for (int op = 0; op < LDB_FAULT_NOPS; op++) ldb_fault_plan(op, 0, 0, 0);
}

static layerdb *open_policy(const char *path, int policy) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.fsync = policy;
    layerdb *db = NULL;
    if (layerdb_open(&db, path, &o) != LAYERDB_OK) {
        printf("# open: %s\n", layerdb_errmsg(db));
        layerdb_close(db);
        return NULL;
    }
    return db;
}

static int set_i(layerdb *db, int i) {
    char k[32];
    snprintf(k, sizeof k, "key%d", i);
    return layerdb_set(db, k, strlen(k), k, strlen(k));
}

static int has_i(layerdb *db, int i) {
    char k[32];
    snprintf(k, sizeof k, "key%d", i);
    return layerdb_get(db, k, strlen(k), NULL, NULL) == LAYERDB_OK;
}

/* Reopen path and count keys 0..n-1 present. */
static int count_keys(const char *path, int n) {
    layerdb *db = open_policy(path, LAYERDB_FSYNC_EVERYSEC);
    if (!db) return -1;
    int c = 0;
    for (int i = 0; i < n; i++) c += has_i(db, i);
    layerdb_close(db);
    return c;
}

TEST("a failed background write reaches the next flush, every later set and close") {
    const char *path = test_path("eio.db");
    layerdb *db = open_policy(path, LAYERDB_FSYNC_EVERYSEC);
    REQUIRE(db);
    for (int i = 0; i < 10; i++) CHECK_RC(set_i(db, i), LAYERDB_OK);
    CHECK_RC(layerdb_flush(db), LAYERDB_OK);
    ldb_fault_plan(LDB_FAULT_WRITE, 1, EIO, 0);
    CHECK_RC(set_i(db, 10), LAYERDB_OK); /* queued: the disk is not touched yet */
    CHECK_RC(layerdb_flush(db), LAYERDB_IOERR);
    CHECK(strstr(layerdb_errmsg(db), "write '") != NULL);
    CHECK(strstr(layerdb_errmsg(db), "Input/output error") != NULL);
    CHECK(strstr(layerdb_errmsg(db), path) != NULL);
    printf("# %s\n", layerdb_errmsg(db));
    CHECK_RC(set_i(db, 11), LAYERDB_IOERR);
    CHECK(!has_i(db, 11)); /* a write that could not be logged is not visible */
    CHECK(has_i(db, 5));   /* reads still work */
    CHECK_RC(layerdb_flush(db), LAYERDB_IOERR);
    CHECK_RC(layerdb_close(db), LAYERDB_IOERR);
    clear_faults();
    CHECK(count_keys(path, 12) == 10);
}

TEST("a failed fsync under always fails that set and every later one, never success") {
    const char *path = test_path("fsync.db");
    layerdb *db = open_policy(path, LAYERDB_FSYNC_ALWAYS);
    REQUIRE(db);
    for (int i = 0; i < 5; i++) CHECK_RC(set_i(db, i), LAYERDB_OK);
    ldb_fault_plan(LDB_FAULT_SYNC, 1, EIO, 0);
    CHECK_RC(set_i(db, 5), LAYERDB_IOERR);
    CHECK(strstr(layerdb_errmsg(db), "fsync '") != NULL);
    /* The next fsync would succeed, but the pages may already be lost. */
    CHECK_RC(set_i(db, 6), LAYERDB_IOERR);
    CHECK_RC(layerdb_remove(db, "key1", 4), LAYERDB_IOERR);
    CHECK(has_i(db, 1));
    CHECK_RC(layerdb_flush(db), LAYERDB_IOERR);
    CHECK_RC(layerdb_close(db), LAYERDB_IOERR);
    clear_faults();
    CHECK(count_keys(path, 5) == 5);
}

/* Run a command given as words on db; its code, with the reply freed. */
static int command_rc(layerdb *db, const char *line, char *reply_type) {
    char words[256];
    const char *argv[16];
    int argc = 0;
    snprintf(words, sizeof words, "%s", line);
    for (char *w = strtok(words, " "); w && argc < 16; w = strtok(NULL, " ")) argv[argc++] = w;
    layerdb_reply *r = NULL;
    int rc = layerdb_command(db, argc, argv, NULL, &r);
    if (reply_type) *reply_type = r ? (char)r->type : 0;
    layerdb_reply_free(r);
    return rc;
}

TEST("after a disk error, write commands and EXEC change nothing; reads still answer") {
    const char *path = test_path("cmd-eio.db");
    layerdb *db = open_policy(path, LAYERDB_FSYNC_EVERYSEC);
    REQUIRE(db);
    CHECK_RC(command_rc(db, "SET n 1", NULL), LAYERDB_OK);
    CHECK_RC(command_rc(db, "EXPIREAT n 4000000000", NULL), LAYERDB_OK);
    CHECK_RC(layerdb_flush(db), LAYERDB_OK);
    ldb_fault_plan(LDB_FAULT_WRITE, 1, EIO, 0);
    CHECK_RC(command_rc(db, "INCR n", NULL), LAYERDB_OK); /* queued before the write fails */
    CHECK_RC(layerdb_flush(db), LAYERDB_IOERR);
    char type;
    CHECK_RC(command_rc(db, "INCR n", NULL), LAYERDB_IOERR);
    CHECK_RC(command_rc(db, "SET other x", NULL), LAYERDB_IOERR);
    CHECK_RC(command_rc(db, "PERSIST n", NULL), LAYERDB_IOERR);
    CHECK_RC(command_rc(db, "MULTI", NULL), LAYERDB_OK);
    CHECK_RC(command_rc(db, "SET other y", &type), LAYERDB_OK); /* queueing writes nothing */
    CHECK(type == LAYERDB_REPLY_STATUS);
    CHECK_RC(command_rc(db, "EXEC", NULL), LAYERDB_IOERR);
    const void *v;
    size_t len;
    CHECK_RC(layerdb_get(db, "n", 1, &v, &len), LAYERDB_OK); /* reads still work */
    CHECK(len == 1 && memcmp(v, "2", 1) == 0);
    CHECK_RC(layerdb_get(db, "other", 5, &v, &len), LAYERDB_NOTFOUND);
    CHECK_RC(command_rc(db, "EXPIRETIME n", &type), LAYERDB_OK);
    CHECK(type == LAYERDB_REPLY_INTEGER);
    CHECK_RC(layerdb_close(db), LAYERDB_IOERR);
    clear_faults();
    db = open_policy(path, LAYERDB_FSYNC_EVERYSEC);
    REQUIRE(db);
    CHECK_RC(layerdb_get(db, "n", 1, &v, &len), LAYERDB_OK); /* what was flushed */
    CHECK(len == 1 && memcmp(v, "1", 1) == 0);
    CHECK_RC(layerdb_get(db, "other", 5, &v, &len), LAYERDB_NOTFOUND);
    layerdb_close(db);
}

TEST("a full disk in the writer is LAYERDB_FULL with the errno text") {
    const char *path = test_path("enospc.db");
    layerdb *db = open_policy(path, LAYERDB_FSYNC_ALWAYS);
    REQUIRE(db);
    for (int i = 0; i < 5; i++) CHECK_RC(set_i(db, i), LAYERDB_OK);
    ldb_fault_plan(LDB_FAULT_WRITE, 1, ENOSPC, 0);
    CHECK_RC(set_i(db, 5), LAYERDB_FULL);
    CHECK(strstr(layerdb_errmsg(db), "No space left on device") != NULL);
    CHECK_RC(set_i(db, 6), LAYERDB_FULL);
    CHECK_RC(layerdb_close(db), LAYERDB_FULL);
    clear_faults();
    CHECK(count_keys(path, 7) == 5);
}

/* An allocator that counts live blocks, from any thread. */
static atomic_long live_blocks;
static void *live_malloc(size_t n, void *ud) {
    (void)ud;
    void *p = malloc(n);
    if (p) atomic_fetch_add(&live_blocks, 1);
    return p;
}
static void *live_realloc(void *p, size_t n, void *ud) {
    (void)ud;
    void *q = realloc(p, n);
    if (q && !p) atomic_fetch_add(&live_blocks, 1);
    return q;
}
static void live_free(void *p, void *ud) {
    (void)ud;
    if (p) atomic_fetch_sub(&live_blocks, 1);
    free(p);
}

TEST("a failed write while dropped entries wait for the writer frees every one of them") {
    const char *path = test_path("eio-drop.db");
    layerdb_options o;
    layerdb_options_init(&o);
    o.alloc.malloc = live_malloc;
    o.alloc.realloc = live_realloc;
    o.alloc.free = live_free;
    atomic_store(&live_blocks, 0);
    layerdb *db = NULL;
    CHECK_RC(layerdb_open(&db, path, &o), LAYERDB_OK);
    REQUIRE(db);
    for (int i = 0; i < 1000; i++) CHECK_RC(set_i(db, i), LAYERDB_OK);
    CHECK_RC(layerdb_flush(db), LAYERDB_OK);
    ldb_fault_plan(LDB_FAULT_WRITE, 1, EIO, 0);
    /* Overwrites and removes drop entries whose sets may still wait; those
     * queued before the failure shows wait in batches never written. */
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < 1000; i++) {
            int rc = (i + round) % 3 ? set_i(db, i) : layerdb_remove(db, "key1", 4);
            CHECK(rc == LAYERDB_OK || rc == LAYERDB_IOERR || rc == LAYERDB_NOTFOUND);
        }
    CHECK_RC(layerdb_flush(db), LAYERDB_IOERR);
    CHECK_RC(layerdb_close(db), LAYERDB_IOERR);
    CHECK(atomic_load(&live_blocks) == 0);
    clear_faults();
    CHECK(count_keys(path, 1000) == 1000);
}

TEST("a short write then an error leaves a file that reopens with every acknowledged key") {
    const char *path = test_path("short.db");
    layerdb *db = open_policy(path, LAYERDB_FSYNC_ALWAYS);
    REQUIRE(db);
    for (int i = 0; i < 20; i++) CHECK_RC(set_i(db, i), LAYERDB_OK);
    ldb_fault_plan(LDB_FAULT_WRITE, 1, EIO, 7);
    CHECK_RC(set_i(db, 20), LAYERDB_IOERR);
    layerdb_close(db);
    clear_faults();
    CHECK(count_keys(path, 21) == 20);
}

TEST("a failed fsync while opening fails the open") {
    const char *path = test_path("open-fsync.db");
    layerdb *db = open_policy(path, LAYERDB_FSYNC_EVERYSEC);
    REQUIRE(db);
    CHECK_RC(set_i(db, 0), LAYERDB_OK);
    layerdb_close(db);
    ldb_fault_plan(LDB_FAULT_SYNC, 1, EIO, 0);
    db = NULL;
    CHECK_RC(layerdb_open(&db, path, NULL), LAYERDB_IOERR);
    CHECK(strstr(layerdb_errmsg(db), "fsync") != NULL);
    layerdb_close(db);
    clear_faults();
    CHECK(count_keys(path, 1) == 1);
}

TEST("a failed read while opening fails the open naming the file") {
    const char *path = test_path("open-read.db");
    layerdb *db = open_policy(path, LAYERDB_FSYNC_EVERYSEC);
    REQUIRE(db);
    CHECK_RC(set_i(db, 0), LAYERDB_OK);
    layerdb_close(db);
    ldb_fault_plan(LDB_FAULT_READ, 1, EIO, 0);
    db = NULL;
    CHECK_RC(layerdb_open(&db, path, NULL), LAYERDB_IOERR);
    CHECK(strstr(layerdb_errmsg(db), "read '") != NULL);
    CHECK(strstr(layerdb_errmsg(db), "Input/output error") != NULL);
    layerdb_close(db);
    clear_faults();
    CHECK(count_keys(path, 1) == 1);
}

TEST("a failed write while creating a file fails the open") {
    const char *path = test_path("create-fail.db");
    ldb_fault_plan(LDB_FAULT_WRITE, 1, ENOSPC, 0);
    layerdb *db = NULL;
    CHECK_RC(layerdb_open(&db, path, NULL), LAYERDB_FULL);
    CHECK(strstr(layerdb_errmsg(db), "create '") != NULL);
    layerdb_close(db);
    clear_faults();
    CHECK(count_keys(path, 1) == 0); /* and the file opens later */
}

int main(void) { return test_main(); }
