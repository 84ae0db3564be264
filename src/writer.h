/* writer.h -- the background thread that appends records to the log file.
 * See the DESIGN comment in writer.c. Positions are log positions: bytes
 * appended to the log, counted from the start of the first file and on
 * through every switch to a new file (ldb_writer_switch); a record's "end"
 * is the position after it. Before any switch a position is the file
 * offset. A batch holds records and,
 * for small sets, references to their entries (SET_REF in writer.c). */
#ifndef LDB_WRITER_H
#define LDB_WRITER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "log_format.h"
#include "rwlock.h"

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
    ldb_rwlock *lock;      /* the caller's lock, which also guards the
                               batch being appended to when held for
                               writing; it must outlive the writer */
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
    ldb_buf active;          /* items not yet taken by the thread */
    size_t charge;           /* what active weighs against max_pending:
                                each item's record size (>= active.len) */
    size_t fast_limit;       /* an append that keeps charge within this
                                needs no slow path: max_pending, or less
                                while active has less room (writer.c) */
    uint64_t queued_end;     /* file offset after the last appended record */
    _Atomic uint64_t batch;  /* batches taken by the thread so far */
    int has_refs;            /* active holds a SET_REF item */
    _Atomic size_t pending;  /* active.len, for the thread to peek at */
    atomic_int failed;       /* the thread has a sticky error */
    atomic_int sleeping;     /* the thread waits with no work: wake it */
    atomic_int asking;       /* the thread wants active handed over */
} ldb_writer_front;

#define LDB_WRITER_WAKE_BYTES (256 * 1024) /* hand a batch over past this */
#define LDB_WRITER_ITEM_SIZE 16   /* a SET_REF item's bytes */
#define LDB_WRITER_REF_MAX (64 * 1024) /* largest SET record queued as a SET_REF */

/* Appending a record, with cfg->lock held through all three steps:
 * 1. ldb_writer_reserve makes room for 'need' bytes of items
 *    (ldb_logfmt_command_record_size for a record). While
 *    max_pending bytes wait it blocks, releasing the lock meanwhile.
 *    Returns LAYERDB_OK, the sticky error code (msg gets the text),
 *    LAYERDB_NOMEM, or LAYERDB_TOOBIG if 'need' is SIZE_MAX (the record
 *    would pass LDB_MAX_BODY).
 * 2. ldb_writer_encode writes the command into that room, where the thread
 *    does not see it yet. A write may encode before it changes the table,
 *    so that the encoding overlaps the table's memory misses (see
 *    ldb_table_prepare), or after (a set, once it knows whether its key
 *    is new: log_set in db.c).
 * 3. ldb_writer_commit, once the caller's change succeeded, queues the
 *    record and returns its end offset. It cannot fail. ldb_writer_finish
 *    follows, which may hand the batch to the thread: the room step 1
 *    made lasts until then.
 * The caller may give up after step 1 or 2 (its change failed): the next
 * record overwrites what step 2 wrote.
 * A SET whose record is at most LDB_WRITER_REF_MAX bytes may use
 * ldb_writer_encode_set_ref and ldb_writer_commit_set_ref instead: the
 * caller queues a pointer to the entry and the thread encodes the record,
 * so the caller never copies the entry a second time. The caller must not
 * free the entry before the thread has encoded it: see
 * ldb_writer_may_reference.
 * All of them are inline: a stream of writes takes their fast paths, a few
 * loads, compares and stores, and the encoding happens where the command's
 * name and argument count are constants (see LDB_HOT_INLINE). */
LDB_INTERNAL int ldb_writer_reserve_slow(ldb_writer *w, size_t need, char *msg, size_t msg_cap);
LDB_INTERNAL void ldb_writer_notify(ldb_writer *w);

