/* writer.c -- the background log writer: buffers, group commit, fsync policy.
 *
 * DESIGN
 *  Callers encode records into w->f.active under their own lock (db->lock,
 *  which they hold anyway to change the table), so a set takes no lock of
 *  the writer's: appending is inline (writer.h), a check, an encode, a few
 *  stores and two loads. The thread
 *  writes one batch ('flushing') at a time with one pwrite and fsyncs when
 *  the policy says so. So a set never waits on the disk, except under
 *  FSYNC_ALWAYS, where the caller waits on done_cv until synced_end passes
 *  its record; every caller that appended while the previous fsync ran
 *  shares the next one (group commit).
 *  Callers append records with only their length filled in; the thread
 *  computes every record's checksums (ldb_logfmt_seal_all) just before the
 *  pwrite, so a set does no hashing.
 *
 *  ITEMS. A batch is a sequence of items, each a record or a 16-byte
 *  SET_REF item (writer.h: a tag where a record's body length would be,
 *  whose top byte no length has): a SET record whose key and value the
 *  caller's table entry holds, already encoded as the record encodes them.
 *  The thread encodes the record, so a small set copies its entry once
 *  (into the table), not twice: the copy moves off the caller's core. The
 *  caller frees such an entry only once the thread is past it (db.c's
 *  limbo, ldb_writer_may_reference).
 *  A batch without SET_REFs is written as it is. Otherwise the thread
 *  copies its records and encodes its SET_REFs into 'out' (OUT_BYTES,
 *  allocated once), writing out whenever it fills; a record bigger than out
 *  goes from the batch straight to the file. The bound: a batch's 'charge'
 *  counts each item's record size, so that max_pending bounds what the
 *  file will get, whichever items the batch has.
 *  Appending is three steps: ldb_writer_reserve, before the caller changes
 *  anything, may wait for space and may fail; ldb_writer_encode writes the
 *  record where the thread does not see it yet; ldb_writer_commit, after
 *  the change succeeded, queues it and cannot fail; ldb_writer_finish then
 *  wakes the thread or hands it the batch if need be. Their fast paths are
 *  inline and touch only w->f; the rest (an empty batch, which may need a
 *  SYNCED record first, waiting, errors, waking the thread) is out of line
 *  here.
 *
 *  Handing batches over. In a stream of sets a caller holds caller_lock
 *  most of the time, so the thread does not take it: it sets 'asking' and
 *  the first append that finds WAKE_BYTES waiting swaps active and
 *  flushing itself (hand_over) and sets 'handed', which the thread polls
 *  for in a stream (gather), so no futex wake is needed. If no append
 *  comes within LINGER_MS, or a batch is urgent (a sync or space is
 *  wanted, ALWAYS, stop), the thread takes caller_lock and swaps
 *  (take_batch); callers are then idle or waiting, so the lock is free.
 *  If they are not (a caller paused past the linger and went on), 'asking'
 *  stays set while the thread tries the lock, and it stops trying once a
 *  caller hands over. So a stream of sets makes no system call on the
 *  caller's side, the thread never queues on the lock, and batches stay
 *  near WAKE_BYTES.
 *
 *  SYNCED records: the first record appended after each swap is preceded by
 *  a SYNCED record carrying synced_end, when that has grown since the last
 *  one. Recovery uses them to tell damage before the last fsync (an error)
 *  from a torn tail after it (truncated). The stop path appends a final one.
 *
 * LOCKS
 *  (C) w->caller_lock (the caller's) guards: f.active, f.charge,
 *      f.fast_limit, f.queued_end, f.has_refs, marked_end; and the writes
 *      of f.batch (space waiters read it under w->lock);
 *      and flushing (with flushing_has_refs) while 'asking' is set.
 *  (W) w->lock guards: written_end, largest_batch, synced_end,
 *      sync_wanted, stop, wake_asked, error, error_msg.
 *  (T) flushing (unless 'asking'), out and last_sync_ms belong to the
 *      thread.
 *  (T) also fd, base and salt, which a SWITCH item changes.
 *  (3) path, policy, max_pending and alloc are fixed
 *      before the thread starts.
 *  Atomics, read without the lock that guards their writes: pending (a
 *  copy of active.len, a hint for the thread), sleeping and failed (so the
 *  callers' fast path skips w->lock), asking and handed (the hand-over;
 *  release/acquire pass 'flushing' between threads), gather_waits (see
 *  gather), synced_end (for SYNCED records: any value read is true, it
 *  only grows), f.batch.
 *  Order: caller_lock, then w->lock. The thread never blocks on
 *  caller_lock: a waiter there would turn each of the callers' unlocks into
 *  a futex wake (a lock convoy), so lock_callers tries it and sleeps
 *  between tries. No lock is held across pwrite() or fsync().
 *
 *  Sleeping without losing a wakeup: the thread sets 'sleeping' and only
 *  then reads active.len (under caller_lock); a caller changes active.len
 *  and then reads 'sleeping' (under caller_lock too). The lock orders the
 *  two, so either the thread sees the record or the caller sees
 *  'sleeping' and wakes it.
 *
 * WAKEUPS (every wait is in a loop that re-checks its predicate)
 *  work_cv:  "sleeping was cleared, a batch was handed over while
 *            gather_waits, a sync or space is wanted, or stop".
 *  done_cv:  "synced_end or written_end grew, or an error was set".
 *  space_cv: "active was swapped out" (back-pressure: an appender waits,
 *            without caller_lock, while active holds max_pending bytes).
 *
 * ERRORS
 *  The first failed write or fsync stores its code and message in
 *  w->error under w->lock and is never cleared: after a failed fsync Linux
 *  may already have marked the pages clean, so a later fsync that succeeds
 *  proves nothing. Every later append, wait and stop reports it. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "os.h"
#include "writer.h"

#define WAKE_BYTES LDB_WRITER_WAKE_BYTES /* hand a batch over past this (writer.h) */
#define LINGER_MS 2             /* gather small appends this long */
#define POLL_US 100             /* gather's first look for a hand over */
#define EVERYSEC_MS 1000
#define OUT_BYTES (2 * WAKE_BYTES)  /* a batch's records as the file gets them
                                       (ITEMS); holds LDB_WRITER_REF_MAX */

