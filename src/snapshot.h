/* snapshot.h -- a point-in-time view of a keyspace, read while it changes,
 * without copying it: what compaction writes (compact.c).
 *
 * At its start, instant T, a snapshot is the state of every database. It
 * is read in steps (ldb_snapshot_step), with the handle's lock held for
 * reading for one step at a time, while writers go on changing the
 * keyspace between steps. It works by copy-on-write at the level of keys:
 *  - Entries never change once in a table (table.h), so an entry found in
 *    a table is a key's state, but for its deadline, which lives beside it.
 *  - Before the keyspace changes a key (puts, replaces, removes, moves it,
 *    or changes its deadline; keyspace.c calls ldb_snapshot_touch), the
 *    key's state at T is saved, once: its entry and deadline, if it had
 *    one then. The key goes into the set of keys touched, 'seen' (a table
 *    per database, keyed by the key).
 *  - A step hands out the saved states, then scans the tables on from a
 *    cursor, handing out each entry whose key is not in 'seen', with its
 *    deadline. The table scan visits every entry present during the whole
 *    scan (table.h); one removed meanwhile was saved; one put meanwhile
 *    has its key in 'seen'. A key's entry found unchanged is its state at
 *    T, as its first change would have put it in 'seen'.
 * So every key of T is handed out with its state at T, and nothing else
 * is: at most a key's state twice (saved after the scan had passed it),
 * the same both times, which is harmless to what replays it.
 *
 * Nothing has to outlive the lock: a state found in a table is handed out
 * during the step, under the lock, and a saved state is a copy of the
 * key's bytes, which the snapshot keeps. So entries are freed as usual
 * while a snapshot runs. A whole-database change (FLUSHDB, FLUSHALL,
 * SWAPDB), or no memory to save a key, cancels the snapshot. 'seen' grows
 * by the table's incremental resize, so no change pays for rehashing it
 * whole, and the keys and saved states live in large blocks, allocated
 * and freed a megabyte at a time.
 *
 * Memory: per key changed after T, its key twice and its value once, plus
 * about 40 bytes. Nothing per key that did not change.
 *
 * A later type saves its state in ldb_snapshot_touch as a string's is
 * saved: as the bytes that rewrite it, copied.
 * Not thread-safe: the handle's lock guards every call. */
#ifndef LDB_SNAPSHOT_H
#define LDB_SNAPSHOT_H

#include <stdint.h>

#include "table.h"

struct ldb_keyspace;

/* One key's state as a step hands it out. */
typedef struct ldb_snap_item {
    const unsigned char *args; /* key and value, encoded as a record's
                           arguments (a string entry's bytes after its type
                           byte, table.h); valid during the call to fn */
    size_t args_len;
    int64_t deadline;   /* -1 for none */
    uint8_t db;
    uint8_t type;       /* enum ldb_type */
} ldb_snap_item;

/* Where the entries of 'seen' and the saved states live: large blocks,
 * filled in turn and freed together, so that millions of small keys are
 * neither allocated nor freed one by one (freeing them one by one left the
 * C library's allocator to consolidate them inside a later write, for
 * seconds). */
typedef struct ldb_snap_block ldb_snap_block;

typedef struct ldb_snapshot {
    ldb_alloc *alloc;
    ldb_table seen[16];   /* per database (LDB_DBS): the keys touched */
    ldb_snap_block *blocks; /* the newest first */
    ldb_snap_item *saved; /* states of T saved by touch, not yet handed out */
    size_t nsaved, saved_cap;
    int db;               /* the database the scan is in; LDB_DBS when done */
    uint64_t cursor;      /* the table scan's cursor in it */
    int64_t t_ms;         /* the clock at T: keys expired by then are left out */
    int cancelled;        /* see above */
    uint64_t keys;        /* states handed out so far */
} ldb_snapshot;

LDB_INTERNAL void ldb_snapshot_init(ldb_snapshot *s, ldb_alloc *a, int64_t t_ms);
LDB_INTERNAL void ldb_snapshot_free(ldb_snapshot *s);

/* Called by the keyspace before it changes key (klen bytes) in database
 * d, whose entry there is e (NULL: absent, no state to save). */
LDB_INTERNAL void ldb_snapshot_touch(ldb_snapshot *s, struct ldb_keyspace *ks, int d,
                                     const void *key, size_t klen, const ldb_entry *e);
LDB_INTERNAL void ldb_snapshot_cancel(ldb_snapshot *s);

/* One step (the lock held for reading at least; fn runs under it): up to 'slots' saved
 * states, then the table scan on for about 'slots' slots. Each state goes
 * to fn. Returns 1 while there is more, 0 when the snapshot is whole but
 * for what changes save from now on, -1 if it was cancelled. */
typedef int (*ldb_snap_fn)(void *ud, const ldb_snap_item *item);
LDB_INTERNAL int ldb_snapshot_step(ldb_snapshot *s, struct ldb_keyspace *ks, size_t slots,
                                   ldb_snap_fn fn, void *ud);
/* Every saved state left, for the end (the lock held): 0, or -1 if the
 * snapshot was cancelled. */
LDB_INTERNAL int ldb_snapshot_drain(ldb_snapshot *s, struct ldb_keyspace *ks, ldb_snap_fn fn,
                                    void *ud);

#endif
