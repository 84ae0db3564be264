/* table_test.c -- the hash table (src/table.c) on its own: growth under load,
 * incremental resize, binary keys, removal, iteration, and a long random
 * run checked against a plain model. */
#include "test.h"

#include "log_format.h"
#include "table.h"

static ldb_alloc alloc;

static void table_new(ldb_table *t) {
    ldb_alloc_init(&alloc, NULL);
    ldb_table_init(t, &alloc, test_rand());
}

static int put_str(ldb_table *t, const void *k, size_t kl, const void *v, size_t vl) {
    ldb_entry *e = ldb_entry_create_string(&alloc, k, kl, v, vl, NULL), *old;
    if (!e || ldb_table_put(t, e, &old) != 0) return -1;
    ldb_entry_free(&alloc, old);
    return 0;
}

/* The value of key as a view, or NULL. */
static int get_view(const ldb_table *t, const void *k, size_t kl, ldb_entry_view *v) {
    const ldb_entry *e = ldb_table_find(t, k, kl);
    if (!e) return 0;
    ldb_entry_decode(e, v);
    return 1;
}

static int key_of(char *buf, uint32_t i) { return snprintf(buf, 32, "key:%012u", i); }

/* ldb_table_scan callbacks: count entries; note each key_of index seen. */
static void count_entry(void *ud, const ldb_entry *e) {
    (void)e;
    (*(size_t *)ud)++;
}

struct seen_keys {
    unsigned char *seen; /* visits per index */
    uint32_t n;
    size_t visits, dup;
};

static void note_entry(void *ud, const ldb_entry *e) {
    struct seen_keys *s = ud;
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    unsigned idx = (unsigned)strtoul((const char *)v.key + 4, NULL, 10);
    if (idx < s->n && s->seen[idx]++) s->dup++;
    s->visits++;
}

TEST("holds 1.5 million keys through many resizes, each findable with its value") {
    ldb_table t;
    table_new(&t);
    char k[32];
    const uint32_t n = 1500000;
    for (uint32_t i = 0; i < n; i++) {
        int kl = key_of(k, i);
        REQUIRE(put_str(&t, k, (size_t)kl, &i, sizeof i) == 0);
    }
    CHECK(t.count == n);
    uint32_t wrong = 0;
    for (uint32_t i = 0; i < n; i++) {
        ldb_entry_view v;
        int kl = key_of(k, i);
        uint32_t got;
        if (!get_view(&t, k, (size_t)kl, &v) || v.vlen != 4) { wrong++; continue; }
        memcpy(&got, v.val, 4);
        if (got != i) wrong++;
    }
    CHECK(wrong == 0);
    CHECK(ldb_table_find(&t, "key:absent", 10) == NULL);
    ldb_table_free(&t);
    CHECK(atomic_load(&alloc.live_bytes) == 0);
}

TEST("keeps binary keys with zero bytes apart, the empty key included") {
    ldb_table t;
    table_new(&t);
    const char *keys[] = {"", "\0", "\0\0", "a\0b", "a\0c", "a"};
    const size_t lens[] = {0, 1, 2, 3, 3, 1};
    for (size_t i = 0; i < 6; i++) REQUIRE(put_str(&t, keys[i], lens[i], &i, sizeof i) == 0);
    CHECK(t.count == 6);
    for (size_t i = 0; i < 6; i++) {
        ldb_entry_view v;
        size_t got = 99;
        CHECK(get_view(&t, keys[i], lens[i], &v));
        memcpy(&got, v.val, sizeof got);
        CHECK(got == i);
    }
    ldb_table_free(&t);
}