struct ldb_writer {
    ldb_writer_front f;        /* (C) but its atomics; first, see writer.h */
    ldb_alloc *alloc;          /* (3) */
    int fd;                    /* (T) the file written now (ldb_writer_switch) */
    uint64_t base;             /* (T) the log position of fd's offset 0: a
                                  record at position p is at offset p - base */
    uint64_t trunc_at;         /* (T) where fd's part of the batch being
                                  written starts: cut there on an error */
    uint64_t switched_at;      /* (T) the position of the last switch the
                                  batch being written made, 0 if none: all
                                  before it is fsynced */
    ldb_writer_switch_job *switch_job; /* (T) its job, marked done with the
                                  batch (W) */
    int policy;                /* (3) enum layerdb_fsync */
    size_t max_pending;        /* (3) */
    uint64_t salt;             /* (T) the current file's checksum seed */
    char path[1024];           /* (3) for messages */
    pthread_t thread;
    ldb_rwlock *caller_lock; /* (3) the caller's lock, taken for writing */
    pthread_mutex_t lock;
    pthread_cond_t work_cv, done_cv, space_cv;
    uint64_t marked_end;       /* (C) synced_end last put in a SYNCED record */
    ldb_buf flushing;          /* (T) items being written; (C) while asking */
    int flushing_has_refs;     /* (T) flushing holds a SET_REF; (C) while
                                  asking */
    ldb_buf out;               /* (T) OUT_BYTES for encoding SET_REFs */
    atomic_int handed;         /* a caller swapped active into flushing */
    atomic_int gather_waits;   /* the thread waits on work_cv in gather: a
                                  hand over must wake it */
    int streaming;             /* (T) the last batch was handed over, so
                                  gather polls for the next (see there) */
    uint64_t last_sync_ms;     /* (T) */
    uint64_t written_end;      /* (W) file offset after the last written byte */
    uint64_t largest_batch;    /* (W) most bytes written in one batch */
    _Atomic uint64_t synced_end; /* (W) file offset known fsynced */
    uint64_t sync_wanted;      /* (W) a caller waits for synced_end >= this */
    int stop;                  /* (W) close asked the thread to finish */
    int wake_asked;            /* (W) a caller waits for space */
    int error;                 /* (W) sticky LAYERDB_IOERR/FULL, or 0 */
    char error_msg[1200];      /* (W) */
};

/* ---- Errors ---- */

