/* keyspace.c -- the numbered databases and key deadlines (keyspace.h). */
#include <assert.h>
#include <string.h>
#include <time.h>

#include "keyspace.h"
#include "layerdb.h"

void ldb_ks_init(ldb_keyspace *ks, ldb_alloc *a, uint64_t seed) {
    memset(ks, 0, sizeof *ks);
    ks->alloc = a;
    ks->rng = seed | 1;
    for (int d = 0; d < LDB_DBS; d++) {
        ldb_table_init(&ks->keys[d], a, seed);
        ldb_table_init(&ks->expires[d], a, seed);
    }
}

void ldb_ks_free(ldb_keyspace *ks) {
    ldb_ks_flush(ks, -1);
}

int64_t ldb_ks_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Per thread, as readers holding the lock for reading (RANDOMKEY) call
 * it at the same time; seeded from the handle's seed on first use. */
static _Thread_local uint64_t rng_state;

uint64_t ldb_ks_random(ldb_keyspace *ks) {
    uint64_t x = rng_state ? rng_state : ks->rng ^ (uint64_t)(uintptr_t)&rng_state;
    if (x == 0) x = 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ---- A compaction's snapshot (snapshot.h) ---- */

/* Tell it before key's state in d changes. */
static LDB_COLD void touch_key(ldb_keyspace *ks, int d, const void *key, size_t klen) {
    ldb_snapshot_touch(ks->snap, ks, d, key, klen, ldb_table_find(&ks->keys[d], key, klen));
}

/* The same for the key of e, an entry in d. */
static LDB_COLD void touch_entry(ldb_keyspace *ks, int d, const ldb_entry *e) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    ldb_snapshot_touch(ks->snap, ks, d, v.key, v.klen, e);
}

/* ---- Deadlines ---- */

int64_t ldb_ks_deadline_of(const ldb_entry *x) {
    ldb_entry_view v;
    ldb_entry_decode(x, &v);
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u |= (uint64_t)v.val[i] << (8 * i);
    return (int64_t)u;
}

static ldb_entry *find_deadline_entry(ldb_keyspace *ks, int d, const ldb_entry *e) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    ldb_entry *x = ldb_table_find(&ks->expires[d], v.key, v.klen);
    assert(x != NULL); /* invariant (1) */
    return x;
}

int64_t ldb_ks_deadline(ldb_keyspace *ks, int d, const ldb_entry *e) {
    if (!ldb_entry_has_ttl(e)) return -1;
    return ldb_ks_deadline_of(find_deadline_entry(ks, d, e));
}

int ldb_ks_is_expired(ldb_keyspace *ks, int d, const ldb_entry *e, int64_t now) {
    if (!ldb_entry_has_ttl(e) || now == LDB_KS_NO_EXPIRY) return 0;
    if (now == LDB_KS_CLOCK) now = ldb_ks_clock_ms();
    return ldb_ks_deadline(ks, d, e) <= now;
}

ldb_entry *ldb_ks_find_any(ldb_keyspace *ks, int d, const void *key, size_t klen, int64_t now,
                           int *expired) {
    ldb_entry *e = ldb_table_find(&ks->keys[d], key, klen);
    *expired = e && ldb_ks_is_expired(ks, d, e, now);
    return e;
}

ldb_entry *ldb_ks_find(ldb_keyspace *ks, int d, const void *key, size_t klen, int64_t now) {
    int expired;
    ldb_entry *e = ldb_ks_find_any(ks, d, key, klen, now, &expired);
    return expired ? NULL : e;
}

/* Remove e's deadline entry from expires[d]. */
static void drop_deadline(ldb_keyspace *ks, int d, const ldb_entry *e) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    ldb_entry *x = ldb_table_remove(&ks->expires[d], v.key, v.klen);
    assert(x != NULL); /* invariant (1) */
    ldb_entry_free(ks->alloc, x);
    ks->ttl_keys--;
}

