/* table.c -- the in-memory hash table: binary-safe keys to typed entries.
 *
 * Open addressing with linear probing over two parallel arrays: a tag byte
 * per slot (EMPTY, DELETED, or 8 bits of the key's XXH3 hash) and an entry
 * pointer per slot. Probing reads the tag bytes, which sit 64 to a cache
 * line, and only touches an entry when its tag matches: 9 bytes per slot.
 * The slot index is "fastrange" (hash * cap) >> 64, so the capacity need not
 * be a power of two and the table can grow by 1.7x instead of 2x.
 *
 * Growing never stops the world. When cur would pass MAX_LOAD, a new array
 * sized for LOAD_AFTER_RESIZE becomes cur and the full one becomes old;
 * every later put/remove moves a bounded batch of old slots into cur
 * (rehash_step), as Redis's dict.c does.
 *
 * Invariants:
 *  (1) Every live key is in exactly one of old and cur.
 *  (2) While resizing, old slots [0, migrated) hold no live entry, and are
 *      never read: their pages may have been given back (release_migrated).
 *  (3) Nothing is ever inserted into old: a key found there on put or
 *      remove is marked DELETED in old (and put into cur on put).
 *  (4) Moved and removed slots become DELETED, never EMPTY, so probe chains
 *      in old stay intact until old is freed.
 *  (5) count == live entries in old + live entries in cur.
 * Not thread-safe: the caller's lock (db.c) guards every call. */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "os.h"
#include "table.h"
#include "varint.h"

#define TAG_EMPTY 0
#define TAG_DELETED 1
#define MIN_CAP 16
#define MAX_LOAD 0.85          /* of cap, counting DELETED slots */
#define LOAD_AFTER_RESIZE 0.5  /* live keys / cap right after a resize */
#define MIN_LOAD 0.1           /* shrink below this (live keys / cap) */
#define STEP_MOVES 64          /* entries moved per put/remove at most */
#define STEP_VISITS 1024       /* slots visited per step at most: a sparse
                                  old array must not turn one call into a
                                  scan of millions of slots */

#define PREFETCH_AHEAD 8
#define RELEASE_SLOTS (128 * 1024)      /* release pages 1 MiB of slots at a time */
#define RELEASE_MIN_SLOTS (512 * 1024)  /* smaller arrays are freed cheaply anyway */
#if defined(__GNUC__) || defined(__clang__)
#define prefetch(p) __builtin_prefetch(p)
#else
#define prefetch(p) ((void)(p))
#endif

/* ---- Entries ---- */

/* Entries are written by this file only, so decoding trusts them. */
static const unsigned char *varint_get(const unsigned char *p, size_t *v) {
    size_t x = 0;
    int shift = 0;
    while (*p & 0x80) { x |= (size_t)(*p++ & 0x7f) << shift; shift += 7; }
    *v = x | ((size_t)*p++ << shift);
    return p;
}

size_t ldb_entry_string_size(size_t klen, size_t vlen) {
    return 1 + ldb_varint_len(klen) + ldb_varint_len(vlen) + klen + vlen;
}

void ldb_entry_put_string(unsigned char *p, const void *key, size_t klen, const void *val,
                          size_t vlen) {
    *p++ = LDB_TYPE_STRING;
    p = ldb_varint_put(p, klen);
    if (klen) memcpy(p, key, klen);
    p = ldb_varint_put(p + klen, vlen);
    if (vlen && val) memcpy(p, val, vlen); /* val NULL: the caller fills it */
}

ldb_entry *ldb_entry_create_string(ldb_alloc *a, const void *key, size_t klen,
                                   const void *val, size_t vlen, size_t *size) {
    size_t n = ldb_entry_string_size(klen, vlen);
    unsigned char *e = ldb_malloc(a, n);
    if (!e) return NULL;
    if (size) *size = n;
    ldb_entry_put_string(e, key, klen, val, vlen);
    return (ldb_entry *)e;
}

void ldb_entry_decode(const ldb_entry *e, ldb_entry_view *v) {
    const unsigned char *p = (const unsigned char *)e;
    v->type = *p++ & LDB_ENTRY_TYPE_MASK;
    p = varint_get(p, &v->klen);
    v->key = p;
    p = varint_get(p + v->klen, &v->vlen);
    v->val = p;
    v->alloc_size = (size_t)(v->val + v->vlen - (const unsigned char *)e);
}