static void copy_msg(char *msg, size_t cap, const char *text) {
    if (msg && cap) snprintf(msg, cap, "%s", text);
}

/* Record the first error (w->lock held) and wake everyone who waits. */
static void fail_locked(ldb_writer *w, int err, const char *what, uint64_t off) {
    if (w->error) return;
    w->error = err == ENOSPC ? LAYERDB_FULL : LAYERDB_IOERR;
    snprintf(w->error_msg, sizeof w->error_msg, "%s '%s' at offset %llu: %s", what, w->path,
             (unsigned long long)off, strerror(err));
    atomic_store(&w->f.failed, 1);
    pthread_cond_broadcast(&w->done_cv);
    pthread_cond_broadcast(&w->space_cv);
}

int ldb_writer_error(ldb_writer *w, char *msg, size_t cap) {
    pthread_mutex_lock(&w->lock);
    int err = w->error;
    if (err) copy_msg(msg, cap, w->error_msg);
    pthread_mutex_unlock(&w->lock);
    return err;
}

/* ---- The thread ---- */

static void timed_wait_ms(ldb_writer *w, pthread_cond_t *cv, uint64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(cv, &w->lock, &ts);
}

/* Take the caller's lock without queueing behind callers (see LOCKS and
 * ldb_rwlock_wrlock_unless). */
static int lock_callers(ldb_writer *w, atomic_int *flag, int give_up_at) {
    return ldb_rwlock_wrlock_unless(w->caller_lock, flag, give_up_at, NULL, NULL);
}

/* Bytes waiting in active, exactly, or 1 if a caller cleared 'sleeping'
 * meanwhile (it appended). (w->lock held; released meanwhile.) */
static size_t peek_pending(ldb_writer *w) {
    size_t n = 1;
    pthread_mutex_unlock(&w->lock);
    if (lock_callers(w, &w->f.sleeping, 0)) {
        n = w->f.active.len;
        ldb_rwlock_wrunlock(w->caller_lock);
    }
    pthread_mutex_lock(&w->lock);
    return n;
}

/* Does the policy, a waiting caller or stop ask for an fsync of whatever is
 * written but not synced? (w->lock held) */
static int sync_asked(const ldb_writer *w, uint64_t now_ms) {
    if (w->stop || w->policy == LAYERDB_FSYNC_ALWAYS || w->sync_wanted > w->synced_end) return 1;
    return w->policy == LAYERDB_FSYNC_EVERYSEC && now_ms - w->last_sync_ms >= EVERYSEC_MS;
}

/* Is an fsync due now? (w->lock held) */
static int sync_due(const ldb_writer *w, uint64_t now_ms) {
    return w->written_end != w->synced_end && sync_asked(w, now_ms);
}

/* Should the next batch go out now rather than after a linger? */
static int urgent(const ldb_writer *w) {
    return w->stop || w->policy == LAYERDB_FSYNC_ALWAYS || w->sync_wanted > w->written_end ||
           w->wake_asked;
}

/* Sleep until a caller clears 'sleeping', asks for a sync, or stops us
 * (w->lock held, active empty). Under EVERYSEC with unsynced bytes, wake in
 * time for the fsync. */
static void wait_for_work(ldb_writer *w, uint64_t now_ms) {
    /* An empty active answers any wait for space (only a swap empties it). */
    w->wake_asked = 0;
    if (!atomic_load(&w->f.sleeping) || w->stop || sync_due(w, now_ms)) return;
    if (w->policy == LAYERDB_FSYNC_EVERYSEC && w->written_end > w->synced_end) {
        uint64_t due = w->last_sync_ms + EVERYSEC_MS;
        timed_wait_ms(w, &w->work_cv, due > now_ms ? due - now_ms : 1);
    } else {
        pthread_cond_wait(&w->work_cv, &w->lock);
    }
}

/* Exchange active and flushing (caller_lock held, by a caller or the
 * thread; flushing is written). */
static void swap_buffers(ldb_writer *w) {
    ldb_buf tmp = w->flushing;
    w->flushing = w->f.active;
    w->flushing_has_refs = w->f.has_refs;
    w->f.active = tmp;
    w->f.active.len = 0;
    w->f.charge = 0;
    w->f.has_refs = 0;
    atomic_store_explicit(&w->f.pending, 0, memory_order_relaxed);
    atomic_fetch_add(&w->f.batch, 1);
}

