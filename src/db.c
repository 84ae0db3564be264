/* db.c -- the public entry points: open, close, set, get, remove, refresh,
 * errors.
 *
 * A handle owns: its allocator, the table (keyspace), and when it persists
 * the file descriptor (holding the writer lock) and the writer thread; when
 * it is read-only, the follower that reads its file (follower.c).
 * The entry points stay thin: check arguments, take db->lock, call the
 * table and the writer, set the error message.
 *
 * Write path (set/remove), all under db->lock: hash the key and start
 * loading its slot (ldb_table_prepare); reserve room in the log (this is
 * where a sticky disk error, back-pressure or a lack of memory for the
 * record stops the write, before anything changed) and encode the command
 * there, while the slot loads; change the table; then queue the record,
 * which cannot fail. So the log order is the table order even with many
 * threads, and a write that could not be logged is never visible. Under
 * FSYNC_ALWAYS the caller then waits for its fsync outside db->lock, so
 * other threads' writes join the same fsync.
 *
 * LOCKS: db->lock, a read-write lock, guards the keyspace, the limbo,
 * taken and the client contexts, and also the writer's batch being
 * appended to (writer.c), so a set takes one lock. Lookups (get, scan,
 * info, read commands) hold it for reading, so threads reading one handle
 * do not wait for each other; everything that changes something holds it
 * for writing. errmsg is the handle's last message, written by whichever
 * call failed last. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "command.h"
#include "compact.h"
#include "follower.h"
#include "keyspace.h"
#include "os.h"
#include "recovery.h"
#include "rwlock.h"
#include "table.h"
#include "writer.h"

/* Entries the table dropped while the writer thread may still read them:
 * it may still encode a SET_REF to one (log_set). They wait in the limbo,
 * a queue in the order they came, each with the writer's batch at the
 * time, and are freed, by the thread that allocated them, once the writer
 * is past that batch (limbo_collect): a few at each write, so that a
 * stream of writes frees what it drops about as fast as it drops it. Room
 * for a write's drops is made before the write changes anything
 * (limbo_reserve), so dropping never fails.
 * Invariants: head <= n <= cap; items[head..n) are in the order they came,
 * so their batches never decrease. */
#define LIMBO_KEEP 4096 /* entries of limbo room kept between writes */
#define LIMBO_FREE_STEP 64 /* entries one write frees at most: more than a
                              write drops (but for FLUSHDB and EXEC), few
                              enough to cost a write microseconds. A
                              limbo that a FLUSHDB filled is freed over
                              many writes. */

typedef struct ldb_limbo_item {
    ldb_entry *e;
    uint64_t batch; /* the writer's batch when e came */
} ldb_limbo_item;

typedef struct ldb_limbo {
    ldb_limbo_item *items;
    size_t head, n, cap; /* items[head..n) wait */
} ldb_limbo;

struct layerdb {
    ldb_alloc alloc;          /* fixed at open */
    ldb_rwlock lock;          /* guards the fields marked (L): held for
                                 reading by lookups, for writing by the rest */
    int lock_ready;           /* lock was initialised */
    int open_failed;          /* holds only errmsg: every call is refused */
    ldb_keyspace ks;          /* (L) the databases; the fast path uses 0 */
    ldb_limbo limbo;          /* (L) */
    ldb_entry *taken;         /* (L) last layerdb_take result, freed by the
                                 next modifying call */
    layerdb_client *client;   /* (L) layerdb_command's client context */
    int64_t next_expire_ms;   /* (L) when active expiry runs next */
    ldb_writer *writer;       /* NULL when not persisting */
    ldb_compactor *compactor; /* NULL when not persisting */
    int fd;                   /* (L) -1 when no file is open; a compaction
                                 moves the log to a new one */
    uint64_t file_base;       /* (L) the log position of fd's offset 0 */
    uint64_t salt;            /* (L) fd's checksum seed */
    _Atomic uint64_t compact_at; /* the log position past which a write
                                 checks whether to compact (compact_due);
                                 written under the lock, but for the
                                 compactor's 0 (ask_attention) */
    double compact_factor;    /* options: 0 = no automatic compaction */
    uint64_t compact_min;
    ldb_follower *follower;   /* a read-only handle's file, or NULL */
    int readonly;             /* writes refused */
    int policy;               /* enum layerdb_fsync */
    uint64_t dropped_bytes;   /* torn tail cut at open */
    uint64_t replayed;        /* records replayed at open */
    char path[1024];          /* for messages */
    char errmsg[1400];        /* (L) last error */
};

static const char *const rc_text[] = {
    "LAYERDB_OK: success",
    "LAYERDB_NOTFOUND: no such key",
    "LAYERDB_LOCKED: database file is in use by another writer",
    "LAYERDB_CORRUPT: database file is damaged",
    "LAYERDB_IOERR: input/output error",
    "LAYERDB_NOMEM: out of memory",
    "LAYERDB_INVALID: invalid argument",
    "LAYERDB_NOTDB: not a layerdb file",
    "LAYERDB_VERSION_MISMATCH: file format version not supported",
    "LAYERDB_TOOBIG: key or value too large",
    "LAYERDB_READONLY: database is read-only",
    "LAYERDB_FULL: disk full",
};

