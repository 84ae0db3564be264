/* snapshot_test.c -- the point-in-time view compaction writes
 * (snapshot.c), checked against a model without threads: while random
 * puts, removes, deadline changes and moves run between the steps, the
 * states handed out are exactly the keys of instant T, each with its value
 * and deadline of T (a key may come twice, the same both times); keys
 * expired at T are left out; a whole-database change cancels it. */
#include <stdlib.h>
#include <string.h>

#include "keyspace.h"
#include "test.h"

#define KEYS 3000
#define T_MS 1000000

/* The model of T: per key (db d, index i), its value number and deadline,
 * or absent. */
typedef struct model_key {
    int present;
    int value;
    int64_t deadline;
    int seen; /* handed out */
} model_key;

static model_key at_t[3][KEYS];
static ldb_entry *dropped[200000];
static int ndropped;
static int mismatches;

static ldb_entry *make(ldb_alloc *a, int i, int value) {
    char k[16], v[16];
    int kn = snprintf(k, sizeof k, "k%d", i), vn = snprintf(v, sizeof v, "v%d", value);
    return ldb_entry_create_string(a, k, (size_t)kn, v, (size_t)vn, NULL);
}

static void put(ldb_keyspace *ks, int d, int i, int value, int keep_ttl) {
    ldb_entry *e = make(ks->alloc, i, value), *old = NULL;
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    uint64_t h = ldb_table_prepare(&ks->keys[d], v.key, v.klen);
    REQUIRE(ldb_ks_put(ks, d, h, e, keep_ttl, &old) == LAYERDB_OK);
    if (old) dropped[ndropped++] = old; /* freed at the end: a state handed out may point into it */
}

static ldb_entry *find(ldb_keyspace *ks, int d, int i) {
    char k[16];
    int kn = snprintf(k, sizeof k, "k%d", i);
    return ldb_ks_find(ks, d, k, (size_t)kn, LDB_KS_NO_EXPIRY);
}

static int check_item(void *ud, const ldb_snap_item *it) {
    (void)ud;
    /* args: the key's length and bytes, the value's (short: one-byte lengths) */
    size_t klen = it->args[0], vlen = it->args[1 + klen];
    CHECK(klen < 16 && vlen < 16 && it->args_len == 2 + klen + vlen);
    if (klen >= 16 || vlen >= 16) return 0;
    char kb[16] = "", vb[16] = "";
    memcpy(kb, it->args + 2, klen - 1);
    memcpy(vb, it->args + 3 + klen, vlen - 1);
    int i = atoi(kb), value = atoi(vb);
    model_key *m = &at_t[it->db][i];
    if (!m->present || m->value != value || m->deadline != it->deadline) {
        if (mismatches++ < 5)
            printf("# db %d k%d: got v%d deadline %lld, T had %s v%d deadline %lld\n", it->db, i,
                   value, (long long)it->deadline, m->present ? "" : "nothing,", m->value,
                   (long long)m->deadline);
    }
    m->seen++;
    return 0;
}

/* One random change, as a command would make it. */
static void change(ldb_keyspace *ks, int n) {
    int d = (int)(test_rand() % 3), i = (int)(test_rand() % KEYS);
    ldb_entry *e = find(ks, d, i);
    switch (test_rand() % 6) {
    case 0: put(ks, d, i, 100000 + n, 0); break;
    case 1: put(ks, d, i, 200000 + n, 1); break; /* keeps a deadline */
    case 2:
        if (e) {
            char k[16];
            int kn = snprintf(k, sizeof k, "k%d", i);
            ldb_entry *x = ldb_ks_unlink(ks, d, k, (size_t)kn);
            if (x) dropped[ndropped++] = x;
        }
        break;
    case 3: if (e) REQUIRE(ldb_ks_set_deadline(ks, d, e, T_MS + 5000 + n) == LAYERDB_OK); break;
    case 4: if (e) (void)ldb_ks_clear_deadline(ks, d, e); break;
    default: { /* MOVE to the next database if the key is not there */
        int to = (d + 1) % 3;
        char k[16];
        int kn = snprintf(k, sizeof k, "k%d", i);
        if (!e || find(ks, to, i)) break;
        /* as MOVE does it (commands/keys.c): into the destination
         * first, with the flag clear, then out of the source */
        int64_t when = ldb_ks_deadline(ks, d, e);
        ldb_ks_will_change(ks, d, e);
        ldb_entry_set_ttl_flag(e, 0);
        ldb_entry *old = NULL;
        uint64_t h = ldb_table_prepare(&ks->keys[to], k, (size_t)kn);
        REQUIRE(ldb_ks_put_expiring(ks, to, h, e, when, &old) == LAYERDB_OK);
        REQUIRE(ldb_ks_unlink(ks, d, k, (size_t)kn) == e); /* drops the source's deadline */
    }
    }
}