/* Let callers fill a batch for up to LINGER_MS: the first append that
 * finds WAKE_BYTES waiting hands active over (hand_over), so in a stream
 * of sets the thread never waits for caller_lock.
 * In a stream (the last batch was handed over) the thread looks for the
 * next hand over, first after POLL_US and then at doubling intervals,
 * rather than waiting on work_cv, so that handing over is a few stores: a
 * futex wake of a sleeping thread (a system call and an interrupt to the
 * other core, which a hypervisor traps) cost the caller 10-20 us a batch,
 * 3-6% of a stream of sets. Otherwise (a trickle of sets, which rarely
 * fills WAKE_BYTES) it waits on work_cv, as looking would cost it more CPU
 * than the rare wake costs the caller, and sets gather_waits so that a
 * hand over wakes it. Urgent work (a sync or space wanted, stop) ends the
 * wait. (w->lock held, released meanwhile; 'asking' set) */
static void gather(ldb_writer *w) {
    if (!w->streaming) {
        /* gather_waits, then handed; hand_over stores them the other way
         * round (seq_cst): one of the two sees the other's store. */
        atomic_store(&w->gather_waits, 1);
        if (!atomic_load(&w->handed)) timed_wait_ms(w, &w->work_cv, LINGER_MS);
        atomic_store(&w->gather_waits, 0);
        return;
    }
    long waited_us = 0, pause_us = POLL_US;
    while (waited_us < LINGER_MS * 1000L) {
        if (atomic_load_explicit(&w->handed, memory_order_acquire) || urgent(w)) return;
        if (pause_us > LINGER_MS * 1000L - waited_us) pause_us = LINGER_MS * 1000L - waited_us;
        pthread_mutex_unlock(&w->lock);
        struct timespec pause = {0, pause_us * 1000L};
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&w->lock);
        waited_us += pause_us;
        pause_us *= 2;
    }
}

/* Make 'flushing' the next batch: the one a caller handed over, or else
 * take active (w->lock held; released meanwhile). While the thread tries
 * caller_lock, 'asking' stays set, so a caller that fills WAKE_BYTES
 * meanwhile hands over and the thread stops trying. */
static void take_batch(ldb_writer *w) {
    w->wake_asked = 0; /* this batch answers every earlier request */
    if (!atomic_load_explicit(&w->handed, memory_order_acquire)) {
        pthread_mutex_unlock(&w->lock);
        if (lock_callers(w, &w->handed, 1)) {
            /* Under caller_lock no caller can hand over; one may have just done so. */
            if (!atomic_load_explicit(&w->handed, memory_order_acquire)) swap_buffers(w);
            atomic_store(&w->f.asking, 0);
            ldb_rwlock_wrunlock(w->caller_lock);
        }
        pthread_mutex_lock(&w->lock);
    }
    w->streaming = atomic_load(&w->handed);
    atomic_store(&w->handed, 0);
    pthread_cond_broadcast(&w->space_cv);
}

/* Seal and write p[0..n) at *pos, moving *pos on. Returns 0 or errno. */
static int write_records(ldb_writer *w, unsigned char *p, size_t n, uint64_t *pos) {
    ldb_logfmt_seal_all(p, n, w->salt);
    if (n && ldb_os_pwrite_all(w->fd, p, n, *pos) != 0) return errno;
    *pos += n;
    return 0;
}

static int flush_out(ldb_writer *w, uint64_t *pos) {
    int err = write_records(w, w->out.p, w->out.len, pos);
    w->out.len = 0;
    return err;
}

/* Room for n more bytes in out, writing it first if need be. */
static int out_room(ldb_writer *w, size_t n, uint64_t *pos) {
    return w->out.cap - w->out.len < n ? flush_out(w, pos) : 0;
}

/* A SWITCH item at p: what is written so far goes to the old file, which
 * is fsynced; then the job's prepare decides whether what follows goes to
 * a new file (see ldb_writer_switch). *pos, a file offset, moves to the
 * new file. Returns 0 or errno (of the old file: a failed prepare only
 * keeps the old file). */
