/* db.h -- what the command layer needs of a handle (db.c), beyond the
 * public API: its lock, its keyspace, logging a record, dropping entries,
 * and waiting for durability.
 *
 * A write command runs as: ldb_db_lock; ldb_db_reserve (room in the log
 * for its record and for the entries it may drop: this may wait, and may
 * fail with nothing changed); its changes to the keyspace, each dropped
 * entry through ldb_db_drop; ldb_db_log with what it did; ldb_db_unlock;
 * then ldb_db_wait_durable with the record's end, which under
 * FSYNC_ALWAYS waits for the fsync outside the lock, so that other
 * threads' writes join it. Every function marked "(lock held)" must be
 * called between ldb_db_lock and ldb_db_unlock. */
#ifndef LDB_DB_H
#define LDB_DB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "keyspace.h"
#include "layerdb.h"
#include "log_format.h"

/* LAYERDB_OK, or the code and message of a handle that is not open. */
LDB_INTERNAL int ldb_db_check_open(layerdb *db);
/* LAYERDB_OK, or LAYERDB_READONLY with the handle's message set. */
LDB_INTERNAL int ldb_db_check_writable(layerdb *db);
/* The lock, for writing (ldb_db_lock, released by ldb_db_unlock) or for
 * a command that only reads (ldb_db_rdlock, other readers run at the same
 * time; released by ldb_db_rdunlock). */
LDB_INTERNAL void ldb_db_lock(layerdb *db);
LDB_INTERNAL void ldb_db_unlock(layerdb *db);
LDB_INTERNAL void ldb_db_rdlock(layerdb *db);
LDB_INTERNAL void ldb_db_rdunlock(layerdb *db);
/* Set the handle's message; returns rc. */
LDB_INTERNAL int ldb_db_error(layerdb *db, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

LDB_INTERNAL ldb_keyspace *ldb_db_keyspace(layerdb *db);
LDB_INTERNAL ldb_alloc *ldb_db_alloc(layerdb *db);
/* 1 if writes are logged (a file, persistence on). */
LDB_INTERNAL int ldb_db_logging(layerdb *db);
/* The handle's own client context, for layerdb_command. */
LDB_INTERNAL layerdb_client *ldb_db_client(layerdb *db);
/* (lock held) The time active expiry is due next; set it. */
LDB_INTERNAL int64_t *ldb_db_next_expire(layerdb *db);

/* (lock held) Room in the log for a record of up to 'need' bytes
 * (ldb_logfmt_encoded_commands_size; 0 for no record) and for dropping
 * 'drops' entries. May release the lock while it waits for the writer.
 * LAYERDB_OK, or an engine code with the message set. */
LDB_INTERNAL int ldb_db_reserve(layerdb *db, size_t need, size_t drops);
/* (lock held) Free an entry the keyspace no longer holds, or keep it
 * until the writer thread is past it. Needs room from ldb_db_reserve. */
LDB_INTERNAL void ldb_db_drop(layerdb *db, ldb_entry *e);
/* (lock held) Queue the record of ncmds commands encoded in body[0..len)
 * into the room ldb_db_reserve made; returns its end for
 * ldb_db_wait_durable (0 when not logging). Cannot fail. */
LDB_INTERNAL uint64_t ldb_db_log(layerdb *db, size_t ncmds, const unsigned char *body,
                                 size_t len);
/* ---- For compaction (compact.c) ---- */
struct ldb_writer;
/* The writer thread, NULL when not logging; the file's path. */
LDB_INTERNAL struct ldb_writer *ldb_db_writer(layerdb *db);
LDB_INTERNAL const char *ldb_db_path(const layerdb *db);
/* (lock held) The writer's sticky error, with the message set, or OK. */
LDB_INTERNAL int ldb_db_writer_error(layerdb *db);
/* (lock held) The file the log is in, the log position of its offset 0,
 * and its checksum seed; and the same once a compaction moved the log. */
LDB_INTERNAL void ldb_db_file(layerdb *db, int *fd, uint64_t *base, uint64_t *salt);
LDB_INTERNAL void ldb_db_file_moved(layerdb *db, int fd, uint64_t base, uint64_t salt);
/* Take the lock for writing unless *flag becomes give_up_at first
 * (ldb_rwlock_wrlock_unless), asking the next write before every try to
 * call ldb_compactor_attend: 1 when locked. */
LDB_INTERNAL int ldb_db_lock_unless(layerdb *db, atomic_int *flag, int give_up_at);
/* Ask the next write to call ldb_compactor_attend (any thread). */
LDB_INTERNAL void ldb_db_ask_attention(layerdb *db);
/* (lock held) A compaction failed: try again automatically only once the
 * file has grown by compact_min_bytes. */
LDB_INTERNAL void ldb_db_compaction_failed(layerdb *db);
/* (lock held, for reading at least) Start a compaction unless one runs
 * (then *already is 1): BGREWRITEAOF. LAYERDB_OK, or a code with the
 * message set. */
LDB_INTERNAL int ldb_db_compact_begin(layerdb *db, int *already);

/* (lock not held) Under FSYNC_ALWAYS, wait until the record ending at 'end'
 * is fsynced. */
LDB_INTERNAL int ldb_db_wait_durable(layerdb *db, uint64_t end);

#endif
