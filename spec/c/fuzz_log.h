/* fuzz_log.h -- fuzz_one(): arbitrary bytes against the log decoders and
 * against layerdb_open, checked by a reference replay.
 *
 * Header-only, included by exactly one .c file per program: the seeded loop
 * of make check (fuzz_log_test.c) and the libFuzzer entry (fuzz_log_main.c).
 *
 * The input p[0..n) is used twice:
 *  (a) Directly by the decoders: as a frame (+ body), as a COMMANDS body, as
 *      a SYNCED body, as a file header.
 *  (b) As a database file: n == 0 is the empty file; otherwise p[0] % 4
 *      picks the shape (fuzz_shape_salt gives each shape's salt):
 *        0, 2  a valid file header (salt 0, or FUZZ_SALT), then p[1..n):
 *              raw records, most inputs;
 *        1     just p[1..n), so the header itself gets fuzzed too;
 *        3     a valid header (FUZZ_SALT), then records the harness frames:
 *              p[1..n) is a list of [2-byte little-endian length][body],
 *              each body gets a right frame (a zeroed one under 4 bytes),
 *              so mutated bodies get past the checksums to replay.
 *      The file is opened with persistence off (read, never written),
 *      plainly and with repair, and read-only (a follower, recovery.c's
 *      follow mode), which must judge a file nobody writes to the same.
 *
 * Properties (a failure prints "fuzz_log: ..." on stderr; fuzz_one then
 * returns 1 instead of 0):
 *  (1) A body that ldb_logfmt_commands_validate accepts reads back, through
 *      commands_begin/next into an argv of exactly max_argc slots, as
 *      commands with 1 <= argc <= max_argc, arguments inside the body and in
 *      order, the reader ending at the body's end, the largest argc equal
 *      to max_argc. The commands re-encoded by ldb_logfmt_append_commands
 *      take ldb_logfmt_commands_record_size bytes and read back the same.
 *  (2) ldb_logfmt_synced_decode accepts exactly the 9-byte type-2 bodies;
 *      an accepted frame has a length in 1..LDB_MAX_BODY; a full header
 *      that header_is_prefix accepts passes header_check.
 *  (3) layerdb_open returns what a reference replay of the file predicts
 *      (model_replay below: same decoders, its own control flow): the header
 *      code; OK after a clean end or a record cut by the end of the file;
 *      CORRUPT for a well-framed record it cannot apply; after a bad record
 *      at B, OK, or CORRUPT only if a valid SYNCED record at some offset
 *      the engine may search (after B's frame if the length checked out,
 *      else after B) vouches for an offset past B.
 *  (4) On LAYERDB_OK the handle holds exactly the model's keys and values,
 *      and info reports its replayed records and the bytes after the last
 *      good record as dropped. So repair never returns CORRUPT, and where
 *      the plain open succeeds repair gives the same table.
 *      A read-only open holds the same, reports nothing dropped (a
 *      reader cuts nothing), and a refresh after it applies nothing and
 *      returns what the open did.
 *  (5) A failed open leaves a non-empty message; close returns OK.
 *  (6) Persistence off never changes the file.
 * Harness failures (no temp file, no memory for the model) exit(2). */
#ifndef LAYERDB_FUZZ_LOG_H
#define LAYERDB_FUZZ_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layerdb.h"
#include "command.h"
#include "log_format.h"

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

int fuzz_one(const uint8_t *p, size_t n);

#define FUZZ_SALT 0x5a17ed5a17ed5a17ull /* the header salt of shapes 2 and 3 */

/* The salt of the header fuzz_one writes for an input shape (p[0] % 4). */
static uint64_t fuzz_shape_salt(int shape) { return shape == 0 ? 0 : FUZZ_SALT; }