void ldb_entry_free(ldb_alloc *a, ldb_entry *e) {
    if (e) ldb_free(a, e, ldb_entry_size(e));
}

/* ---- Hashing and probing ---- */

static uint64_t hash_key(const ldb_table *t, const void *key, size_t klen) {
    return XXH3_64bits_withSeed(key, klen, t->seed);
}

static uint8_t tag_of(uint64_t h) {
    uint8_t tag = (uint8_t)h;
    return tag < 2 ? (uint8_t)(tag + 2) : tag;
}

/* Map a 64-bit hash onto [0, cap) without division (Lemire's fastrange);
 * uses the high bits, while the tag uses the low ones. */
static size_t home_slot(uint64_t h, size_t cap) {
#if defined(__SIZEOF_INT128__)
    return (size_t)(((unsigned __int128)h * cap) >> 64);
#else
    uint64_t hh = h >> 32, hl = h & 0xffffffffu, c = (uint64_t)cap;
    return (size_t)((hh * c + ((hl * c) >> 32)) >> 32);
#endif
}

static int entry_has_key(const ldb_entry *e, const void *key, size_t klen) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    return v.klen == klen && (klen == 0 || memcmp(v.key, key, klen) == 0);
}

/* The slot holding key in s, or SIZE_MAX. Slots below 'skip' count as
 * DELETED without being read: in old, they are migrated (invariant (2))
 * and their memory may already be given back (release_migrated). */
static size_t slots_find(const ldb_slots *s, size_t skip, uint64_t h, const void *key,
                         size_t klen) {
    if (s->cap == 0) return SIZE_MAX;
    uint8_t tag = tag_of(h);
    size_t i = home_slot(h, s->cap);
    if (i < skip) i = skip;
    /* Each slot of [skip, cap) once at most: near the end of a resize
     * that tail may hold no EMPTY slot, and going round it cap times made
     * a lookup of an absent key in a 6M-slot table take 100 ms. */
    for (size_t probes = 0; probes < s->cap - skip; probes++) {
        uint8_t got = s->tags[i];
        if (got == TAG_EMPTY) return SIZE_MAX;
        if (got == tag && entry_has_key(s->ents[i], key, klen)) return i;
        if (++i == s->cap) i = skip; /* wrap past the DELETED run [0, skip) */
    }
    return SIZE_MAX;
}

/* A free slot (DELETED preferred to EMPTY: it costs no load) on h's probe
 * path, for a key known to be absent from s. */
static size_t slots_free_slot(const ldb_slots *s, uint64_t h) {
    size_t i = home_slot(h, s->cap);
    while (s->tags[i] > TAG_DELETED) {
        if (++i == s->cap) i = 0;
    }
    return i;
}

static void slots_place(ldb_slots *s, size_t i, uint64_t h, ldb_entry *e) {
    if (s->tags[i] == TAG_EMPTY) s->used++;
    s->tags[i] = tag_of(h);
    s->ents[i] = e;
}

/* ---- Slot arrays ---- */

static int slots_alloc(ldb_alloc *a, ldb_slots *s, size_t cap) {
    size_t bytes = ldb_mul_size(cap, sizeof(ldb_entry *) + 1);
    /* Zeroed (TAG_EMPTY) by calloc: a memset of a 10M-slot array here would
     * make the one put that starts a resize take ~10 ms. */
    void *block = ldb_calloc(a, bytes);
    if (!block) return -1;
    s->ents = block;
    s->tags = (uint8_t *)block + cap * sizeof(ldb_entry *);
    s->cap = cap;
    s->used = 0;
    return 0;
}

static void slots_free(ldb_alloc *a, ldb_slots *s) {
    if (s->cap) ldb_free(a, s->ents, s->cap * (sizeof(ldb_entry *) + 1));
    memset(s, 0, sizeof *s);
}

void ldb_table_init(ldb_table *t, ldb_alloc *a, uint64_t seed) {
    memset(t, 0, sizeof *t);
    t->alloc = a;
    t->seed = seed;
}

