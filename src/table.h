/* table.h -- the in-memory hash table and the entries it holds.
 *
 * An entry is one allocation holding a key and its typed value:
 *
 *   +------+--------+-----------+--------+-------------+
 *   | type | klen   | key bytes | vlen   | value bytes |   (type STRING)
 *   | 1 B  | varint |           | varint |             |
 *   +------+--------+-----------+--------+-------------+
 *
 * Varints (LEB128) keep the overhead at 3 bytes for short keys and values,
 * which is most of layerdb's per-key memory budget. After the type byte,
 * a string entry is encoded exactly as the log encodes the arguments of
 * "SET key value" (doc/log-format.md), so a set logs its record with one
 * copy of the entry (ldb_entry_string_args), or none: the writer thread
 * may encode it from the entry (log_set in db.c), which is why an entry's
 * key and value never change once it is in the table (a set makes a new
 * one). The type byte's low three bits are the type; bit 3 says the key
 * has a deadline, kept beside the table (keyspace.c), so that a key
 * without one pays nothing for expiry; bit 4 says a log record was queued
 * as a reference to the entry, and bits 5-7 in which batch (mod 8). Only
 * the caller's thread, under the handle's lock, changes the type byte;
 * the writer thread reads only what follows it.
 * Later types (lists, hashes, ...) store a pointer to their structure in
 * place of the value bytes, so the table itself never changes for them. */
#ifndef LDB_TABLE_H
#define LDB_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

/* The type in an entry's type byte; TYPE names them in this order. */
enum ldb_type { LDB_TYPE_STRING = 0, LDB_TYPE_LIST, LDB_TYPE_SET, LDB_TYPE_ZSET, LDB_TYPE_HASH };

typedef struct ldb_entry ldb_entry; /* opaque bytes, see above */

/* A decoded view of an entry; pointers point into the entry. */
typedef struct ldb_entry_view {
    int type;
    const unsigned char *key;
    size_t klen;
    const unsigned char *val;
    size_t vlen;
    size_t alloc_size; /* bytes of the entry's allocation */
} ldb_entry_view;

/* A new string entry, or NULL without memory; *size (if size is not NULL)
 * gets its bytes. */
LDB_INTERNAL ldb_entry *ldb_entry_create_string(ldb_alloc *a, const void *key, size_t klen,
                                                const void *val, size_t vlen, size_t *size);
/* The bytes of a string entry, and its encoding written at p (room for
 * ldb_entry_string_size bytes; val NULL leaves the value for the caller):
 * for entries that live in someone else's memory (snapshot.c's blocks). */
LDB_INTERNAL size_t ldb_entry_string_size(size_t klen, size_t vlen);
LDB_INTERNAL void ldb_entry_put_string(unsigned char *p, const void *key, size_t klen,
                                       const void *val, size_t vlen);
LDB_INTERNAL void ldb_entry_decode(const ldb_entry *e, ldb_entry_view *v);
/* Where a string entry's key and value start, after its type byte: each a
 * varint length and the bytes, as a log record encodes two arguments. */
static inline const unsigned char *ldb_entry_string_args(const ldb_entry *e) {
    return (const unsigned char *)e + 1;
}
LDB_INTERNAL void ldb_entry_free(ldb_alloc *a, ldb_entry *e);
#define LDB_ENTRY_TYPE_MASK 0x07 /* the type byte: see above */
#define LDB_ENTRY_HAS_TTL 0x08   /* the key has a deadline (keyspace.c) */
#define LDB_ENTRY_REFERENCED 0x10
static inline int ldb_entry_type(const ldb_entry *e) {
    return *(const unsigned char *)e & LDB_ENTRY_TYPE_MASK;
}
static inline int ldb_entry_has_ttl(const ldb_entry *e) {
    return (*(const unsigned char *)e & LDB_ENTRY_HAS_TTL) != 0;
}
static inline void ldb_entry_set_ttl_flag(ldb_entry *e, int on) {
    unsigned char *b = (unsigned char *)e;
    *b = (unsigned char)(on ? *b | LDB_ENTRY_HAS_TTL : *b & ~LDB_ENTRY_HAS_TTL);
}
static inline void ldb_entry_mark_referenced(ldb_entry *e, uint64_t batch) {
    *(unsigned char *)e |= (unsigned char)(LDB_ENTRY_REFERENCED | (batch & 7) << 5);
}
/* The batch tag (mod 8) given to ldb_entry_mark_referenced, or -1. */
static inline int ldb_entry_reference_batch(const ldb_entry *e) {
    unsigned b = *(const unsigned char *)e;
    return b & LDB_ENTRY_REFERENCED ? (int)(b >> 5) : -1;
}
/* Bytes of e's allocation: the two lengths' varints read in place, inline
 * for the keyspace's count of live bytes on every put (keyspace.c). */
