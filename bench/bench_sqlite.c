/* bench_sqlite.c -- SQLite's rows, at durability close to layerdb's
 * policies. Every database is in WAL mode, with one table
 *   kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID
 * and a prepared INSERT OR REPLACE, one autocommit txn per insert:
 *  - synchronous=OFF     ~ fsync "no": SQLite never fsyncs
 *  - synchronous=NORMAL  fsync at checkpoints only: a power loss may lose
 *                        the latest commits, ~ between "no" and "everysec"
 *  - synchronous=FULL    ~ fsync "always": the WAL is fsynced per commit
 *                        (bounded run)
 *  - gets: a prepared SELECT per key, random order, on the OFF database
 *    (if its timed load was bounded, the rest is inserted untimed first).
 * cache_size is raised to 256 MiB so the whole table fits in SQLite's page
 * cache, as layerdb's table and LMDB's map are in memory. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define ENGINE "SQLite"
#define INSERT_SQL "INSERT OR REPLACE INTO kv(k, v) VALUES (?1, ?2)"
#define SELECT_SQL "SELECT v FROM kv WHERE k = ?1"

/* ---- Connections ---- */

static void exec(struct bench *b, sqlite3 *db, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        bench_die(b, "SQLite '%s': %s", sql, err ? err : sqlite3_errmsg(db));
}

/* Open a new database file 'name' with PRAGMA synchronous = 'sync'. */
static sqlite3 *open_db(struct bench *b, const char *name, const char *sync) {
    char path[PATH_MAX], pragma[64];
    sqlite3 *db;
    bench_path(b, name, path);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK)
        bench_die(b, "sqlite3_open_v2 '%s': %s", path, sqlite3_errmsg(db));
    exec(b, db, "PRAGMA journal_mode=WAL");
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", sync);
    exec(b, db, pragma);
    exec(b, db, "PRAGMA cache_size=-262144");
    exec(b, db, "CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID");
    return db;
}

static void close_db(struct bench *b, sqlite3 *db) {
    if (sqlite3_close(db) != SQLITE_OK)
        bench_die(b, "sqlite3_close: %s", sqlite3_errmsg(db));
    bench_clear_dir(b);
}

static sqlite3_stmt *prepare(struct bench *b, sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        bench_die(b, "SQLite prepare '%s': %s", sql, sqlite3_errmsg(db));
    return st;
}

/* ---- Inserts ---- */

static void insert(struct bench *b, sqlite3 *db, sqlite3_stmt *st, size_t i) {
    char val[BENCH_VAL_LEN];
    bench_value(b, i, val);
    sqlite3_bind_blob(st, 1, bench_key(b, i), BENCH_KEY_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, val, BENCH_VAL_LEN, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        bench_die(b, "SQLite insert: %s", sqlite3_errmsg(db));
    sqlite3_reset(st);
}

/* Insert keys [first, end), one autocommit txn each unless the caller
 * opened one, stopping after 'seconds' if > 0. Returns the keys inserted;
 * *elapsed is the time they took. */
static size_t load(struct bench *b, sqlite3 *db, size_t first, size_t end,
                   double seconds, double *elapsed) {
    sqlite3_stmt *st = prepare(b, db, INSERT_SQL);
    double start = bench_now();
    size_t i = first;
    while (i < end) {
        insert(b, db, st, i++);
        if (seconds > 0 && bench_now() - start >= seconds) break;
    }
    *elapsed = bench_now() - start;
    sqlite3_finalize(st);
    return i - first;
}

/* Insert keys [first, nkeys) in one txn, untimed: the rest a bounded run
 * left out, so the gets find every key. Then checkpoint, so the gets read
 * the database file and not a long WAL. */
static void fill(struct bench *b, sqlite3 *db, size_t first) {
    double secs;
    exec(b, db, "BEGIN");
    load(b, db, first, b->nkeys, 0, &secs);
    exec(b, db, "COMMIT");
    exec(b, db, "PRAGMA wal_checkpoint(TRUNCATE)");
}

/* A timed load of up to 'count' keys into a new database; adds the row.
 * Returns the connection, open, and the keys it holds in *done. */
static sqlite3 *set_row(struct bench *b, const char *name, const char *sync,
                        size_t count, double seconds, const char *notes,
                        size_t *done) {
    char test[64];
    double secs;
    snprintf(test, sizeof test, "set, WAL, synchronous=%s", sync);
    bench_progress("SQLite %s", test);
    bench_settle(b);
    sqlite3 *db = open_db(b, name, sync);
    *done = load(b, db, 0, count, seconds, &secs);
    bench_add_ops(b, ENGINE, test, *done, secs, notes);
    return db;
}

/* ---- Gets ---- */

static int get_matches(struct bench *b, sqlite3_stmt *st, size_t i) {
    char want[BENCH_VAL_LEN];
    bench_value(b, i, want);
    sqlite3_bind_blob(st, 1, bench_key(b, i), BENCH_KEY_LEN, SQLITE_STATIC);
    int ok = sqlite3_step(st) == SQLITE_ROW &&
             sqlite3_column_bytes(st, 0) == BENCH_VAL_LEN &&
             memcmp(sqlite3_column_blob(st, 0), want, BENCH_VAL_LEN) == 0;
    sqlite3_reset(st);
    return ok;
}

static void get_row(struct bench *b, sqlite3 *db) {
    size_t wrong = 0;
    bench_progress("SQLite get, random order");
    sqlite3_stmt *st = prepare(b, db, SELECT_SQL);
    double start = bench_now();
    for (size_t j = 0; j < b->nkeys; j++)
        wrong += !get_matches(b, st, b->get_order[j]);
    double secs = bench_now() - start;
    sqlite3_finalize(st);
    if (wrong > 0) bench_fail(b, "SQLite get: %zu of %zu keys wrong or "
                              "missing", wrong, b->nkeys);
    bench_add_ops(b, ENGINE, "get, random order", b->nkeys, secs,
                  "one reader; prepared SELECT per key");
}

/* ---- All SQLite rows ---- */

void bench_sqlite(struct bench *b) {
    size_t done;
    sqlite3 *db = set_row(b, "off.sqlite", "OFF", b->nkeys, BENCH_MAX_SECONDS,
                          "~ fsync no: SQLite never fsyncs, the OS decides",
                          &done);
    fill(b, db, done);
    get_row(b, db);
    close_db(b, db);
    db = set_row(b, "normal.sqlite", "NORMAL", b->nkeys, BENCH_MAX_SECONDS,
                 "fsync at checkpoints only: a power loss may lose the "
                 "latest commits", &done);
    close_db(b, db);
    db = set_row(b, "full.sqlite", "FULL", bench_min(b->nkeys,
                 BENCH_SYNC_KEYS), BENCH_SYNC_SECONDS,
                 "~ fsync always: WAL fsynced at every commit", &done);
    close_db(b, db);
}
