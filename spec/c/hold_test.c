/* hold_test.c -- entries stay allocated while something holds them
 * (ldb_db_hold in db.h): a snapshot being written, or a reader thread,
 * reads entries without the lock for as long as it takes, while writers
 * overwrite and delete the keys. Under ASan (make check) a read of a
 * freed entry is an error report; here the values read are also compared,
 * and the memory the handle counts shows when the held entries go. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "db.h"
#include "layerdb.h"
#include "reply_text.h"
#include "test.h"

#define KEYS 2000
#define VLEN 200

static void value_of(int i, int round, char *v) {
    memset(v, 'a' + round % 26, VLEN);
    snprintf(v, VLEN, "%d/%d", i, round);
}

static uint64_t memory(layerdb *db) {
    layerdb_info info;
    layerdb_info_get(db, &info);
    return info.memory_bytes;
}

static void held_entries_survive(int persist) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.persistence = persist ? LAYERDB_PERSIST_ON : LAYERDB_PERSIST_OFF;
    layerdb *db = NULL;
    REQUIRE(layerdb_open(&db, persist ? test_path("hold.db") : NULL, &o) == LAYERDB_OK);
    char key[16], v[VLEN];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        value_of(i, 0, v);
        CHECK_RC(layerdb_set(db, key, strlen(key), v, VLEN), LAYERDB_OK);
    }
    /* Take a hold and the value pointers, as a snapshot would. */
    const void *seen[KEYS];
    uint64_t hold;
    ldb_db_lock(db);
    CHECK_RC(ldb_db_hold(db, &hold), LAYERDB_OK);
    ldb_db_unlock(db);
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK_RC(layerdb_get(db, key, strlen(key), &seen[i], NULL), LAYERDB_OK);
    }
    uint64_t before = memory(db);
    /* Other writers overwrite every key, delete half, flush the rest. */
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        value_of(i, 1, v);
        CHECK_RC(layerdb_set(db, key, strlen(key), v, VLEN), LAYERDB_OK);
        if (i % 2) CHECK_RC(layerdb_remove(db, key, strlen(key)), LAYERDB_OK);
    }
    EXPECT(db, "FLUSHALL", "+OK");
    /* The old values are all still there, unchanged. */
    int intact = 0;
    for (int i = 0; i < KEYS; i++) {
        value_of(i, 0, v);
        intact += memcmp(seen[i], v, VLEN) == 0;
    }
    CHECK(intact == KEYS); /* a freed entry would hold a newer value (the
                              overwrites reuse its memory), or fail ASan */
    CHECK(memory(db) >= before); /* nothing held was freed */
    /* Once the hold ends, the next write frees them. */
    ldb_db_lock(db);
    ldb_db_unhold(db, hold);
    ldb_db_unlock(db);
    CHECK_RC(layerdb_set(db, "after", 5, "x", 1), LAYERDB_OK);
    if (persist) {
        CHECK_RC(layerdb_flush(db), LAYERDB_OK);    /* the writer moves past its SET_REFs */
        CHECK_RC(layerdb_set(db, "after2", 6, "x", 1), LAYERDB_OK);
        CHECK_RC(layerdb_flush(db), LAYERDB_OK);
        CHECK_RC(layerdb_set(db, "after3", 6, "x", 1), LAYERDB_OK);
    }
    uint64_t after = memory(db);
    printf("# memory: %llu bytes held, %llu after the hold ended\n", (unsigned long long)before,
           (unsigned long long)after);
    /* The keys' entries went (with the writer thread, its grown batch
     * buffers count too, so only without it is the drop clean to see). */
    if (!persist) CHECK(after < before / 4);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
}

TEST("a hold keeps every dropped entry readable until it ends (persistence off)") {
    held_entries_survive(0);
}

TEST("a hold keeps every dropped entry readable until it ends (with the writer thread)") {
    held_entries_survive(1);
}

TEST("two holds: entries dropped after the first go only when both have ended") {
    layerdb *db = NULL;
    REQUIRE(layerdb_open(&db, NULL, NULL) == LAYERDB_OK);
    char v[VLEN];
    value_of(0, 0, v);
    CHECK_RC(layerdb_set(db, "k", 1, v, VLEN), LAYERDB_OK);
    uint64_t h1, h2;
    const void *p;
    ldb_db_lock(db);
    CHECK_RC(ldb_db_hold(db, &h1), LAYERDB_OK);
    ldb_db_unlock(db);
    CHECK_RC(layerdb_get(db, "k", 1, &p, NULL), LAYERDB_OK);
    CHECK_RC(layerdb_set(db, "k", 1, "new", 3), LAYERDB_OK); /* p is held by h1 */
    ldb_db_lock(db);
    CHECK_RC(ldb_db_hold(db, &h2), LAYERDB_OK);
    ldb_db_unhold(db, h1);
    ldb_db_collect(db); /* h2 began after p was dropped: p may go now */
    ldb_db_unlock(db);
    const void *q;
    CHECK_RC(layerdb_get(db, "k", 1, &q, NULL), LAYERDB_OK);
    CHECK_RC(layerdb_remove(db, "k", 1), LAYERDB_OK); /* q is held by h2 */
    CHECK(memcmp(q, "new", 3) == 0);
    ldb_db_lock(db);
    ldb_db_unhold(db, h2);
    ldb_db_unlock(db);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
}

TEST("no more than 8 holds at once") {
    layerdb *db = NULL;
    REQUIRE(layerdb_open(&db, NULL, NULL) == LAYERDB_OK);
    uint64_t h[9];
    ldb_db_lock(db);
    for (int i = 0; i < 8; i++) CHECK_RC(ldb_db_hold(db, &h[i]), LAYERDB_OK);
    CHECK_RC(ldb_db_hold(db, &h[8]), LAYERDB_NOMEM);
    for (int i = 0; i < 8; i++) ldb_db_unhold(db, h[i]);
    ldb_db_unlock(db);
    layerdb_close(db);
}

int main(void) { return test_main(); }
