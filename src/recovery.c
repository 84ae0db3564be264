/* recovery.c -- replay a log at open: torn-tail truncation, damage report.
 *
 * The file is read front to back in chunks; each valid record is applied
 * as it is read. The first record that fails (bad length check, body past
 * the end of the file, bad checksum) is at offset B. Then:
 *  - If the file ends inside it, it is a torn tail (below).
 *  - If some valid SYNCED record after it vouches for an offset past B, the
 *    bytes at B were fsynced once and are now damaged: LAYERDB_CORRUPT
 *    naming B (or, with repair, truncate at B). When B's length checks out
 *    the search starts after its body, so nothing inside a value is ever
 *    taken for a record; otherwise at B + 1.
 *  - Otherwise B lies after the last fsync: a torn tail, as a crash or power
 *    loss leaves it (a cut record, garbage or zeros, even pages written out
 *    of order). Everything from B on is dropped and the open succeeds.
 * A record whose checksum is right but whose content is not understood is
 * damage, not a tear: LAYERDB_CORRUPT.
 * Either way the first bad record's kind and offset, and the count of whole
 * records after it, go into the ldb_recovery for reports (layerdb check).
 *
 * Following (ldb_replay with o->follow: a read-only handle, recovery never
 * writes anyway) reads a file that a writer may be appending to right now,
 * from a record boundary an earlier replay reached. A record the writer has
 * not finished (cut by the end of the file, or whole in size but not yet
 * in content, so its checksum fails) looks exactly like a torn tail, and
 * the same rule tells the two cases apart from damage: the writer appends
 * a SYNCED record vouching for an offset only after it wrote and fsynced
 * every byte before that offset. So a bad record at B with such a record
 * after it, vouching past B, was complete before that record was written:
 * it is read once more (the reader saw it before the writer finished it,
 * or a new writer cut a torn tail and wrote over it), and only if it is
 * still bad is it damage. Without such a record the read stops at B, no
 * error: the next replay starts there. This needs no look at the writer's
 * lock, which could change between the read and the look (a writer that
 * restarts, cuts the tail and exits); the bytes decide.
 *
 * Finding records after a bad length cannot trust any length, so the search
 * tries every offset; the salted 4-byte length check rejects almost all of
 * them at once, and a budget bounds the bodies it hashes (max_mark_from), so
 * N bytes after B cost O(N), even in a file crafted to defeat the check. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "os.h"
#include "recovery.h"

#define CHUNK (1024 * 1024)

/* ---- Chunked reader ---- */

typedef struct reader {
    int fd;
    ldb_alloc *alloc;
    uint64_t size;        /* file size */
    unsigned char *buf;   /* holds [buf_off, buf_off + buf_len) */
    size_t cap;
    uint64_t buf_off;
    size_t buf_len;
    uint64_t salt;        /* from the file header: seeds the checksums */
} reader;

enum { READ_OK = 0, READ_EOF = 1, READ_ERR = 2, READ_NOMEM = 3 };

/* Make [off, off + n) of the file available at *out. */
static int reader_get(reader *r, uint64_t off, size_t n, const unsigned char **out) {
    if (off > r->size || n > r->size - off) return READ_EOF;
    if (off >= r->buf_off && off + n <= r->buf_off + r->buf_len) {
        *out = r->buf + (off - r->buf_off);
        return READ_OK;
    }
    /* A chunk, but no more than the file holds from off: a follower that
     * reads a few appended records allocates for those, not a megabyte. */
    uint64_t rest = r->size - off;
    size_t want = rest < CHUNK ? (size_t)rest : CHUNK;
    if (n > want) want = n;
    if (want > r->cap) {
        unsigned char *p = ldb_realloc(r->alloc, r->buf, r->cap, want);
        if (!p) return READ_NOMEM;
        r->buf = p;
        r->cap = want;
    }
    size_t len = rest < r->cap ? (size_t)rest : r->cap, got;
    r->buf_len = 0;
    if (ldb_os_pread_all(r->fd, r->buf, len, off, &got) != 0) return READ_ERR;
    r->buf_off = off;
    r->buf_len = got;
    if (got < n) return READ_EOF; /* the file shrank under us */
    *out = r->buf;
    return READ_OK;
}