LDB_HOT_INLINE int ldb_writer_reserve(ldb_writer *w, size_t need, char *msg, size_t msg_cap) {
    ldb_writer_front *f = (ldb_writer_front *)w;
    size_t charge = f->charge;
    /* An empty batch takes the slow path, which may put a SYNCED record
     * first. (charge - 1 wraps for 0; written so that no sum can wrap.)
     * active.len <= charge, so this leaves 'need' bytes of room. */
    if (charge - 1 < f->fast_limit && need <= f->fast_limit - charge &&
        !atomic_load_explicit(&f->failed, memory_order_relaxed))
        return LAYERDB_OK;
    return ldb_writer_reserve_slow(w, need, msg, msg_cap);
}

/* Step 1 without waiting for the bound: for a small item that must not
 * wait under the lock (compaction's SWITCH). */
LDB_INTERNAL int ldb_writer_reserve_unbounded(ldb_writer *w, size_t need, char *msg,
                                              size_t msg_cap);

/* Where step 2 writes: the room step 1 made. */
LDB_HOT_INLINE unsigned char *ldb_writer_room(ldb_writer *w) {
    ldb_writer_front *f = (ldb_writer_front *)w;
    return f->active.p + f->active.len;
}

LDB_HOT_INLINE void ldb_writer_encode(ldb_writer *w, size_t need, size_t argc,
                                      const ldb_slice *argv) {
    ldb_logfmt_put_command_unsealed(ldb_writer_room(w), need, argc, argv);
}

/* ldb_writer_encode from arguments already encoded after the name (see
 * ldb_logfmt_put_encoded_unsealed). */
LDB_HOT_INLINE void ldb_writer_encode_args(ldb_writer *w, size_t need, size_t argc,
                                           const ldb_slice *name, const unsigned char *args) {
    ldb_writer_front *f = (ldb_writer_front *)w;
    ldb_logfmt_put_encoded_unsealed(f->active.p + f->active.len, need, argc, name, args);
}

/* A 16-byte item: a tag where a record has its body length (whose top byte
 * is at most 0x7f, see LDB_MAX_BODY), a 32-bit count and a pointer. */
#define LDB_WRITER_TAG_SET_REF 0xffu
#define LDB_WRITER_TAG_SWITCH 0xfeu  /* a 32-byte item: see ldb_writer_switch */
#define LDB_WRITER_SWITCH_SIZE 32
LDB_HOT_INLINE void ldb_writer_put_item(ldb_writer_front *f, unsigned tag, uint32_t n,
                                        const void *ptr) {
    unsigned char *p = f->active.p + f->active.len;
    p[0] = (unsigned char)tag;
    p[1] = p[2] = p[3] = 0xff;
    memcpy(p + 4, &n, sizeof n);
    memcpy(p + 8, &ptr, sizeof ptr);
    f->has_refs = 1;
}

/* Queue 'bytes' of active as items weighing 'charge', 'file_bytes' of
 * them records. */
LDB_HOT_INLINE uint64_t ldb_writer_advance(ldb_writer *w, size_t bytes, size_t charge,
                                           size_t file_bytes) {
    ldb_writer_front *f = (ldb_writer_front *)w;
    f->active.len += bytes;
    f->charge += charge;
    f->queued_end += file_bytes;
    return f->queued_end;
}

/* The end of an append: wake the thread if it sleeps, or hand it the batch
 * if it asks for one and WAKE_BYTES wait. */
LDB_HOT_INLINE void ldb_writer_finish(ldb_writer *w) {
    ldb_writer_front *f = (ldb_writer_front *)w;
    atomic_store_explicit(&f->pending, f->active.len, memory_order_relaxed);
    if (atomic_load_explicit(&f->sleeping, memory_order_relaxed) ||
        (f->charge >= LDB_WRITER_WAKE_BYTES &&
         atomic_load_explicit(&f->asking, memory_order_acquire)))
        ldb_writer_notify(w);
}

/* The position after the last record queued (cfg->lock held). */
LDB_HOT_INLINE uint64_t ldb_writer_queued(ldb_writer *w) {
    return ((ldb_writer_front *)w)->queued_end;
}

LDB_HOT_INLINE uint64_t ldb_writer_commit(ldb_writer *w, size_t need) {
    return ldb_writer_advance(w, need, need, need);
}