static int switch_file(ldb_writer *w, const unsigned char *p, uint64_t *pos) {
    int err = flush_out(w, pos);
    if (err) return err;
    if (ldb_os_sync(w->fd) != 0) return errno;
    ldb_writer_switch_job *job;
    memcpy(&job, p + 8, sizeof job);
    w->switched_at = *pos + w->base;
    w->switch_job = job;
    int fd;
    uint64_t file_end, salt;
    if (job->prepare(job, w->fd, *pos, &fd, &file_end, &salt) != 0) return 0;
    w->base = w->switched_at - file_end;
    w->fd = fd;
    w->salt = salt;
    *pos = w->trunc_at = file_end;
    return 0;
}

/* One item of a batch with refs (see ITEMS), at p; returns its size. After
 * an error (*err) it only steps over the items. */
static size_t write_item(ldb_writer *w, unsigned char *p, uint64_t *pos, int *err) {
    if (p[3] == 0xff && p[0] == LDB_WRITER_TAG_SWITCH) {
        if (!*err) *err = switch_file(w, p, pos);
        return LDB_WRITER_SWITCH_SIZE;
    }
    if (p[3] == 0xff) { /* a SET_REF item: the tag's top byte */
        uint32_t n;
        void *ptr;
        memcpy(&n, p + 4, sizeof n);
        memcpy(&ptr, p + 8, sizeof ptr);
        if (!*err) {
            size_t size = ldb_logfmt_encoded_record_size(3, &ldb_logfmt_set_name, n);
            if (!(*err = out_room(w, size, pos))) {
                ldb_logfmt_put_encoded_unsealed(w->out.p + w->out.len, size, 3,
                                                &ldb_logfmt_set_name, ptr);
                w->out.len += size;
            }
        }
        return LDB_WRITER_ITEM_SIZE;
    }
    size_t size = ldb_logfmt_unsealed_record_size(p);
    if (*err) return size;
    if (size > w->out.cap) { /* too big to copy: straight from the batch */
        if (!(*err = flush_out(w, pos))) *err = write_records(w, p, size, pos);
    } else if (!(*err = out_room(w, size, pos))) {
        memcpy(w->out.p + w->out.len, p, size);
        w->out.len += size;
    }
    return size;
}

/* Write 'flushing' at 'off' (see ITEMS): *end gets the file offset after
 * it. Returns 0, or errno after cutting the file back to 'off'. */
static int write_batch(ldb_writer *w, uint64_t off, uint64_t *end) {
    uint64_t pos = off - w->base; /* the file offset */
    int err = 0;
    w->trunc_at = pos;
    w->switched_at = 0;
    ldb_logfmt_synced_rebase(w->flushing.p, w->flushing.len, w->base);
    if (!w->flushing_has_refs) {
        err = write_records(w, w->flushing.p, w->flushing.len, &pos);
    } else {
        for (size_t i = 0; i < w->flushing.len;) i += write_item(w, w->flushing.p + i, &pos, &err);
        if (!err) err = flush_out(w, &pos);
    }
    if (err) {
        /* Best effort: cut the partial record so the file ends cleanly (and
         * a full disk gets its space back). Recovery would cut it anyway. */
        (void)ldb_os_truncate(w->fd, w->trunc_at);
    }
    *end = pos + w->base; /* a log position again (base may have moved) */
    return err;
}

/* Write 'flushing' at 'off' and fsync if asked, with no lock held. Returns
 * 0, or errno with *what naming the failed call; *end as write_batch. */
static int write_and_sync(ldb_writer *w, uint64_t off, int do_sync, uint64_t *end,
                          const char **what) {
    int err = write_batch(w, off, end);
    if (err) {
        *what = "write";
        return err;
    }
    if (do_sync && ldb_os_sync(w->fd) != 0) {
        *what = "fsync";
        return errno;
    }
    return 0;
}

/* One batch: take active, write it, fsync if due. (w->lock held; released
 * around the swap and the I/O.) */
static void run_batch(ldb_writer *w, uint64_t now_ms) {
    take_batch(w);
    uint64_t off = w->written_end, end = off;
    int do_sync = sync_asked(w, now_ms);
    pthread_mutex_unlock(&w->lock);
    const char *what = "";
    int err = write_and_sync(w, off, do_sync, &end, &what);
    pthread_mutex_lock(&w->lock);
    w->flushing.len = 0;
    /* A batch buffer keeps its size: batches grow while an fsync runs, and
     * growing one again (a copy, and megabytes of fresh pages to fault in)
     * cost the set that did it 40-80 ms at 10M keys. Only a buffer that a
     * record larger than the bound made bigger than that is given back. */
    if (w->flushing.cap / 2 > w->max_pending) ldb_buf_free(w->alloc, &w->flushing);
    if (err) {
        w->switch_job = NULL;
        fail_locked(w, err, what, w->trunc_at);
        return;
    }
    if (w->switch_job) w->switch_job->done = 1;
    w->switch_job = NULL;
    w->written_end = end;
    if (end - off > w->largest_batch) w->largest_batch = end - off;
    if (w->switched_at > w->synced_end) w->synced_end = w->switched_at; /* the old file's fsync */
    if (do_sync) {
        w->synced_end = end;
        w->last_sync_ms = ldb_os_now_ms();
    }
    pthread_cond_broadcast(&w->done_cv);
}