TEST("a string entry holds key and value as a SET record encodes its arguments") {
    /* The write path logs a set by copying the entry (db.c): this is the
     * contract it relies on, for one- and two-byte length varints. */
    static unsigned char bytes[300];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)(255 - i);
    const size_t lens[] = {0, 1, 127, 128, 300};
    for (size_t ki = 0; ki < 5; ki++) {
        for (size_t vi = 0; vi < 5; vi++) {
            ldb_slice argv[3] = {{(const unsigned char *)"SET", 3}, {bytes, lens[ki]},
                                 {bytes + 3, lens[vi] - (lens[vi] == 300 ? 3 : 0)}};
            size_t need = ldb_logfmt_command_record_size(3, argv);
            unsigned char *rec = malloc(need);
            REQUIRE(rec);
            ldb_logfmt_put_command_unsealed(rec, need, 3, argv);
            /* frame, type, ncmds, argc, then "SET" with its length */
            size_t args_at = LDB_FRAME_SIZE + 3 + 1 + 3;
            size_t size = 0;
            ldb_entry *e = ldb_entry_create_string(&alloc, argv[1].p, argv[1].len, argv[2].p,
                                                   argv[2].len, &size);
            REQUIRE(e);
            ldb_entry_view v;
            ldb_entry_decode(e, &v);
            CHECK(v.alloc_size == 1 + need - args_at && size == v.alloc_size);
            CHECK(ldb_logfmt_encoded_record_size(3, &argv[0], size - 1) == need);
            CHECK(memcmp(ldb_entry_string_args(e), rec + args_at, need - args_at) == 0);
            CHECK(v.klen == argv[1].len && memcmp(v.key, argv[1].p, v.klen) == 0);
            CHECK(v.vlen == argv[2].len && memcmp(v.val, argv[2].p, v.vlen) == 0);
            ldb_entry_free(&alloc, e);
            free(rec);
        }
    }
}

TEST("grows incrementally: a put that starts a resize leaves old slots to move later") {
    ldb_table t;
    table_new(&t);
    char k[32];
    uint32_t i = 0;
    /* Insert until a resize is under way with a big enough old array. */
    while (!(t.old.cap > 10000)) {
        int kl = key_of(k, i);
        REQUIRE(put_str(&t, k, (size_t)kl, "v", 1) == 0);
        i++;
    }
    size_t left_in_old = t.old.cap - t.migrated;
    CHECK(left_in_old > 1000); /* the put did not move everything at once */
    /* While it drains, replacing and removing keys that still sit in old
     * must keep exactly one copy of each key. */
    for (uint32_t j = 0; j < 200; j++) {
        int kl = key_of(k, j);
        REQUIRE(put_str(&t, k, (size_t)kl, "new", 3) == 0);
    }
    for (uint32_t j = 200; j < 400; j++) {
        int kl = key_of(k, j);
        ldb_entry *e = ldb_table_remove(&t, k, (size_t)kl);
        CHECK(e != NULL);
        ldb_entry_free(&alloc, e);
    }
    CHECK(t.count == i - 200);
    for (uint32_t j = 0; j < i; j++) {
        ldb_entry_view v;
        int kl = key_of(k, j), found = get_view(&t, k, (size_t)kl, &v);
        if (j < 200) CHECK(found && v.vlen == 3);
        else if (j < 400) CHECK(!found);
        else CHECK(found && v.vlen == 1);
    }
    ldb_table_free(&t);
}

TEST("iterates over every live key exactly once, also in the middle of a resize") {
    ldb_table t;
    table_new(&t);
    char k[32];
    uint32_t n = 0;
    while (!(t.old.cap > 1000 && t.migrated > 0)) {
        int kl = key_of(k, n++);
        REQUIRE(put_str(&t, k, (size_t)kl, "v", 1) == 0);
    }
    struct seen_keys s = {calloc(n, 1), n, 0, 0};
    uint64_t cursor = 0;
    do cursor = ldb_table_scan(&t, cursor, 64, note_entry, &s); while (cursor != 0);
    CHECK(s.visits == n);
    CHECK(s.dup == 0);
    free(s.seen);
    ldb_table_free(&t);
}

TEST("shrinks its slot arrays after most keys are removed and inserts resume") {
    ldb_table t;
    table_new(&t);
    char k[32];
    for (uint32_t i = 0; i < 200000; i++) {
        int kl = key_of(k, i);
        REQUIRE(put_str(&t, k, (size_t)kl, "v", 1) == 0);
    }
    size_t big = ldb_table_slot_bytes(&t);
    for (uint32_t i = 0; i < 199000; i++) {
        int kl = key_of(k, i);
        ldb_entry_free(&alloc, ldb_table_remove(&t, k, (size_t)kl));
    }
    for (uint32_t i = 0; i < 400000; i++) { /* churn: deleted slots fill up */
        int kl = key_of(k, 1000000 + i % 1000);
        REQUIRE(put_str(&t, k, (size_t)kl, "v", 1) == 0);
        ldb_entry_free(&alloc, ldb_table_remove(&t, k, (size_t)kl));
    }
    CHECK(t.count == 1000);
    CHECK(ldb_table_slot_bytes(&t) < big / 10);
    ldb_table_free(&t);
}

