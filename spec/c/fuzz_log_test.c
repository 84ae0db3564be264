/* fuzz_log_test.c -- the log fuzzer's seeded loop for make check, and the
 * recovery properties that hold exactly for generated logs and their damage.
 *
 * A generator writes valid logs under a header salt: SET and DEL records
 * with binary keys from a small pool (so keys get overwritten and deleted)
 * and binary values, DELs of several keys, multi-command records (by
 * ldb_logfmt_append_commands or encoded by hand), and SYNCED records
 * vouching for every byte before them, as the writer writes them. It keeps
 * every command it wrote, so the key set after any prefix of records is
 * known exactly. Opens use persistence off, so a file is read, never written.
 *  - an unmutated log opens with exactly its keys, plainly and with repair;
 *  - a cut at every offset opens with exactly the records before the cut;
 *  - zeros or garbage after a cut (a torn page) open the same way;
 *  - one flipped bit is damage (CORRUPT naming the record's offset) when a
 *    later SYNCED record vouches for it, a torn tail when none does, and
 *    NOTDB in the file header;
 *  - a value holding a SYNCED record does not turn a torn tail into damage,
 *    and records under another file's salt are no records (regressions);
 *  - thousands of mutated logs (bit flips, overwrites, truncation, inserted,
 *    duplicated, erased and zeroed ranges, garbage), logs with one record's
 *    body mutated and sealed again with a right checksum, and lone mutated
 *    bodies go through fuzz_one, whose reference replay checks every open
 *    (fuzz_log.h).
 * Prints its seed; LAYERDB_SEED=n replays it. LAYERDB_FUZZ_CORPUS=DIR also
 * writes the unmutated fuzz inputs into DIR, a seed corpus for the libFuzzer
 * build (fuzz_log_main.c). */
#include "fuzz_log.h"
#include "test.h"

#define MUTATED_LOGS 3000  /* fuzz_one runs in the seeded loop */
#define CORPUS_FILES 200   /* inputs written to $LAYERDB_FUZZ_CORPUS */

static uint64_t start_seed(void) {
    uint64_t seed = test_seed();
    printf("# seed %llu\n", (unsigned long long)seed);
    test_rand_state = seed ? seed : 1; /* xorshift must not start at 0 */
    return seed;
}

static size_t rand_below(size_t n) { return n ? (size_t)(test_rand() % n) : 0; }

/* ---- Byte buffers ---- */

static ldb_alloc test_alloc;

static void buf_reserve(ldb_buf *b, size_t extra) {
    if (test_alloc.fn.malloc == NULL) ldb_alloc_init(&test_alloc, NULL);
    if (ldb_buf_reserve(&test_alloc, b, extra) != 0) fuzz_alloc_or_die(NULL);
}

