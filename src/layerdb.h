/* layerdb.h -- the public C API of layerdb, an embedded key-value database.
 *
 * Data lives in memory in a hash table; every write is also appended to a log
 * file by a background thread, so a write never waits on the disk (except
 * under LAYERDB_FSYNC_ALWAYS, where it waits for its own fsync). Opening a
 * file replays its log. This is the only installed header.
 *
 * Conventions
 *  - Every call returns an int code: LAYERDB_OK (0) or one of the codes
 *    below. Outputs go through pointers and are only written on LAYERDB_OK.
 *  - layerdb_strerror(rc) is the fixed text of a code; layerdb_errmsg(db) is
 *    the handle's last error with detail (file name, offset, errno text).
 *  - Keys and values are byte strings: any bytes, zeros included.
 *  - No global state: any number of handles on different files may be used
 *    side by side in one process.
 *
 * Threads
 *  - A handle may be shared by several threads: set, get, get_copy,
 *    remove, take, flush and info lock the handle internally. Writes from
 *    several threads under LAYERDB_FSYNC_ALWAYS share fsyncs (group commit).
 *  - layerdb_open and layerdb_close must not race with any other call on the
 *    same handle: open before sharing it, close after every other thread is
 *    done with it.
 *  - layerdb_errmsg returns the message of the last failed call on the handle
 *    from any thread; with several threads, prefer the return code.
 *  - The pointer returned by layerdb_get/layerdb_take is only safe while no
 *    other thread modifies the handle: threads that share a handle for
 *    writing should read with layerdb_get_copy.
 */
#ifndef LAYERDB_H
#define LAYERDB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from the shared library; everything else in it is hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define LAYERDB_API __attribute__((visibility("default")))
#else
#define LAYERDB_API
#endif

#define LAYERDB_VERSION "0.1.0"
#define LAYERDB_VERSION_NUMBER 100 /* major*10000 + minor*100 + patch */

/* ---- Return codes ---- */
#define LAYERDB_OK 0        /* success */
#define LAYERDB_NOTFOUND 1  /* no such key (not an error) */
#define LAYERDB_LOCKED 2    /* the file is in use by another writer */
#define LAYERDB_CORRUPT 3   /* the file is damaged before its tail */
#define LAYERDB_IOERR 4     /* a read, write or fsync failed (sticky) */
#define LAYERDB_NOMEM 5     /* an allocation failed; nothing was changed */
#define LAYERDB_INVALID 6   /* bad argument or option */
#define LAYERDB_NOTDB 7     /* the file is not a layerdb file */
#define LAYERDB_VERSION_MISMATCH 8 /* written by a newer format version */
#define LAYERDB_TOOBIG 9    /* key or value over the size limit */
#define LAYERDB_READONLY 10 /* write on a handle opened with readonly = 1 */
#define LAYERDB_FULL 11     /* disk full (ENOSPC); sticky like IOERR */

/* ---- Limits ---- */
#define LAYERDB_MAX_KEY (512u * 1024 * 1024)   /* bytes, as Redis strings */
#define LAYERDB_MAX_VALUE (512u * 1024 * 1024) /* bytes */

typedef struct layerdb layerdb; /* opaque handle */

/* ---- Options ---- */
enum layerdb_persistence {
    LAYERDB_PERSIST_ON = 0,  /* default: log every write to the file */
    LAYERDB_PERSIST_OFF = 1  /* never write anything to disk */
};

/* What a crash can lose: a process crash (kill -9) under EVERYSEC or NO
 * loses the writes not yet handed to the OS, at most two batches of
 * max_pending_bytes plus one record each (usually the last milliseconds);
 * a power loss also loses what was not yet fsynced. The README's
 * "Durability" section has the details. */
