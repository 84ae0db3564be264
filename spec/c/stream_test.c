/* stream_test.c -- the writer thread under a stream of sets, and its guards.
 *
 * A set never waits for the disk, so the writer thread must take batches
 * off the callers while they keep the handle's lock busy. However it is
 * scheduled, one bound holds, and it is what this file checks: no batch the
 * thread writes holds more than max(max_pending_bytes, a SYNCED record plus
 * the largest record) bytes. ldb_writer_reserve_slow (writer.c) lets a
 * record into a batch already holding some only if the batch's charge
 * (>= its bytes) stays within max_pending, and the fast path in writer.h
 * keeps charge + need within fast_limit <= max_pending; only an empty batch
 * takes a record of any size, after the SYNCED record maybe_mark_synced
 * may put first. How far below the bound the batches stay depends on the
 * machine's load, which is not tested here: make bench reports the
 * largest batch of its runs.
 * Also here: the writer's own guard against a record too large to log. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "layerdb.h"
#include "test.h"
#include "writer.h"

#define STREAM_SETS 200000
#define KEY_LEN 16
#define VALUE_LEN 100
#define MAX_PENDING (64 * 1024) /* small, so that a stream reaches it */

/* What the writer lets one batch hold, in bytes of the file: up to
 * max_pending, or one record of any size alone after a SYNCED record. */
static uint64_t batch_bound(size_t max_pending, size_t largest_record) {
    size_t alone = LDB_SYNCED_RECORD_SIZE + largest_record;
    return max_pending > alone ? max_pending : alone;
}

/* Sets STREAM_SETS fresh keys as fast as one thread can with a small
 * max_pending_bytes; checks the largest batch against the bound and that
 * a reopen finds every key. */
static void stream_sets(const char *name, int policy) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.fsync = policy;
    o.max_pending_bytes = MAX_PENDING;
    layerdb *db = NULL;
    const char *path = test_path(name);
    CHECK_RC(layerdb_open(&db, path, &o), LAYERDB_OK);
    REQUIRE(db);
    /* Keys made beforehand: between two sets the lock is free only for
     * the instant of a loop turn, as in a real burst of writes. */
    static char keys[STREAM_SETS][KEY_LEN];
    for (int i = 0; i < STREAM_SETS; i++) {
        char key[KEY_LEN + 1];
        snprintf(key, sizeof key, "key%0*d", KEY_LEN - 3, i);
        memcpy(keys[i], key, KEY_LEN);
    }
    char val[VALUE_LEN];
    memset(val, 'v', sizeof val);
    int errors = 0;
    for (int i = 0; i < STREAM_SETS; i++)
        if (layerdb_set(db, keys[i], KEY_LEN, val, sizeof val) != LAYERDB_OK) errors++;
    CHECK(errors == 0);
    layerdb_info info;
    CHECK_RC(layerdb_flush(db), LAYERDB_OK);
    CHECK_RC(layerdb_info_get(db, &info), LAYERDB_OK);
    ldb_slice argv[3] = {{(const unsigned char *)"SET", 3},
                         {(const unsigned char *)keys[0], KEY_LEN},
                         {(const unsigned char *)val, VALUE_LEN}};
    uint64_t bound = batch_bound(MAX_PENDING, ldb_logfmt_command_record_size(3, argv));
    printf("# %s: %llu MB logged, largest batch %llu bytes (bound %llu)\n", name,
           (unsigned long long)(info.log_bytes >> 20), (unsigned long long)info.largest_batch_bytes,
           (unsigned long long)bound);
    CHECK(info.largest_batch_bytes > 0);
    CHECK(info.largest_batch_bytes <= bound);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = NULL;
    CHECK_RC(layerdb_open(&db, path, NULL), LAYERDB_OK);
    REQUIRE(db);
    CHECK_RC(layerdb_info_get(db, &info), LAYERDB_OK);
    CHECK(info.keys == STREAM_SETS);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
}

TEST("under a stream of sets no batch passes max_pending_bytes (everysec)") {
    stream_sets("stream-everysec.db", LAYERDB_FSYNC_EVERYSEC);
}

TEST("under a stream of sets no batch passes max_pending_bytes (no)") {
    stream_sets("stream-no.db", LAYERDB_FSYNC_NO);
}

TEST("a record larger than max_pending_bytes goes in a batch of its own") {
    layerdb_options o;
    layerdb_options_init(&o);
    o.max_pending_bytes = 1024;
    layerdb *db = NULL;
    const char *path = test_path("big-record.db");
    CHECK_RC(layerdb_open(&db, path, &o), LAYERDB_OK);
    REQUIRE(db);
    static char big[100000];
    memset(big, 'b', sizeof big);
    for (int i = 0; i < 20; i++) {
        CHECK_RC(layerdb_set(db, "small", 5, "s", 1), LAYERDB_OK);
        CHECK_RC(layerdb_set(db, &i, sizeof i, big, sizeof big), LAYERDB_OK);
    }
    CHECK_RC(layerdb_flush(db), LAYERDB_OK);
    layerdb_info info;
    CHECK_RC(layerdb_info_get(db, &info), LAYERDB_OK);
    ldb_slice argv[3] = {{(const unsigned char *)"SET", 3}, {(const unsigned char *)"kkkk", 4},
                         {(const unsigned char *)big, sizeof big}};
    size_t record = ldb_logfmt_command_record_size(3, argv);
    printf("# largest batch %llu bytes, record %zu\n", (unsigned long long)info.largest_batch_bytes, record);
    CHECK(info.largest_batch_bytes >= record); /* it was logged */
    CHECK(info.largest_batch_bytes <= batch_bound(o.max_pending_bytes, record)); /* and alone */
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
}

TEST("the writer refuses a record too large to log and stays usable") {
    /* No public call can ask for one today (keys and values are limited to
     * 512 MiB each), but a command with many large arguments could: its
     * record size is SIZE_MAX, which must not wrap around in the checks. */
    const char *path = test_path("toobig.log");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    ldb_alloc a;
    ldb_alloc_init(&a, NULL);
    ldb_rwlock lock;
    ldb_rwlock_init(&lock);
    ldb_writer_config cfg = {.fd = fd, .path = path, .policy = LAYERDB_FSYNC_NO,
                             .max_pending = 1 << 20, .lock = &lock};
    ldb_writer *w = NULL;
    char msg[256] = "";
    CHECK_RC(ldb_writer_start(&w, &a, &cfg, msg, sizeof msg), LAYERDB_OK);
    REQUIRE(w);
    ldb_rwlock_wrlock(&lock);
    CHECK_RC(ldb_writer_reserve(w, SIZE_MAX, msg, sizeof msg), LAYERDB_TOOBIG);
    CHECK(strstr(msg, "2 GiB") != NULL);
    ldb_slice argv[2] = {{(const unsigned char *)"DEL", 3}, {(const unsigned char *)"k", 1}};
    size_t need = ldb_logfmt_command_record_size(2, argv);
    CHECK_RC(ldb_writer_reserve(w, need, msg, sizeof msg), LAYERDB_OK);
    ldb_writer_encode(w, need, 2, argv);
    CHECK(ldb_writer_commit(w, need) == need);
    ldb_writer_finish(w);
    ldb_rwlock_wrunlock(&lock);
    CHECK_RC(ldb_writer_flush(w, msg, sizeof msg), LAYERDB_OK);
    CHECK_RC(ldb_writer_stop(w, msg, sizeof msg), LAYERDB_OK);
    CHECK(lseek(fd, 0, SEEK_END) >= (off_t)need);
    close(fd);
}

int main(void) { return test_main(); }