static void buf_append(ldb_buf *b, const void *p, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_append_byte(ldb_buf *b, unsigned char c) { buf_append(b, &c, 1); }

static void buf_append_varint(ldb_buf *b, uint64_t v) {
    for (; v >= 0x80; v >>= 7) buf_append_byte(b, (unsigned char)(v | 0x80));
    buf_append_byte(b, (unsigned char)v);
}

static void buf_insert(ldb_buf *b, size_t off, const void *p, size_t n) {
    buf_reserve(b, n);
    memmove(b->p + off + n, b->p + off, b->len - off);
    memcpy(b->p + off, p, n);
    b->len += n;
}

static void buf_free(ldb_buf *b) { ldb_buf_free(&test_alloc, b); }

/* ---- Generating valid logs ---- */

typedef struct gen_op {
    int is_set;            /* SET key val; else DEL key (one op per key) */
    size_t key_off, klen;  /* in gen_log.arena */
    size_t val_off, vlen;
    size_t record;         /* index of the record holding it */
} gen_op;

typedef struct gen_log {
    uint64_t salt;         /* the header's, seeding every record checksum */
    ldb_buf file;          /* header, then the records */
    ldb_buf arena;         /* the bytes of every key and value of ops */
    gen_op *ops;
    size_t nops, ops_cap;
    size_t *starts;        /* starts[i]: offset of record i; starts[nrecords] = file.len */
    int *synced;           /* synced[i]: record i is a SYNCED record */
    size_t nrecords, records_cap;
} gen_log;

/* A key from a pool of 85 (0-3 bytes of 0x00, 0x01, 'k', 0xff), or now
 * and then a longer random one; returns its offset in the arena. */
static size_t gen_key(gen_log *g, size_t *len) {
    static const unsigned char pool[4] = {0x00, 0x01, 'k', 0xff};
    size_t off = g->arena.len;
    *len = rand_below(8) == 0 ? rand_below(41) : rand_below(4);
    for (size_t i = 0; i < *len; i++) buf_append_byte(&g->arena, pool[rand_below(4)]);
    return off;
}

/* A value: mostly 0-40 random bytes, zeros included, sometimes up to 2000. */
static size_t gen_value(gen_log *g, size_t *len) {
    size_t off = g->arena.len;
    *len = rand_below(16) == 0 ? rand_below(2001) : rand_below(41);
    for (size_t i = 0; i < *len; i++)
        buf_append_byte(&g->arena, rand_below(4) == 0 ? 0 : (unsigned char)test_rand());
    return off;
}

static ldb_slice str_slice(const char *s) {
    return (ldb_slice){(const unsigned char *)s, strlen(s)};
}

static ldb_slice arena_slice(const gen_log *g, size_t off, size_t len) {
    return (ldb_slice){g->arena.p + off, len};
}

static void gen_add_op(gen_log *g, int is_set, size_t key_off, size_t klen, size_t val_off,
                       size_t vlen) {
    if (g->nops == g->ops_cap) {
        g->ops_cap = g->ops_cap ? 2 * g->ops_cap : 64;
        g->ops = fuzz_alloc_or_die(realloc(g->ops, g->ops_cap * sizeof *g->ops));
    }
    g->ops[g->nops++] = (gen_op){is_set, key_off, klen, val_off, vlen, g->nrecords};
}

/* Close the record that starts at starts[nrecords] and ends at file.len. */
static void gen_end_record(gen_log *g, int synced) {
    if (g->nrecords + 2 > g->records_cap) {
        g->records_cap *= 2;
        g->starts = fuzz_alloc_or_die(realloc(g->starts, g->records_cap * sizeof *g->starts));
        g->synced = fuzz_alloc_or_die(realloc(g->synced, g->records_cap * sizeof *g->synced));
    }
    g->synced[g->nrecords++] = synced;
    g->starts[g->nrecords] = g->file.len;
}

static void gen_append_command(gen_log *g, size_t argc, const ldb_slice *argv) {
    buf_reserve(&g->file, ldb_logfmt_command_record_size(argc, argv));
    ldb_logfmt_append_command(&g->file, g->salt, argc, argv);
}

static void gen_set_record(gen_log *g) {
    size_t klen, vlen, key = gen_key(g, &klen), val = gen_value(g, &vlen);
    ldb_slice argv[3] = {{(const unsigned char *)"SET", 3}, arena_slice(g, key, klen),
                         arena_slice(g, val, vlen)};
    gen_add_op(g, 1, key, klen, val, vlen);
    gen_append_command(g, 3, argv);
    gen_end_record(g, 0);
}

/* DEL of 1-3 keys, present or not. */
static void gen_del_record(gen_log *g) {
    size_t nkeys = 1 + rand_below(3), off[3], len[3];
    ldb_slice argv[4] = {{(const unsigned char *)"DEL", 3}};
    for (size_t i = 0; i < nkeys; i++) off[i] = gen_key(g, &len[i]);
    for (size_t i = 0; i < nkeys; i++) {
        argv[i + 1] = arena_slice(g, off[i], len[i]);
        gen_add_op(g, 0, off[i], len[i], 0, 0);
    }
    gen_append_command(g, nkeys + 1, argv);
    gen_end_record(g, 0);
}

static void gen_synced_record(gen_log *g) {
    unsigned char rec[LDB_SYNCED_RECORD_SIZE];
    ldb_logfmt_encode_synced(rec, g->salt, g->file.len); /* every byte before it */
    buf_append(&g->file, rec, sizeof rec);
    gen_end_record(g, 1);
}

/* Append a record with this body and a right frame for this salt. */
static void append_record(ldb_buf *file, uint64_t salt, const unsigned char *body, size_t len) {
    unsigned char frame[LDB_FRAME_SIZE];
    fuzz_seal(body, len, salt, frame);
    buf_append(file, frame, sizeof frame);
    buf_append(file, body, len);
}

/* Encode commands as one COMMANDS body into 'out'. */
static void encode_commands(ldb_buf *out, const ldb_slice *args, const size_t *argcs,
                            size_t ncmds) {
    buf_append_byte(out, LDB_REC_COMMANDS);
    buf_append_varint(out, ncmds);
    for (size_t c = 0; c < ncmds; args += argcs[c++]) {
        buf_append_varint(out, argcs[c]);
        for (size_t i = 0; i < argcs[c]; i++) {
            buf_append_varint(out, args[i].len);
            buf_append(out, args[i].p, args[i].len);
        }
    }
}

/* The commands of one record being generated: arguments as arena offsets
 * (the arena may move while they are generated). */
typedef struct gen_cmds {
    size_t off[32], len[32]; /* 5 commands of at most 3 arguments */
    size_t argcs[8];
    size_t ncmds, nargs;
} gen_cmds;

static void gen_cmds_push(gen_cmds *c, size_t off, size_t len) {
    c->off[c->nargs] = off;
    c->len[c->nargs++] = len;
}

/* One command of a multi-command record: SET, or DEL of 1-2 keys. */
static void gen_body_command(gen_log *g, gen_cmds *c) {
    int is_set = rand_below(3) != 0;
    size_t argc = is_set ? 3 : 2 + rand_below(2), klen, vlen, key, val;
    gen_cmds_push(c, g->arena.len, 3);
    buf_append(&g->arena, is_set ? "SET" : "DEL", 3);
    key = gen_key(g, &klen);
    gen_cmds_push(c, key, klen);
    if (is_set) {
        val = gen_value(g, &vlen);
        gen_cmds_push(c, val, vlen);
        gen_add_op(g, 1, key, klen, val, vlen);
    } else {
        gen_add_op(g, 0, key, klen, 0, 0);
    }
    if (argc == 3 && !is_set) {
        key = gen_key(g, &klen);
        gen_cmds_push(c, key, klen);
        gen_add_op(g, 0, key, klen, 0, 0);
    }
    c->argcs[c->ncmds++] = argc;
}

/* A COMMANDS record of 2-5 commands, by ldb_logfmt_append_commands or,
 * half the time, encoded by hand (encode_commands and fuzz_seal). */
static void gen_multi_record(gen_log *g) {
    gen_cmds c = {0};
    ldb_slice args[32];
    for (size_t n = 2 + rand_below(4); c.ncmds < n;) gen_body_command(g, &c);
    for (size_t i = 0; i < c.nargs; i++) args[i] = arena_slice(g, c.off[i], c.len[i]);
    if (rand_below(2)) {
        buf_reserve(&g->file, ldb_logfmt_commands_record_size(c.ncmds, c.argcs, args));
        ldb_logfmt_append_commands(&g->file, g->salt, c.ncmds, c.argcs, args);
    } else {
        ldb_buf body = {0};
        encode_commands(&body, args, c.argcs, c.ncmds);
        append_record(&g->file, g->salt, body.p, body.len);
        buf_free(&body);
    }
    gen_end_record(g, 0);
}

/* A log of no records: the file header with this salt. */
static void gen_log_init(gen_log *g, uint64_t salt) {
    memset(g, 0, sizeof *g);
    g->salt = salt;
    buf_reserve(&g->file, LDB_FILE_HEADER_SIZE);
    ldb_logfmt_header_encode(g->file.p, salt);
    g->file.len = LDB_FILE_HEADER_SIZE;
    buf_reserve(&g->arena, 1); /* never NULL: empty keys point into it */
    g->records_cap = 64;
    g->starts = fuzz_alloc_or_die(malloc(g->records_cap * sizeof *g->starts));
    g->synced = fuzz_alloc_or_die(malloc(g->records_cap * sizeof *g->synced));
    g->starts[0] = LDB_FILE_HEADER_SIZE;
}

/* A valid log of up to max_records records, checksums seeded by salt. */
static void gen_log_create(gen_log *g, size_t max_records, uint64_t salt) {
    gen_log_init(g, salt);
    for (size_t n = rand_below(max_records + 1); g->nrecords < n;) {
        size_t kind = rand_below(16);
        if (kind < 7) gen_set_record(g);
        else if (kind < 10) gen_del_record(g);
        else if (kind < 13) gen_multi_record(g);
        else gen_synced_record(g);
    }
}

static void gen_log_free(gen_log *g) {
    buf_free(&g->file);
    buf_free(&g->arena);
    free(g->ops);
    free(g->starts);
    free(g->synced);
}

/* ---- What a prefix of records must give ---- */

/* The model (fuzz_log.h) of the first k records, ending at starts[k]. */
static void expect_prefix(const gen_log *g, size_t k, model *m) {
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < g->nops && g->ops[i].record < k; i++) {
        const gen_op *op = &g->ops[i];
        ldb_slice key = arena_slice(g, op->key_off, op->klen);
        if (op->is_set) model_set(m, key, arena_slice(g, op->val_off, op->vlen));
        else model_del(m, key);
    }
    for (size_t i = 0; i < k; i++) m->records += !g->synced[i];
    m->good_end = g->starts[k];
}

