/* quickstart.c -- the C API in one page: open a database file, set, get,
 * remove, close, then reopen to show the data survived.
 *
 *   cc quickstart.c $(pkg-config --cflags --libs layerdb) -o quickstart
 *   ./quickstart game.db */
#include <stdio.h>
#include <string.h>

#include "layerdb.h"

static int fail(layerdb *db, const char *what) {
    fprintf(stderr, "%s: %s\n", what, layerdb_errmsg(db));
    layerdb_close(db);
    return 1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "quickstart.db";
    layerdb *db;
    if (layerdb_open(&db, path, NULL) != LAYERDB_OK) return fail(db, "open");

    if (layerdb_set(db, "player:1", 8, "Ada", 3) != LAYERDB_OK ||
        layerdb_set(db, "score:1", 7, "4200", 4) != LAYERDB_OK ||
        layerdb_set(db, "temp", 4, "scratch", 7) != LAYERDB_OK)
        return fail(db, "set");

    const void *val;
    size_t len;
    if (layerdb_get(db, "player:1", 8, &val, &len) == LAYERDB_OK)
        printf("player:1 = %.*s\n", (int)len, (const char *)val);
    if (layerdb_take(db, "temp", 4, &val, &len) == LAYERDB_OK)
        printf("removed temp (was %.*s)\n", (int)len, (const char *)val);
    if (layerdb_close(db) != LAYERDB_OK) return 1; /* flushes and fsyncs */

    /* Reopen: the log is replayed into memory. */
    if (layerdb_open(&db, path, NULL) != LAYERDB_OK) return fail(db, "reopen");
    layerdb_info info;
    layerdb_info_get(db, &info);
    int found = layerdb_get(db, "score:1", 7, &val, &len) == LAYERDB_OK;
    printf("reopened %s: %llu keys, score:1 = %.*s, temp %s\n", path,
           (unsigned long long)info.keys, found ? (int)len : 0, found ? (const char *)val : "",
           layerdb_get(db, "temp", 4, NULL, NULL) == LAYERDB_NOTFOUND ? "gone" : "still there");
    return layerdb_close(db) == LAYERDB_OK ? 0 : 1;
}
