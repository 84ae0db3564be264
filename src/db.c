/* db.c -- the public entry points: open, close, set, get, remove, errors.
 *
 * A handle owns: its allocator, the table (keyspace), and when it persists
 * the file descriptor (holding the writer lock) and the writer thread.
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
 * LOCKS: db->lock guards table, taken and errmsg, and also the writer's
 * batch being appended to (writer.c), so a set takes one lock. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "keyspace.h"
#include "os.h"
#include "recovery.h"
#include "table.h"
#include "writer.h"

struct layerdb {
    ldb_alloc alloc;          /* fixed at open */
    pthread_mutex_t lock;     /* guards the fields marked (L) */
    int lock_ready;           /* lock was initialised */
    int open_failed;          /* holds only errmsg: every call is refused */
    ldb_table table;          /* (L) */
    ldb_entry *taken;         /* (L) last layerdb_take result, freed by the
                                 next modifying call */
    ldb_writer *writer;       /* NULL when not persisting */
    int fd;                   /* -1 when no file is open */
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

/* The writer frees dropped entries once it is past them (drop_entry). */
static void release_entry(ldb_alloc *a, void *e) {
    ldb_entry_free(a, e);
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
    cfg.release = release_entry;
    return ldb_writer_start(&db->writer, &db->alloc, &cfg, db->errmsg, sizeof db->errmsg);
}

/* Open the file, lock it if we write, replay it, and start the writer. */
static int open_file(layerdb *db, const char *path, const layerdb_options *o, int persist) {
    const char *kind;
    if (strlen(path) >= sizeof db->path)
        return seterr(db, LAYERDB_INVALID, "path is too long (%zu bytes)", strlen(path));
    strcpy(db->path, path);
    if (ldb_os_open(path, persist, persist, &db->fd, &kind) != 0) {
        if (kind) return seterr(db, LAYERDB_NOTDB, "'%s' is not a regular file (it is %s)", path, kind);
        if (errno == ENOENT && !persist && !o->readonly) return LAYERDB_OK; /* nothing to read */
        return seterr(db, LAYERDB_IOERR, "open '%s': %s", path, strerror(errno));
    }
    int rc = persist ? lock_file(db) : LAYERDB_OK;
    if (rc) return rc;
    ldb_recovery rec;
    rc = ldb_recover(db->fd, path, &db->alloc, o->repair, ldb_ks_replay, &db->table, &rec,
                     db->errmsg, sizeof db->errmsg);
    if (rc) return rc;
    db->replayed = rec.records;
    db->dropped_bytes = rec.needs_init ? 0 : rec.file_size - rec.good_end;
    if (!persist) return LAYERDB_OK;
    rc = settle_file(db, &rec);
    return rc ? rc : start_writer(db, o, &rec);
}

/* Release everything but the handle itself and its message. */
static void release(layerdb *db) {
    ldb_entry_free(&db->alloc, db->taken);
    db->taken = NULL;
    ldb_table_free(&db->table);
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
    ldb_table_init(&db->table, &db->alloc, seed);
    int rc = check_options(db, opts);
    if (rc == LAYERDB_OK && pthread_mutex_init(&db->lock, NULL) != 0)
        rc = seterr(db, LAYERDB_NOMEM, "cannot create a mutex");
    db->lock_ready = rc == LAYERDB_OK;
    db->readonly = opts->readonly;
    db->policy = opts->fsync;
    int persist = path && opts->persistence == LAYERDB_PERSIST_ON && !opts->readonly;
    if (rc == LAYERDB_OK && path) rc = open_file(db, path, opts, persist);
    if (rc) {
        release(db);
        db->open_failed = 1;
    }
    return rc;
}