/* Records wholly before offset 'end'. */
static size_t records_before(const gen_log *g, size_t end) {
    size_t k = 0;
    while (k < g->nrecords && g->starts[k + 1] <= end) k++;
    return k;
}

/* The record holding byte 'off' (off >= the header). */
static size_t record_at(const gen_log *g, size_t off) {
    size_t i = 0;
    while (g->starts[i + 1] <= off) i++;
    return i;
}

static int open_bytes(const unsigned char *f, size_t size, int repair, layerdb **db) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.persistence = LAYERDB_PERSIST_OFF;
    o.repair = repair;
    fuzz_file_write(f, size);
    return layerdb_open(db, fuzz_path, &o);
}

/* Open f and compare with the first k records of g; 0 if all holds. A file
 * shorter than a header (a prefix of one) must open empty. */
static int opens_with_prefix(const gen_log *g, const unsigned char *f, size_t size, size_t k,
                             int repair) {
    layerdb *db;
    model m;
    int rc = open_bytes(f, size, repair, &db), bad = 1;
    expect_prefix(g, k, &m);
    m.needs_init = size < LDB_FILE_HEADER_SIZE;
    if (m.needs_init) m.count = m.records = 0;
    if (rc != LAYERDB_OK)
        printf("# open of %zu bytes (repair %d) returned %d: %s\n", size, repair, rc,
               layerdb_errmsg(db));
    else
        bad = compare_with_model(db, &m, size, repair ? "open with repair" : "open");
    layerdb_close(db);
    free(m.kv);
    return bad;
}