/* After the last batch on stop: a SYNCED record so the next open can tell
 * damage in this session's records from a torn tail. (w->lock held) */
static void mark_clean_end(ldb_writer *w) {
    pthread_mutex_unlock(&w->lock);
    lock_callers(w, NULL, 0);
    uint64_t marked = w->marked_end;
    ldb_rwlock_wrunlock(w->caller_lock);
    pthread_mutex_lock(&w->lock);
    if (w->error || w->synced_end <= marked) return;
    unsigned char rec[LDB_SYNCED_RECORD_SIZE];
    ldb_logfmt_encode_synced(rec, w->salt, w->synced_end - w->base); /* file offsets */
    uint64_t off = w->written_end - w->base;
    pthread_mutex_unlock(&w->lock);
    int err = 0;
    const char *what = "write";
    if (ldb_os_pwrite_all(w->fd, rec, sizeof rec, off) != 0) err = errno;
    else if (ldb_os_sync(w->fd) != 0) { err = errno; what = "fsync"; }
    pthread_mutex_lock(&w->lock);
    if (err) { fail_locked(w, err, what, off); return; }
    w->written_end = off + sizeof rec + w->base;
    w->synced_end = w->written_end;
}

static void *writer_main(void *arg) {
    ldb_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        if (w->error) {
            if (w->stop) break;
            pthread_cond_wait(&w->work_cv, &w->lock);
            continue;
        }
        uint64_t now = ldb_os_now_ms();
        size_t pending = atomic_load(&w->f.pending);
        if (pending == 0 && !sync_due(w, now)) {
            atomic_store(&w->f.sleeping, 1); /* before the exact peek: see LOCKS */
            pending = peek_pending(w);
            if (pending == 0) {
                if (w->stop) break;
                wait_for_work(w, now);
                atomic_store(&w->f.sleeping, 0);
                continue;
            }
            atomic_store(&w->f.sleeping, 0);
        }
        /* Ask for the next batch. Only here, where flushing is empty and
         * nothing is handed over: set later, 'asking' could outlive a hand
         * over and let a second one swap out the batch being written. */
        atomic_store_explicit(&w->f.asking, 1, memory_order_release);
        if (pending > 0 && !urgent(w)) gather(w);
        run_batch(w, now);
    }
    mark_clean_end(w);
    pthread_cond_broadcast(&w->done_cv);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* ---- Caller side ---- */

int ldb_writer_start(ldb_writer **out, ldb_alloc *a, const ldb_writer_config *cfg, char *msg,
                     size_t cap) {
    ldb_writer *w = ldb_malloc(a, sizeof *w);
    *out = NULL;
    if (!w) { copy_msg(msg, cap, "out of memory starting the writer thread"); return LAYERDB_NOMEM; }
    memset(w, 0, sizeof *w);
    if (ldb_buf_reserve(a, &w->out, OUT_BYTES) != 0) {
        ldb_free(a, w, sizeof *w);
        copy_msg(msg, cap, "out of memory starting the writer thread");
        return LAYERDB_NOMEM;
    }
    w->alloc = a;
    w->fd = cfg->fd;
    w->policy = cfg->policy;
    w->max_pending = cfg->max_pending;
    w->salt = cfg->salt;
    w->caller_lock = cfg->lock;
    snprintf(w->path, sizeof w->path, "%s", cfg->path);
    w->f.queued_end = w->written_end = cfg->file_end;
    atomic_init(&w->synced_end, cfg->file_end);
    atomic_init(&w->f.sleeping, 0);
    atomic_init(&w->f.failed, 0);
    atomic_init(&w->f.batch, 0);
    atomic_init(&w->f.pending, 0);
    atomic_init(&w->f.asking, 0);
    atomic_init(&w->handed, 0);
    atomic_init(&w->gather_waits, 0);
    w->marked_end = cfg->marked_end;
    w->last_sync_ms = ldb_os_now_ms();
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work_cv, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    pthread_cond_init(&w->space_cv, NULL);
    /* The thread blocks every signal (it inherits the mask), so a host's
     * handlers for SIGINT, SIGTERM, ... run in the host's own threads. */
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc != 0) {
        if (msg) snprintf(msg, cap, "cannot start the writer thread: %s", strerror(rc));
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->work_cv);
        pthread_cond_destroy(&w->done_cv);
        pthread_cond_destroy(&w->space_cv);
        ldb_buf_free(a, &w->out);
        ldb_free(a, w, sizeof *w);
        return LAYERDB_IOERR;
    }
    *out = w;
    return LAYERDB_OK;
}