/* A new entry for the expires table: e's key, 'when' as 8 bytes. */
static ldb_entry *deadline_entry(ldb_keyspace *ks, const ldb_entry *e, int64_t when) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    unsigned char raw[8];
    for (int i = 0; i < 8; i++) raw[i] = (unsigned char)((uint64_t)when >> (8 * i));
    return ldb_entry_create_string(ks->alloc, v.key, v.klen, raw, sizeof raw, NULL);
}

int ldb_ks_set_deadline(ldb_keyspace *ks, int d, ldb_entry *e, int64_t when) {
    if (ks->snap) touch_entry(ks, d, e);
    ldb_entry *x = deadline_entry(ks, e, when);
    ldb_entry *old;
    if (!x || ldb_table_put(&ks->expires[d], x, &old) != 0) {
        ldb_entry_free(ks->alloc, x);
        return LAYERDB_NOMEM;
    }
    assert((old != NULL) == ldb_entry_has_ttl(e)); /* invariant (1) */
    if (old) ldb_entry_free(ks->alloc, old);
    else ks->ttl_keys++;
    ldb_entry_set_ttl_flag(e, 1);
    return LAYERDB_OK;
}

int ldb_ks_clear_deadline(ldb_keyspace *ks, int d, ldb_entry *e) {
    if (!ldb_entry_has_ttl(e)) return 0;
    if (ks->snap) touch_entry(ks, d, e);
    drop_deadline(ks, d, e);
    ldb_entry_set_ttl_flag(e, 0);
    return 1;
}

/* ---- Keys ---- */

/* A compaction runs: save the state of e's key before a put of e
 * changes it. */
static LDB_COLD void touch_before_put(ldb_keyspace *ks, int d, const ldb_entry *e) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    touch_key(ks, d, v.key, v.klen);
}

/* The entry bytes of database d after e came in place of old. */
static inline void count_put(ldb_keyspace *ks, int d, const ldb_entry *e, const ldb_entry *old) {
    ks->entry_bytes[d] += ldb_entry_size(e);
    if (old) ks->entry_bytes[d] -= ldb_entry_size(old);
}

int ldb_ks_put(ldb_keyspace *ks, int d, uint64_t h, ldb_entry *e, int keep_ttl,
               ldb_entry **replaced) {
    assert(!ldb_entry_has_ttl(e));
    if (ks->snap) touch_before_put(ks, d, e);
    if (ldb_table_put_hashed(&ks->keys[d], e, h, replaced) != 0) return LAYERDB_NOMEM;
    ldb_entry *old = *replaced;
    count_put(ks, d, e, old);
    if (old && ldb_entry_has_ttl(old)) {
        if (keep_ttl) ldb_entry_set_ttl_flag(e, 1); /* its deadline entry stays */
        else drop_deadline(ks, d, old);
    }
    return LAYERDB_OK;
}

void ldb_ks_will_change(ldb_keyspace *ks, int d, const ldb_entry *e) {
    if (ks->snap) touch_entry(ks, d, e);
}

ldb_entry *ldb_ks_unlink(ldb_keyspace *ks, int d, const void *key, size_t klen) {
    if (ks->snap) touch_key(ks, d, key, klen);
    ldb_entry *e = ldb_table_remove(&ks->keys[d], key, klen);
    if (!e) return NULL;
    if (ldb_entry_has_ttl(e)) drop_deadline(ks, d, e);
    ks->entry_bytes[d] -= ldb_entry_size(e);
    return e;
}

uint64_t ldb_ks_live_bytes(const ldb_keyspace *ks) {
    uint64_t n = ks->ttl_keys * 20; /* PXAT and 13 digits, with lengths */
    for (int d = 0; d < LDB_DBS; d++) n += ks->entry_bytes[d] + ks->keys[d].count * 4;
    return n;
}

/* ---- Whole databases ---- */

void ldb_ks_flush(ldb_keyspace *ks, int d) {
    if (ks->snap) ldb_snapshot_cancel(ks->snap);
    for (int i = d < 0 ? 0 : d; i < (d < 0 ? LDB_DBS : d + 1); i++) {
        ks->entry_bytes[i] = 0;
        ks->ttl_keys -= ks->expires[i].count;
        ldb_table_free(&ks->keys[i]);
        ldb_table_free(&ks->expires[i]);
    }
}