/* ---- Properties of generated logs ---- */

TEST("an unmutated log opens with exactly the keys its records set, plainly and with repair") {
    start_seed();
    for (int i = 0; i < 300; i++) {
        gen_log g;
        gen_log_create(&g, 60, test_rand());
        int bad = opens_with_prefix(&g, g.file.p, g.file.len, g.nrecords, 0) ||
                  opens_with_prefix(&g, g.file.p, g.file.len, g.nrecords, 1);
        CHECK(!bad);
        gen_log_free(&g);
        if (bad) break;
    }
}

TEST("a log cut at any offset opens with exactly the records before the cut") {
    start_seed();
    for (int i = 0; i < 12; i++) {
        gen_log g;
        gen_log_create(&g, 14, test_rand());
        int bad = 0;
        for (size_t cut = 0; cut <= g.file.len && !bad; cut++) {
            bad = opens_with_prefix(&g, g.file.p, cut, records_before(&g, cut), 0);
            if (bad) printf("# cut at %zu of %zu bytes\n", cut, g.file.len);
        }
        CHECK(!bad);
        gen_log_free(&g);
        if (bad) break;
    }
}

/* A cut, then zeros or random bytes: a torn page after a crash. The bytes
 * may happen to restore some of the originals. */
static void tear_page(ldb_buf *f, size_t cut) {
    size_t n = 1 + rand_below(4096);
    int zeros = rand_below(2);
    f->len = cut;
    buf_reserve(f, n);
    for (size_t i = 0; i < n; i++) f->p[f->len++] = zeros ? 0 : (unsigned char)test_rand();
}