/* Report a broken property; returns 1 so callers can 'return broken(...)'. */
static int broken(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_log: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static void *fuzz_alloc_or_die(void *p) {
    if (!p) { fputs("fuzz_log: out of memory in the harness\n", stderr); exit(2); }
    return p;
}

/* ---- Sealing bodies with right frames ---- */

static size_t fuzz_varint_size(uint64_t v) {
    size_t n = 1;
    for (; v >= 0x80; v >>= 7) n++;
    return n;
}

/* Bytes 0..7 of a frame (the length and its check) for a body of len >= 4
 * bytes. The check's seed is private to log_format.c, so they are borrowed
 * from the one-command record of that body length that append_command
 * writes: type, ncmds 1, argc 1 or 2 (an empty first argument pads by one
 * byte), then one argument of 'a' bytes. Costs O(len). */
static void fuzz_frame_length(size_t len, uint64_t salt, unsigned char frame[LDB_FRAME_SIZE]) {
    ldb_alloc a;
    ldb_alloc_init(&a, NULL);
    for (size_t pad = 0; pad <= 1; pad++) {
        for (size_t vlen = 1; vlen <= 5 && 3 + pad + vlen <= len; vlen++) {
            size_t arg = len - 3 - pad - vlen;
            if (fuzz_varint_size(arg) != vlen) continue;
            unsigned char *zeros = fuzz_alloc_or_die(calloc(1, arg + 1));
            ldb_slice argv[2] = {{zeros, 0}, {zeros, arg}};
            ldb_buf rec = {0};
            size_t size = ldb_logfmt_command_record_size(1 + pad, argv + 1 - pad);
            if (ldb_buf_reserve(&a, &rec, size) != 0) fuzz_alloc_or_die(NULL);
            ldb_logfmt_append_command(&rec, salt, 1 + pad, argv + 1 - pad);
            memcpy(frame, rec.p, 8);
            ldb_buf_free(&a, &rec);
            free(zeros);
            return;
        }
    }
    fprintf(stderr, "fuzz_log: no one-command body of %zu bytes\n", len);
    exit(2);
}

/* A right frame for 'body' (len >= 4) in a file of this salt, as the
 * writer would write it. */
static void fuzz_seal(const unsigned char *body, size_t len, uint64_t salt,
                      unsigned char frame[LDB_FRAME_SIZE]) {
    uint64_t sum = XXH3_64bits_withSeed(body, len, salt);
    fuzz_frame_length(len, salt, frame);
    for (int i = 0; i < 8; i++) frame[8 + i] = (unsigned char)(sum >> (8 * i));
}

/* Shape 3: frame each [2-byte length][body] of p[0..n) into out, which has
 * room for 9 bytes per input byte; returns the bytes written. */
static size_t fuzz_seal_records(const uint8_t *p, size_t n, unsigned char *out) {
    size_t written = 0;
    while (n >= 2) {
        size_t len = p[0] | (size_t)p[1] << 8;
        p += 2, n -= 2;
        if (len > n) len = n;
        if (len >= 4) fuzz_seal(p, len, FUZZ_SALT, out + written);
        else memset(out + written, 0, LDB_FRAME_SIZE);
        if (len) memcpy(out + written + LDB_FRAME_SIZE, p, len);
        written += LDB_FRAME_SIZE + len;
        p += len, n -= len;
    }
    return written;
}

/* ---- (1) COMMANDS bodies ---- */

/* The commands of a valid body, flattened: argcs[c] arguments each. */
typedef struct fuzz_cmds {
    ldb_slice *args;   /* room for one per body byte: enough */
    size_t *argcs;     /* likewise */
    size_t ncmds, nargs;
} fuzz_cmds;

/* One decoded command: argc in range, arguments in order inside the body. */
static int check_command(const unsigned char *body, size_t len, const ldb_slice *argv,
                         size_t argc, size_t max_argc, const unsigned char **next_free) {
    if (argc < 1 || argc > max_argc)
        return broken("commands_next gave argc %zu, validate said max %zu", argc, max_argc);
    for (size_t i = 0; i < argc; i++) {
        if (argv[i].p < *next_free || argv[i].len > (size_t)(body + len - argv[i].p))
            return broken("argument %zu of a command lies outside the body or out of order", i);
        *next_free = argv[i].p + argv[i].len;
    }
    return 0;
}

/* Read every command of a validated body through an argv of max_argc. */
static int read_commands(const unsigned char *body, size_t len, size_t max_argc, fuzz_cmds *fc) {
    ldb_slice *argv = fuzz_alloc_or_die(malloc(max_argc * sizeof *argv));
    const unsigned char *next_free = body + 1;
    size_t argc, seen_max = 0;
    ldb_cmd_reader r;
    int bad = 0;
    ldb_logfmt_commands_begin(&r, body, len);
    while (!bad && ldb_logfmt_commands_next(&r, argv, &argc)) {
        bad = check_command(body, len, argv, argc, max_argc, &next_free);
        if (bad) break;
        memcpy(fc->args + fc->nargs, argv, argc * sizeof *argv);
        fc->nargs += argc;
        fc->argcs[fc->ncmds++] = argc;
        if (argc > seen_max) seen_max = argc;
    }
    free(argv);
    if (!bad && (r.p != body + len || r.left != 0))
        bad = broken("the command reader stopped before the end of a valid body");
    if (!bad && seen_max != max_argc)
        bad = broken("validate said max_argc %zu, the commands have %zu", max_argc, seen_max);
    return bad;
}

/* The re-encoded record must read back as the same commands. */
static int check_reads_back(const unsigned char *rec, size_t size, const fuzz_cmds *fc,
                            size_t max_argc) {
    uint32_t len;
    size_t got_max, argc, arg = 0;
    if (ldb_logfmt_frame_check(rec, FUZZ_SALT, &len) != 0 || len != size - LDB_FRAME_SIZE ||
        ldb_logfmt_body_check(rec, rec + LDB_FRAME_SIZE, len, FUZZ_SALT) != 0)
        return broken("re-encoded commands fail their own frame or body check");
    const unsigned char *body = rec + LDB_FRAME_SIZE;
    if (ldb_logfmt_commands_validate(body, len, &got_max) != 0 || got_max != max_argc)
        return broken("re-encoded commands do not validate with max_argc %zu", max_argc);
    ldb_slice *argv = fuzz_alloc_or_die(malloc(max_argc * sizeof *argv));
    ldb_cmd_reader r;
    int bad = 0;
    ldb_logfmt_commands_begin(&r, body, len);
    for (size_t c = 0; !bad && c < fc->ncmds; c++) {
        bad = !ldb_logfmt_commands_next(&r, argv, &argc) || argc != fc->argcs[c];
        for (size_t i = 0; !bad && i < argc; i++, arg++)
            bad = argv[i].len != fc->args[arg].len ||
                  memcmp(argv[i].p, fc->args[arg].p, argv[i].len) != 0;
    }
    if (!bad) bad = ldb_logfmt_commands_next(&r, argv, &argc);
    free(argv);
    return bad ? broken("re-encoded commands read back different") : 0;
}

static int check_reencode(const fuzz_cmds *fc, size_t max_argc) {
    ldb_alloc a;
    ldb_buf b = {0};
    ldb_alloc_init(&a, NULL);
    size_t size = ldb_logfmt_commands_record_size(fc->ncmds, fc->argcs, fc->args);
    if (size == SIZE_MAX) return broken("commands_record_size overflows for decoded commands");
    if (ldb_buf_reserve(&a, &b, size) != 0) fuzz_alloc_or_die(NULL);
    ldb_logfmt_append_commands(&b, FUZZ_SALT, fc->ncmds, fc->argcs, fc->args);
    int bad = b.len != size ? broken("append_commands wrote %zu bytes, record_size said %zu",
                                     b.len, size)
                            : check_reads_back(b.p, b.len, fc, max_argc);
    ldb_buf_free(&a, &b);
    return bad;
}

/* Property (1) for any bytes: a no-op unless validate accepts them. */
static int fuzz_commands_body(const unsigned char *body, size_t len) {
    size_t max_argc;
    if (ldb_logfmt_commands_validate(body, len, &max_argc) != 0) return 0;
    if (len < 3 || body[0] != LDB_REC_COMMANDS || max_argc == 0 || max_argc > len)
        return broken("validate accepted a %zu-byte body with max_argc %zu", len, max_argc);
    fuzz_cmds fc = {fuzz_alloc_or_die(malloc(len * sizeof *fc.args)),
                    fuzz_alloc_or_die(malloc(len * sizeof *fc.argcs)), 0, 0};
    int bad = read_commands(body, len, max_argc, &fc);
    if (!bad) bad = check_reencode(&fc, max_argc);
    free(fc.args);
    free(fc.argcs);
    return bad;
}

/* ---- (2) Frames, SYNCED bodies, headers ---- */

static int fuzz_synced_body(const unsigned char *body, size_t len) {
    uint64_t mark;
    int ok = ldb_logfmt_synced_decode(body, len, &mark) == 0;
    if (ok != (len == 9 && body[0] == LDB_REC_SYNCED))
        return broken("synced_decode %s a %zu-byte body of type %d", ok ? "accepted" : "refused",
                      len, len ? body[0] : -1);
    return 0;
}

static int fuzz_header(const unsigned char *p, size_t n) {
    int rc = ldb_logfmt_header_check(p, n);
    if (rc != 0 && rc != LAYERDB_NOTDB && rc != LAYERDB_VERSION_MISMATCH)
        return broken("header_check returned %d", rc);
    if (rc == 0 && (n < LDB_FILE_HEADER_SIZE || memcmp(p, "LAYERDB", 8) != 0))
        return broken("header_check accepted a header without the magic");
    if (n > LDB_FILE_HEADER_SIZE && ldb_logfmt_header_is_prefix(p, n))
        return broken("header_is_prefix accepted %zu bytes, more than a header", n);
    if (n >= LDB_FILE_HEADER_SIZE && ldb_logfmt_header_is_prefix(p, LDB_FILE_HEADER_SIZE) &&
        ldb_logfmt_header_check(p, LDB_FILE_HEADER_SIZE) != 0)
        return broken("header_check refused a whole header that header_is_prefix accepted");
    return 0;
}

/* The input as one record (of a file with salt 0): frame, then body. */
static int fuzz_frame(const unsigned char *p, size_t n) {
    uint32_t len;
    if (n < LDB_FRAME_SIZE || ldb_logfmt_frame_check(p, 0, &len) != 0) return 0;
    if (len == 0 || len > LDB_MAX_BODY) return broken("frame_check accepted length %u", len);
    if (len > n - LDB_FRAME_SIZE || ldb_logfmt_body_check(p, p + LDB_FRAME_SIZE, len, 0) != 0)
        return 0;
    return fuzz_commands_body(p + LDB_FRAME_SIZE, len) | fuzz_synced_body(p + LDB_FRAME_SIZE, len);
}

static int fuzz_decoders(const unsigned char *p, size_t n) {
    return fuzz_header(p, n) | fuzz_frame(p, n) | fuzz_commands_body(p, n) |
           fuzz_synced_body(p, n);
}

/* ---- (3) The reference replay ---- */

typedef struct model_kv {
    ldb_slice key, val; /* point into the file bytes */
} model_kv;

/* What sits at an offset, as the reference replay sees it. */
enum model_record {
    REC_OK,          /* a whole record, frame and body checked */
    REC_TORN,        /* the file ends inside the frame or the claimed body */
    REC_BAD_FRAME,   /* the length check fails */
    REC_BAD_BODY,    /* the length checks out, the body checksum does not */
    REC_BAD_CONTENT  /* a good checksum, but replay cannot apply the body */
};

typedef struct model {
    model_kv *kv;        /* live keys, unordered */
    size_t count, cap;
    uint64_t salt;       /* the header's: seeds the record checksums */
    int header_rc;       /* LAYERDB_OK, LAYERDB_NOTDB, LAYERDB_VERSION_MISMATCH */
    int needs_init;      /* empty file or a header prefix: nothing to replay */
    int stop;            /* enum model_record: REC_OK if replay reached the end */
    int may_be_damage;   /* a bad record, and a SYNCED mark past it exists */
    uint64_t good_end;   /* end of the last whole good record */
    uint64_t records;    /* COMMANDS records applied */
    int bad;             /* a decoder property broke during the walk */
    int unjudged;        /* replay stopped at a record the model cannot
                            judge (model_cannot_judge): any open that
                            returns OK or CORRUPT is right */
} model;

static model_kv *model_find(model *m, ldb_slice key) {
    for (size_t i = 0; i < m->count; i++)
        if (m->kv[i].key.len == key.len && memcmp(m->kv[i].key.p, key.p, key.len) == 0)
            return &m->kv[i];
    return NULL;
}

static void model_set(model *m, ldb_slice key, ldb_slice val) {
    model_kv *kv = model_find(m, key);
    if (kv) { kv->val = val; return; }
    if (m->count == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->kv = fuzz_alloc_or_die(realloc(m->kv, m->cap * sizeof *m->kv));
    }
    m->kv[m->count++] = (model_kv){key, val};
}

static void model_del(model *m, ldb_slice key) {
    model_kv *kv = model_find(m, key);
    if (kv) *kv = m->kv[--m->count];
}

/* Replay looks commands up in any case, as Redis does. */
static int is_name(ldb_slice s, const char *name) {
    return s.len == strlen(name) && strncasecmp((const char *)s.p, name, s.len) == 0;
}

/* The commands the model applies: SET key val, DEL key... */
static int model_knows(size_t argc, const ldb_slice *argv) {
    return (is_name(argv[0], "SET") && argc == 3) || (is_name(argv[0], "DEL") && argc >= 2);
}

/* A command the model cannot judge: another command replay runs (SET
 * with options, EXPIRE, ...), which it may apply, refuse, or, after
 * others of its record, refuse in part (then the open fails). */
static int model_cannot_judge(size_t argc, const ldb_slice *argv) {
    const ldb_command *cmd = ldb_command_lookup(argv[0].p, argv[0].len);
    return cmd && (cmd->flags & (LDB_CMD_WRITE | LDB_CMD_CLIENT)) && !model_knows(argc, argv);
}

/* Apply a COMMANDS body all-or-nothing; 0 if replay must refuse it. */
static int model_apply(model *m, const unsigned char *body, size_t len) {
    size_t max_argc, argc;
    if (ldb_logfmt_commands_validate(body, len, &max_argc) != 0) return 0;
    ldb_slice *argv = fuzz_alloc_or_die(malloc(max_argc * sizeof *argv));
    ldb_cmd_reader r;
    int known = 1;
    ldb_logfmt_commands_begin(&r, body, len);
    while (known && ldb_logfmt_commands_next(&r, argv, &argc)) {
        if (model_cannot_judge(argc, argv)) m->unjudged = 1;
        known = model_knows(argc, argv);
    }
    ldb_logfmt_commands_begin(&r, body, len);
    while (known && ldb_logfmt_commands_next(&r, argv, &argc)) {
        if (is_name(argv[0], "SET")) model_set(m, argv[1], argv[2]);
        else for (size_t i = 1; i < argc; i++) model_del(m, argv[i]);
    }
    free(argv);
    return known;
}

/* Classify the record at off (enum model_record, never REC_BAD_CONTENT);
 * body and len are set on REC_OK, len also on REC_BAD_BODY. */
static int model_record_at(const unsigned char *f, size_t size, size_t off, uint64_t salt,
                           const unsigned char **body, uint32_t *len) {
    if (size - off < LDB_FRAME_SIZE) return REC_TORN;
    if (ldb_logfmt_frame_check(f + off, salt, len) != 0) return REC_BAD_FRAME;
    if (*len > size - off - LDB_FRAME_SIZE) return REC_TORN;
    *body = f + off + LDB_FRAME_SIZE;
    return ldb_logfmt_body_check(f + off, *body, *len, salt) == 0 ? REC_OK : REC_BAD_BODY;
}

/* Is there a valid SYNCED record at any offset from 'from' on vouching past
 * 'bad'? Any offset, not only record boundaries: a superset of what replay
 * can find there. */
static int model_mark_past(const unsigned char *f, size_t size, uint64_t salt, size_t from,
                           size_t bad) {
    for (size_t off = from; off + LDB_SYNCED_RECORD_SIZE <= size; off++) {
        const unsigned char *body;
        uint32_t len;
        uint64_t mark;
        if (model_record_at(f, size, off, salt, &body, &len) == REC_OK &&
            ldb_logfmt_synced_decode(body, len, &mark) == 0 && mark > bad)
            return 1;
    }
    return 0;
}

/* Replay stopped at a bad record at 'bad': could it be damage? A record
 * cut by the end of the file never is; after a bad body replay searches
 * from the end of that body, after a bad frame from the next byte. */
static void model_stop_at(model *m, const unsigned char *f, size_t size, size_t bad, int kind,
                          uint32_t len) {
    m->stop = kind;
    if (kind == REC_BAD_FRAME) m->may_be_damage = model_mark_past(f, size, m->salt, bad + 1, bad);
    if (kind == REC_BAD_BODY)
        m->may_be_damage = model_mark_past(f, size, m->salt, bad + LDB_FRAME_SIZE + len, bad);
}

static void model_replay_records(model *m, const unsigned char *f, size_t size) {
    size_t off = LDB_FILE_HEADER_SIZE;
    m->good_end = off;
    while (off < size) {
        const unsigned char *body;
        uint32_t len = 0;
        uint64_t mark;
        int kind = model_record_at(f, size, off, m->salt, &body, &len);
        if (kind != REC_OK) { model_stop_at(m, f, size, off, kind, len); return; }
        m->bad |= fuzz_commands_body(body, len) | fuzz_synced_body(body, len);
        if (ldb_logfmt_synced_decode(body, len, &mark) != 0) {
            if (!model_apply(m, body, len)) { m->stop = REC_BAD_CONTENT; return; }
            m->records++;
        }
        off += LDB_FRAME_SIZE + len;
        m->good_end = off;
    }
}

static void model_replay(model *m, const unsigned char *f, size_t size) {
    memset(m, 0, sizeof *m);
    m->stop = REC_OK;
    if (size < LDB_FILE_HEADER_SIZE && (size == 0 || ldb_logfmt_header_is_prefix(f, size))) {
        m->needs_init = 1;
        return;
    }
    m->header_rc = ldb_logfmt_header_check(f, size);
    if (m->header_rc != LAYERDB_OK) return;
    m->salt = ldb_logfmt_header_salt(f);
    model_replay_records(m, f, size);
}

/* ---- (4)-(6) Opening the file ---- */

/* The code an open must return; -1 means "OK, or CORRUPT". */
static int model_expected_rc(const model *m, int repair) {
    if (m->header_rc != LAYERDB_OK) return m->header_rc;
    if (m->unjudged) return -1;
    if (repair || m->stop == REC_OK || m->stop == REC_TORN) return LAYERDB_OK;
    if (m->stop == REC_BAD_CONTENT) return LAYERDB_CORRUPT;
    return m->may_be_damage ? -1 : LAYERDB_OK;
}

static int compare_with_model(layerdb *db, const model *m, size_t size, const char *mode) {
    layerdb_info info;
    int reader = strcmp(mode, "read-only open") == 0;
    uint64_t dropped = m->needs_init || reader ? 0 : size - m->good_end;
    if (layerdb_info_get(db, &info) != LAYERDB_OK) return broken("%s: info_get failed", mode);
    if (info.keys != m->count || info.replayed_records != m->records ||
        info.dropped_bytes != dropped || info.persistent)
        return broken("%s: keys %llu, replayed %llu, dropped %llu; the model says %zu, %llu, %llu",
                      mode, (unsigned long long)info.keys,
                      (unsigned long long)info.replayed_records,
                      (unsigned long long)info.dropped_bytes, m->count,
                      (unsigned long long)m->records, (unsigned long long)dropped);
    for (size_t i = 0; i < m->count; i++) {
        const void *val;
        size_t vlen;
        const model_kv *kv = &m->kv[i];
        if (layerdb_get(db, kv->key.p, kv->key.len, &val, &vlen) != LAYERDB_OK ||
            vlen != kv->val.len || memcmp(val, kv->val.p, vlen) != 0)
            return broken("%s: key %zu of the model is missing or has another value", mode, i);
    }
    return 0;
}

/* A read-only handle that opened: a refresh applies nothing and the
 * handle still holds the model's table. */
static int check_refresh(layerdb *db, const model *m, size_t size, const char *mode) {
    uint64_t n = 1;
    int rc = layerdb_refresh(db, &n);
    if (rc != LAYERDB_OK || n != 0)
        return broken("%s: refresh returned %d with %llu records (%s)", mode, rc,
                      (unsigned long long)n, layerdb_errmsg(db));
    return m->unjudged ? 0 : compare_with_model(db, m, size, mode);
}

/* Open with persistence off (plainly or with repair), or read-only. */
static int check_open(const char *path, const model *m, size_t size, int repair, int readonly) {
    const char *mode = readonly ? "read-only open" : repair ? "open with repair" : "open";
    layerdb_options o;
    layerdb *db = NULL;
    layerdb_options_init(&o);
    o.persistence = LAYERDB_PERSIST_OFF;
    o.repair = repair;
    o.readonly = readonly;
    int rc = layerdb_open(&db, path, &o), want = model_expected_rc(m, repair), bad = 0;
    if (rc != want && !(want == -1 && (rc == LAYERDB_OK || rc == LAYERDB_CORRUPT)))
        bad = broken("%s returned %d (%s), the model says %d", mode, rc,
                     db ? layerdb_errmsg(db) : "no handle", want);
    else if (rc == LAYERDB_OK)
        bad = m->unjudged ? 0 : compare_with_model(db, m, size, mode);
    if (rc == LAYERDB_OK && readonly && !bad)
        bad = check_refresh(db, m, size, mode);
    else if (rc != LAYERDB_OK && (!db || !layerdb_errmsg(db)[0]))
        bad = broken("%s failed with %d and no message", mode, rc);
    if (layerdb_close(db) != LAYERDB_OK) bad |= broken("%s: close failed", mode);
    return bad;
}

/* ---- The temp file ---- */

static int fuzz_fd = -1;
static char fuzz_path[512];

static void fuzz_remove_file(void) { unlink(fuzz_path); }

/* A memfd named by /proc/self/fd/N; a file under $TMPDIR without /proc. */
static void fuzz_file_create(void) {
    fuzz_fd = memfd_create("layerdb-fuzz-log", MFD_CLOEXEC);
    snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
    if (fuzz_fd >= 0 && access(fuzz_path, R_OK) == 0) return;
    if (fuzz_fd >= 0) close(fuzz_fd);
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_path, sizeof fuzz_path, "%s/layerdb-fuzz-log-XXXXXX", tmp ? tmp : "/tmp");
    fuzz_fd = mkstemp(fuzz_path);
    if (fuzz_fd < 0) { perror("fuzz_log: temp file"); exit(2); }
    atexit(fuzz_remove_file);
}