void ldb_ks_swap(ldb_keyspace *ks, int a, int b) {
    if (ks->snap) ldb_snapshot_cancel(ks->snap);
    uint64_t n = ks->entry_bytes[a];
    ks->entry_bytes[a] = ks->entry_bytes[b];
    ks->entry_bytes[b] = n;
    ldb_table t = ks->keys[a];
    ks->keys[a] = ks->keys[b];
    ks->keys[b] = t;
    t = ks->expires[a];
    ks->expires[a] = ks->expires[b];
    ks->expires[b] = t;
}

#ifndef NDEBUG
typedef struct check_ctx {
    ldb_keyspace *ks;
    int d;
    int bad;
    uint64_t flagged;
    uint64_t bytes;
} check_ctx;

static void check_entry(void *ud, const ldb_entry *e) {
    check_ctx *c = ud;
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    int has = ldb_table_find(&c->ks->expires[c->d], v.key, v.klen) != NULL;
    if (has != ldb_entry_has_ttl(e)) c->bad = 1;
    c->flagged += has;
    c->bytes += ldb_entry_size(e);
}

int ldb_ks_check(ldb_keyspace *ks) {
    uint64_t total = 0;
    for (int d = 0; d < LDB_DBS; d++) {
        check_ctx c = {ks, d, 0, 0, 0};
        uint64_t cursor = 0;
        do cursor = ldb_table_scan(&ks->keys[d], cursor, 4096, check_entry, &c);
        while (cursor != 0);
        if (c.bad || c.flagged != ks->expires[d].count || c.bytes != ks->entry_bytes[d]) return 0;
        total += ks->expires[d].count;
    }
    return total == ks->ttl_keys;
}
#endif

/* ---- For the key commands (commands/keys.c) ---- */

void ldb_ks_flush_each(ldb_keyspace *ks, int d, ldb_entry_fn drop, void *ud) {
    if (ks->snap) ldb_snapshot_cancel(ks->snap);
    ks->entry_bytes[d] = 0;
    ks->ttl_keys -= ks->expires[d].count;
    ldb_table_free(&ks->expires[d]);
    ldb_table_clear(&ks->keys[d], drop, ud);
}

/* The deadline goes in first, so that a failure of either put can be
 * undone without allocating: the new deadline entry sits in the expires
 * table's current array, where a put of the same key swaps the pointer
 * back and a remove only marks the slot. */
int ldb_ks_put_expiring(ldb_keyspace *ks, int d, uint64_t h, ldb_entry *e, int64_t when,
                        ldb_entry **replaced) {
    if (when < 0) return ldb_ks_put(ks, d, h, e, 0, replaced);
    assert(!ldb_entry_has_ttl(e));
    if (ks->snap) touch_before_put(ks, d, e);
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    ldb_entry *x = deadline_entry(ks, e, when);
    ldb_entry *old_x = NULL, *back = NULL;
    if (!x || ldb_table_put(&ks->expires[d], x, &old_x) != 0) {
        ldb_entry_free(ks->alloc, x);
        return LAYERDB_NOMEM;
    }
    if (ldb_table_put_hashed(&ks->keys[d], e, h, replaced) != 0) {
        if (old_x) (void)ldb_table_put(&ks->expires[d], old_x, &back);
        else back = ldb_table_remove(&ks->expires[d], v.key, v.klen);
        assert(back == x);
        (void)back;
        ldb_entry_free(ks->alloc, x);
        return LAYERDB_NOMEM;
    }
    /* invariant (1): the replaced key had a deadline entry iff its flag */
    assert((old_x != NULL) == (*replaced != NULL && ldb_entry_has_ttl(*replaced)));
    if (old_x) ldb_entry_free(ks->alloc, old_x);
    else ks->ttl_keys++;
    ldb_entry_set_ttl_flag(e, 1);
    count_put(ks, d, e, *replaced);
    return LAYERDB_OK;
}