int layerdb_close(layerdb *db) {
    if (!db) return LAYERDB_OK;
    int rc = LAYERDB_OK;
    if (db->writer) rc = ldb_writer_stop(db->writer, db->errmsg, sizeof db->errmsg);
    db->writer = NULL;
    release(db);
    if (db->lock_ready) pthread_mutex_destroy(&db->lock);
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

/* Make room in the log for a record of 'need' bytes, and for the 'drops'
 * entries the write may drop (drop_entry, and the taken one) (db->lock
 * held, maybe released while waiting for space). */
LDB_HOT_INLINE int log_reserve_dropping(layerdb *db, size_t need, size_t drops) {
    if (!db->writer) return LAYERDB_OK;
    if (need != SIZE_MAX) need += drops * LDB_WRITER_ITEM_SIZE; /* SIZE_MAX: too big */
    return ldb_writer_reserve(db->writer, need, db->errmsg, sizeof db->errmsg);
}

/* log_reserve_dropping for a write that drops at most two entries: the one
 * it replaces or removes, and the taken one. */
LDB_HOT_INLINE int log_reserve(layerdb *db, size_t need) {
    return log_reserve_dropping(db, need, 2);
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
    int rc = log_reserve(db, *need);
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
    return log_reserve(db, *need);
}

/* Queue the SET record of the new entry e, now in the table, which holds
 * key and value as the log encodes them (table.h); 'new_key' if it
 * replaced nothing. Returns the record's end offset, as log_commit.
 * A small set of a new key queues a reference to e, and the writer thread
 * encodes the record: the caller copies nothing. Any other set copies e
 * into the record, as a constant prefix and one copy. The reason is what
 * dropping e costs later (drop_entry): a referenced entry must be freed
 * through the writer, and in a stream of overwrites that cost more than
 * the copy saves (entries freed in batches, their memory read by the
 * writer's core, made the next entries slower to write), while a copied
 * one is freed at once. So a stream of overwrites copies and frees as
 * before, and a stream of new keys copies nothing. */
LDB_HOT_INLINE uint64_t log_set(layerdb *db, ldb_entry *e, size_t esize, size_t need,
                                int new_key) {
    if (!db->writer) return 0;
    if (new_key && need <= LDB_WRITER_REF_MAX) {
        ldb_entry_mark_referenced(e, ldb_writer_batch_tag(db->writer));
        ldb_writer_encode_set_ref(db->writer, ldb_entry_string_args(e), esize - 1);
        return ldb_writer_commit_set_ref(db->writer, need);
    }
    ldb_writer_encode_args(db->writer, need, 3, &ldb_logfmt_set_name, ldb_entry_string_args(e));
    return ldb_writer_commit(db->writer, need);
}

/* Free an entry the table no longer holds, between log_commit and
 * log_finish (db->lock held). A set's record queued in one of the last
 * two batches may still point at a referenced entry (log_set), so the
 * writer thread has it freed once it is past that; any other is freed at
 * once, as deferred frees made later overwrites slower. */
static inline void drop_entry(layerdb *db, ldb_entry *e) {
    if (!e) return;
    int batch = ldb_entry_reference_batch(e);
    if (batch >= 0 && db->writer && ldb_writer_may_reference(db->writer, (unsigned)batch))
        ldb_writer_release(db->writer, e, ldb_entry_size(e));
    else
        ldb_entry_free(&db->alloc, e);
}

/* A write's last step in the log: the thread may take the batch now. */
LDB_HOT_INLINE void log_finish(layerdb *db) {
    if (db->writer) ldb_writer_finish(db->writer);
}

/* Wait (without db->lock) for the fsync of the record ending at 'end'. */
static int wait_synced(layerdb *db, uint64_t end) {
    char msg[sizeof db->errmsg];
    int rc = ldb_writer_wait_synced(db->writer, end, msg, sizeof msg);
    if (rc) {
        pthread_mutex_lock(&db->lock);
        seterr(db, rc, "%s", msg);
        pthread_mutex_unlock(&db->lock);
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
    uint64_t h = ldb_table_prepare(&db->table, key, klen);
    ldb_entry *e = ldb_entry_create_string(&db->alloc, key, klen, val, vlen, &esize);
    if (!e)
        rc = seterr(db, LAYERDB_NOMEM, "out of memory storing a %zu-byte value", vlen);
    else if ((rc = log_reserve_set(db, esize, &need)) == LAYERDB_OK &&
             (rc = ldb_ks_set(&db->table, h, e, &replaced)) != LAYERDB_OK)
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
    pthread_mutex_lock(&db->lock);
    rc = set_locked(db, key, klen, val, vlen, &end);
    pthread_mutex_unlock(&db->lock);
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
    pthread_mutex_lock(&db->lock);
    ldb_entry *e = NULL;
    if ((rc = log_encode(db, 2, argv, &need)) != LAYERDB_OK) {
        /* a disk error or no memory: the message is set */
    } else if (!(e = ldb_table_remove(&db->table, key, klen))) {
        rc = LAYERDB_NOTFOUND;
    } else {
        end = log_commit(db, need);
        drop_taken(db);
        if (keep) {
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
    pthread_mutex_unlock(&db->lock);
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
        pthread_mutex_lock(&db->lock);
        seterr(db, rc, "%s", msg);
        pthread_mutex_unlock(&db->lock);
    }
    return rc;
}

/* ---- Reading ---- */

int layerdb_get(layerdb *db, const void *key, size_t klen, const void **val, size_t *vlen) {
    int rc = check_key(db, key, klen);
    if (rc) return rc;
    pthread_mutex_lock(&db->lock);
    const ldb_entry *e = ldb_table_find(&db->table, key, klen);
    if (e) {
        ldb_entry_view v;
        ldb_entry_decode(e, &v);
        if (val) *val = v.val;
        if (vlen) *vlen = v.vlen;
    }
    pthread_mutex_unlock(&db->lock);
    return e ? LAYERDB_OK : LAYERDB_NOTFOUND;
}

int layerdb_get_copy(layerdb *db, const void *key, size_t klen, void *buf, size_t cap,
                     size_t *vlen) {
    int rc = check_key(db, key, klen);
    if (rc) return rc;
    if (!buf && cap) return seterr(db, LAYERDB_INVALID, "buffer is NULL with capacity %zu", cap);
    pthread_mutex_lock(&db->lock);
    const ldb_entry *e = ldb_table_find(&db->table, key, klen);
    if (e) {
        ldb_entry_view v;
        ldb_entry_decode(e, &v);
        if (cap) memcpy(buf, v.val, v.vlen < cap ? v.vlen : cap);
        if (vlen) *vlen = v.vlen;
    }
    pthread_mutex_unlock(&db->lock);
    return e ? LAYERDB_OK : LAYERDB_NOTFOUND;
}

typedef struct scan_ctx {
    layerdb_scan_fn fn;
    void *ud;
} scan_ctx;

static void scan_entry(void *ud, const ldb_entry *e) {
    scan_ctx *c = ud;
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    c->fn(c->ud, v.key, v.klen, v.val, v.vlen);
}

int layerdb_scan(layerdb *db, uint64_t *cursor, size_t count, layerdb_scan_fn fn, void *ud) {
    int rc = check_handle(db);
    if (rc) return rc;
    if (!cursor || !fn) return seterr(db, LAYERDB_INVALID, "cursor and callback are required");
    scan_ctx c = {fn, ud};
    pthread_mutex_lock(&db->lock);
    *cursor = ldb_table_scan(&db->table, *cursor, count, scan_entry, &c);
    pthread_mutex_unlock(&db->lock);
    return LAYERDB_OK;
}

int layerdb_info_get(layerdb *db, layerdb_info *info) {
    int rc = check_handle(db);
    if (rc) return rc;
    if (!info) return seterr(db, LAYERDB_INVALID, "info is NULL");
    memset(info, 0, sizeof *info);
    pthread_mutex_lock(&db->lock);
    info->keys = db->table.count;
    pthread_mutex_unlock(&db->lock);
    info->memory_bytes = atomic_load_explicit(&db->alloc.live_bytes, memory_order_relaxed);
    info->dropped_bytes = db->dropped_bytes;
    info->replayed_records = db->replayed;
    info->persistent = db->writer != NULL;
    if (db->writer)
        ldb_writer_stats(db->writer, &info->log_bytes, &info->synced_bytes,
                         &info->largest_batch_bytes);
    return LAYERDB_OK;
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
    pthread_mutex_lock(&db->lock);
}

void ldb_db_unlock(layerdb *db) {
    pthread_mutex_unlock(&db->lock);
}

int ldb_db_lookup(layerdb *db, const void *key, size_t klen, const void **val, size_t *vlen) {
    const ldb_entry *e = ldb_table_find(&db->table, key, klen);
    if (!e) return 0;
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    *val = v.val;
    *vlen = v.vlen;
    return 1;
}

uint64_t ldb_db_count(layerdb *db) {
    return db->table.count;
}

int ldb_db_set_locked(layerdb *db, const void *key, size_t klen, const void *val, size_t vlen,
                      uint64_t *end) {
    *end = 0;
    int rc = check_key(db, key, klen);
    if (rc || (rc = check_value(db, val, vlen))) return rc;
    return set_locked(db, key, klen, val, vlen, end);
}

/* Room in the log for "DEL" with all n keys, whichever are present once
 * the room is there (reserving may wait with db->lock released, and other
 * threads may add keys meanwhile), and for dropping n entries and the
 * taken one; *need gets that largest record's size. */
static int reserve_del(layerdb *db, size_t n, const ldb_slice *keys, ldb_slice *argv,
                       size_t *need) {
    argv[0] = (ldb_slice){(const unsigned char *)"DEL", 3};
    memcpy(argv + 1, keys, n * sizeof *keys);
    *need = db->writer ? ldb_logfmt_command_record_size(n + 1, argv) : 0;
    return log_reserve_dropping(db, *need, n + 1);
}

int ldb_db_del_locked(layerdb *db, size_t n, const ldb_slice *keys, size_t *removed,
                      uint64_t *end) {
    *removed = 0;
    *end = 0;
    ldb_slice *argv = ldb_malloc(&db->alloc, ldb_mul_size(n + 1, sizeof *argv));
    ldb_entry **gone = ldb_malloc(&db->alloc, ldb_mul_size(n, sizeof *gone));
    size_t need = 0, argc = 1;
    int rc = argv && gone ? reserve_del(db, n, keys, argv, &need)
                          : seterr(db, LAYERDB_NOMEM, "out of memory deleting %zu keys", n);
    /* The room is reserved: nothing can fail from here. A key named twice
     * is removed (and logged) once. */
    for (size_t i = 0; rc == LAYERDB_OK && i < n; i++) {
        ldb_entry *e = ldb_table_remove(&db->table, keys[i].p, keys[i].len);
        if (!e) continue;
        gone[*removed] = e;
        argv[argc++] = keys[i];
        (*removed)++;
    }
    if (rc == LAYERDB_OK && *removed > 0) {
        if (db->writer) {
            size_t size = ldb_logfmt_command_record_size(argc, argv);
            assert(size <= need);
            ldb_writer_encode(db->writer, size, argc, argv);
            *end = log_commit(db, size);
        }
        for (size_t i = 0; i < *removed; i++) drop_entry(db, gone[i]);
        drop_taken(db);
        log_finish(db);
    }
    if (argv) ldb_free(&db->alloc, argv, (n + 1) * sizeof *argv);
    if (gone) ldb_free(&db->alloc, gone, n * sizeof *gone);
    return rc;
}

int ldb_db_wait_durable(layerdb *db, uint64_t end) {
    return wait_durable(db, end);
}
