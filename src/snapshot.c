/* snapshot.c -- a point-in-time view of a keyspace (snapshot.h).
 *
 * Invariants:
 *  (1) a saved state's key is in 'seen' of its database: saved once
 *      (snapshot_test checks what this gives: each key of T handed out,
 *      with its state of T);
 *  (2) once cancelled, nothing is saved or handed out again. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "keyspace.h"
#include "snapshot.h"

_Static_assert(sizeof ((ldb_snapshot *)0)->seen / sizeof(ldb_table) == LDB_DBS,
               "a 'seen' table per database");

void ldb_snapshot_init(ldb_snapshot *s, ldb_alloc *a, int64_t t_ms) {
    memset(s, 0, sizeof *s);
    s->alloc = a;
    s->t_ms = t_ms;
    uint64_t seed = (uint64_t)(uintptr_t)s ^ (uint64_t)t_ms; /* any seed will do */
    for (int d = 0; d < LDB_DBS; d++) ldb_table_init(&s->seen[d], a, seed + (uint64_t)d);
}

#define BLOCK_BYTES (1024 * 1024)

struct ldb_snap_block {
    ldb_snap_block *next;
    size_t size, used;       /* bytes of data[] */
    unsigned char data[];
};

/* n bytes in the newest block, or a new one; NULL without memory. */
static unsigned char *block_alloc(ldb_snapshot *s, size_t n) {
    ldb_snap_block *b = s->blocks;
    if (!b || b->size - b->used < n) {
        size_t size = n > BLOCK_BYTES ? n : BLOCK_BYTES;
        if (!(b = ldb_malloc(s->alloc, sizeof *b + size))) return NULL;
        b->next = s->blocks;
        b->size = size;
        b->used = 0;
        s->blocks = b;
    }
    b->used += n;
    return b->data + b->used - n;
}

static void keep_entry(void *ud, ldb_entry *e) { /* the blocks own it */
    (void)ud;
    (void)e;
}

void ldb_snapshot_free(ldb_snapshot *s) {
    for (int d = 0; d < LDB_DBS; d++) ldb_table_clear(&s->seen[d], keep_entry, NULL);
    while (s->blocks) {
        ldb_snap_block *b = s->blocks;
        s->blocks = b->next;
        ldb_free(s->alloc, b, sizeof *b + b->size);
    }
    ldb_free(s->alloc, s->saved, s->saved_cap * sizeof *s->saved);
    s->saved = NULL;
    s->saved_cap = s->nsaved = 0;
}

void ldb_snapshot_cancel(ldb_snapshot *s) {
    s->cancelled = 1;
    s->nsaved = 0;
}

/* ---- What the keyspace calls ---- */

static int save(ldb_snapshot *s, ldb_snap_item item) {
    if (s->nsaved == s->saved_cap) {
        size_t cap = s->saved_cap ? s->saved_cap * 2 : 256;
        ldb_snap_item *p = ldb_realloc(s->alloc, s->saved, s->saved_cap * sizeof *p, cap * sizeof *p);
        if (!p) return -1;
        s->saved = p;
        s->saved_cap = cap;
    }
    s->saved[s->nsaved++] = item;
    return 0;
}

/* The state of e (in database d) now, to hand out; its bytes are e's. */
static ldb_snap_item state_of(ldb_keyspace *ks, int d, const ldb_entry *e) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    ldb_snap_item item = {ldb_entry_string_args(e), v.alloc_size - 1, ldb_ks_deadline(ks, d, e),
                          (uint8_t)d, (uint8_t)v.type};
    return item;
}

/* Save the state of e (in database d) as it is now: a copy of its bytes. */
static int save_state(ldb_snapshot *s, ldb_keyspace *ks, int d, const ldb_entry *e) {
    ldb_snap_item item = state_of(ks, d, e);
    unsigned char *copy = block_alloc(s, item.args_len);
    if (!copy) return -1;
    memcpy(copy, item.args, item.args_len);
    item.args = copy;
    return save(s, item);
}

/* Put key in seen[d], as a string entry with an empty value (table.h)
 * in a block: 0, or -1 without memory. */
static int mark_seen(ldb_snapshot *s, int d, const void *key, size_t klen) {
    unsigned char *p = block_alloc(s, ldb_entry_string_size(klen, 0));
    if (!p) return -1;
    ldb_entry_put_string(p, key, klen, NULL, 0);
    ldb_entry *old = NULL;
    if (ldb_table_put(&s->seen[d], (ldb_entry *)p, &old) != 0) return -1; /* stays in the block */
    assert(old == NULL);
    return 0;
}

void ldb_snapshot_touch(ldb_snapshot *s, ldb_keyspace *ks, int d, const void *key, size_t klen,
                        const ldb_entry *e) {
    if (s->cancelled || ldb_table_find(&s->seen[d], key, klen)) return;
    if (mark_seen(s, d, key, klen) != 0 || (e && save_state(s, ks, d, e) != 0))
        ldb_snapshot_cancel(s);
}

/* ---- Reading it ---- */

typedef struct step_ctx {
    ldb_snapshot *s;
    ldb_keyspace *ks;
    ldb_snap_fn fn;
    void *ud;
    int failed;
} step_ctx;

/* Hand out a state unless its key had expired at T. */
static void hand_out(step_ctx *c, const ldb_snap_item *item) {
    if (c->failed || (item->deadline >= 0 && item->deadline <= c->s->t_ms)) return;
    if (c->fn(c->ud, item) != 0) c->failed = 1;
    c->s->keys++;
}

static int key_seen(const ldb_snapshot *s, int d, const ldb_entry *e) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    return ldb_table_find(&s->seen[d], v.key, v.klen) != NULL;
}

static void visit(void *ud, const ldb_entry *e) {
    step_ctx *c = ud;
    if (key_seen(c->s, c->s->db, e)) return; /* changed after T: saved, or new */
    ldb_snap_item item = state_of(c->ks, c->s->db, e);
    hand_out(c, &item);
}

/* Hand out up to n saved states, the last first. */
static void hand_out_saved(step_ctx *c, size_t n) {
    ldb_snapshot *s = c->s;
    while (n-- > 0 && s->nsaved > 0) hand_out(c, &s->saved[--s->nsaved]);
}

static int step_end(step_ctx *c) {
    if (!c->failed) return 0;
    ldb_snapshot_cancel(c->s);
    return -1;
}

int ldb_snapshot_step(ldb_snapshot *s, ldb_keyspace *ks, size_t slots, ldb_snap_fn fn, void *ud) {
    step_ctx c = {s, ks, fn, ud, 0};
    if (s->cancelled) return -1;
    hand_out_saved(&c, slots);
    if (s->db < LDB_DBS) {
        s->cursor = ldb_table_scan(&ks->keys[s->db], s->cursor, slots, visit, &c);
        if (s->cursor == 0) s->db++;
    }
    if (step_end(&c) != 0) return -1;
    return s->db < LDB_DBS || s->nsaved ? 1 : 0;
}

int ldb_snapshot_drain(ldb_snapshot *s, ldb_keyspace *ks, ldb_snap_fn fn, void *ud) {
    step_ctx c = {s, ks, fn, ud, 0};
    if (s->cancelled) return -1;
    hand_out_saved(&c, SIZE_MAX);
    return step_end(&c);
}