/* ---- Records ---- */

/* What read_record found at an offset. */
enum {
    FRAME_OK,        /* a whole, valid record */
    FRAME_BAD_FRAME, /* the length check fails: garbage or a damaged length */
    FRAME_BAD_BODY,  /* the length checks out, the body's checksum does not */
    FRAME_TORN,      /* the file ends inside the frame or the body */
    FRAME_IOERR,
    FRAME_NOMEM
};

/* Read and verify the record at off: body and its length on FRAME_OK;
 * the length also on FRAME_BAD_BODY. */
static int read_record(reader *r, uint64_t off, const unsigned char **body, uint32_t *len) {
    const unsigned char *frame;
    int rc = reader_get(r, off, LDB_FRAME_SIZE, &frame);
    if (rc == READ_EOF) return FRAME_TORN;
    if (rc != READ_OK) return rc == READ_NOMEM ? FRAME_NOMEM : FRAME_IOERR;
    if (ldb_logfmt_frame_check(frame, r->salt, len) != 0) return FRAME_BAD_FRAME;
    unsigned char saved[LDB_FRAME_SIZE]; /* the next read may move the buffer */
    memcpy(saved, frame, sizeof saved);
    rc = reader_get(r, off + LDB_FRAME_SIZE, *len, body);
    if (rc == READ_EOF) return FRAME_TORN;
    if (rc != READ_OK) return rc == READ_NOMEM ? FRAME_NOMEM : FRAME_IOERR;
    return ldb_logfmt_body_check(saved, *body, *len, r->salt) == 0 ? FRAME_OK : FRAME_BAD_BODY;
}

typedef struct replay_ctx {
    ldb_replay_fn fn;
    void *ud;
    ldb_alloc *alloc;
    ldb_slice *argv;   /* scratch, argv_cap entries */
    size_t argv_cap;
} replay_ctx;

static int grow_argv(replay_ctx *c, size_t need) {
    if (need <= c->argv_cap) return 0;
    size_t bytes = ldb_mul_size(need, sizeof *c->argv);
    ldb_slice *p = ldb_realloc(c->alloc, c->argv, c->argv_cap * sizeof *c->argv, bytes);
    if (!p) return -1;
    c->argv = p;
    c->argv_cap = need;
    return 0;
}

/* Apply one COMMANDS body: all commands checked first, then applied.
 * *partial is set when a command failed after others of the record were
 * applied: only a record with a good checksum whose command the check
 * passed but the handler refused (a bug that wrote it, or a crafted file)
 * gets there, and repair cannot cut such a record out of the table. */
static int apply_commands(replay_ctx *c, const unsigned char *body, size_t len, char *msg,
                          size_t cap, int *partial) {
    size_t max_argc, argc;
    if (ldb_logfmt_commands_validate(body, len, &max_argc) != 0) return LAYERDB_CORRUPT;
    if (grow_argv(c, max_argc) != 0) return LAYERDB_NOMEM;
    for (int dry = 1; dry >= 0; dry--) {
        ldb_cmd_reader cr;
        ldb_logfmt_commands_begin(&cr, body, len);
        if (!dry) {
            int rc = c->fn(c->ud, 0, 0, NULL, msg, cap); /* a record starts */
            if (rc) return rc;
        }
        for (int first = 1; ldb_logfmt_commands_next(&cr, c->argv, &argc); first = 0) {
            int rc = c->fn(c->ud, dry, argc, c->argv, msg, cap);
            if (rc) {
                *partial = !dry && !first;
                return rc;
            }
        }
    }
    return LAYERDB_OK;
}

/* ---- After a bad frame: torn tail or damage? ---- */