enum layerdb_fsync {
    LAYERDB_FSYNC_EVERYSEC = 0, /* default: fsync about once a second; a
                                   power loss loses about the last second */
    LAYERDB_FSYNC_ALWAYS = 1,   /* set/remove return only after their record
                                   is fsynced; a crash loses no acked write */
    LAYERDB_FSYNC_NO = 2        /* never fsync while open (close still does):
                                   the OS decides when data reaches the disk */
};

/* A custom allocator, as game engines bring their own. All three functions
 * must be set, or all NULL for the C library's. realloc(NULL, n) must behave
 * as malloc(n); free(NULL) must be harmless. Called from the caller's threads
 * and from the writer thread, so they must be thread-safe. */
typedef struct layerdb_allocator {
    void *(*malloc)(size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud; /* passed to each call */
} layerdb_allocator;

typedef struct layerdb_options {
    int persistence;  /* enum layerdb_persistence; default PERSIST_ON */
    int fsync;        /* enum layerdb_fsync; default FSYNC_EVERYSEC */
    int readonly;     /* 1: never write (reserved for read-only followers;
                         today: read the file, refuse writes). Default 0 */
    int repair;       /* 1: on a bad record before the tail, truncate the
                         file there instead of failing with CORRUPT.
                         Default 0 */
    size_t max_pending_bytes; /* back-pressure bound: writers block while this
                         many bytes of records (and of entries dropped
                         while a record still refers to them) wait for the
                         writer thread. Default 64 MiB; a single larger
                         record is still accepted */
    layerdb_allocator alloc;  /* default: all NULL = the C library */
} layerdb_options;

/* Fill *opts with the defaults. Always call it before setting fields, so
 * that fields added later get their defaults. */
LAYERDB_API void layerdb_options_init(layerdb_options *opts);

/* ---- Opening and closing ---- */

/* Open the database in 'path', creating an empty one if the file does not
 * exist. path == NULL, or opts->persistence == LAYERDB_PERSIST_OFF, gives a
 * database that never writes anything (with a path and persistence off, an
 * existing file is read but never written or locked). opts == NULL means
 * the defaults.
 *
 * On LAYERDB_OK, *db is a new handle. On any other code, *db is set to a
 * handle that holds only the error message (read it with layerdb_errmsg),
 * or NULL if even that could not be allocated; pass it to layerdb_close.
 *
 * A writable open locks the file: a second writable open of the same file,
 * from this process or another, fails at once with LAYERDB_LOCKED.
 * A torn tail (the file cut inside its last records, as a crash leaves it)
 * is truncated back to the last whole record and the open succeeds:
 * layerdb_info() reports the bytes dropped. A damaged record before the
 * tail fails with LAYERDB_CORRUPT naming the offset, unless opts->repair.
 *
 * 'path' must name a regular file, or a missing one in an existing
 * directory. A dangling symbolic link is followed and the file created at
 * its target, as open(2) with O_CREAT does. A directory, FIFO, device or
 * socket fails at once with LAYERDB_NOTDB ("'x' is not a regular file (it
 * is a FIFO)"); a missing directory, a path through a file or a symlink
 * loop with LAYERDB_IOERR and the system's reason. */
LAYERDB_API int layerdb_open(layerdb **db, const char *path, const layerdb_options *opts);

/* Flush every write to the file, fsync it, stop the writer thread and free
 * everything, even on error. Returns the first error the writer thread met
 * (LAYERDB_IOERR, LAYERDB_FULL) if any write since open did not reach the
 * disk. db == NULL is harmless. The handle is invalid afterwards, its
 * message too: to read the detail of a failure, call layerdb_flush first
 * (it reports the same error) and read layerdb_errmsg. */
LAYERDB_API int layerdb_close(layerdb *db);

/* ---- Reading and writing ---- */

/* Set 'key' to 'val'. Returns once the write is in memory and queued for the
 * log (under LAYERDB_FSYNC_ALWAYS: once its record is fsynced). After a
 * background write error every write returns that error. */
LAYERDB_API int layerdb_set(layerdb *db, const void *key, size_t klen, const void *val,
                size_t vlen);

/* Look up 'key'. On LAYERDB_OK, *val and *vlen describe the value. The bytes
 * belong to the database: do not free or modify them. They stay valid until
 * the next call that modifies this handle (set, remove, take, close) from
 * any thread. Copy them to keep them longer. Returns LAYERDB_NOTFOUND if
 * the key is absent. val may be NULL to test for presence. */
LAYERDB_API int layerdb_get(layerdb *db, const void *key, size_t klen, const void **val,
                size_t *vlen);

/* Like layerdb_get, but copies the value into buf (cap bytes). *vlen is set
 * to the value's full length; if it is larger than cap, only cap bytes were
 * copied: call again with a larger buffer. Safe with concurrent writers. */
LAYERDB_API int layerdb_get_copy(layerdb *db, const void *key, size_t klen, void *buf,
                     size_t cap, size_t *vlen);

/* Remove 'key'. Returns LAYERDB_NOTFOUND (and logs nothing) if absent. */
LAYERDB_API int layerdb_remove(layerdb *db, const void *key, size_t klen);

/* Remove 'key' and hand back the removed value: *val and *vlen describe it,
 * with the same lifetime as layerdb_get's result (until the next call that
 * modifies the handle). Returns LAYERDB_NOTFOUND if absent. */
LAYERDB_API int layerdb_take(layerdb *db, const void *key, size_t klen, const void **val,
                 size_t *vlen);

/* Return when every write made so far is written and fsynced to the file.
 * A no-op without persistence. */
LAYERDB_API int layerdb_flush(layerdb *db);

/* ---- Iteration ---- */

/* Called by layerdb_scan for each key. The pointers are valid only during
 * the call. It runs with the handle locked: it must not call layerdb
 * functions on the same handle. */
typedef void (*layerdb_scan_fn)(void *ud, const void *key, size_t klen, const void *val,
                                size_t vlen);

/* Iterate over the keys a batch at a time, as Redis's SCAN does: start with
 * *cursor = 0; each call visits about 'count' keys (possibly none) and
 * updates *cursor; the iteration is complete when *cursor is 0 again.
 * Between calls the database may be modified freely: every key present
 * from the start to the end of the iteration is visited exactly once; keys
 * added or removed meanwhile may or may not be visited. The order is the
 * hash order, which differs from handle to handle. */
LAYERDB_API int layerdb_scan(layerdb *db, uint64_t *cursor, size_t count, layerdb_scan_fn fn, void *ud);

/* ---- Inspection ---- */
typedef struct layerdb_info {
    uint64_t keys;          /* keys in database 0 (DBSIZE), the plain
                               calls' database */
    uint64_t log_bytes;     /* bytes queued for the log since the file's
                               start (header included): the file's size
                               once written, until compaction moves the
                               log to a new file */
    uint64_t synced_bytes;  /* of those, the bytes known to be fsynced */
    uint64_t dropped_bytes; /* torn tail truncated (or repaired) at open */
    uint64_t replayed_records; /* records replayed at open */
    uint64_t memory_bytes;  /* bytes this handle holds from its allocator
                               (table, entries, log buffers), as requested */
    uint64_t largest_batch_bytes; /* the most bytes the writer thread wrote
                               in one go since open: how far it fell behind
                               the callers (at most max_pending_bytes
                               plus one record) */
    int persistent;         /* 1 if writes go to a file */
} layerdb_info;

LAYERDB_API int layerdb_info_get(layerdb *db, layerdb_info *info);

/* ---- Compaction ---- */

#define LAYERDB_COMPACT_WAIT 1 /* return once the compaction is finished and
                                  the new file renamed over the old one */

/* Rewrite the file with only the live data. With LAYERDB_COMPACT_WAIT,
 * returns when it is done, with its error if it failed. */
LAYERDB_API int layerdb_compact(layerdb *db, int flags);

/* ---- Redis commands ---- */

/* A command's reply, shaped as hiredis's redisReply. */
#define LAYERDB_REPLY_STRING 1  /* a bulk string: str, len */
#define LAYERDB_REPLY_ARRAY 2   /* elements, element[] */
#define LAYERDB_REPLY_INTEGER 3 /* integer */
#define LAYERDB_REPLY_NIL 4     /* a missing value */
#define LAYERDB_REPLY_STATUS 5  /* str, len: "OK", "PONG" */
#define LAYERDB_REPLY_ERROR 6   /* str, len: Redis's text, "ERR syntax error" */
#define LAYERDB_REPLY_DOUBLE 7  /* dval, and str, len: its text */
#define LAYERDB_REPLY_MAP 9     /* elements (keys and values, alternating) */

typedef struct layerdb_reply {
    int type;                       /* LAYERDB_REPLY_* */
    long long integer;              /* INTEGER */
    double dval;                    /* DOUBLE */
    size_t len;                     /* bytes of str */
    char *str;                      /* STRING, STATUS, ERROR, DOUBLE: len
                                       bytes and a terminating zero byte */
    size_t elements;                /* ARRAY, MAP */
    struct layerdb_reply **element; /* ARRAY, MAP */
} layerdb_reply;

/* Run one Redis command, argv[0] being its name in any case ("SET", "get"),
 * on the handle's own client context. Arguments are binary-safe: argvlen
 * gives each one's length (argvlen == NULL: zero-terminated strings).
 * Returns LAYERDB_OK whenever the command produced a reply, an error reply
 * included (WRONGTYPE, a syntax error, an unknown command): *reply is then
 * a tree for layerdb_reply_free. A failure of the engine keeps its code
 * (LAYERDB_READONLY, LAYERDB_IOERR, LAYERDB_FULL, LAYERDB_NOMEM, ...) with
 * *reply NULL and the detail in layerdb_errmsg. A command that fails
 * changes nothing and logs nothing. Replies are allocated with the C
 * library's malloc, not the handle's allocator, and outlive the handle.
 * The commands (strings, bits, keys, expiry, MULTI/EXEC) are listed in the
 * README's "Redis commands". */
LAYERDB_API int layerdb_command(layerdb *db, int argc, const char **argv, const size_t *argvlen,
                                layerdb_reply **reply);

/* Free a reply and every element under it. NULL is harmless. */
LAYERDB_API void layerdb_reply_free(layerdb_reply *reply);

/* A client context of its own: the database SELECT chose and the state of
 * MULTI, which layerdb_command keeps in the handle's own context, shared
 * by every caller of that handle. A thread or a connection that needs its
 * own makes one with layerdb_client_new (NULL when out of memory, or when
 * db is not open) and runs commands with layerdb_client_command, which
 * works as layerdb_command. Use a client from one thread at a time, and
 * free it with layerdb_client_free before closing its handle. */
typedef struct layerdb_client layerdb_client;
LAYERDB_API layerdb_client *layerdb_client_new(layerdb *db);
LAYERDB_API int layerdb_client_command(layerdb_client *client, int argc, const char **argv,
                                       const size_t *argvlen, layerdb_reply **reply);
LAYERDB_API void layerdb_client_free(layerdb_client *client);

/* ---- Errors ---- */

/* The fixed text of a return code ("LAYERDB_LOCKED: database file is in use
 * by another writer"). Never NULL; the string is static. */
LAYERDB_API const char *layerdb_strerror(int rc);

/* The message of the most recent failed call on this handle, with detail
 * such as the file name, offset and errno text ("" if no call failed yet).
 * The string belongs to the handle and stays valid until the next call on
 * it. db == NULL gives the text for an allocation failure. */
LAYERDB_API const char *layerdb_errmsg(const layerdb *db);

#ifdef __cplusplus
}
#endif
#endif /* LAYERDB_H */