static void fuzz_file_write(const unsigned char *f, size_t size) {
    if (fuzz_fd < 0) fuzz_file_create();
    if (ftruncate(fuzz_fd, 0) != 0 || (size && pwrite(fuzz_fd, f, size, 0) != (ssize_t)size)) {
        perror("fuzz_log: write temp file");
        exit(2);
    }
}

static int fuzz_file_unchanged(const unsigned char *f, size_t size) {
    unsigned char *now = fuzz_alloc_or_die(malloc(size + 1));
    ssize_t got = pread(fuzz_fd, now, size + 1, 0);
    int bad = got != (ssize_t)size || memcmp(now, f, size) != 0;
    free(now);
    return bad ? broken("an open with persistence off changed the file") : 0;
}

/* ---- The entry point ---- */

/* The file the input stands for (see the top); the caller frees it. */
static unsigned char *file_from_input(const uint8_t *p, size_t n, size_t *size) {
    int shape = n ? p[0] % 4 : 1;
    size_t hdr = shape == 1 ? 0 : LDB_FILE_HEADER_SIZE, rest = n ? n - 1 : 0;
    unsigned char *f = fuzz_alloc_or_die(malloc(hdr + 9 * rest + 1));
    if (hdr) ldb_logfmt_header_encode(f, fuzz_shape_salt(shape));
    if (shape == 3) rest = fuzz_seal_records(p + 1, rest, f + hdr);
    else if (rest) memcpy(f + hdr, p + 1, rest);
    *size = hdr + rest;
    return f;
}

int fuzz_one(const uint8_t *p, size_t n) {
    static const uint8_t no_bytes[1];
    if (!p) p = no_bytes; /* the decoders take no NULL, even for 0 bytes */
    size_t size;
    model m;
    int bad = fuzz_decoders(p, n);
    unsigned char *f = file_from_input(p, n, &size);
    model_replay(&m, f, size);
    fuzz_file_write(f, size);
    bad |= m.bad | check_open(fuzz_path, &m, size, 0, 0) | check_open(fuzz_path, &m, size, 1, 0) |
           check_open(fuzz_path, &m, size, 0, 1);
    bad |= fuzz_file_unchanged(f, size);
    free(m.kv);
    free(f);
    return bad;
}

#endif