/* The length a frame at off claims, if its length check passes. */
static int peek_len(reader *r, uint64_t off, uint32_t *len) {
    const unsigned char *frame;
    int rc = reader_get(r, off, LDB_FRAME_SIZE, &frame);
    if (rc == READ_ERR) return FRAME_IOERR;
    if (rc == READ_NOMEM) return FRAME_NOMEM;
    if (rc == READ_EOF) return FRAME_TORN;
    return ldb_logfmt_frame_check(frame, r->salt, len) == 0 ? FRAME_OK : FRAME_BAD_FRAME;
}

/* The largest offset vouched for by a valid SYNCED record at or after
 * 'from', and how many whole COMMANDS records follow (for reports). Real
 * records found on the way are followed whole. Checking a
 * candidate's body costs its length, so a crafted file with a plausible
 * frame at every offset would make this quadratic: past a budget of twice
 * the bytes scanned, only 9-byte bodies (SYNCED records, all that matters
 * here) are checked, which keeps the scan linear. */
static int max_mark_from(reader *r, uint64_t from, uint64_t *mark, uint64_t *records) {
    uint64_t budget = 2 * (r->size - from) + CHUNK;
    *mark = 0;
    for (uint64_t off = from; off + LDB_FRAME_SIZE <= r->size;) {
        const unsigned char *body;
        uint32_t len;
        int rc = peek_len(r, off, &len);
        if (rc == FRAME_OK && len != 1 + 8 && len > budget) rc = FRAME_BAD_FRAME;
        if (rc == FRAME_OK) {
            budget -= len < budget ? len : budget;
            rc = read_record(r, off, &body, &len);
        }
        if (rc == FRAME_IOERR) return LAYERDB_IOERR;
        if (rc == FRAME_NOMEM) return LAYERDB_NOMEM;
        if (rc != FRAME_OK) { off++; continue; }
        uint64_t synced;
        if (ldb_logfmt_synced_decode(body, len, &synced) == 0 && synced > *mark) *mark = synced;
        if (body[0] == LDB_REC_COMMANDS) ++*records;
        off += LDB_FRAME_SIZE + len; /* a real record: follow the chain */
    }
    return LAYERDB_OK;
}

static int corrupt(const char *path, uint64_t off, const char *what, char *msg, size_t cap) {
    snprintf(msg, cap,
             "'%s': %s in record at offset %llu (the file is damaged before its tail; "
             "open with the repair option to truncate it there)",
             path, what, (unsigned long long)off);
    return LAYERDB_CORRUPT;
}

static int io_error(const char *path, uint64_t off, char *msg, size_t cap) {
    snprintf(msg, cap, "read '%s' at offset %llu: %s", path, (unsigned long long)off,
             strerror(errno));
    return LAYERDB_IOERR;
}

/* One replay: the reader, the commands' sink and where results go. */
typedef struct replay_run {
    reader r;
    replay_ctx c;
    const char *path;
    const ldb_replay_opts *o;
    ldb_recovery *rec;
    char *msg;
    size_t cap;
    uint64_t reread_at; /* follow mode: the bad record last read again */
} replay_run;

static int no_memory(replay_run *run, const char *doing) {
    snprintf(run->msg, run->cap, "out of memory %s '%s'", doing, run->path);
    return LAYERDB_NOMEM;
}

/* Follow mode, a bad record at 'bad' that a later SYNCED record vouches
 * for: read it again, once (see "Following" at the top). Returns
 * FRAME_OK when it is whole now, FRAME_TORN when the file no longer holds
 * it (a new writer cut the tail it was in), or what is wrong with it. */
static int read_again(replay_run *run, uint64_t bad) {
    const unsigned char *body;
    uint32_t len;
    run->reread_at = bad;
    run->r.buf_len = 0; /* the bytes on file now, not those in the buffer */
    return read_record(&run->r, bad, &body, &len);
}

/* Decide what a bad record at 'bad' means; sets rec->good_end. A record
 * cut by the end of the file is a tail: nothing can follow it. One whose
 * length checks out but whose body does not is skipped whole before
 * looking for SYNCED records, so none is ever taken from inside its body
 * (a user's value). Otherwise every later offset is tried. In follow mode
 * *again is set when the record turned out whole on a second read: the
 * loop goes on from it. */