static void slots_free_entries(ldb_alloc *a, ldb_slots *s, size_t from) {
    for (size_t i = from; i < s->cap; i++)
        if (s->tags[i] > TAG_DELETED) ldb_entry_free(a, s->ents[i]);
}

void ldb_table_free(ldb_table *t) {
    slots_free_entries(t->alloc, &t->old, t->migrated);
    slots_free_entries(t->alloc, &t->cur, 0);
    slots_free(t->alloc, &t->old);
    slots_free(t->alloc, &t->cur);
    t->count = 0;
    t->migrated = t->released = 0;
}

/* ---- Incremental resize ---- */

static uint64_t entry_hash(const ldb_table *t, const ldb_entry *e) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    return hash_key(t, v.key, v.klen);
}

/* Give the pages of old below 'migrated' back to the OS as the drain
 * passes them, RELEASE_SLOTS at a time. Freeing a drained 100 MB array at
 * once (munmap) takes ~10 ms here, far over the 1 ms budget of one call;
 * released pages make that final free cheap. Only with the C library's
 * allocator (we know it leaves the block's interior alone) and for big
 * arrays. Nothing reads old below 'migrated' (invariant (2), slots_find). */
static void release_migrated(ldb_table *t) {
    size_t upto = t->migrated / RELEASE_SLOTS * RELEASE_SLOTS;
    if (!t->old.cap || upto <= t->released || t->old.cap < RELEASE_MIN_SLOTS ||
        !ldb_alloc_is_libc(t->alloc))
        return;
    ldb_os_release_pages(t->old.ents + t->released, (upto - t->released) * sizeof(ldb_entry *));
    ldb_os_release_pages(t->old.tags + t->released, upto - t->released);
    t->released = upto;
}

/* Move up to max_moves live entries from old to cur, visiting at most
 * STEP_VISITS slots per batch of STEP_MOVES. Frees old when drained. */
static void rehash_step(ldb_table *t, size_t max_moves) {
    size_t visits = 0, moves = 0;
    size_t visit_cap = max_moves == SIZE_MAX ? SIZE_MAX : max_moves / STEP_MOVES * STEP_VISITS + STEP_VISITS;
    while (t->old.cap && moves < max_moves && visits < visit_cap) {
        size_t i = t->migrated++;
        visits++;
        /* Moving an entry means reading its key to rehash it: a cache miss
         * per entry. Ask for entries a few slots ahead so the misses
         * overlap instead of queueing. */
        size_t ahead = i + PREFETCH_AHEAD;
        if (ahead < t->old.cap && t->old.tags[ahead] > TAG_DELETED) prefetch(t->old.ents[ahead]);
        if (t->old.tags[i] > TAG_DELETED) {
            ldb_entry *e = t->old.ents[i];
            uint64_t h = entry_hash(t, e);
            slots_place(&t->cur, slots_free_slot(&t->cur, h), h, e);
            t->old.tags[i] = TAG_DELETED; /* invariant (4) */
            moves++;
        }
        if (t->migrated == t->old.cap) {
            slots_free(t->alloc, &t->old);
            t->migrated = t->released = 0;
        }
    }
    release_migrated(t);
}

static int over_load(const ldb_slots *s, size_t extra) {
    return (double)(s->used + extra) > (double)s->cap * MAX_LOAD;
}

/* Begin moving everything into a fresh array sized for count + extra keys
 * at LOAD_AFTER_RESIZE; a draining resize is finished first (rare: only a
 * very sparse old array can be outpaced by inserts). */
static int start_resize(ldb_table *t, size_t extra) {
    if (t->old.cap) rehash_step(t, SIZE_MAX);
    size_t cap = (size_t)((double)(t->count + extra) / LOAD_AFTER_RESIZE) + 1;
    if (cap < MIN_CAP) cap = MIN_CAP;
    ldb_slots fresh;
    if (slots_alloc(t->alloc, &fresh, cap) != 0) return -1;
    t->old = t->cur;
    t->cur = fresh;
    t->migrated = t->released = 0;
    if (t->old.cap == 0) return 0;
    if (t->count == 0) slots_free(t->alloc, &t->old); /* only DELETED slots */
    return 0;
}

