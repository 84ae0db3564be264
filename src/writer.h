/* writer.h -- the background thread that appends records to the log file.
 * See the DESIGN comment in writer.c. Offsets are file offsets: a record's
 * "end" is the file length once it is written. */
#ifndef LDB_WRITER_H
#define LDB_WRITER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "log_format.h"

typedef struct ldb_writer ldb_writer;

typedef struct ldb_writer_config {
    int fd;                /* open for writing; the writer never closes it */
    const char *path;      /* for messages; copied */
    int policy;            /* enum layerdb_fsync */
    uint64_t file_end;     /* current file length, all fsynced: where appends
                              start */
    uint64_t marked_end;   /* the largest offset a SYNCED record in the file
                              already vouches for */
    size_t max_pending;    /* back-pressure bound in bytes */
    uint64_t salt;         /* the file header's checksum seed */
    pthread_mutex_t *lock; /* the caller's lock, which also guards the
                              batch being appended to; it must outlive
                              the writer */
} ldb_writer_config;

/* Start the thread. Returns LAYERDB_OK, LAYERDB_NOMEM, or LAYERDB_IOERR if
 * the thread could not be created; msg gets the detail. The file must be
 * fsynced up to file_end already. */
LDB_INTERNAL int ldb_writer_start(ldb_writer **w, ldb_alloc *a, const ldb_writer_config *cfg,
                                  char *msg, size_t msg_cap);

/* The callers' end of the writer, which the inline append path below
 * reads and writes: the first member of struct ldb_writer (writer.c).
 * Guarded by cfg->lock; the thread sets the atomics (see LOCKS there). */
typedef struct ldb_writer_front {
    ldb_buf active;          /* records not yet taken by the thread */
    size_t fast_limit;       /* min(active.cap, max_pending): an append
                                that keeps active.len within it needs no
                                slow path */
    uint64_t queued_end;     /* file offset after the last appended byte */
    _Atomic size_t pending;  /* active.len, for the thread to peek at */
    atomic_int failed;       /* the thread has a sticky error */
    atomic_int sleeping;     /* the thread waits with no work: wake it */
    atomic_int asking;       /* the thread wants active handed over */
} ldb_writer_front;

#define LDB_WRITER_WAKE_BYTES (256 * 1024) /* hand a batch over past this */

/* Appending a record, with cfg->lock held through all three steps:
 * 1. ldb_writer_reserve makes room for a record of 'need' bytes
 *    (ldb_logfmt_command_record_size). While max_pending bytes wait it
 *    blocks, releasing the lock meanwhile. Returns LAYERDB_OK, the sticky
 *    error code (msg gets the text), LAYERDB_NOMEM, or LAYERDB_TOOBIG if
 *    'need' is SIZE_MAX (the record would pass LDB_MAX_BODY).
 * 2. ldb_writer_encode writes the command into that room, where the thread
 *    does not see it yet. A write encodes before it changes the table, so
 *    that the encoding overlaps the table's memory misses (see
 *    ldb_table_prepare).
 * 3. ldb_writer_commit, once the caller's change succeeded, queues the
 *    record and returns its end offset. It cannot fail.
 * The caller may give up after step 1 or 2 (its change failed): the next
 * record overwrites what step 2 wrote.
 * All three are inline: a stream of writes takes their fast paths, a few
 * loads, compares and stores, and the encoding happens where the command's
 * name and argument count are constants (see LDB_HOT_INLINE). */
LDB_INTERNAL int ldb_writer_reserve_slow(ldb_writer *w, size_t need, char *msg, size_t msg_cap);
LDB_INTERNAL void ldb_writer_notify(ldb_writer *w);

LDB_HOT_INLINE int ldb_writer_reserve(ldb_writer *w, size_t need, char *msg, size_t msg_cap) {
    ldb_writer_front *f = (ldb_writer_front *)w;
    size_t len = f->active.len;
    /* An empty batch takes the slow path, which may put a SYNCED record
     * first. (len - 1 wraps for 0; written so that no sum can wrap.) */
    if (len - 1 < f->fast_limit && need <= f->fast_limit - len &&
        !atomic_load_explicit(&f->failed, memory_order_relaxed))
        return LAYERDB_OK;
    return ldb_writer_reserve_slow(w, need, msg, msg_cap);
}

LDB_HOT_INLINE void ldb_writer_encode(ldb_writer *w, size_t need, size_t argc,
                                      const ldb_slice *argv) {
    ldb_writer_front *f = (ldb_writer_front *)w;
    ldb_logfmt_put_command_unsealed(f->active.p + f->active.len, need, argc, argv);
}

/* ldb_writer_encode from arguments already encoded after the name (see
 * ldb_logfmt_put_encoded_unsealed): a set copies its new table entry. */
LDB_HOT_INLINE void ldb_writer_encode_args(ldb_writer *w, size_t need, size_t argc,
                                           const ldb_slice *name, const unsigned char *args) {
    ldb_writer_front *f = (ldb_writer_front *)w;
    ldb_logfmt_put_encoded_unsealed(f->active.p + f->active.len, need, argc, name, args);
}

LDB_HOT_INLINE uint64_t ldb_writer_commit(ldb_writer *w, size_t need) {
    ldb_writer_front *f = (ldb_writer_front *)w;
    f->active.len += need;
    f->queued_end += need;
    atomic_store_explicit(&f->pending, f->active.len, memory_order_relaxed);
    if (atomic_load_explicit(&f->sleeping, memory_order_relaxed) ||
        (f->active.len >= LDB_WRITER_WAKE_BYTES &&
         atomic_load_explicit(&f->asking, memory_order_acquire)))
        ldb_writer_notify(w);
    return f->queued_end;
}

/* Call the functions below without cfg->lock: they wait for the thread,
 * which may need it, or take it themselves. */

/* Wait until every byte before 'end' is fsynced (asks the thread for an
 * fsync if none is due). Returns LAYERDB_OK or the sticky error. */
LDB_INTERNAL int ldb_writer_wait_synced(ldb_writer *w, uint64_t end, char *msg, size_t msg_cap);

/* Everything appended so far, written and fsynced. */
LDB_INTERNAL int ldb_writer_flush(ldb_writer *w, char *msg, size_t msg_cap);

/* Write and fsync everything, mark the file as synced, stop and join the
 * thread, free the writer. Returns LAYERDB_OK or the sticky error. */
LDB_INTERNAL int ldb_writer_stop(ldb_writer *w, char *msg, size_t msg_cap);

/* For layerdb_info: bytes queued and fsynced (as file offsets), and the
 * most bytes written in one batch. */
LDB_INTERNAL void ldb_writer_stats(ldb_writer *w, uint64_t *queued_end, uint64_t *synced_end,
                                   uint64_t *largest_batch);
/* The sticky error code, or LAYERDB_OK. */
LDB_INTERNAL int ldb_writer_error(ldb_writer *w, char *msg, size_t msg_cap);

#endif