TEST("agrees with a plain array model over a million random puts, removes and finds") {
    uint64_t seed = test_seed();
    printf("# seed %llu\n", (unsigned long long)seed);
    test_rand_state = seed | 1;
    enum { UNIVERSE = 20000 };
    static uint32_t model[UNIVERSE]; /* 0 = absent, else value */
    memset(model, 0, sizeof model);
    ldb_table t;
    table_new(&t);
    char k[32];
    size_t live = 0, mismatches = 0;
    for (uint32_t op = 1; op <= 1000000; op++) {
        uint32_t i = (uint32_t)(test_rand() % UNIVERSE);
        int kl = key_of(k, i), kind = (int)(test_rand() % 10);
        if (kind < 5) {
            REQUIRE(put_str(&t, k, (size_t)kl, &op, sizeof op) == 0);
            if (!model[i]) live++;
            model[i] = op;
        } else if (kind < 8) {
            ldb_entry *e = ldb_table_remove(&t, k, (size_t)kl);
            if ((e != NULL) != (model[i] != 0)) mismatches++;
            if (model[i]) live--;
            model[i] = 0;
            ldb_entry_free(&alloc, e);
        } else {
            ldb_entry_view v;
            uint32_t got = 0;
            int found = get_view(&t, k, (size_t)kl, &v);
            if (found) memcpy(&got, v.val, sizeof got);
            if (found != (model[i] != 0) || got != model[i]) mismatches++;
        }
    }
    CHECK(mismatches == 0);
    CHECK(t.count == live);
    ldb_table_free(&t);
    CHECK(atomic_load(&alloc.live_bytes) == 0);
}

TEST("finds every key while a big resize drains and gives the drained pages back") {
    ldb_table t;
    table_new(&t);
    char k[32];
    size_t lookups_during_drain = 0, wrong = 0, released_seen = 0;
    for (uint32_t i = 0; i < 1300000; i++) {
        int kl = key_of(k, i);
        REQUIRE(put_str(&t, k, (size_t)kl, &i, sizeof i) == 0);
        if (t.old.cap < 512 * 1024) continue;
        if (t.released > 0) released_seen++;
        /* an earlier key (some still in old past the drain point, some in
         * clusters across it), and one never inserted */
        /* The keys right past the drain point: their probe paths may start
         * in drained (released) slots. Each must be found where it is. */
        for (size_t slot = t.migrated; slot < t.old.cap && slot < t.migrated + 256; slot++) {
            if (t.old.tags[slot] < 2) continue;
            ldb_entry_view here;
            ldb_entry_decode(t.old.ents[slot], &here);
            if (ldb_table_find(&t, here.key, here.klen) != t.old.ents[slot]) wrong++;
        }
        uint32_t j = (uint32_t)((i * 7919ull) % (i + 1));
        ldb_entry_view v;
        int kj = key_of(k, j);
        if (!get_view(&t, k, (size_t)kj, &v) || memcmp(v.val, &j, sizeof j) != 0) wrong++;
        kj = key_of(k, 5000000 + i);
        if (get_view(&t, k, (size_t)kj, &v)) wrong++;
        lookups_during_drain++;
    }
    CHECK(lookups_during_drain > 10000);
    CHECK(released_seen > 0);
    CHECK(wrong == 0);
    size_t visits = 0;
    uint64_t cursor = 0;
    do cursor = ldb_table_scan(&t, cursor, 4096, count_entry, &visits); while (cursor != 0);
    CHECK(visits == 1300000);
    ldb_table_free(&t);
}

TEST("never reads drained slots: zeroing them (as released pages read) loses no key") {
    ldb_table t;
    table_new(&t);
    char k[32];
    uint32_t n = 0;
    /* Stop in the middle of draining a resize of a 100K+ slot array. */
    while (!(t.old.cap > 100000 && t.migrated > t.old.cap / 2)) {
        int kl = key_of(k, n++);
        REQUIRE(put_str(&t, k, (size_t)kl, "v", 1) == 0);
    }
    memset(t.old.tags, 0, t.migrated); /* what MADV_DONTNEED'd pages read as */
    size_t wrong = 0;
    for (uint32_t i = 0; i < n; i++) {
        int kl = key_of(k, i);
        if (!ldb_table_find(&t, k, (size_t)kl)) wrong++;
    }
    CHECK(wrong == 0);
    uint64_t cursor = 0;
    size_t scanned = 0;
    do cursor = ldb_table_scan(&t, cursor, 1000, count_entry, &scanned); while (cursor);
    CHECK(scanned == n);
    ldb_table_free(&t);
}

int main(void) { return test_main(); }
