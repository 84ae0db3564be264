/* db.h -- what the command layer needs of a handle (db.c), beyond the
 * public API: its lock, lookups and logged writes under that lock, and
 * waiting for durability after it.
 *
 * A command runs as: ldb_db_lock; lookups and writes (each write changes
 * the table and queues its log record, or changes nothing and returns an
 * engine code with the handle's message set); ldb_db_unlock; then
 * ldb_db_wait_durable with the last write's end, which under FSYNC_ALWAYS
 * waits for the fsync outside the lock, so that other threads' writes join
 * it. Every function marked "(lock held)" must be called between
 * ldb_db_lock and ldb_db_unlock. */
#ifndef LDB_DB_H
#define LDB_DB_H

#include <stddef.h>
#include <stdint.h>

#include "layerdb.h"
#include "log_format.h"

/* LAYERDB_OK, or the code and message of a handle that is not open. */
LDB_INTERNAL int ldb_db_check_open(layerdb *db);
/* LAYERDB_OK, or LAYERDB_READONLY with the handle's message set. */
LDB_INTERNAL int ldb_db_check_writable(layerdb *db);
LDB_INTERNAL void ldb_db_lock(layerdb *db);
LDB_INTERNAL void ldb_db_unlock(layerdb *db);

/* (lock held) 1 and the value if key is present, else 0. The value stays
 * valid until the next write. */
LDB_INTERNAL int ldb_db_lookup(layerdb *db, const void *key, size_t klen, const void **val,
                               size_t *vlen);
/* (lock held) The number of keys. */
LDB_INTERNAL uint64_t ldb_db_count(layerdb *db);
/* (lock held) Set key to val and log "SET key val"; *end gets the record's
 * end for ldb_db_wait_durable (0 without persistence). */
LDB_INTERNAL int ldb_db_set_locked(layerdb *db, const void *key, size_t klen, const void *val,
                                   size_t vlen, uint64_t *end);
/* (lock held) Remove every present key of keys[0..n) and log them as one
 * "DEL k1 k2 ..." record, so a crash keeps all of them or none; *removed
 * gets how many were present, *end as above. */
LDB_INTERNAL int ldb_db_del_locked(layerdb *db, size_t n, const ldb_slice *keys, size_t *removed,
                                   uint64_t *end);
/* (lock not held) Under FSYNC_ALWAYS, wait until the record ending at 'end'
 * is fsynced. */
LDB_INTERNAL int ldb_db_wait_durable(layerdb *db, uint64_t end);

#endif
