/* follower.h -- a read-only handle following a file that a writer, in
 * another process or in this one, may be appending to: the tail reader and
 * the reload after a compaction (follower.c). db.c calls these for a
 * handle opened with readonly = 1; layerdb_refresh is the public face. */
#ifndef LDB_FOLLOWER_H
#define LDB_FOLLOWER_H

#include <stddef.h>
#include <stdint.h>

#include "layerdb.h"

typedef struct ldb_follower ldb_follower;

/* Open 'path' for reading (never creating it, never locking it) and
 * replay every whole record in it into db's keyspace, which is empty; no
 * other thread has db yet. 'path' must outlive the follower (the
 * handle's copy). A record still being written is left for a refresh; a
 * header not yet whole gives an empty database. *records gets the
 * COMMANDS records applied. LAYERDB_OK with *out set, or LAYERDB_IOERR
 * ("no such database file 'x'"), LAYERDB_NOTDB, LAYERDB_CORRUPT (damage
 * before the tail), LAYERDB_VERSION_MISMATCH, LAYERDB_NOMEM, with msg set
 * and *out NULL. */
LDB_INTERNAL int ldb_follower_open(ldb_follower **out, layerdb *db, const char *path, int repair,
                                   uint64_t *records, char *msg, size_t msg_cap);

/* Catch up: apply the whole records appended since the last open or
 * refresh to db's keyspace, or, when another file now has the path (a
 * compaction renamed it over), load that file into a fresh keyspace and
 * swap it in. *records gets the COMMANDS records applied (from the new
 * file, after a swap). Takes the handle's lock; safe beside any other
 * call on db, refreshes included. On an error the handle keeps a state
 * the file held at some record boundary (the old one, when loading a new
 * file failed), except after an allocation failure inside a record (see
 * follower.c), and a later refresh tries again. */
LDB_INTERNAL int ldb_follower_refresh(ldb_follower *f, uint64_t *records, char *msg,
                                      size_t msg_cap);

/* Close the file and free f (NULL is harmless). */
LDB_INTERNAL void ldb_follower_close(ldb_follower *f);

#endif