static void fill(ldb_keyspace *ks) {
    memset(at_t, 0, sizeof at_t);
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < KEYS; i++) {
            if (test_rand() % 4 == 0) continue;
            int value = (int)(test_rand() % 1000);
            put(ks, d, i, value, 0);
            int64_t deadline = -1;
            if (test_rand() % 3 == 0) {
                deadline = T_MS - 500 + (int64_t)(test_rand() % 1000); /* some expired at T */
                REQUIRE(ldb_ks_set_deadline(ks, d, find(ks, d, i), deadline) == LAYERDB_OK);
            }
            if (deadline >= 0 && deadline <= T_MS) continue; /* not in the snapshot */
            at_t[d][i] = (model_key){1, value, deadline, 0};
        }
}

TEST("the states handed out are those of instant T, whatever changes between steps") {
    test_rand_state = test_seed() | 1;
    for (int round = 0; round < 5; round++) {
        ldb_alloc a;
        ldb_alloc_init(&a, NULL);
        ldb_keyspace ks;
        ldb_ks_init(&ks, &a, 42 + (uint64_t)round);
        ndropped = 0;
        mismatches = 0;
        fill(&ks);
        ldb_snapshot snap;
        ldb_snapshot_init(&snap, &a, T_MS);
        ks.snap = &snap;
        int more = 1, n = 0;
        while (more > 0) {
            for (int c = 0; c < 50; c++) change(&ks, n++);
            more = ldb_snapshot_step(&snap, &ks, 64, check_item, NULL);
        }
        /* the end: the last saved states under the lock, then detach */
        CHECK(ldb_snapshot_drain(&snap, &ks, check_item, NULL) == 0);
        ks.snap = NULL;
        CHECK(more == 0);
        CHECK(mismatches == 0);
        int missing = 0, keys = 0, twice = 0;
        for (int d = 0; d < 3; d++)
            for (int i = 0; i < KEYS; i++) {
                keys += at_t[d][i].present;
                missing += at_t[d][i].present && !at_t[d][i].seen;
                twice += at_t[d][i].seen > 1;
            }
        CHECK(missing == 0);
        printf("# round %d: %d keys at T, %d changes, %d handed out twice\n", round, keys, n, twice);
        CHECK(ldb_ks_check(&ks));
        ldb_snapshot_free(&snap);
        for (int i = 0; i < ndropped; i++) ldb_entry_free(&a, dropped[i]);
        ldb_ks_free(&ks);
    }
}

TEST("FLUSHDB or SWAPDB during a snapshot cancels it") {
    for (int how = 0; how < 2; how++) {
        ldb_alloc a;
        ldb_alloc_init(&a, NULL);
        ldb_keyspace ks;
        ldb_ks_init(&ks, &a, 7);
        ndropped = 0;
        fill(&ks);
        ldb_snapshot snap;
        ldb_snapshot_init(&snap, &a, T_MS);
        ks.snap = &snap;
        CHECK(ldb_snapshot_step(&snap, &ks, 64, check_item, NULL) == 1);
        if (how == 0) ldb_ks_flush(&ks, 1);
        else ldb_ks_swap(&ks, 0, 2);
        CHECK(ldb_snapshot_step(&snap, &ks, 64, check_item, NULL) == -1);
        ks.snap = NULL;
        ldb_snapshot_free(&snap);
        for (int i = 0; i < ndropped; i++) ldb_entry_free(&a, dropped[i]);
        ldb_ks_free(&ks);
    }
}

int main(void) { return test_main(); }