/* Step 2 for a SET whose record is 'record_size' <= LDB_WRITER_REF_MAX
 * bytes: an item pointing at its key and value, 'args_len' bytes encoded
 * as a log record encodes them (ldb_entry_string_args). They must stay
 * unchanged until the thread has encoded the record (see
 * ldb_writer_may_reference). */
LDB_HOT_INLINE void ldb_writer_encode_set_ref(ldb_writer *w, const unsigned char *args,
                                              size_t args_len) {
    ldb_writer_put_item((ldb_writer_front *)w, LDB_WRITER_TAG_SET_REF, (uint32_t)args_len, args);
}

/* Which batch a SET_REF queued now goes in; and whether one queued in
 * batch b may still wait to be encoded: it does not once two more batches
 * were taken, as the thread takes one only when it has written the one
 * before. The caller keeps b mod 8 in the entry (table.h); tags 8 batches
 * apart are the same, so then a maybe is a waste, never a mistake. */
LDB_HOT_INLINE uint64_t ldb_writer_batch(ldb_writer *w) {
    return atomic_load_explicit(&((ldb_writer_front *)w)->batch, memory_order_relaxed);
}
LDB_HOT_INLINE int ldb_writer_may_reference(ldb_writer *w, uint64_t b) {
    return ldb_writer_batch(w) - b <= 1;
}
LDB_HOT_INLINE int ldb_writer_tag_may_reference(ldb_writer *w, unsigned tag) {
    return ((ldb_writer_batch(w) - tag) & 7) <= 1;
}

LDB_HOT_INLINE uint64_t ldb_writer_commit_set_ref(ldb_writer *w, size_t record_size) {
    return ldb_writer_advance(w, LDB_WRITER_ITEM_SIZE, record_size, record_size);
}

/* Switch files (cfg->lock held, after ldb_writer_reserve of
 * LDB_WRITER_SWITCH_SIZE bytes, then ldb_writer_finish): records queued
 * before this go to the current file, which the thread fsyncs; then, with
 * no lock held, it calls job->prepare with the old file and its offset
 * after them. If prepare returns 0, the records that follow go to *fd from
 * offset *file_end on, sealed with *salt, the seed of that file's header
 * (which prepare wrote and fsynced); otherwise they go on in the old file.
 * Positions go on counting either way. Returns the position of the
 * switch. Once ldb_writer_wait_switch returns, prepare has run and the
 * thread no longer uses the file it left, which stays the caller's (the
 * writer never closes one). Compaction's way to move the log to a
 * new file: prepare copies the last records into it and renames it over
 * the old one, before any record that follows is written. */
typedef struct ldb_writer_switch_job ldb_writer_switch_job;
struct ldb_writer_switch_job {
    int (*prepare)(ldb_writer_switch_job *job, int old_fd, uint64_t old_end, int *fd,
                   uint64_t *file_end, uint64_t *salt);
    int done; /* the thread has written the batch the item was in; set
                 under the writer's lock (ldb_writer_wait_switch) */
};
LDB_INTERNAL uint64_t ldb_writer_switch(ldb_writer *w, ldb_writer_switch_job *job);
/* Wait (cfg->lock not held) until the thread has written the batch that
 * held job's SWITCH item: LAYERDB_OK, or the sticky error if the batch
 * failed (prepare may have run or not). A wait for the switch's position
 * would not do: it may be fsynced before the thread reaches the item. */
LDB_INTERNAL int ldb_writer_wait_switch(ldb_writer *w, ldb_writer_switch_job *job, char *msg,
                                        size_t msg_cap);

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

/* The position after the last record the thread wrote (not necessarily
 * fsynced): every byte before it is in a file, readable. */
LDB_INTERNAL uint64_t ldb_writer_written(ldb_writer *w);

/* For layerdb_info: bytes queued and fsynced (as file offsets), and the
 * most bytes written in one batch. */
LDB_INTERNAL void ldb_writer_stats(ldb_writer *w, uint64_t *queued_end, uint64_t *synced_end,
                                   uint64_t *largest_batch);
/* The sticky error code, or LAYERDB_OK. */
LDB_INTERNAL int ldb_writer_error(ldb_writer *w, char *msg, size_t msg_cap);

#endif
