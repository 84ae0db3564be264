/* bench_lmdb.c -- LMDB's rows, at durability close to layerdb's policies:
 *  - MDB_NOSYNC, one put per write txn          ~ fsync "no"
 *  - default (sync at commit), one put per txn  ~ fsync "always" (bounded)
 *  - default, 1000 puts per txn                 batching done by the caller:
 *    a crash loses the open batch, so it is not per-write durability
 *  - gets: a read txn per get (mdb_txn_renew/reset, LMDB's cheap reuse) and
 *    mdb_get, in random order over the NOSYNC database (if its timed load
 *    was bounded, the rest is put untimed first).
 * Each database is one file (MDB_NOSUBDIR) plus its lock file in b->dir. */
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define ENGINE "LMDB"
#define BATCH_PUTS 1000
#define FILL_PUTS 10000  /* puts per txn when filling untimed */

struct lmdb_db {
    MDB_env *env;
    MDB_dbi dbi;
};

static void check(struct bench *b, int rc, const char *what) {
    if (rc != MDB_SUCCESS) bench_die(b, "LMDB %s: %s", what, mdb_strerror(rc));
}

/* ---- Environments ---- */

/* Room for every key with B-tree overhead, copy-on-write and free pages;
 * the file is sparse, so a generous map costs nothing. */
static size_t map_bytes(const struct bench *b) {
    return ((size_t)64 << 20) + b->nkeys * 1024;
}

static struct lmdb_db open_db(struct bench *b, const char *name,
                              unsigned flags) {
    struct lmdb_db d;
    char path[PATH_MAX];
    MDB_txn *txn;
    bench_path(b, name, path);
    check(b, mdb_env_create(&d.env), "mdb_env_create");
    check(b, mdb_env_set_mapsize(d.env, map_bytes(b)), "mdb_env_set_mapsize");
    check(b, mdb_env_open(d.env, path, MDB_NOSUBDIR | flags, 0644),
          "mdb_env_open");
    check(b, mdb_txn_begin(d.env, NULL, 0, &txn), "mdb_txn_begin");
    check(b, mdb_dbi_open(txn, NULL, 0, &d.dbi), "mdb_dbi_open");
    check(b, mdb_txn_commit(txn), "mdb_txn_commit");
    return d;
}

static void close_db(struct bench *b, struct lmdb_db *d) {
    mdb_env_close(d->env);
    bench_clear_dir(b);
}

/* ---- Puts ---- */

static void put(struct bench *b, MDB_txn *txn, MDB_dbi dbi, size_t i) {
    char val[BENCH_VAL_LEN];
    MDB_val k = {BENCH_KEY_LEN, (void *)bench_key(b, i)};
    MDB_val v = {BENCH_VAL_LEN, val};
    bench_value(b, i, val);
    check(b, mdb_put(txn, dbi, &k, &v, 0), "mdb_put");
}

/* Put keys [first, end) in txns of 'batch' puts, stopping after 'seconds'
 * if > 0 (checked at each commit). Returns the keys committed; *elapsed
 * is the time they took. */
static size_t load(struct bench *b, struct lmdb_db *d, size_t first,
                   size_t end, size_t batch, double seconds, double *elapsed) {
    double start = bench_now();
    size_t i = first;
    while (i < end) {
        MDB_txn *txn;
        size_t stop = bench_min(end, i + batch);
        check(b, mdb_txn_begin(d->env, NULL, 0, &txn), "mdb_txn_begin");
        for (; i < stop; i++) put(b, txn, d->dbi, i);
        check(b, mdb_txn_commit(txn), "mdb_txn_commit");
        if (seconds > 0 && bench_now() - start >= seconds) break;
    }
    *elapsed = bench_now() - start;
    return i - first;
}

/* A timed load of up to 'count' keys into a new database; adds the row.
 * Returns the database, open, and the keys it holds in *done. */
static struct lmdb_db set_row(struct bench *b, const char *name,
                              unsigned flags, size_t count, size_t batch,
                              double seconds, const char *test,
                              const char *notes, size_t *done) {
    double secs;
    bench_progress("LMDB %s", test);
    bench_settle(b);
    struct lmdb_db d = open_db(b, name, flags);
    *done = load(b, &d, 0, count, batch, seconds, &secs);
    bench_add_ops(b, ENGINE, test, *done, secs, notes);
    return d;
}

/* ---- Gets ---- */

static int get_matches(struct bench *b, struct lmdb_db *d, MDB_txn *txn,
                       size_t i) {
    char want[BENCH_VAL_LEN];
    MDB_val k = {BENCH_KEY_LEN, (void *)bench_key(b, i)}, v;
    bench_value(b, i, want);
    check(b, mdb_txn_renew(txn), "mdb_txn_renew");
    int rc = mdb_get(txn, d->dbi, &k, &v);
    int ok = rc == MDB_SUCCESS && v.mv_size == BENCH_VAL_LEN &&
             memcmp(v.mv_data, want, BENCH_VAL_LEN) == 0;
    mdb_txn_reset(txn);
    return ok;
}

static void get_row(struct bench *b, struct lmdb_db *d) {
    MDB_txn *txn;
    size_t wrong = 0;
    bench_progress("LMDB get, random order");
    check(b, mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin");
    mdb_txn_reset(txn);
    double start = bench_now();
    for (size_t j = 0; j < b->nkeys; j++)
        wrong += !get_matches(b, d, txn, b->get_order[j]);
    double secs = bench_now() - start;
    mdb_txn_abort(txn);
    if (wrong > 0) bench_fail(b, "LMDB get: %zu of %zu keys wrong or missing",
                              wrong, b->nkeys);
    bench_add_ops(b, ENGINE, "get, random order", b->nkeys, secs,
                  "one reader; a read txn (renew/reset) + mdb_get per key");
}

/* ---- All LMDB rows ---- */

void bench_lmdb(struct bench *b) {
    size_t done;
    double secs;
    struct lmdb_db d = set_row(b, "nosync.mdb", MDB_NOSYNC, b->nkeys, 1,
        BENCH_MAX_SECONDS, "set, MDB_NOSYNC, 1 put per txn",
        "~ fsync no: the OS decides when pages reach the disk", &done);
    load(b, &d, done, b->nkeys, FILL_PUTS, 0, &secs); /* the rest, untimed */
    get_row(b, &d);
    close_db(b, &d);
    d = set_row(b, "sync.mdb", 0, bench_min(b->nkeys, BENCH_SYNC_KEYS), 1,
                BENCH_SYNC_SECONDS, "set, sync, 1 put per txn",
                "~ fsync always: fsync at every commit", &done);
    close_db(b, &d);
    d = set_row(b, "batch.mdb", 0, b->nkeys, BATCH_PUTS, BENCH_MAX_SECONDS,
                "set, sync, 1000 puts per txn", "caller batching, not group "
                "commit: a crash loses the open batch of up to 999 puts",
                &done);
    close_db(b, &d);
}