TEST("a cut followed by zeros or garbage opens with exactly the records before the cut") {
    start_seed();
    for (int i = 0; i < 500; i++) {
        gen_log g;
        gen_log_create(&g, 30, test_rand());
        size_t cut = LDB_FILE_HEADER_SIZE + rand_below(g.file.len - LDB_FILE_HEADER_SIZE + 1);
        size_t len = g.file.len, same;
        unsigned char *original = fuzz_alloc_or_die(malloc(len + 1));
        memcpy(original, g.file.p, len);
        tear_page(&g.file, cut);
        for (same = cut; same < len && same < g.file.len && original[same] == g.file.p[same];)
            same++;
        free(original);
        int bad = opens_with_prefix(&g, g.file.p, g.file.len, records_before(&g, same), 0);
        if (bad) printf("# cut at %zu, then %zu bytes\n", cut, g.file.len - cut);
        CHECK(!bad);
        gen_log_free(&g);
        if (bad) break;
    }
}

static int later_synced(const gen_log *g, size_t record) {
    for (size_t j = record + 1; j < g->nrecords; j++)
        if (g->synced[j]) return 1;
    return 0;
}

/* A damaged record vouched for: CORRUPT naming its offset; repair keeps the
 * records before it. */
static int fails_as_damage(const gen_log *g, const unsigned char *f, size_t size, size_t rec) {
    layerdb *db;
    char want[64];
    int rc = open_bytes(f, size, 0, &db);
    snprintf(want, sizeof want, "offset %zu ", g->starts[rec]);
    int bad = rc != LAYERDB_CORRUPT || !strstr(layerdb_errmsg(db), want);
    if (bad) printf("# open returned %d (%s), want CORRUPT at %s\n", rc, layerdb_errmsg(db), want);
    layerdb_close(db);
    return bad || opens_with_prefix(g, f, size, rec, 1);
}

static int fails_as_notdb(const unsigned char *f, size_t size, int repair) {
    layerdb *db;
    int rc = open_bytes(f, size, repair, &db);
    layerdb_close(db);
    if (rc != LAYERDB_NOTDB) printf("# open returned %d, want NOTDB\n", rc);
    return rc != LAYERDB_NOTDB;
}

/* Flip one bit and check what the open makes of it; 0 if right. */
static int check_one_flip(const gen_log *g, unsigned char *f, size_t size, size_t bit) {
    size_t byte = bit / 8, rec;
    int bad;
    f[byte] ^= (unsigned char)(1u << (bit % 8));
    if (byte < LDB_FILE_HEADER_SIZE)
        bad = fails_as_notdb(f, size, 0) || fails_as_notdb(f, size, 1);
    else if (later_synced(g, rec = record_at(g, byte)))
        bad = fails_as_damage(g, f, size, rec);
    else
        bad = opens_with_prefix(g, f, size, rec, 0) || opens_with_prefix(g, f, size, rec, 1);
    f[byte] ^= (unsigned char)(1u << (bit % 8));
    if (bad) printf("# bit %zu flipped in a %zu-byte log\n", bit, size);
    return bad;
}

TEST("a flipped bit is damage under a later SYNCED record, else a torn tail; NOTDB in the header") {
    start_seed();
    for (int i = 0; i < 60; i++) {
        gen_log g;
        gen_log_create(&g, 30, test_rand());
        int bad = 0;
        for (int j = 0; j < 40 && !bad; j++)
            bad = check_one_flip(&g, g.file.p, g.file.len, rand_below(g.file.len * 8));
        CHECK(!bad);
        gen_log_free(&g);
        if (bad) break;
    }
}

/* A log of one SET whose value is a SYNCED record sealed with the file's
 * own salt (the worst case: only a copy of this very file holds one),
 * vouching far past it, then 8 more bytes. */
static void gen_log_value_with_synced(gen_log *g) {
    unsigned char value[LDB_SYNCED_RECORD_SIZE + 8] = {0};
    gen_log_init(g, test_rand());
    ldb_logfmt_encode_synced(value, g->salt, 1u << 20);
    buf_append(&g->arena, "save", 4);
    buf_append(&g->arena, value, sizeof value);
    gen_add_op(g, 1, 0, 4, 4, sizeof value);
    ldb_slice argv[3] = {str_slice("SET"), arena_slice(g, 0, 4), arena_slice(g, 4, sizeof value)};
    gen_append_command(g, 3, argv);
    gen_end_record(g, 0);
}

/* Regression: recovery used to search every offset after a bad record for
 * SYNCED records, the torn record's own value included, so a value holding
 * a SYNCED record's bytes (say a layerdb file stored as a value) turned a
 * torn tail into LAYERDB_CORRUPT and the database no longer opened without
 * repair. Found by this file's first version. */
