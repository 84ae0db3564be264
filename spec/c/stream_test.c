/* stream_test.c -- the writer thread keeps up with a stream of sets.
 *
 * A set never waits for the disk, so the writer thread must take batches
 * off the callers while they keep the handle's lock busy. When it could
 * not (it waited for that lock while sets went on), its batches grew to
 * the back-pressure bound, 64 MiB, and callers faulted in fresh buffer
 * pages for every batch. layerdb_info.largest_batch_bytes shows how far
 * the thread fell behind.
 *
 * Not run under valgrind (scripts/check.sh): valgrind runs one thread at a
 * time, so how far the thread falls behind there says nothing.
 * Also here: the writer's own guard against a record too large to log. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "layerdb.h"
#include "test.h"
#include "writer.h"

#define STREAM_SETS 500000
#define KEY_LEN 16
#define VALUE_LEN 100

/* Sets STREAM_SETS fresh keys as fast as one thread can and checks that
 * the handle's largest batch stays within max_batch bytes. */
static void stream_sets(const char *name, int policy, uint64_t max_batch) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.fsync = policy;
    layerdb *db = NULL;
    CHECK_RC(layerdb_open(&db, test_path(name), &o), LAYERDB_OK);
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
    printf("# %s: %llu MB logged, largest batch %llu KiB (bound %llu MiB)\n", name,
           (unsigned long long)(info.log_bytes >> 20),
           (unsigned long long)(info.largest_batch_bytes >> 10),
           (unsigned long long)(o.max_pending_bytes >> 20));
    CHECK(info.largest_batch_bytes > 0);
    CHECK(info.largest_batch_bytes <= max_batch);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
}

TEST("under a stream of sets the writer's batches stay far below the bound (everysec)") {
    /* The thread takes a batch every 256 KiB or so (up to 4 MiB seen when
     * a write stalls); 16 MiB is a quarter of the 64 MiB bound. The thread
     * that waited for the lock wrote batches of 6 to 50 MiB here, over
     * 16 MiB in most runs. */
    stream_sets("stream-everysec.db", LAYERDB_FSYNC_EVERYSEC, 16u << 20);
}

TEST("under a stream of sets the writer's batches stay far below the bound (no)") {
    stream_sets("stream-no.db", LAYERDB_FSYNC_NO, 16u << 20);
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
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    ldb_writer_config cfg = {.fd = fd, .path = path, .policy = LAYERDB_FSYNC_NO,
                             .max_pending = 1 << 20, .lock = &lock};
    ldb_writer *w = NULL;
    char msg[256] = "";
    CHECK_RC(ldb_writer_start(&w, &a, &cfg, msg, sizeof msg), LAYERDB_OK);
    REQUIRE(w);
    pthread_mutex_lock(&lock);
    CHECK_RC(ldb_writer_reserve(w, SIZE_MAX, msg, sizeof msg), LAYERDB_TOOBIG);
    CHECK(strstr(msg, "2 GiB") != NULL);
    ldb_slice argv[2] = {{(const unsigned char *)"DEL", 3}, {(const unsigned char *)"k", 1}};
    size_t need = ldb_logfmt_command_record_size(2, argv);
    CHECK_RC(ldb_writer_reserve(w, need, msg, sizeof msg), LAYERDB_OK);
    ldb_writer_encode(w, need, 2, argv);
    CHECK(ldb_writer_commit(w, need) == need);
    ldb_writer_finish(w);
    pthread_mutex_unlock(&lock);
    CHECK_RC(ldb_writer_flush(w, msg, sizeof msg), LAYERDB_OK);
    CHECK_RC(ldb_writer_stop(w, msg, sizeof msg), LAYERDB_OK);
    CHECK(lseek(fd, 0, SEEK_END) >= (off_t)need);
    close(fd);
}

int main(void) { return test_main(); }