static inline size_t ldb_entry_size(const ldb_entry *e) {
    const unsigned char *p = (const unsigned char *)e + 1;
    for (int i = 0; i < 2; i++) {
        uint64_t len = 0;
        int shift = 0;
        while (*p & 0x80) len |= (uint64_t)(*p++ & 0x7f) << shift, shift += 7;
        len |= (uint64_t)*p++ << shift;
        p += len;
    }
    return (size_t)(p - (const unsigned char *)e);
}

/* One array of slots: tags[i] is EMPTY, DELETED or a hash tag; ents[i] the
 * entry when tagged. Both live in one allocation of cap * 9 bytes. */
typedef struct ldb_slots {
    ldb_entry **ents; /* cap pointers, then cap tag bytes */
    uint8_t *tags;    /* points into the same allocation */
    size_t cap;       /* slots; 0 = no array */
    size_t used;      /* live + DELETED slots: what limits the load */
} ldb_slots;

typedef struct ldb_table {
    ldb_alloc *alloc; /* fixed at init */
    uint64_t seed;    /* XXH3 seed, random per handle */
    ldb_slots cur;    /* where inserts go */
    ldb_slots old;    /* being drained into cur while resizing; cap 0 if not */
    size_t migrated;  /* old slots [0, migrated) are already moved */
    size_t released;  /* old slots [0, released) have their pages given back */
    size_t count;     /* live keys in old + cur */
} ldb_table;

LDB_INTERNAL void ldb_table_init(ldb_table *t, ldb_alloc *a, uint64_t seed);
/* Free the arrays and every entry. */
LDB_INTERNAL void ldb_table_free(ldb_table *t);

LDB_INTERNAL ldb_entry *ldb_table_find(const ldb_table *t, const void *key, size_t klen);

/* Insert e, replacing any entry with the same key; the replaced entry (or
 * NULL) goes to *replaced for the caller to free. Returns 0, or -1 when the
 * table could not grow (nothing changed). */
LDB_INTERNAL int ldb_table_put(ldb_table *t, ldb_entry *e, ldb_entry **replaced);

/* Hash key for ldb_table_put_hashed and start loading the cache lines that
 * its put will probe. A write calls this first and does its other work
 * (making the entry, encoding its log record) while they arrive: in a
 * table larger than the caches, a probe is a miss to memory, and this
 * hides most of it. */
LDB_INTERNAL uint64_t ldb_table_prepare(const ldb_table *t, const void *key, size_t klen);
/* ldb_table_put for an entry whose key ldb_table_prepare hashed to h, with
 * no change to t in between but puts and removes. */
LDB_INTERNAL int ldb_table_put_hashed(ldb_table *t, ldb_entry *e, uint64_t h,
                                      ldb_entry **replaced);

/* Unlink the entry for key and return it (the caller frees it), or NULL. */
LDB_INTERNAL ldb_entry *ldb_table_remove(ldb_table *t, const void *key, size_t klen);

/* Visit the entries whose key hash lies in a range starting at 'cursor'
 * and about 'slots' slots wide; returns the next cursor, 0 when the whole
 * hash space is done (start with 0). Because the cursor is a hash value,
 * not a slot, it stays meaningful across resizes: an entry present during
 * the whole scan is visited exactly once, wherever it moves. */
typedef void (*ldb_scan_fn)(void *ud, const ldb_entry *e);
LDB_INTERNAL uint64_t ldb_table_scan(const ldb_table *t, uint64_t cursor, size_t slots,
                                     ldb_scan_fn fn, void *ud);

/* A live entry chosen from a random slot r (any 64-bit number), or NULL
 * when the table is empty. Not uniform (an entry after a run of empty
 * slots is picked more often), as Redis's dictGetRandomKey is not. */
LDB_INTERNAL ldb_entry *ldb_table_sample(const ldb_table *t, uint64_t r);

/* Bytes held by the slot arrays (entries are counted by the allocator). */
LDB_INTERNAL size_t ldb_table_slot_bytes(const ldb_table *t);

/* Empty t as ldb_table_free does, but hand each entry to fn, which owns
 * it from then on, instead of freeing it (commands/keys.c's FLUSHDB, whose
 * entries go through db.c's ldb_db_drop). */
typedef void (*ldb_entry_fn)(void *ud, ldb_entry *e);
LDB_INTERNAL void ldb_table_clear(ldb_table *t, ldb_entry_fn fn, void *ud);

#endif