/* Wake the thread, sleeping or gathering (caller_lock held). */
static void wake_thread(ldb_writer *w) {
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->f.sleeping, 0);
    pthread_cond_signal(&w->work_cv);
    pthread_mutex_unlock(&w->lock);
}

/* The thread asked for active: give it over (caller_lock held). In a
 * stream the thread polls 'handed' (gather, lock_callers), so there is
 * no one to wake; it waits on work_cv only after a trickle of sets. */
static void hand_over(ldb_writer *w) {
    swap_buffers(w);
    atomic_store(&w->f.asking, 0);
    atomic_store(&w->handed, 1); /* seq_cst: see gather */
    if (atomic_load(&w->gather_waits)) wake_thread(w);
}

/* Back-pressure: wait until the thread takes the current batch, with
 * caller_lock released meanwhile (and held again on return). */
static void wait_for_swap(ldb_writer *w) {
    uint64_t seen = atomic_load(&w->f.batch);
    ldb_rwlock_wrunlock(w->caller_lock);
    pthread_mutex_lock(&w->lock);
    w->wake_asked = 1;
    atomic_store(&w->f.sleeping, 0);
    pthread_cond_signal(&w->work_cv);
    while (atomic_load(&w->f.batch) == seen && !w->error) pthread_cond_wait(&w->space_cv, &w->lock);
    pthread_mutex_unlock(&w->lock);
    ldb_rwlock_wrlock(w->caller_lock);
}

/* Put a SYNCED record first in a fresh batch when synced_end moved on. */
static void maybe_mark_synced(ldb_writer *w) {
    uint64_t synced = atomic_load_explicit(&w->synced_end, memory_order_relaxed);
    if (w->f.active.len != 0 || synced <= w->marked_end) return;
    /* A log position: the thread makes it a file offset, and seals the
     * record with its file's salt, when it writes the batch. */
    ldb_logfmt_encode_synced(w->f.active.p, 0, synced);
    w->f.active.len = w->f.charge = LDB_SYNCED_RECORD_SIZE;
    w->f.queued_end += LDB_SYNCED_RECORD_SIZE;
    w->marked_end = synced;
}

/* How far charge may grow on the fast path: to max_pending, and no further
 * than the room left in active, which it uses up at most as fast (an
 * item's charge is at least its size). */
static size_t fast_limit(const ldb_writer *w) {
    size_t room = w->f.active.cap - w->f.active.len;
    if (w->f.charge >= w->max_pending || w->max_pending - w->f.charge <= room) return w->max_pending;
    return w->f.charge + room;
}

/* ldb_writer_reserve when its inline fast path does not do: an empty
 * batch (a SYNCED record may be due), an error, the bound reached, or
 * active too small. */
LDB_COLD int ldb_writer_reserve_slow(ldb_writer *w, size_t need, char *msg, size_t cap) {
    if (need == SIZE_MAX) { /* record_size said the record is too big */
        copy_msg(msg, cap, "a command of more than 2 GiB cannot be logged");
        return LAYERDB_TOOBIG;
    }
    for (;;) {
        if (atomic_load(&w->f.failed)) return ldb_writer_error(w, msg, cap);
        /* A record larger than the bound still goes in once active is empty. */
        if (w->f.charge == 0 || w->f.charge + need <= w->max_pending) break;
        if (atomic_load_explicit(&w->f.asking, memory_order_acquire)) hand_over(w);
        else wait_for_swap(w);
    }
    return ldb_writer_reserve_unbounded(w, need, msg, cap);
}