/* Make sure cur can take one more slot. */
static int make_room(ldb_table *t) {
    if (t->cur.cap && !over_load(&t->cur, 1)) return 0;
    return start_resize(t, 1);
}

/* After a remove: when live keys fill under MIN_LOAD of cur, shrink, so
 * memory follows the data down. Best effort: no memory, no shrink. */
static void maybe_shrink(ldb_table *t) {
    if (t->old.cap == 0 && t->cur.cap > MIN_CAP && (double)t->count < (double)t->cur.cap * MIN_LOAD)
        (void)start_resize(t, 0);
}

/* ---- Public operations ---- */

ldb_entry *ldb_table_find(const ldb_table *t, const void *key, size_t klen) {
    uint64_t h = hash_key(t, key, klen);
    size_t i = slots_find(&t->cur, 0, h, key, klen);
    if (i != SIZE_MAX) return t->cur.ents[i];
    i = slots_find(&t->old, t->migrated, h, key, klen);
    return i != SIZE_MAX ? t->old.ents[i] : NULL;
}

/* The address of the tag byte of h's home slot in s (not below skip), or
 * NULL if s has no slots there. */
static const uint8_t *home_tag(const ldb_slots *s, size_t skip, uint64_t h) {
    if (skip >= s->cap) return NULL; /* no array, or all of old migrated */
    size_t i = home_slot(h, s->cap);
    return &s->tags[i < skip ? skip : i];
}

uint64_t ldb_table_prepare(const ldb_table *t, const void *key, size_t klen) {
    uint64_t h = hash_key(t, key, klen);
    /* The prefetches are written out here: GCC 12's mod/ref analysis
     * finds no effect in a static helper that only prefetches and deletes
     * the calls to it. */
    const uint8_t *tag = home_tag(&t->cur, 0, h);
    if (tag) {
        prefetch(tag);
        prefetch(&t->cur.ents[tag - t->cur.tags]);
    }
    tag = home_tag(&t->old, t->migrated, h); /* a put probes old too */
    if (tag) {
        prefetch(tag);
        prefetch(&t->old.ents[tag - t->old.tags]);
    }
    return h;
}

int ldb_table_put(ldb_table *t, ldb_entry *e, ldb_entry **replaced) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    return ldb_table_put_hashed(t, e, hash_key(t, v.key, v.klen), replaced);
}

int ldb_table_put_hashed(ldb_table *t, ldb_entry *e, uint64_t h, ldb_entry **replaced) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    *replaced = NULL;
    rehash_step(t, STEP_MOVES);
    size_t i = slots_find(&t->cur, 0, h, v.key, v.klen);
    if (i != SIZE_MAX) { /* same key in cur: swap the pointer */
        *replaced = t->cur.ents[i];
        t->cur.ents[i] = e;
        return 0;
    }
    if (make_room(t) != 0) return -1;
    i = slots_find(&t->old, t->migrated, h, v.key, v.klen);
    if (i != SIZE_MAX) { /* invariant (3): move it out of old */
        *replaced = t->old.ents[i];
        t->old.tags[i] = TAG_DELETED;
        t->count--;
    }
    slots_place(&t->cur, slots_free_slot(&t->cur, h), h, e);
    t->count++;
    return 0;
}

ldb_entry *ldb_table_remove(ldb_table *t, const void *key, size_t klen) {
    uint64_t h = hash_key(t, key, klen);
    rehash_step(t, STEP_MOVES);
    ldb_slots *s = &t->cur;
    size_t i = slots_find(s, 0, h, key, klen);
    if (i == SIZE_MAX) {
        s = &t->old;
        i = slots_find(s, t->migrated, h, key, klen);
    }
    if (i == SIZE_MAX) return NULL;
    ldb_entry *e = s->ents[i];
    s->tags[i] = TAG_DELETED;
    t->count--;
    maybe_shrink(t);
    return e;
}

/* ---- Scanning by hash order ---- */

/* Visit the entries of s whose hash lies in [lo, hi]. With fastrange, an
 * entry's home slot grows with its hash, and linear probing keeps it
 * between its home and the next EMPTY slot: so scanning from home(lo) up
 * to the first EMPTY slot past home(hi) (wrapping) finds them all. */