TEST("a last record cut or damaged in a value that holds a SYNCED record is a torn tail") {
    gen_log g;
    start_seed();
    gen_log_value_with_synced(&g);
    CHECK(opens_with_prefix(&g, g.file.p, g.file.len, 1, 0) == 0);
    CHECK(opens_with_prefix(&g, g.file.p, g.file.len - 1, 0, 0) == 0); /* the last byte cut */
    g.file.p[g.file.len - 1] ^= 1; /* the last byte damaged: a bad body checksum */
    CHECK(opens_with_prefix(&g, g.file.p, g.file.len, 0, 0) == 0);
    gen_log_free(&g);
}

TEST("records sealed with another file's salt are a torn tail, not data") {
    start_seed();
    for (int i = 0; i < 50; i++) {
        gen_log g;
        gen_log_create(&g, 30, test_rand());
        ldb_logfmt_header_encode(g.file.p, g.salt ^ (1 + rand_below(1000))); /* a new salt */
        int bad = opens_with_prefix(&g, g.file.p, g.file.len, 0, 0);
        CHECK(!bad);
        gen_log_free(&g);
        if (bad) break;
    }
}

/* ---- The mutated loop ---- */

static void mutate_flip_bits(ldb_buf *b) {
    for (size_t n = 1 + rand_below(8); n > 0 && b->len; n--)
        b->p[rand_below(b->len)] ^= (unsigned char)(1u << rand_below(8));
}

static void mutate_overwrite(ldb_buf *b) {
    static const unsigned char special[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0x02};
    for (size_t n = 1 + rand_below(4); n > 0 && b->len; n--)
        b->p[rand_below(b->len)] = rand_below(2) ? special[rand_below(sizeof special)]
                                                  : (unsigned char)test_rand();
}

static void mutate_truncate(ldb_buf *b) { b->len = rand_below(b->len + 1); }

static void mutate_insert(ldb_buf *b) {
    unsigned char bytes[64];
    size_t n = 1 + rand_below(sizeof bytes);
    for (size_t i = 0; i < n; i++) bytes[i] = (unsigned char)test_rand();
    buf_insert(b, rand_below(b->len + 1), bytes, n);
}

static void mutate_duplicate(ldb_buf *b) {
    size_t from = rand_below(b->len + 1), n = rand_below(b->len - from + 1);
    unsigned char *copy = fuzz_alloc_or_die(malloc(n + 1));
    if (n) memcpy(copy, b->p + from, n);
    buf_insert(b, rand_below(b->len + 1), copy, n);
    free(copy);
}

static void mutate_erase(ldb_buf *b) {
    size_t from = rand_below(b->len + 1), n = rand_below(b->len - from + 1);
    memmove(b->p + from, b->p + from + n, b->len - from - n);
    b->len -= n;
}

static void mutate_zero_range(ldb_buf *b) {
    size_t from = rand_below(b->len + 1), n = rand_below(b->len - from + 1);
    memset(b->p + from, 0, n);
}

static void mutate_append_garbage(ldb_buf *b) {
    for (size_t n = 1 + rand_below(256); n > 0; n--) buf_append_byte(b, (unsigned char)test_rand());
}

static void (*const mutations[])(ldb_buf *) = {
    mutate_flip_bits, mutate_overwrite, mutate_truncate, mutate_insert,
    mutate_duplicate, mutate_erase, mutate_zero_range, mutate_append_garbage,
};

/* Shape 3 of fuzz_one's input: each record's body after its 2-byte
 * length; fuzz_one frames them again, with FUZZ_SALT (g's salt). */
static void input_of_bodies(const gen_log *g, ldb_buf *in) {
    buf_append_byte(in, 3);
    for (size_t i = 0; i < g->nrecords; i++) {
        size_t from = g->starts[i] + LDB_FRAME_SIZE, len = g->starts[i + 1] - from;
        buf_append_byte(in, (unsigned char)len);
        buf_append_byte(in, (unsigned char)(len >> 8)); /* bodies stay under 64 KiB */
        buf_append(in, g->file.p + from, len);
    }
}

/* An input shape for fuzz_one (fuzz_log.h): 1 (the whole file, so
 * mutations reach the header too) and 3 (the bodies) one time in eight
 * each, otherwise 0 or 2 (the records after a header fuzz_one writes). */
