/* active_expire_test.c -- keys past their deadline are reclaimed without
 * anyone touching them (src/active_expire.c): a stream of unrelated write
 * commands runs the bounded cycle, memory goes back, and each reclaimed
 * key is logged as a DEL, so a reopen does not bring the dead keys back.
 * How fast the cycle catches up depends on scheduling, so the test only
 * bounds how long it may take (a minute), never a rate. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layerdb.h"
#include "reply_text.h"
#include "test.h"

#define DEAD 3000

static long long dbsize(layerdb *db) {
    const char *got = cmd(db, "DBSIZE");
    return got[0] == ':' ? atoll(got + 1) : -1;
}

static uint64_t memory(layerdb *db) {
    layerdb_info info;
    layerdb_info_get(db, &info);
    return info.memory_bytes;
}

TEST("keys past their deadline are reclaimed by later writes, logged, and stay gone") {
    const char *name = "expire.db";
    layerdb *db = open_db(name, NULL);
    REQUIRE(db);
    char key[32], val[100];
    memset(val, 'v', sizeof val);
    /* Load with the plain call and give the deadlines in one EXEC: both
     * run no expiry cycle in between (only a write command's end does, and
     * EXEC's cycle sees its own clock, before the deadlines), so what
     * follows does not depend on how fast the loading went. */
    for (int i = 0; i < DEAD; i++) {
        int n = snprintf(key, sizeof key, "dead:%d", i);
        CHECK_RC(layerdb_set(db, key, (size_t)n, val, sizeof val), LAYERDB_OK);
    }
    CHECK_RC(layerdb_set(db, "keep", 4, "forever", 7), LAYERDB_OK);
    EXPECT(db, "MULTI", "+OK");
    char line[64];
    for (int i = 0; i < DEAD; i++) {
        snprintf(line, sizeof line, "PEXPIRE dead:%d 1", i);
        cmd(db, line);
    }
    const char *exec = cmd(db, "EXEC");
    CHECK(exec[0] == '[');
    uint64_t full = memory(db);
    usleep(20 * 1000); /* every deadline has passed */
    EXPECT(db, "GET dead:7", "(nil)"); /* invisible at once... */
    CHECK(dbsize(db) == DEAD + 1);     /* ...but still counted, as in Redis */
    /* Unrelated writes, a tenth of a second apart, until all are reclaimed
     * (each runs at most one bounded cycle), or a minute passes. */
    time_t give_up = time(NULL) + 60;
    int writes = 0;
    while (dbsize(db) > 2 && time(NULL) < give_up) {
        cmd(db, "INCR ticks");
        writes++;
        usleep(110 * 1000);
    }
    printf("# %d writes reclaimed %d dead keys\n", writes, DEAD);
    CHECK(dbsize(db) == 2); /* keep and ticks */
    CHECK(memory(db) < full); /* their memory went back */
    EXPECT(db, "GET keep", "$forever");
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    /* Each was logged as a DEL: the reopened file does not hold them. */
    db = open_db(name, NULL);
    REQUIRE(db);
    CHECK(dbsize(db) == 2);
    EXPECT(db, "EXISTS dead:0 dead:2999 keep", ":1");
    layerdb_close(db);
}

TEST("a handle that only reads keeps its dead keys invisible, and reclaims none") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    EXPECT(db, "SET a 1 PX 1", "+OK");
    usleep(20 * 1000);
    for (int i = 0; i < 3; i++) {
        EXPECT(db, "GET a", "(nil)");
        usleep(110 * 1000);
    }
    CHECK(dbsize(db) == 1); /* reads delete nothing: they log nothing */
    EXPECT(db, "SET b 2", "+OK"); /* the first write's cycle reclaims it */
    EXPECT(db, "DEL a", ":0");    /* (or this DEL, which names it): it was not there */
    CHECK(dbsize(db) == 1);
    layerdb_close(db);
}

int main(void) { return test_main(); }
