/* keyspace.h -- the databases a handle holds: LDB_DBS numbered tables of
 * typed entries, as Redis has 16, and the deadlines of keys that expire.
 *
 * A key's deadline (milliseconds since the Unix epoch) lives in a second
 * table per database, 'expires', as an entry whose value is the 8-byte
 * deadline; the key's own entry has LDB_ENTRY_HAS_TTL set (table.h). So a
 * lookup of a key without a deadline costs one probe, as before expiry
 * existed, and the expires table is what active expiry samples (active_expire.c).
 *
 * Time: every lookup takes 'now'. A key whose deadline is <= now is not
 * there. LDB_KS_NO_EXPIRY (0) makes every key alive: replay at open uses
 * it, since the log holds a DEL for every key that expired while it was
 * written, as Redis's AOF does. LDB_KS_CLOCK reads the clock, and only for
 * a key that has a deadline.
 *
 * Invariants (checked by ldb_ks_check in debug builds):
 *  (1) a key has an entry in expires[d] iff its entry in keys[d] has
 *      LDB_ENTRY_HAS_TTL;
 *  (2) ttl_keys == the sum of the expires tables' counts;
 *  (3) entry_bytes[d] == the sum of ldb_entry_size over keys[d].
 * While a compaction runs, every function that changes a key first tells
 * its snapshot (ks->snap), and a whole-database change cancels it.
 * Not thread-safe: the handle's lock guards every call. Nothing here
 * logs: the callers (db.c, command.c) log what they change. */
#ifndef LDB_KEYSPACE_H
#define LDB_KEYSPACE_H

#include <stdint.h>

#include "log_format.h"
#include "snapshot.h"
#include "table.h"

#define LDB_DBS 16
#define LDB_KS_NO_EXPIRY 0
#define LDB_KS_CLOCK (-1)

typedef struct ldb_keyspace {
    ldb_alloc *alloc;
    ldb_table keys[LDB_DBS];
    ldb_table expires[LDB_DBS]; /* key -> 8-byte deadline */
    uint64_t ttl_keys;          /* keys with a deadline, in every database */
    uint64_t rng;               /* seeds ldb_ks_random */
    int expire_next_db;         /* where active expiry goes on (active_expire.c) */
    uint64_t entry_bytes[LDB_DBS]; /* bytes of the entries in keys[d] */
    ldb_snapshot *snap;         /* a compaction's snapshot, told of every
                                   change (snapshot.h), or NULL */
} ldb_keyspace;

/* About the bytes a compacted log holds for the keys: their entries,
 * which are encoded as their records' arguments, plus a command's name
 * and counts per key and a deadline's argument per key that has one. */
LDB_INTERNAL uint64_t ldb_ks_live_bytes(const ldb_keyspace *ks);

/* A pseudo-random 64-bit number (xorshift, per thread; not for secrets),
 * for sampling: active expiry, RANDOMKEY. */
LDB_INTERNAL uint64_t ldb_ks_random(ldb_keyspace *ks);

LDB_INTERNAL void ldb_ks_init(ldb_keyspace *ks, ldb_alloc *a, uint64_t seed);
LDB_INTERNAL void ldb_ks_free(ldb_keyspace *ks);

/* Milliseconds since the Unix epoch. */
LDB_INTERNAL int64_t ldb_ks_clock_ms(void);

/* The entry of key in database d, or NULL if it is absent or its deadline
 * has passed (see 'Time' above). */
LDB_INTERNAL ldb_entry *ldb_ks_find(ldb_keyspace *ks, int d, const void *key, size_t klen,
                                    int64_t now);
/* Like ldb_ks_find, but also returns an expired entry (the caller deletes
 * it); *expired says which. */
LDB_INTERNAL ldb_entry *ldb_ks_find_any(ldb_keyspace *ks, int d, const void *key, size_t klen,
                                        int64_t now, int *expired);
/* The deadline of e (an entry in database d), or -1 if it has none. */
LDB_INTERNAL int64_t ldb_ks_deadline(ldb_keyspace *ks, int d, const ldb_entry *e);
/* The deadline an entry of an expires table holds. */
LDB_INTERNAL int64_t ldb_ks_deadline_of(const ldb_entry *x);
/* 1 if e's deadline has passed at 'now' (see 'Time'). */
LDB_INTERNAL int ldb_ks_is_expired(ldb_keyspace *ks, int d, const ldb_entry *e, int64_t now);

/* Put e into database d, where h is ldb_table_prepare of its key in
 * keys[d]; the replaced entry (or NULL) goes to *replaced for the caller
 * to free. With keep_ttl the key keeps a deadline it had; otherwise it
 * loses it. Returns LAYERDB_OK, or LAYERDB_NOMEM with nothing changed. */
LDB_INTERNAL int ldb_ks_put(ldb_keyspace *ks, int d, uint64_t h, ldb_entry *e, int keep_ttl,
                            ldb_entry **replaced);
/* Before a change to e (in database d) made outside these functions, as
 * MOVE clears e's deadline flag while e is still in d: tells a running
 * compaction's snapshot, which must see every key's state before its
 * first change. */
LDB_INTERNAL void ldb_ks_will_change(ldb_keyspace *ks, int d, const ldb_entry *e);
/* Remove key from database d, deadline and all; returns its entry for the
 * caller to free, or NULL. */
LDB_INTERNAL ldb_entry *ldb_ks_unlink(ldb_keyspace *ks, int d, const void *key, size_t klen);
/* Give e (in database d) the deadline 'when'. LAYERDB_OK or _NOMEM. */
LDB_INTERNAL int ldb_ks_set_deadline(ldb_keyspace *ks, int d, ldb_entry *e, int64_t when);
/* Take e's deadline away; 1 if it had one. */
LDB_INTERNAL int ldb_ks_clear_deadline(ldb_keyspace *ks, int d, ldb_entry *e);

/* Empty database d (every database with d < 0). */
LDB_INTERNAL void ldb_ks_flush(ldb_keyspace *ks, int d);
/* Exchange databases a and b. */
LDB_INTERNAL void ldb_ks_swap(ldb_keyspace *ks, int a, int b);

#ifndef NDEBUG
/* Check invariants (1) and (2) by a full walk: for tests. */
LDB_INTERNAL int ldb_ks_check(ldb_keyspace *ks);
#endif

/* Empty database d, handing each key's entry to drop, which owns it from
 * then on (FLUSHDB passes ldb_db_drop, which keeps an entry the log writer
 * may still read); the deadline entries, which the writer never reads,
 * are freed. */
LDB_INTERNAL void ldb_ks_flush_each(ldb_keyspace *ks, int d, ldb_entry_fn drop, void *ud);
/* ldb_ks_put (without keep_ttl) that also gives the key the deadline
 * 'when' if when >= 0, all or nothing: LAYERDB_OK, or LAYERDB_NOMEM with
 * nothing changed (RENAME, COPY and MOVE carry a deadline this way). */
LDB_INTERNAL int ldb_ks_put_expiring(ldb_keyspace *ks, int d, uint64_t h, ldb_entry *e,
                                     int64_t when, ldb_entry **replaced);

#endif
