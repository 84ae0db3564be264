/* snapshot.c -- a point-in-time view of a keyspace (snapshot.h).
 *
 * Invariants (asserted):
 *  (1) seen_n < seen_cap whenever seen_cap > 0: the probe always ends;
 *  (2) a saved state's entry is in 'seen': it is saved once;
 *  (3) once cancelled, nothing is saved or handed out again. */
#include <assert.h>
#include <string.h>

#include "keyspace.h"
#include "snapshot.h"

void ldb_snapshot_init(ldb_snapshot *s, ldb_alloc *a, int64_t t_ms) {
    memset(s, 0, sizeof *s);
    s->alloc = a;
    s->t_ms = t_ms;
}

void ldb_snapshot_free(ldb_snapshot *s) {
    ldb_free(s->alloc, s->seen, s->seen_cap * sizeof *s->seen);
    ldb_free(s->alloc, s->saved, s->saved_cap * sizeof *s->saved);
    s->seen = NULL;
    s->saved = NULL;
    s->seen_cap = s->seen_n = s->saved_cap = s->nsaved = 0;
}

void ldb_snapshot_cancel(ldb_snapshot *s) {
    s->cancelled = 1;
    s->nsaved = 0;
}

/* ---- The set of entries seen: pointers, open addressing ---- */

static size_t slot_of(uintptr_t p, size_t cap) {
    uint64_t h = (uint64_t)p * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 32) & (cap - 1);
}

static int seen_has(const ldb_snapshot *s, const ldb_entry *e) {
    if (!s->seen_cap) return 0;
    uintptr_t p = (uintptr_t)e;
    for (size_t i = slot_of(p, s->seen_cap);; i = (i + 1) & (s->seen_cap - 1)) {
        if (s->seen[i] == p) return 1;
        if (s->seen[i] == 0) return 0;
    }
}

static void seen_insert(uintptr_t *slots, size_t cap, uintptr_t p) {
    size_t i = slot_of(p, cap);
    while (slots[i] != 0 && slots[i] != p) i = (i + 1) & (cap - 1);
    slots[i] = p;
}

/* Room for one more at a load of at most 1/2. 0, or -1 without memory. */
static int seen_reserve(ldb_snapshot *s) {
    if ((s->seen_n + 1) * 2 <= s->seen_cap) return 0;
    size_t cap = s->seen_cap ? s->seen_cap * 2 : 1024;
    uintptr_t *slots = ldb_malloc(s->alloc, cap * sizeof *slots);
    if (!slots) return -1;
    memset(slots, 0, cap * sizeof *slots);
    for (size_t i = 0; i < s->seen_cap; i++)
        if (s->seen[i]) seen_insert(slots, cap, s->seen[i]);
    ldb_free(s->alloc, s->seen, s->seen_cap * sizeof *s->seen);
    s->seen = slots;
    s->seen_cap = cap;
    return 0;
}

/* Add e to 'seen'; 1 if it was new, 0 if there already, -1 without memory. */
static int seen_add(ldb_snapshot *s, const ldb_entry *e) {
    if (seen_has(s, e)) return 0;
    if (seen_reserve(s) != 0) return -1;
    seen_insert(s->seen, s->seen_cap, (uintptr_t)e);
    s->seen_n++;
    assert(s->seen_n < s->seen_cap); /* invariant (1) */
    return 1;
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

/* The state of e (in database d) now, to hand out. */
static ldb_snap_item state_of(ldb_keyspace *ks, int d, const ldb_entry *e) {
    ldb_snap_item item = {e, ldb_ks_deadline(ks, d, e), (uint8_t)d, (uint8_t)ldb_entry_type(e)};
    return item;
}

void ldb_snapshot_touch(ldb_snapshot *s, ldb_keyspace *ks, int d, const ldb_entry *e) {
    if (!e || s->cancelled) return;
    ldb_snap_item item = state_of(ks, d, e); /* before seen_add: a failure saves nothing */
    int added = seen_add(s, e);
    if (added == 0) return; /* put after T, or saved already */
    if (added < 0 || save(s, item) != 0) ldb_snapshot_cancel(s);
}

void ldb_snapshot_born(ldb_snapshot *s, const ldb_entry *e) {
    if (!s->cancelled && seen_add(s, e) < 0) ldb_snapshot_cancel(s);
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

static void visit(void *ud, const ldb_entry *e) {
    step_ctx *c = ud;
    if (seen_has(c->s, e)) return; /* put after T, or saved */
    ldb_snap_item item = state_of(c->ks, c->s->db, e);
    hand_out(c, &item);
}

int ldb_snapshot_step(ldb_snapshot *s, ldb_keyspace *ks, size_t slots, ldb_snap_fn fn, void *ud) {
    step_ctx c = {s, ks, fn, ud, 0};
    if (s->cancelled) return -1;
    for (size_t i = 0; i < s->nsaved; i++) {
        assert(seen_has(s, s->saved[i].e)); /* invariant (2) */
        hand_out(&c, &s->saved[i]);
    }
    s->nsaved = 0;
    if (s->db < LDB_DBS) {
        s->cursor = ldb_table_scan(&ks->keys[s->db], s->cursor, slots, visit, &c);
        if (s->cursor == 0) s->db++;
    }
    if (c.failed) {
        ldb_snapshot_cancel(s);
        return -1;
    }
    return s->db < LDB_DBS || s->nsaved ? 1 : 0;
}
