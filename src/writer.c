/* writer.c -- the background log writer: buffers, group commit, fsync policy.
 *
 * DESIGN
 *  Callers encode records into w->active under w->lock. The writer thread
 *  swaps active and flushing, releases the lock, writes 'flushing' with one
 *  pwrite and fsyncs when the policy says so. So a set never waits on the
 *  disk, except under FSYNC_ALWAYS, where the caller waits on done_cv until
 *  synced_end passes its record; every caller that appended while the
 *  previous fsync ran shares the next one (group commit).
 *  Callers append records with only their length filled in; the thread
 *  computes every record's checksums (ldb_logfmt_seal_all) just before the
 *  pwrite, so a set does no hashing.
 *  Small appends are batched: the thread is only woken when it sleeps with
 *  nothing to do, when active passes WAKE_BYTES, or when someone waits for
 *  a sync; once awake it lingers LINGER_MS to gather more, so a stream of
 *  sets costs one futex wake per batch, not per set.
 *
 *  SYNCED records: the first record appended after each swap is preceded by
 *  a SYNCED record carrying synced_end, when that has grown since the last
 *  one. Recovery uses them to tell damage before the last fsync (an error)
 *  from a torn tail after it (truncated). The stop path appends a final one.
 *
 * LOCKS
 *  (1) w->lock guards: active, queued_end, written_end, synced_end,
 *      marked_end, sync_wanted, stop, sleeping, error, error_msg.
 *  (2) flushing belongs to the writer thread alone between swaps.
 *  (3) fd, path, policy, max_pending and alloc are fixed before the thread
 *      starts.
 *  Order: the caller's db lock, then w->lock; never the reverse. No lock is
 *  held across pwrite() or fsync().
 *
 * WAKEUPS (every wait is a while loop over its predicate)
 *  work_cv:  "active is non-empty, a sync is wanted, or stop is set".
 *  done_cv:  "synced_end or written_end grew, or an error was set".
 *  space_cv: "active was swapped out" (back-pressure: appenders wait while
 *            active holds max_pending bytes).
 *
 * ERRORS
 *  The first failed write or fsync stores its code and message in
 *  w->error under w->lock and is never cleared: after a failed fsync Linux
 *  may already have marked the pages clean, so a later fsync that succeeds
 *  proves nothing. Every later append, wait and stop reports it. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "os.h"
#include "writer.h"

#define WAKE_BYTES (256 * 1024) /* wake a lingering thread past this */
#define LINGER_MS 2             /* gather small appends this long */
#define EVERYSEC_MS 1000
#define SHRINK_BYTES (8 * 1024 * 1024) /* free a batch buffer grown past this
                                          (a huge value) instead of keeping it */