static int pick_shape(void) {
    static const int shapes[8] = {1, 3, 0, 0, 0, 2, 2, 2};
    return shapes[rand_below(8)];
}

/* A log whose salt fits the shape: fuzz_one's header salt, or for the
 * whole file any salt. */
static void gen_log_for_shape(gen_log *g, int shape) {
    gen_log_create(g, 40, shape == 1 ? test_rand() : fuzz_shape_salt(shape));
}

static void input_for_log(const gen_log *g, int shape, ldb_buf *in) {
    size_t from = shape == 1 ? 0 : LDB_FILE_HEADER_SIZE;
    in->len = 0;
    if (shape == 3) { input_of_bodies(g, in); return; }
    buf_append_byte(in, (unsigned char)shape);
    buf_append(in, g->file.p + from, g->file.len - from);
}

static void write_corpus_file(const ldb_buf *in, int i) {
    const char *dir = getenv("LAYERDB_FUZZ_CORPUS");
    char path[1024];
    if (!dir || i >= CORPUS_FILES) return;
    snprintf(path, sizeof path, "%s/log-%03d", dir, i);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(in->p, 1, in->len, f) != in->len) printf("# cannot write %s\n", path);
    if (f) fclose(f);
}

static void print_hex(const ldb_buf *in) {
    printf("# input (%zu bytes): ", in->len);
    for (size_t i = 0; i < in->len && i < 512; i++) printf("%02x", in->p[i]);
    printf("%s\n", in->len > 512 ? "..." : "");
}

static void mutate_randomly(ldb_buf *b, size_t times) {
    for (; times > 0; times--) mutations[rand_below(sizeof mutations / sizeof mutations[0])](b);
}

static void random_input(ldb_buf *in) {
    in->len = 0;
    for (size_t n = rand_below(300); n > 0; n--) buf_append_byte(in, (unsigned char)test_rand());
}

/* The commands of a body, flattened: argcs[c] arguments each in args. */
typedef struct flat_commands {
    ldb_slice args[64];
    size_t argcs[8];
    size_t ncmds, nargs;
} flat_commands;

/* Decode up to 8 commands and 64 arguments of a valid body; 0 if none. */
static size_t flatten_commands(const ldb_buf *body, flat_commands *fc) {
    size_t max_argc;
    ldb_cmd_reader r;
    fc->ncmds = fc->nargs = 0;
    if (ldb_logfmt_commands_validate(body->p, body->len, &max_argc) != 0) return 0;
    ldb_logfmt_commands_begin(&r, body->p, body->len);
    while (fc->ncmds < 8 && fc->nargs + max_argc < 64 &&
           ldb_logfmt_commands_next(&r, fc->args + fc->nargs, &fc->argcs[fc->ncmds]))
        fc->nargs += fc->argcs[fc->ncmds++];
    return fc->ncmds;
}

/* Drop (-1) or repeat (+1) the last argument of command c. */
static void change_argc(flat_commands *fc, size_t c, int delta) {
    size_t end = 0;
    for (size_t i = 0; i <= c; i++) end += fc->argcs[i];
    memmove(fc->args + end + delta, fc->args + end, (fc->nargs - end) * sizeof *fc->args);
    if (delta > 0) fc->args[end] = fc->args[end - 1];
    fc->argcs[c] += delta;
    fc->nargs += delta;
}

/* Change one command of a valid COMMANDS body the way a buggy writer
 * might: drop or repeat its last argument, or give it another name. The
 * body stays well-formed, so replay's arity and name checks get tested. */
static void mutate_one_command(ldb_buf *body) {
    static const char *const names[] = {"SET", "DEL", "GET", "SEX", "del", "", "INCRBY"};
    flat_commands fc;
    if (flatten_commands(body, &fc) == 0) return;
    size_t c = rand_below(fc.ncmds), how = rand_below(3), first = 0;
    for (size_t i = 0; i < c; i++) first += fc.argcs[i];
    if (how == 0 && fc.argcs[c] > 1) change_argc(&fc, c, -1);
    else if (how == 1) change_argc(&fc, c, +1);
    else fc.args[first] = str_slice(names[rand_below(sizeof names / sizeof names[0])]);
    ldb_buf out = {0};
    encode_commands(&out, fc.args, fc.argcs, fc.ncmds);
    buf_free(body);
    *body = out;
}

