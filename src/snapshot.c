/* snapshot.c -- a point-in-time view of a keyspace (snapshot.h).
 *
 * Invariants (asserted):
 *  (1) a saved state's key is in 'seen' of its database: saved once;
 *  (2) once cancelled, nothing is saved or handed out again. */
#include <assert.h>
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

void ldb_snapshot_free(ldb_snapshot *s) {
    for (int d = 0; d < LDB_DBS; d++) ldb_table_free(&s->seen[d]);
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

/* The state of e (in database d) now, to hand out. */
static ldb_snap_item state_of(ldb_keyspace *ks, int d, const ldb_entry *e) {
    ldb_snap_item item = {e, ldb_ks_deadline(ks, d, e), (uint8_t)d, (uint8_t)ldb_entry_type(e)};
    return item;
}

/* Put key in seen[d]: 0, or -1 without memory. */
static int mark_seen(ldb_snapshot *s, int d, const void *key, size_t klen) {
    ldb_entry *m = ldb_entry_create_string(s->alloc, key, klen, NULL, 0, NULL), *old = NULL;
    if (!m || ldb_table_put(&s->seen[d], m, &old) != 0) {
        ldb_entry_free(s->alloc, m);
        return -1;
    }
    assert(old == NULL);
    return 0;
}

void ldb_snapshot_touch(ldb_snapshot *s, ldb_keyspace *ks, int d, const void *key, size_t klen,
                        const ldb_entry *e) {
    if (s->cancelled || ldb_table_find(&s->seen[d], key, klen)) return;
    if (mark_seen(s, d, key, klen) != 0 || (e && save(s, state_of(ks, d, e)) != 0))
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

int ldb_snapshot_step(ldb_snapshot *s, ldb_keyspace *ks, size_t slots, ldb_snap_fn fn, void *ud) {
    step_ctx c = {s, ks, fn, ud, 0};
    if (s->cancelled) return -1;
    for (size_t i = 0; i < s->nsaved; i++) {
        assert(key_seen(s, s->saved[i].db, s->saved[i].e)); /* invariant (1) */
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