const char *layerdb_strerror(int rc) {
    if (rc < 0 || rc >= (int)(sizeof rc_text / sizeof rc_text[0])) return "unknown layerdb error code";
    return rc_text[rc];
}

const char *layerdb_errmsg(const layerdb *db) {
    return db ? db->errmsg : "out of memory";
}

/* Set the handle's message and return rc: return seterr(db, rc, ...). */
static int seterr(layerdb *db, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

void layerdb_options_init(layerdb_options *opts) {
    memset(opts, 0, sizeof *opts);
    opts->persistence = LAYERDB_PERSIST_ON;
    opts->fsync = LAYERDB_FSYNC_EVERYSEC;
    opts->max_pending_bytes = 64u * 1024 * 1024;
    opts->compact_factor = 2.0;
    opts->compact_min_bytes = 64u * 1024 * 1024;
}

/* ---- Opening ---- */

static int check_options(layerdb *db, const layerdb_options *o) {
    if (o->persistence != LAYERDB_PERSIST_ON && o->persistence != LAYERDB_PERSIST_OFF)
        return seterr(db, LAYERDB_INVALID, "invalid persistence option %d", o->persistence);
    if (o->fsync < LAYERDB_FSYNC_EVERYSEC || o->fsync > LAYERDB_FSYNC_NO)
        return seterr(db, LAYERDB_INVALID, "invalid fsync option %d", o->fsync);
    int fns = !!o->alloc.malloc + !!o->alloc.realloc + !!o->alloc.free;
    if (fns != 0 && fns != 3)
        return seterr(db, LAYERDB_INVALID, "allocator needs all of malloc, realloc and free");
    if (o->max_pending_bytes == 0)
        return seterr(db, LAYERDB_INVALID, "max_pending_bytes must be positive");
    if (!(o->compact_factor == 0 || o->compact_factor > 1.0) || o->compact_factor > 1e9)
        return seterr(db, LAYERDB_INVALID,
                      "compact_factor must be 0 (no automatic compaction) or more than 1, not %g",
                      o->compact_factor);
    return LAYERDB_OK;
}

static int lock_file(layerdb *db) {
    long pid;
    if (ldb_os_lock_writer(db->fd, &pid) == 0) return LAYERDB_OK;
    if (errno != EWOULDBLOCK)
        return seterr(db, LAYERDB_IOERR, "lock '%s': %s", db->path, strerror(errno));
    if (pid > 0)
        return seterr(db, LAYERDB_LOCKED, "database file '%s' is in use by process %ld", db->path, pid);
    return seterr(db, LAYERDB_LOCKED, "database file '%s' is in use by another process", db->path);
}

/* Write a fresh header over an empty file or one cut short while being
 * created; fsync the file and its directory so the name is durable too. */
static int init_file(layerdb *db, ldb_recovery *rec) {
    unsigned char hdr[LDB_FILE_HEADER_SIZE];
    ldb_os_random(&rec->salt, sizeof rec->salt);
    ldb_logfmt_header_encode(hdr, rec->salt);
    if (ldb_os_truncate(db->fd, 0) != 0 || ldb_os_pwrite_all(db->fd, hdr, sizeof hdr, 0) != 0 ||
        ldb_os_sync(db->fd) != 0 || ldb_os_sync_dir(db->path) != 0) {
        int err = errno;
        return seterr(db, err == ENOSPC ? LAYERDB_FULL : LAYERDB_IOERR,
                      "create '%s': %s", db->path, strerror(err));
    }
    return LAYERDB_OK;
}

/* Cut a torn tail and make everything replayed durable, so the writer's
 * first SYNCED record can vouch for it. */
static int settle_file(layerdb *db, ldb_recovery *rec) {
    if (rec->needs_init) return init_file(db, rec);
    if (rec->good_end < rec->file_size && ldb_os_truncate(db->fd, rec->good_end) != 0)
        return seterr(db, LAYERDB_IOERR, "truncate '%s' to %llu bytes: %s", db->path,
                      (unsigned long long)rec->good_end, strerror(errno));
    if (ldb_os_sync(db->fd) != 0)
        return seterr(db, LAYERDB_IOERR, "fsync '%s': %s", db->path, strerror(errno));
    return LAYERDB_OK;
}

static void set_compact_at(layerdb *db, uint64_t at) {
    atomic_store_explicit(&db->compact_at, at, memory_order_relaxed);
}

/* The automatic compaction's threshold: the file may grow to
 * compact_factor times the live data, and to compact_min bytes. (lock
 * held) */
static uint64_t compact_limit(layerdb *db) {
    double live = (double)ldb_ks_live_bytes(&db->ks) * db->compact_factor;
    return live > (double)db->compact_min ? (uint64_t)live : db->compact_min;
}

/* Where the next check goes (lock held). */
static void plan_compaction(layerdb *db) {
    set_compact_at(db, db->compact_factor == 0 ? UINT64_MAX : db->file_base + compact_limit(db));
}

static int start_writer(layerdb *db, const layerdb_options *o, const ldb_recovery *rec) {
    ldb_writer_config cfg;
    cfg.fd = db->fd;
    cfg.path = db->path;
    cfg.policy = o->fsync;
    cfg.file_end = rec->needs_init ? LDB_FILE_HEADER_SIZE : rec->good_end;
    cfg.marked_end = rec->marked_end > LDB_FILE_HEADER_SIZE ? rec->marked_end : LDB_FILE_HEADER_SIZE;
    cfg.max_pending = o->max_pending_bytes;
    cfg.salt = rec->salt;
    cfg.lock = &db->lock;
    db->salt = rec->salt;
    db->compact_factor = o->compact_factor;
    db->compact_min = o->compact_min_bytes;
    plan_compaction(db);
    if (!(db->compactor = ldb_compactor_new(db, &db->alloc)))
        return seterr(db, LAYERDB_NOMEM, "out of memory opening '%s'", db->path);
    return ldb_writer_start(&db->writer, &db->alloc, &cfg, db->errmsg, sizeof db->errmsg);
}

/* Open and lock the file. A compaction in another process may rename a
 * new file over the path between our open and our lock: then the file
 * locked is no longer the database, so open the path again. */
static int open_locked(layerdb *db, const char *path) {
    const char *kind;
    for (int tries = 0;; tries++) {
        if (ldb_os_open(path, 1, 1, &db->fd, &kind) != 0) {
            if (kind) return seterr(db, LAYERDB_NOTDB, "'%s' is not a regular file (it is %s)", path, kind);
            return seterr(db, LAYERDB_IOERR, "open '%s': %s", path, strerror(errno));
        }
        int rc = lock_file(db);
        if (rc) return rc;
        if (ldb_os_names_file(path, db->fd) || tries == 100) break;
        ldb_os_close(db->fd);
        db->fd = -1;
    }
    /* A compaction that died left its new file: it was never the database. */
    char tmp[sizeof db->path + sizeof LDB_COMPACT_SUFFIX];
    snprintf(tmp, sizeof tmp, "%s%s", path, LDB_COMPACT_SUFFIX);
    (void)ldb_os_unlink(tmp);
    return LAYERDB_OK;
}

/* A read-only handle: the follower opens and replays the file. */
static int open_follower(layerdb *db, const layerdb_options *o) {
    uint64_t records;
    int rc = ldb_follower_open(&db->follower, db, db->path, o->repair, &records, db->errmsg,
                               sizeof db->errmsg);
    db->replayed = records;
    return rc;
}

/* Open the file, lock it if we write, replay it, and start the writer. */
static int open_file(layerdb *db, const char *path, const layerdb_options *o, int persist) {
    const char *kind;
    if (strlen(path) >= sizeof db->path)
        return seterr(db, LAYERDB_INVALID, "path is too long (%zu bytes)", strlen(path));
    strcpy(db->path, path);
    if (o->readonly) return open_follower(db, o);
    int rc = LAYERDB_OK;
    if (persist) {
        rc = open_locked(db, path);
    } else if (ldb_os_open(path, 0, 0, &db->fd, &kind) != 0) {
        if (kind) return seterr(db, LAYERDB_NOTDB, "'%s' is not a regular file (it is %s)", path, kind);
        if (errno == ENOENT && !o->readonly) return LAYERDB_OK; /* nothing to read */
        return seterr(db, LAYERDB_IOERR, "open '%s': %s", path, strerror(errno));
    }
    if (rc) return rc;
    ldb_recovery rec;
    layerdb_client *replayer = ldb_client_new(db, 1);
    if (!replayer) return seterr(db, LAYERDB_NOMEM, "out of memory opening '%s'", path);
    rc = ldb_recover(db->fd, path, &db->alloc, o->repair, ldb_client_replay, replayer, &rec,
                     db->errmsg, sizeof db->errmsg);
    layerdb_client_free(replayer);
    if (rc) return rc;
    db->replayed = rec.records;
    db->dropped_bytes = rec.needs_init ? 0 : rec.file_size - rec.good_end;
    if (!persist) return LAYERDB_OK;
    rc = settle_file(db, &rec);
    return rc ? rc : start_writer(db, o, &rec);
}

static void limbo_free_all(layerdb *db);

/* Release everything but the handle itself and its message (the writer
 * has stopped). */
static void release(layerdb *db) {
    ldb_follower_close(db->follower);
    db->follower = NULL;
    layerdb_client_free(db->client);
    db->client = NULL;
    ldb_entry_free(&db->alloc, db->taken);
    db->taken = NULL;
    limbo_free_all(db);
    ldb_ks_free(&db->ks);
    ldb_os_close(db->fd);
    db->fd = -1;
}

int layerdb_open(layerdb **out, const char *path, const layerdb_options *opts) {
    layerdb_options defaults;
    if (!out) return LAYERDB_INVALID;
    if (!opts) { layerdb_options_init(&defaults); opts = &defaults; }
    ldb_alloc alloc;
    ldb_alloc_init(&alloc, &opts->alloc);
    layerdb *db = ldb_malloc(&alloc, sizeof *db);
    *out = db;
    if (!db) return LAYERDB_NOMEM;
    memset(db, 0, sizeof *db);
    db->alloc = alloc;
    db->fd = -1;
    uint64_t seed;
    ldb_os_random(&seed, sizeof seed);
    ldb_ks_init(&db->ks, &db->alloc, seed);
    int rc = check_options(db, opts);
    if (rc == LAYERDB_OK && ldb_rwlock_init(&db->lock) != 0)
        rc = seterr(db, LAYERDB_NOMEM, "cannot create a mutex");
    db->lock_ready = rc == LAYERDB_OK;
    db->readonly = opts->readonly;
    db->policy = opts->fsync;
    int persist = path && opts->persistence == LAYERDB_PERSIST_ON && !opts->readonly;
    if (rc == LAYERDB_OK && path) rc = open_file(db, path, opts, persist);
    if (rc == LAYERDB_OK && !(db->client = ldb_client_new(db, 0)))
        rc = seterr(db, LAYERDB_NOMEM, "out of memory opening a handle");
    if (rc) {
        release(db);
        db->open_failed = 1;
    }
    return rc;
}

int layerdb_close(layerdb *db) {
    if (!db) return LAYERDB_OK;
    int rc = LAYERDB_OK;
    ldb_compactor_free(db->compactor); /* cancels one that runs */
    db->compactor = NULL;
    if (db->writer) rc = ldb_writer_stop(db->writer, db->errmsg, sizeof db->errmsg);
    db->writer = NULL;
    release(db);
    if (db->lock_ready) ldb_rwlock_destroy(&db->lock);
    ldb_alloc alloc = db->alloc;
    ldb_free(&alloc, db, sizeof *db);
    return rc;
}

/* ---- Argument checks ---- */

static int check_handle(layerdb *db) {
    if (!db) return LAYERDB_INVALID;
    if (db->open_failed)
        return seterr(db, LAYERDB_INVALID, "handle is not open (layerdb_open failed)");
    return LAYERDB_OK;
}

static int check_key(layerdb *db, const void *key, size_t klen) {
    int rc = check_handle(db);
    if (rc) return rc;
    if (!key && klen) return seterr(db, LAYERDB_INVALID, "key is NULL with length %zu", klen);
    if (klen > LAYERDB_MAX_KEY)
        return seterr(db, LAYERDB_TOOBIG, "key of %zu bytes is over the limit of %u bytes", klen,
                      LAYERDB_MAX_KEY);
    return LAYERDB_OK;
}

static int check_write(layerdb *db, const void *key, size_t klen) {
    int rc = check_key(db, key, klen);
    if (rc) return rc;
    if (db->readonly) return seterr(db, LAYERDB_READONLY, "database '%s' is open read-only", db->path);
    return LAYERDB_OK;
}

/* ---- Writing ---- */

/* Make room in the log for a record of 'need' bytes (db->lock held,
 * maybe released while waiting for space). */
LDB_HOT_INLINE int log_reserve(layerdb *db, size_t need) {
    if (!db->writer) return LAYERDB_OK;
    return ldb_writer_reserve(db->writer, need, db->errmsg, sizeof db->errmsg);
}

/* ---- Dropping entries (see ldb_limbo) ---- */

static void limbo_free_all(layerdb *db) {
    ldb_limbo *l = &db->limbo;
    for (size_t i = l->head; i < l->n; i++) ldb_entry_free(&db->alloc, l->items[i].e);
    l->head = l->n = 0;
    /* After a big flush, give the room back: a stream of writes needs
     * little of it. */
    if ((db->writer == NULL || l->cap > LIMBO_KEEP) && l->cap) {
        ldb_free(&db->alloc, l->items, l->cap * sizeof *l->items);
        l->items = NULL;
        l->cap = 0;
    }
}

static int limbo_may_free(const layerdb *db, const ldb_limbo_item *it) {
    return !(db->writer && ldb_writer_may_reference(db->writer, it->batch));
}

/* Free up to LIMBO_FREE_STEP of the oldest entries the writer is past. */
static void limbo_free_some(layerdb *db) {
    ldb_limbo *l = &db->limbo;
    size_t stop = l->n - l->head > LIMBO_FREE_STEP ? l->head + LIMBO_FREE_STEP : l->n;
    while (l->head < stop && limbo_may_free(db, &l->items[l->head]))
        ldb_entry_free(&db->alloc, l->items[l->head++].e);
    if (l->head == l->n) limbo_free_all(db); /* gives big room back */
}

/* Free the oldest entries of the limbo, a step at a time, once the
 * writer is past every SET_REF that may point at them. */
LDB_HOT_INLINE void limbo_collect(layerdb *db) {
    ldb_limbo *l = &db->limbo;
    if (l->head < l->n && limbo_may_free(db, &l->items[l->head])) limbo_free_some(db);
}

/* Room for 'drops' more at the end: the waiting entries move to the
 * front, and the array doubles if that is not enough. */
static LDB_COLD int limbo_grow(layerdb *db, size_t drops) {
    ldb_limbo *l = &db->limbo;
    if (l->head) {
        memmove(l->items, l->items + l->head, (l->n - l->head) * sizeof *l->items);
        l->n -= l->head;
        l->head = 0;
        if (l->cap - l->n >= drops && l->n <= l->cap / 2) return LAYERDB_OK;
    }
    size_t cap = l->cap ? l->cap : 64;
    while (cap - l->n < drops || l->n > cap / 2) cap = ldb_mul_size(cap, 2);
    ldb_limbo_item *p = cap == SIZE_MAX ? NULL
                        : ldb_realloc(&db->alloc, l->items, l->cap * sizeof *p,
                                      ldb_mul_size(cap, sizeof *p));
    if (!p) return seterr(db, LAYERDB_NOMEM, "out of memory dropping %zu entries", drops);
    l->items = p;
    l->cap = cap;
    return LAYERDB_OK;
}

/* Room to drop 'drops' entries, made before a write changes anything. */
LDB_HOT_INLINE int limbo_reserve(layerdb *db, size_t drops) {
    if (!db->writer) return LAYERDB_OK; /* then nothing enters the limbo */
    limbo_collect(db);
    return db->limbo.cap - db->limbo.n >= drops ? LAYERDB_OK : limbo_grow(db, drops);
}

/* Free an entry the table no longer holds, or put it in the limbo if a
 * SET_REF queued in one of the last two batches may point at it. */
static inline void drop_entry(layerdb *db, ldb_entry *e) {
    if (!e) return;
    int tag = ldb_entry_reference_batch(e);
    if (tag >= 0 && db->writer && ldb_writer_tag_may_reference(db->writer, (unsigned)tag)) {
        assert(db->limbo.n < db->limbo.cap); /* limbo_reserve came first */
        db->limbo.items[db->limbo.n++] = (ldb_limbo_item){e, ldb_writer_batch(db->writer)};
    } else {
        ldb_entry_free(&db->alloc, e);
    }
}

/* Room for a write's record and its drops (the entry it replaces or
 * removes, and the taken one). */
LDB_HOT_INLINE int write_reserve(layerdb *db, size_t need) {
    int rc = log_reserve(db, need);
    return rc ? rc : limbo_reserve(db, 2);
}

/* Size a command's record, make room for it and encode it there, not yet
 * queued: *need gets the size for log_commit. A write calls this after
 * ldb_table_prepare and before it changes the table, so the encoding runs
 * while the table's cache lines load. Inlined into each write, where argv
 * is a constant shape with a literal name, so sizing and encoding fold to
 * a few adds and stores and a copy per argument. */
LDB_HOT_INLINE int log_encode(layerdb *db, size_t argc, const ldb_slice *argv, size_t *need) {
    *need = 0;
    if (!db->writer) return LAYERDB_OK;
    *need = ldb_logfmt_command_record_size(argc, argv);
    int rc = write_reserve(db, *need);
    if (rc == LAYERDB_OK) ldb_writer_encode(db->writer, *need, argc, argv);
    return rc;
}

/* Queue the record log_encode wrote, once the change succeeded (db->lock
 * held throughout). Returns the record's end offset, 0 without
 * persistence. Then drop_entry, then log_finish. */
static inline uint64_t log_commit(layerdb *db, size_t need) {
    return db->writer ? ldb_writer_commit(db->writer, need) : 0;
}

/* log_reserve for "SET key value" from a new string entry of esize bytes:
 * *need gets the record's size for log_set. */
LDB_HOT_INLINE int log_reserve_set(layerdb *db, size_t esize, size_t *need) {
    *need = 0;
    if (!db->writer) return LAYERDB_OK;
    *need = ldb_logfmt_encoded_record_size(3, &ldb_logfmt_set_name, esize - 1);
    return write_reserve(db, *need);
}

/* Queue the SET record of the new entry e, now in the table, which holds
 * key and value as the log encodes them (table.h); 'new_key' if it
 * replaced nothing. Returns the record's end offset, as log_commit.
 * A small set of a new key queues a reference to e, and the writer thread
 * encodes the record: the caller copies nothing. Any other set copies e
 * into the record, as a constant prefix and one copy. The reason is what
 * dropping e costs later (drop_entry): a referenced entry must wait in
 * the limbo, and in a stream of overwrites that cost more than
 * the copy saves (entries freed in batches, their memory read by the
 * writer's core, made the next entries slower to write), while a copied
 * one is freed at once. So a stream of overwrites copies and frees as
 * before, and a stream of new keys copies nothing. */
LDB_HOT_INLINE uint64_t log_set(layerdb *db, ldb_entry *e, size_t esize, size_t need,
                                int new_key) {
    if (!db->writer) return 0;
    if (new_key && need <= LDB_WRITER_REF_MAX) {
        ldb_entry_mark_referenced(e, ldb_writer_batch(db->writer));
        ldb_writer_encode_set_ref(db->writer, ldb_entry_string_args(e), esize - 1);
        return ldb_writer_commit_set_ref(db->writer, need);
    }
    ldb_writer_encode_args(db->writer, need, 3, &ldb_logfmt_set_name, ldb_entry_string_args(e));
    return ldb_writer_commit(db->writer, need);
}

/* The file has grown to compact_at: start a compaction if it outgrew
 * its live data, or else plan the next check. (lock held) */
static LDB_COLD void compact_due(layerdb *db) {
    uint64_t run, queued = ldb_writer_queued(db->writer);
    int started;
    char msg[256];
    if (ldb_compactor_busy(db->compactor)) {
        /* No check until it ends (ldb_db_file_moved plans the next), but
         * when it lowers compact_at to wait for a write
         * (ask_attention). */
        set_compact_at(db, UINT64_MAX);
        ldb_compactor_attend(db->compactor);
    } else if (queued - db->file_base < compact_limit(db) || db->compact_factor == 0) {
        plan_compaction(db);
    } else if (ldb_compactor_start(db->compactor, &run, &started, msg, sizeof msg) != LAYERDB_OK) {
        set_compact_at(db, queued + db->compact_min); /* no thread: later */
    } else {
        /* started (busy until it ends), or the last one's thread is
         * still on its way out: look again at the next write */
        set_compact_at(db, started ? UINT64_MAX : queued);
    }
}

/* A write's last step in the log: the thread may take the batch now. */
LDB_HOT_INLINE void log_finish(layerdb *db) {
    if (db->writer) {
        ldb_writer_finish(db->writer);
        if (ldb_writer_queued(db->writer) >=
            atomic_load_explicit(&db->compact_at, memory_order_relaxed))
            compact_due(db);
    }
}

/* Wait (without db->lock) for the fsync of the record ending at 'end'. */
static int wait_synced(layerdb *db, uint64_t end) {
    char msg[sizeof db->errmsg];
    int rc = ldb_writer_wait_synced(db->writer, end, msg, sizeof msg);
    if (rc) {
        ldb_rwlock_wrlock(&db->lock);
        seterr(db, rc, "%s", msg);
        ldb_rwlock_wrunlock(&db->lock);
    }
    return rc;
}

/* Under FSYNC_ALWAYS, wait_synced. Inline: every write returns through
 * here, and wait_synced's frame (a message buffer) costs more than the
 * test (end is 0 without persistence). */
LDB_HOT_INLINE int wait_durable(layerdb *db, uint64_t end) {
    if (end == 0 || db->policy != LAYERDB_FSYNC_ALWAYS) return LAYERDB_OK;
    return wait_synced(db, end);
}

/* The last layerdb_take's entry, dropped by the next write that succeeds
 * (its room reserved). */
static void drop_taken(layerdb *db) {
    drop_entry(db, db->taken);
    db->taken = NULL;
}

/* Check a value's pointer and size. */
static int check_value(layerdb *db, const void *val, size_t vlen) {
    if (!val && vlen) return seterr(db, LAYERDB_INVALID, "value is NULL with length %zu", vlen);
    if (vlen > LAYERDB_MAX_VALUE)
        return seterr(db, LAYERDB_TOOBIG, "value of %zu bytes is over the limit of %u bytes", vlen,
                      LAYERDB_MAX_VALUE);
    return LAYERDB_OK;
}

/* The set itself, db->lock held: *end gets its record's end. */
LDB_HOT_INLINE int set_locked(layerdb *db, const void *key, size_t klen, const void *val,
                              size_t vlen, uint64_t *end) {
    int rc;
    size_t need = 0, esize = 0;
    ldb_entry *replaced;
    uint64_t h = ldb_table_prepare(&db->ks.keys[0], key, klen);
    ldb_entry *e = ldb_entry_create_string(&db->alloc, key, klen, val, vlen, &esize);
    if (!e)
        rc = seterr(db, LAYERDB_NOMEM, "out of memory storing a %zu-byte value", vlen);
    else if ((rc = log_reserve_set(db, esize, &need)) == LAYERDB_OK &&
             (rc = ldb_ks_put(&db->ks, 0, h, e, 0, &replaced)) != LAYERDB_OK)
        seterr(db, rc, "out of memory storing a %zu-byte value", vlen);
    if (rc == LAYERDB_OK) {
        *end = log_set(db, e, esize, need, replaced == NULL);
        drop_entry(db, replaced);
        drop_taken(db);
        log_finish(db);
    } else {
        ldb_entry_free(&db->alloc, e);
    }
    return rc;
}

int layerdb_set(layerdb *db, const void *key, size_t klen, const void *val, size_t vlen) {
    int rc = check_write(db, key, klen);
    if (rc || (rc = check_value(db, val, vlen))) return rc;
    uint64_t end = 0;
    ldb_rwlock_wrlock(&db->lock);
    rc = set_locked(db, key, klen, val, vlen, &end);
    ldb_rwlock_wrunlock(&db->lock);
    return rc ? rc : wait_durable(db, end);
}

/* Remove key; with 'keep', hand the entry to db->taken. */
static int remove_generic(layerdb *db, const void *key, size_t klen, int keep, const void **val,
                          size_t *vlen) {
    int rc = check_write(db, key, klen);
    if (rc) return rc;
    ldb_slice argv[2] = {{(const unsigned char *)"DEL", 3}, {key, klen}};
    uint64_t end = 0;
    size_t need;
    ldb_rwlock_wrlock(&db->lock);
    ldb_entry *e = NULL;
    int expired = 0;
    if ((rc = log_encode(db, 2, argv, &need)) != LAYERDB_OK) {
        /* a disk error or no memory: the message is set */
    } else if (!(e = ldb_ks_find_any(&db->ks, 0, key, klen, LDB_KS_CLOCK, &expired))) {
        rc = LAYERDB_NOTFOUND;
    } else {
        /* An expired key is gone for the caller; removing it is logged
         * all the same. */
        (void)ldb_ks_unlink(&db->ks, 0, key, klen);
        if (expired) rc = LAYERDB_NOTFOUND;
        end = log_commit(db, need);
        drop_taken(db);
        if (keep && !expired) {
            ldb_entry_view v;
            ldb_entry_decode(e, &v);
            if (val) *val = v.val;
            if (vlen) *vlen = v.vlen;
            db->taken = e;
        } else {
            drop_entry(db, e);
        }
        log_finish(db);
    }
    ldb_rwlock_wrunlock(&db->lock);
    return rc ? rc : wait_durable(db, end);
}

int layerdb_remove(layerdb *db, const void *key, size_t klen) {
    return remove_generic(db, key, klen, 0, NULL, NULL);
}

int layerdb_take(layerdb *db, const void *key, size_t klen, const void **val, size_t *vlen) {
    return remove_generic(db, key, klen, 1, val, vlen);
}

int layerdb_flush(layerdb *db) {
    int rc = check_handle(db);
    if (rc || !db->writer) return rc;
    char msg[sizeof db->errmsg];
    rc = ldb_writer_flush(db->writer, msg, sizeof msg);
    if (rc) {
        ldb_rwlock_wrlock(&db->lock);
        seterr(db, rc, "%s", msg);
        ldb_rwlock_wrunlock(&db->lock);
    }
    return rc;
}

/* ---- Following a writer ---- */

int layerdb_refresh(layerdb *db, uint64_t *records) {
    int rc = check_handle(db);
    if (rc) return rc;
    if (!db->follower && !db->readonly)
        return seterr(db, LAYERDB_INVALID, "layerdb_refresh: database '%s' is not open read-only "
                      "(only a read-only handle follows a writer)", db->path);
    if (!db->follower)
        return seterr(db, LAYERDB_INVALID, "layerdb_refresh: the read-only database has no file");
    uint64_t n;
    char msg[sizeof db->errmsg];
    rc = ldb_follower_refresh(db->follower, &n, msg, sizeof msg);
    if (rc) return seterr(db, rc, "%s", msg);
    if (records) *records = n;
    return LAYERDB_OK;
}

/* ---- Reading ---- */

int layerdb_get(layerdb *db, const void *key, size_t klen, const void **val, size_t *vlen) {
    int rc = check_key(db, key, klen);
    if (rc) return rc;
    ldb_rwlock_rdlock(&db->lock);
    const ldb_entry *e = ldb_ks_find(&db->ks, 0, key, klen, LDB_KS_CLOCK);
    if (e) {
        ldb_entry_view v;
        ldb_entry_decode(e, &v);
        if (val) *val = v.val;
        if (vlen) *vlen = v.vlen;
    }
    ldb_rwlock_rdunlock(&db->lock);
    return e ? LAYERDB_OK : LAYERDB_NOTFOUND;
}

int layerdb_get_copy(layerdb *db, const void *key, size_t klen, void *buf, size_t cap,
                     size_t *vlen) {
    int rc = check_key(db, key, klen);
    if (rc) return rc;
    if (!buf && cap) return seterr(db, LAYERDB_INVALID, "buffer is NULL with capacity %zu", cap);
    ldb_rwlock_rdlock(&db->lock);
    const ldb_entry *e = ldb_ks_find(&db->ks, 0, key, klen, LDB_KS_CLOCK);
    if (e) {
        ldb_entry_view v;
        ldb_entry_decode(e, &v);
        if (cap) memcpy(buf, v.val, v.vlen < cap ? v.vlen : cap);
        if (vlen) *vlen = v.vlen;
    }
    ldb_rwlock_rdunlock(&db->lock);
    return e ? LAYERDB_OK : LAYERDB_NOTFOUND;
}

typedef struct scan_ctx {
    layerdb_scan_fn fn;
    void *ud;
    ldb_keyspace *ks;
    int64_t now;
} scan_ctx;

static void scan_entry(void *ud, const ldb_entry *e) {
    scan_ctx *c = ud;
    if (ldb_ks_is_expired(c->ks, 0, e, c->now)) return;
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    c->fn(c->ud, v.key, v.klen, v.val, v.vlen);
}

int layerdb_scan(layerdb *db, uint64_t *cursor, size_t count, layerdb_scan_fn fn, void *ud) {
    int rc = check_handle(db);
    if (rc) return rc;
    if (!cursor || !fn) return seterr(db, LAYERDB_INVALID, "cursor and callback are required");
    scan_ctx c = {fn, ud, &db->ks, LDB_KS_CLOCK};
    ldb_rwlock_rdlock(&db->lock);
    *cursor = ldb_table_scan(&db->ks.keys[0], *cursor, count, scan_entry, &c);
    ldb_rwlock_rdunlock(&db->lock);
    return LAYERDB_OK;
}

int layerdb_info_get(layerdb *db, layerdb_info *info) {
    int rc = check_handle(db);
    if (rc) return rc;
    if (!info) return seterr(db, LAYERDB_INVALID, "info is NULL");
    memset(info, 0, sizeof *info);
    ldb_rwlock_rdlock(&db->lock);
    info->keys = db->ks.keys[0].count;
    ldb_rwlock_rdunlock(&db->lock);
    info->memory_bytes = atomic_load_explicit(&db->alloc.live_bytes, memory_order_relaxed);
    info->dropped_bytes = db->dropped_bytes;
    info->replayed_records = db->replayed;
    info->persistent = db->writer != NULL;
    if (db->writer) {
        ldb_writer_stats(db->writer, &info->log_bytes, &info->synced_bytes,
                         &info->largest_batch_bytes);
        ldb_compactor_stats(db->compactor, &info->compactions, &info->compacting);
    }
    ldb_rwlock_rdlock(&db->lock);
    info->live_bytes = ldb_ks_live_bytes(&db->ks);
    info->file_bytes = db->writer ? info->log_bytes - db->file_base : 0;
    ldb_rwlock_rdunlock(&db->lock);
    return LAYERDB_OK;
}

int layerdb_compact(layerdb *db, int flags) {
    int rc = check_handle(db);
    if (rc) return rc;
    if (flags & ~LAYERDB_COMPACT_WAIT) return seterr(db, LAYERDB_INVALID, "unknown flags %#x", flags);
    if (db->readonly) return seterr(db, LAYERDB_READONLY, "database '%s' is open read-only", db->path);
    if (!db->writer) return seterr(db, LAYERDB_INVALID, "no log file to compact: persistence is off");
    uint64_t run;
    int started;
    char msg[sizeof db->errmsg];
    ldb_rwlock_wrlock(&db->lock);
    rc = ldb_compactor_start(db->compactor, &run, &started, msg, sizeof msg);
    if (rc) seterr(db, rc, "%s", msg);
    ldb_rwlock_wrunlock(&db->lock);
    if (rc || !(flags & LAYERDB_COMPACT_WAIT)) return rc;
    rc = ldb_compactor_wait(db->compactor, run, msg, sizeof msg);
    if (rc) {
        ldb_rwlock_wrlock(&db->lock);
        seterr(db, rc, "%s", msg);
        ldb_rwlock_wrunlock(&db->lock);
    }
    return rc;
}

/* ---- For the command layer (db.h) ---- */

int ldb_db_check_open(layerdb *db) {
    return check_handle(db);
}

int ldb_db_check_writable(layerdb *db) {
    if (db->readonly) return seterr(db, LAYERDB_READONLY, "database '%s' is open read-only", db->path);
    return LAYERDB_OK;
}

void ldb_db_lock(layerdb *db) {
    ldb_rwlock_wrlock(&db->lock);
}

void ldb_db_rdlock(layerdb *db) {
    ldb_rwlock_rdlock(&db->lock);
}

void ldb_db_unlock(layerdb *db) {
    ldb_rwlock_wrunlock(&db->lock);
}

void ldb_db_rdunlock(layerdb *db) {
    ldb_rwlock_rdunlock(&db->lock);
}


int ldb_db_error(layerdb *db, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

ldb_keyspace *ldb_db_keyspace(layerdb *db) {
    return &db->ks;
}

ldb_alloc *ldb_db_alloc(layerdb *db) {
    return &db->alloc;
}

int ldb_db_logging(layerdb *db) {
    return db->writer != NULL;
}

layerdb_client *ldb_db_client(layerdb *db) {
    return db->client;
}

int64_t *ldb_db_next_expire(layerdb *db) {
    return &db->next_expire_ms;
}

int ldb_db_reserve(layerdb *db, size_t need, size_t drops) {
    int rc = need ? log_reserve(db, need) : LAYERDB_OK;
    return rc ? rc : limbo_reserve(db, drops + 1); /* + the taken entry */
}

void ldb_db_drop(layerdb *db, ldb_entry *e) {
    drop_entry(db, e);
}

uint64_t ldb_db_log(layerdb *db, size_t ncmds, const unsigned char *body, size_t len) {
    uint64_t end = 0;
    drop_taken(db);
    if (db->writer && ncmds) {
        size_t size = ldb_logfmt_encoded_commands_size(ncmds, len);
        ldb_logfmt_put_encoded_commands(ldb_writer_room(db->writer), size, ncmds, body, len);
        end = ldb_writer_commit(db->writer, size);
    }
    log_finish(db);
    return end;
}

ldb_writer *ldb_db_writer(layerdb *db) {
    return db->writer;
}

const char *ldb_db_path(const layerdb *db) {
    return db->path;
}

int ldb_db_writer_error(layerdb *db) {
    return ldb_writer_error(db->writer, db->errmsg, sizeof db->errmsg);
}

void ldb_db_file(layerdb *db, int *fd, uint64_t *base, uint64_t *salt) {
    *fd = db->fd;
    *base = db->file_base;
    *salt = db->salt;
}

void ldb_db_file_moved(layerdb *db, int fd, uint64_t base, uint64_t salt) {
    db->fd = fd;
    db->file_base = base;
    db->salt = salt;
    plan_compaction(db);
}

void ldb_db_compaction_failed(layerdb *db) {
    if (db->compact_factor != 0) set_compact_at(db, ldb_writer_queued(db->writer) + db->compact_min);
}

/* Lower compact_at: the next write calls compact_due, which attends. A
 * write planning the next check may just have covered the last request,
 * so it is raised again at every try. */
static void ask_attention(void *ud) {
    layerdb *db = ud;
    atomic_store(&db->compact_at, 0);
}

void ldb_db_ask_attention(layerdb *db) {
    ask_attention(db);
}

int ldb_db_lock_unless(layerdb *db, atomic_int *flag, int give_up_at) {
    return ldb_rwlock_wrlock_unless(&db->lock, flag, give_up_at, ask_attention, db);
}

int ldb_db_compact_begin(layerdb *db, int *already) {
    uint64_t run;
    int started;
    if (!db->writer)
        return seterr(db, LAYERDB_INVALID, "no log file to compact: persistence is off or the "
                      "handle is read-only");
    int rc = ldb_compactor_start(db->compactor, &run, &started, db->errmsg, sizeof db->errmsg);
    *already = !started;
    return rc;
}

int ldb_db_wait_durable(layerdb *db, uint64_t end) {
    return wait_durable(db, end);
}