/* The body of a random record, mutated: the decoders see it directly. */
static void input_of_one_body(const gen_log *g, ldb_buf *in) {
    in->len = 0;
    if (g->nrecords == 0) { buf_append_byte(in, LDB_REC_COMMANDS); return; }
    size_t i = rand_below(g->nrecords), from = g->starts[i] + LDB_FRAME_SIZE;
    buf_append(in, g->file.p + from, g->starts[i + 1] - from);
    mutate_randomly(in, 1 + rand_below(2));
}

/* The log with one record's body mutated and sealed again with a right
 * frame, so the damage gets past the checksums to the command decoder and
 * to replay (unknown commands, bad varints, trailing bytes...). */
static void input_with_resealed_record(const gen_log *g, ldb_buf *in) {
    ldb_buf body = {0};
    in->len = 0;
    buf_append_byte(in, 1); /* shape 1: the whole file, so any salt */
    if (g->nrecords == 0) return;
    size_t i = rand_below(g->nrecords), from = g->starts[i] + LDB_FRAME_SIZE;
    buf_append(&body, g->file.p + from, g->starts[i + 1] - from);
    if (rand_below(2)) mutate_one_command(&body);
    else mutate_randomly(&body, 1 + rand_below(2));
    while (body.len < 4) buf_append_byte(&body, (unsigned char)test_rand());
    buf_append(in, g->file.p, g->starts[i]);
    append_record(in, g->salt, body.p, body.len);
    buf_append(in, g->file.p + g->starts[i + 1], g->file.len - g->starts[i + 1]);
    buf_free(&body);
}

/* Damage the input: one time in 16 random bytes instead, 4 in 16 a resealed
 * record, 3 in 16 a lone body, otherwise the log with 1-3 mutations. */
static void damage_input(const gen_log *g, ldb_buf *in) {
    size_t kind = rand_below(16);
    if (kind == 0) random_input(in);
    else if (kind < 5) input_with_resealed_record(g, in);
    else if (kind < 8) input_of_one_body(g, in);
    else mutate_randomly(in, 1 + rand_below(3));
}

/* One iteration: a log through fuzz_one, then a damaged form of it. */
static int fuzz_iteration(int i) {
    gen_log g;
    ldb_buf in = {0};
    int shape = pick_shape();
    gen_log_for_shape(&g, shape);
    input_for_log(&g, shape, &in);
    write_corpus_file(&in, i);
    int bad = fuzz_one(in.p, in.len);
    damage_input(&g, &in);
    if (!bad) bad = fuzz_one(in.p, in.len);
    if (bad) { printf("# iteration %d broke a property (see stderr)\n", i); print_hex(&in); }
    buf_free(&in);
    gen_log_free(&g);
    return bad;
}

TEST("mutated logs go through the decoders and open without a crash, a leak or a wrong table") {
    start_seed();
    for (int i = 0; i < MUTATED_LOGS; i++) {
        int bad = fuzz_iteration(i);
        CHECK(!bad);
        if (bad) break;
    }
}

TEST("fuzz_one's framed-bodies input rebuilds a generated log byte for byte") {
    start_seed();
    for (int i = 0; i < 50; i++) {
        gen_log g;
        ldb_buf in = {0};
        size_t size;
        gen_log_for_shape(&g, 3);
        input_of_bodies(&g, &in);
        unsigned char *f = file_from_input(in.p, in.len, &size);
        CHECK(size == g.file.len && memcmp(f, g.file.p, size) == 0);
        free(f);
        buf_free(&in);
        gen_log_free(&g);
    }
}

TEST("short and empty inputs go through fuzz_one") {
    static const uint8_t one_even[1] = {0}, one_odd[1] = {1};
    CHECK(fuzz_one(NULL, 0) == 0);
    CHECK(fuzz_one(one_even, 1) == 0);
    CHECK(fuzz_one(one_odd, 1) == 0);
    start_seed();
    for (int i = 0; i < 300; i++) {
        uint8_t bytes[48];
        size_t n = rand_below(sizeof bytes + 1);
        for (size_t j = 0; j < n; j++) bytes[j] = (uint8_t)test_rand();
        CHECK(fuzz_one(bytes, n) == 0);
    }
}

int main(void) { return test_main(); }