static void slots_scan_range(const ldb_table *t, const ldb_slots *s, size_t skip, uint64_t lo,
                             uint64_t hi, ldb_scan_fn fn, void *ud) {
    if (s->cap == 0) return;
    size_t a = home_slot(lo, s->cap), b = home_slot(hi, s->cap);
    size_t i = a, steps = 0;
    if (i < skip) { /* the DELETED run [0, skip), not walked slot by slot */
        steps = skip - a;
        i = skip;
    }
    for (; steps < s->cap; steps++) {
        int past_b = steps > b - a;
        uint8_t tag = i < skip ? TAG_DELETED : s->tags[i]; /* see slots_find */
        if (past_b && tag == TAG_EMPTY) break;
        if (tag > TAG_DELETED) {
            uint64_t h = entry_hash(t, s->ents[i]);
            if (h >= lo && h <= hi) fn(ud, s->ents[i]);
        }
        if (++i == s->cap) { /* wrap, past the DELETED run [0, skip) */
            i = skip;
            steps += skip;
        }
    }
}

uint64_t ldb_table_scan(const ldb_table *t, uint64_t cursor, size_t slots, ldb_scan_fn fn,
                        void *ud) {
    size_t cap = t->cur.cap > t->old.cap ? t->cur.cap : t->old.cap;
    if (cap == 0) return 0;
    /* A hash range about 'slots' slots of the larger array wide. */
    if (slots == 0) slots = 1;
    uint64_t hi = UINT64_MAX;
    if (slots < cap) {
        uint64_t span = (UINT64_MAX / cap + 1) * (uint64_t)slots; /* < 2^64 */
        if (span - 1 < UINT64_MAX - cursor) hi = cursor + (span - 1);
    }
    slots_scan_range(t, &t->old, t->migrated, cursor, hi, fn, ud);
    slots_scan_range(t, &t->cur, 0, cursor, hi, fn, ud);
    return hi == UINT64_MAX ? 0 : hi + 1;
}

/* ---- Sampling ---- */

/* The first live entry of s at or after slot i (wrapping), or NULL. */
static ldb_entry *slots_next_live(const ldb_slots *s, size_t skip, size_t i) {
    for (size_t steps = 0; steps < s->cap; steps++, i = i + 1 == s->cap ? 0 : i + 1)
        if (i >= skip && s->tags[i] > TAG_DELETED) return s->ents[i];
    return NULL;
}

ldb_entry *ldb_table_sample(const ldb_table *t, uint64_t r) {
    if (t->count == 0) return NULL;
    /* While resizing, pick old or cur in proportion to their slots, then
     * walk from a random slot; the other array is the fallback. */
    size_t live_old = t->old.cap > t->migrated ? t->old.cap - t->migrated : 0;
    int from_old = live_old && (r >> 32) % (live_old + t->cur.cap) < live_old;
    const ldb_slots *a = from_old ? &t->old : &t->cur, *b = from_old ? &t->cur : &t->old;
    size_t skip_a = from_old ? t->migrated : 0, skip_b = from_old ? 0 : t->migrated;
    ldb_entry *e = a->cap ? slots_next_live(a, skip_a, (size_t)(r % a->cap)) : NULL;
    if (!e && b->cap) e = slots_next_live(b, skip_b, (size_t)(r % b->cap));
    return e;
}

size_t ldb_table_slot_bytes(const ldb_table *t) {
    return (t->cur.cap + t->old.cap) * (sizeof(ldb_entry *) + 1);
}

/* ---- Emptying with a hand-over ---- */

static void slots_hand_over(const ldb_slots *s, size_t from, ldb_entry_fn fn, void *ud) {
    for (size_t i = from; i < s->cap; i++)
        if (s->tags[i] > TAG_DELETED) fn(ud, s->ents[i]);
}

void ldb_table_clear(ldb_table *t, ldb_entry_fn fn, void *ud) {
    slots_hand_over(&t->old, t->migrated, fn, ud); /* invariant (2): not below */
    slots_hand_over(&t->cur, 0, fn, ud);
    slots_free(t->alloc, &t->old);
    slots_free(t->alloc, &t->cur);
    t->count = 0;
    t->migrated = t->released = 0;
}