int ldb_writer_reserve_unbounded(ldb_writer *w, size_t need, char *msg, size_t cap) {
    if (atomic_load(&w->f.failed)) return ldb_writer_error(w, msg, cap);
    if (ldb_buf_reserve(w->alloc, &w->f.active, need + LDB_SYNCED_RECORD_SIZE) != 0) {
        copy_msg(msg, cap, "out of memory queueing a log record");
        return LAYERDB_NOMEM;
    }
    maybe_mark_synced(w);
    w->f.fast_limit = fast_limit(w);
    return LAYERDB_OK;
}

uint64_t ldb_writer_switch(ldb_writer *w, ldb_writer_switch_job *job) {
    ldb_writer_front *f = (ldb_writer_front *)w;
    unsigned char *p = f->active.p + f->active.len;
    memset(p, 0, LDB_WRITER_SWITCH_SIZE);
    p[0] = LDB_WRITER_TAG_SWITCH;
    p[1] = p[2] = p[3] = 0xff;
    memcpy(p + 8, &job, sizeof job);
    job->done = 0;
    f->has_refs = 1;
    return ldb_writer_advance(w, LDB_WRITER_SWITCH_SIZE, LDB_WRITER_SWITCH_SIZE, 0);
}

/* ldb_writer_finish found the thread sleeping, or asking for a batch that
 * has reached WAKE_BYTES. */
LDB_COLD void ldb_writer_notify(ldb_writer *w) {
    if (atomic_load_explicit(&w->f.sleeping, memory_order_relaxed)) wake_thread(w);
    else hand_over(w);
}

int ldb_writer_wait_synced(ldb_writer *w, uint64_t end, char *msg, size_t cap) {
    pthread_mutex_lock(&w->lock);
    if (w->sync_wanted < end) w->sync_wanted = end;
    pthread_cond_signal(&w->work_cv);
    while (w->synced_end < end && !w->error) pthread_cond_wait(&w->done_cv, &w->lock);
    int rc = w->synced_end >= end ? LAYERDB_OK : w->error;
    if (rc) copy_msg(msg, cap, w->error_msg);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int ldb_writer_wait_switch(ldb_writer *w, ldb_writer_switch_job *job, char *msg, size_t cap) {
    pthread_mutex_lock(&w->lock);
    while (!job->done && !w->error) pthread_cond_wait(&w->done_cv, &w->lock);
    int rc = job->done ? LAYERDB_OK : w->error;
    if (rc) copy_msg(msg, cap, w->error_msg);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int ldb_writer_flush(ldb_writer *w, char *msg, size_t cap) {
    ldb_rwlock_wrlock(w->caller_lock);
    uint64_t end = w->f.queued_end;
    ldb_rwlock_wrunlock(w->caller_lock);
    /* A flush after an error must still fail, even with nothing new queued:
     * earlier acknowledged writes may not be on disk. */
    int rc = ldb_writer_error(w, msg, cap);
    return rc ? rc : ldb_writer_wait_synced(w, end, msg, cap);
}

uint64_t ldb_writer_written(ldb_writer *w) {
    pthread_mutex_lock(&w->lock);
    uint64_t end = w->written_end;
    pthread_mutex_unlock(&w->lock);
    return end;
}

void ldb_writer_stats(ldb_writer *w, uint64_t *queued_end, uint64_t *synced_end,
                      uint64_t *largest_batch) {
    ldb_rwlock_wrlock(w->caller_lock);
    *queued_end = w->f.queued_end;
    ldb_rwlock_wrunlock(w->caller_lock);
    *synced_end = atomic_load(&w->synced_end);
    pthread_mutex_lock(&w->lock);
    *largest_batch = w->largest_batch;
    pthread_mutex_unlock(&w->lock);
}

int ldb_writer_stop(ldb_writer *w, char *msg, size_t cap) {
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->work_cv);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    int rc = w->error;
    if (rc) copy_msg(msg, cap, w->error_msg);
    ldb_buf_free(w->alloc, &w->f.active);
    ldb_buf_free(w->alloc, &w->flushing);
    ldb_buf_free(w->alloc, &w->out);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->work_cv);
    pthread_cond_destroy(&w->done_cv);
    pthread_cond_destroy(&w->space_cv);
    ldb_free(w->alloc, w, sizeof *w);
    return rc;
}