static int judge_bad_record(replay_run *run, uint64_t bad, int kind, uint32_t len, int *again) {
    uint64_t mark = 0;
    ldb_recovery *rec = run->rec;
    *again = 0;
    rec->good_end = rec->bad_offset = bad;
    rec->bad_kind = kind == FRAME_TORN ? LDB_BAD_CUT : kind == FRAME_BAD_BODY ? LDB_BAD_CHECKSUM
                                                                              : LDB_BAD_LENGTH;
    rec->later_records = 0;
    if (kind == FRAME_TORN) return LAYERDB_OK;
    int rc = max_mark_from(&run->r, kind == FRAME_BAD_BODY ? bad + LDB_FRAME_SIZE + len : bad + 1,
                           &mark, &rec->later_records);
    if (rc == LAYERDB_IOERR) return io_error(run->path, bad, run->msg, run->cap);
    if (rc) return no_memory(run, "reading");
    if (mark <= bad) return LAYERDB_OK; /* after the last fsync: a tail */
    if (run->o->follow && run->reread_at != bad) {
        rc = read_again(run, bad);
        if (rc == FRAME_IOERR) return io_error(run->path, bad, run->msg, run->cap);
        if (rc == FRAME_NOMEM) return no_memory(run, "reading");
        *again = rc == FRAME_OK;
        if (rc == FRAME_OK || rc == FRAME_TORN) return LAYERDB_OK;
    }
    if (!run->o->repair)
        return corrupt(run->path, bad, kind == FRAME_BAD_BODY ? "bad checksum" : "bad length",
                       run->msg, run->cap);
    run->rec->repaired = 1;
    return LAYERDB_OK;
}

/* ---- The replay loop ---- */

static int check_header(reader *r, const char *path, ldb_recovery *rec, char *msg, size_t cap) {
    const unsigned char *hdr;
    size_t n = r->size < LDB_FILE_HEADER_SIZE ? (size_t)r->size : LDB_FILE_HEADER_SIZE;
    int rc = n ? reader_get(r, 0, n, &hdr) : READ_OK;
    if (rc == READ_ERR) return io_error(path, 0, msg, cap);
    if (rc == READ_NOMEM) { snprintf(msg, cap, "out of memory reading '%s'", path); return LAYERDB_NOMEM; }
    if (n < LDB_FILE_HEADER_SIZE && (n == 0 || ldb_logfmt_header_is_prefix(hdr, n))) {
        rec->needs_init = 1; /* a crash while the header was being written */
        return LAYERDB_OK;
    }
    rc = ldb_logfmt_header_check(hdr, n);
    if (rc == LAYERDB_OK) r->salt = rec->salt = ldb_logfmt_header_salt(hdr);
    if (rc == LAYERDB_NOTDB)
        snprintf(msg, cap, "'%s' is not a layerdb file (bad header)", path);
    else if (rc == LAYERDB_VERSION_MISMATCH)
        snprintf(msg, cap, "'%s' was written by a newer layerdb (format version not supported)", path);
    return rc;
}

/* A SYNCED record at off, last in the file if it ends at the file's end. */
static void note_synced(replay_run *run, uint64_t off, uint64_t synced, uint32_t len) {
    ldb_recovery *rec = run->rec;
    if (synced > rec->marked_end) rec->marked_end = synced;
    /* A record vouching for everything before itself, last in the file, is
     * a clean close: nothing is left to vouch for, so the next session adds
     * no SYNCED record unless it writes. */
    if (synced == off && off + LDB_FRAME_SIZE + len == run->r.size) rec->marked_end = run->r.size;
}

/* Record a whole record at off that does not apply as the first bad one,
 * counting the records after it (best effort: a read error leaves the
 * count short, and the replay's own error stands). */
static void note_bad_content(reader *r, uint64_t off, uint32_t len, ldb_recovery *rec) {
    uint64_t mark;
    rec->bad_kind = LDB_BAD_CONTENT;
    rec->bad_offset = off;
    rec->later_records = 0;
    (void)max_mark_from(r, off + LDB_FRAME_SIZE + len, &mark, &rec->later_records);
}