struct ldb_writer {
    ldb_alloc *alloc;          /* (3) */
    int fd;                    /* (3) */
    int policy;                /* (3) enum layerdb_fsync */
    size_t max_pending;        /* (3) */
    uint64_t salt;             /* (3) the file's checksum seed */
    char path[1024];           /* (3) for messages */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work_cv, done_cv, space_cv;
    ldb_buf active;            /* (1) records not yet taken by the thread */
    ldb_buf flushing;          /* (2) records being written */
    uint64_t queued_end;       /* (1) file offset after the last appended byte */
    uint64_t written_end;      /* (1) file offset after the last written byte */
    uint64_t synced_end;       /* (1) file offset known fsynced */
    uint64_t marked_end;       /* (1) synced_end last put in a SYNCED record */
    uint64_t sync_wanted;      /* (1) a caller waits for synced_end >= this */
    uint64_t last_sync_ms;     /* writer thread only */
    int stop;                  /* (1) close asked the thread to finish */
    int sleeping;              /* (1) the thread waits with no timeout */
    int error;                 /* (1) sticky LAYERDB_IOERR/FULL, or 0 */
    char error_msg[1200];      /* (1) */
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

/* Is an fsync due now? (w->lock held) */
static int sync_due(const ldb_writer *w, uint64_t now_ms) {
    if (w->written_end == w->synced_end) return 0;
    if (w->stop || w->policy == LAYERDB_FSYNC_ALWAYS || w->sync_wanted > w->synced_end) return 1;
    return w->policy == LAYERDB_FSYNC_EVERYSEC && now_ms - w->last_sync_ms >= EVERYSEC_MS;
}

/* Should the next batch go out now rather than after a linger? */
static int urgent(const ldb_writer *w) {
    return w->stop || w->policy == LAYERDB_FSYNC_ALWAYS || w->sync_wanted > w->written_end ||
           w->active.len >= WAKE_BYTES;
}

/* Sleep until there is work (w->lock held). Under EVERYSEC with unsynced
 * bytes, wake in time for the next fsync. */
static void wait_for_work(ldb_writer *w, uint64_t now_ms) {
    w->sleeping = 1; /* the next append wakes us: data must reach the OS soon */
    if (w->policy == LAYERDB_FSYNC_EVERYSEC && w->written_end > w->synced_end) {
        uint64_t due = w->last_sync_ms + EVERYSEC_MS;
        timed_wait_ms(w, &w->work_cv, due > now_ms ? due - now_ms : 1);
    } else {
        pthread_cond_wait(&w->work_cv, &w->lock);
    }
    w->sleeping = 0;
}

/* Write 'flushing' at 'off' and fsync if asked, with no lock held. Returns
 * 0, or errno with *what naming the failed call. */
static int write_and_sync(ldb_writer *w, uint64_t off, int do_sync, const char **what) {
    ldb_logfmt_seal_all(w->flushing.p, w->flushing.len, w->salt);
    if (w->flushing.len && ldb_os_pwrite_all(w->fd, w->flushing.p, w->flushing.len, off) != 0) {
        int err = errno;
        *what = "write";
        /* Best effort: cut the partial record so the file ends cleanly (and
         * a full disk gets its space back). Recovery would cut it anyway. */
        (void)ldb_os_truncate(w->fd, off);
        return err;
    }
    if (do_sync && ldb_os_sync(w->fd) != 0) {
        *what = "fsync";
        return errno;
    }
    return 0;
}

/* One batch: take active, write it, fsync if due. (w->lock held; released
 * around the I/O.) */
static void run_batch(ldb_writer *w, uint64_t now_ms) {
    ldb_buf tmp = w->flushing;
    w->flushing = w->active;
    w->active = tmp;
    w->active.len = 0;
    pthread_cond_broadcast(&w->space_cv);
    uint64_t off = w->written_end, end = off + w->flushing.len;
    int do_sync = w->policy == LAYERDB_FSYNC_ALWAYS || w->stop || w->sync_wanted > w->synced_end ||
                  (w->policy == LAYERDB_FSYNC_EVERYSEC && now_ms - w->last_sync_ms >= EVERYSEC_MS);
    pthread_mutex_unlock(&w->lock);
    const char *what = "";
    int err = write_and_sync(w, off, do_sync, &what);
    pthread_mutex_lock(&w->lock);
    w->flushing.len = 0;
    if (w->flushing.cap > SHRINK_BYTES) ldb_buf_free(w->alloc, &w->flushing);
    if (err) {
        fail_locked(w, err, what, off);
        return;
    }
    w->written_end = end;
    if (do_sync) {
        w->synced_end = end;
        w->last_sync_ms = ldb_os_now_ms();
    }
    pthread_cond_broadcast(&w->done_cv);
}

/* After the last batch on stop: a SYNCED record so the next open can tell
 * damage in this session's records from a torn tail. (w->lock held) */
static void mark_clean_end(ldb_writer *w) {
    if (w->error || w->synced_end <= w->marked_end) return;
    unsigned char rec[LDB_SYNCED_RECORD_SIZE];
    ldb_logfmt_encode_synced(rec, w->salt, w->synced_end);
    uint64_t off = w->written_end;
    pthread_mutex_unlock(&w->lock);
    int err = 0;
    const char *what = "write";
    if (ldb_os_pwrite_all(w->fd, rec, sizeof rec, off) != 0) err = errno;
    else if (ldb_os_sync(w->fd) != 0) { err = errno; what = "fsync"; }
    pthread_mutex_lock(&w->lock);
    if (err) { fail_locked(w, err, what, off); return; }
    w->written_end = w->synced_end = w->marked_end = off + sizeof rec;
}

static void *writer_main(void *arg) {
    ldb_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    int lingered = 0;
    for (;;) {
        uint64_t now = ldb_os_now_ms();
        if (w->error) {
            if (w->stop) break;
            pthread_cond_wait(&w->work_cv, &w->lock);
            continue;
        }
        if (w->active.len == 0 && !sync_due(w, now)) {
            if (w->stop) break;
            wait_for_work(w, now);
            lingered = 0;
            continue;
        }
        if (w->active.len > 0 && !urgent(w) && !lingered) {
            timed_wait_ms(w, &w->work_cv, LINGER_MS);
            lingered = 1;
            continue;
        }
        run_batch(w, now);
        lingered = 0;
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
    w->alloc = a;
    w->fd = cfg->fd;
    w->policy = cfg->policy;
    w->max_pending = cfg->max_pending;
    w->salt = cfg->salt;
    snprintf(w->path, sizeof w->path, "%s", cfg->path);
    w->queued_end = w->written_end = w->synced_end = cfg->file_end;
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
        ldb_free(a, w, sizeof *w);
        return LAYERDB_IOERR;
    }
    *out = w;
    return LAYERDB_OK;
}

/* Block while the pending bytes are over the bound (w->lock held). A record
 * larger than the bound still goes in once active is empty. */
static void wait_for_space(ldb_writer *w, size_t need) {
    while (!w->error && w->active.len > 0 && w->active.len + need > w->max_pending) {
        pthread_cond_signal(&w->work_cv);
        pthread_cond_wait(&w->space_cv, &w->lock);
    }
}

/* Put a SYNCED record first in a fresh batch when synced_end moved on. */
static void maybe_mark_synced(ldb_writer *w) {
    if (w->active.len != 0 || w->synced_end <= w->marked_end) return;
    ldb_logfmt_encode_synced(w->active.p, w->salt, w->synced_end);
    w->active.len = LDB_SYNCED_RECORD_SIZE;
    w->queued_end += LDB_SYNCED_RECORD_SIZE;
    w->marked_end = w->synced_end;
}

int ldb_writer_append(ldb_writer *w, size_t argc, const ldb_slice *argv, uint64_t *end,
                      char *msg, size_t cap) {
    size_t need = ldb_logfmt_command_record_size(argc, argv);
    pthread_mutex_lock(&w->lock);
    wait_for_space(w, need);
    int rc = w->error;
    if (rc) {
        copy_msg(msg, cap, w->error_msg);
    } else if (ldb_buf_reserve(w->alloc, &w->active, need + LDB_SYNCED_RECORD_SIZE) != 0) {
        copy_msg(msg, cap, "out of memory queueing a log record");
        rc = LAYERDB_NOMEM;
    } else {
        maybe_mark_synced(w);
        ldb_logfmt_append_command_unsealed(&w->active, argc, argv);
        w->queued_end += need;
        *end = w->queued_end;
        if (w->sleeping || w->active.len >= WAKE_BYTES || w->policy == LAYERDB_FSYNC_ALWAYS) {
            w->sleeping = 0;
            pthread_cond_signal(&w->work_cv);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
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

int ldb_writer_flush(ldb_writer *w, char *msg, size_t cap) {
    pthread_mutex_lock(&w->lock);
    uint64_t end = w->queued_end;
    int rc = w->error;
    if (rc) copy_msg(msg, cap, w->error_msg);
    pthread_mutex_unlock(&w->lock);
    /* A flush after an error must still fail, even with nothing new queued:
     * earlier acknowledged writes may not be on disk. */
    return rc ? rc : ldb_writer_wait_synced(w, end, msg, cap);
}

void ldb_writer_stats(ldb_writer *w, uint64_t *queued_end, uint64_t *synced_end) {
    pthread_mutex_lock(&w->lock);
    *queued_end = w->queued_end;
    *synced_end = w->synced_end;
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
    ldb_buf_free(w->alloc, &w->active);
    ldb_buf_free(w->alloc, &w->flushing);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->work_cv);
    pthread_cond_destroy(&w->done_cv);
    pthread_cond_destroy(&w->space_cv);
    ldb_free(w->alloc, w, sizeof *w);
    return rc;
}