/* Apply the valid record at off. LAYERDB_OK with *stop set when repair
 * ends the replay before it; otherwise an error for the caller. */
static int apply_record(replay_run *run, uint64_t off, const unsigned char *body, uint32_t len,
                        int *stop) {
    char why[256] = "malformed commands";
    int partial = 0;
    int rc = body[0] == LDB_REC_COMMANDS
                 ? apply_commands(&run->c, body, len, why, sizeof why, &partial)
                 : LAYERDB_CORRUPT;
    run->rec->in_part = rc && partial;
    if (rc == LAYERDB_NOMEM) return no_memory(run, "replaying");
    if (rc) note_bad_content(&run->r, off, len, run->rec);
    if (rc && partial) {
        snprintf(run->msg, run->cap, "'%s': record at offset %llu applies only in part (%s); "
                 "repair cannot cut it out", run->path, (unsigned long long)off, why);
        return LAYERDB_CORRUPT;
    }
    if (rc && !run->o->repair) return corrupt(run->path, off, why, run->msg, run->cap);
    if (rc) {
        run->rec->repaired = 1;
        *stop = 1;
        return LAYERDB_OK;
    }
    run->rec->records++;
    return LAYERDB_OK;
}

static int replay_records(replay_run *run) {
    uint64_t off = run->rec->good_end;
    while (off < run->r.size) {
        const unsigned char *body;
        uint32_t len;
        int again = 0, stop = 0, rc = read_record(&run->r, off, &body, &len);
        if (rc == FRAME_IOERR) return io_error(run->path, off, run->msg, run->cap);
        if (rc == FRAME_NOMEM) return no_memory(run, "reading");
        if (rc != FRAME_OK) {
            rc = judge_bad_record(run, off, rc, len, &again);
            if (rc || !again) return rc;
            continue; /* whole on a second read: apply it */
        }
        uint64_t synced;
        if (body[0] == LDB_REC_SYNCED && ldb_logfmt_synced_decode(body, len, &synced) == 0)
            note_synced(run, off, synced, len);
        else if ((rc = apply_record(run, off, body, len, &stop)) != LAYERDB_OK || stop)
            return rc;
        off += LDB_FRAME_SIZE + len;
        run->rec->good_end = off;
    }
    return LAYERDB_OK;
}

int ldb_replay(int fd, const char *path, ldb_alloc *a, const ldb_replay_opts *o, ldb_replay_fn fn,
               void *ud, ldb_recovery *rec, char *msg, size_t cap) {
    memset(rec, 0, sizeof *rec);
    replay_run run = {.r = {.fd = fd, .alloc = a}, .c = {.fn = fn, .ud = ud, .alloc = a},
                      .path = path, .o = o, .rec = rec, .msg = msg, .cap = cap,
                      .reread_at = UINT64_MAX};
    rec->good_end = o->from; /* until a record (or, from 0, the header) passes */
    if (ldb_os_size(fd, &run.r.size) != 0) return io_error(path, o->from, msg, cap);
    rec->file_size = run.r.size;
    int rc = LAYERDB_OK;
    if (o->from == 0) {
        rc = check_header(&run.r, path, rec, msg, cap);
        if (rc == LAYERDB_OK && !rec->needs_init) rec->good_end = LDB_FILE_HEADER_SIZE;
    } else {
        assert(o->from >= LDB_FILE_HEADER_SIZE);
        run.r.salt = rec->salt = o->salt;
    }
    if (rc == LAYERDB_OK && !rec->needs_init) rc = replay_records(&run);
    ldb_free(a, run.c.argv, run.c.argv_cap * sizeof *run.c.argv);
    ldb_free(a, run.r.buf, run.r.cap);
    return rc;
}

int ldb_recover(int fd, const char *path, ldb_alloc *a, int repair, ldb_replay_fn fn, void *ud,
                ldb_recovery *rec, char *msg, size_t cap) {
    ldb_replay_opts o = {.repair = repair};
    return ldb_replay(fd, path, a, &o, fn, ud, rec, msg, cap);
}
