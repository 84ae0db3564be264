/* compact.c -- rewrite the log into a new file holding only live data,
 * while the application goes on reading and writing.
 *
 * DESIGN
 *  The new file holds the database as of one instant T, followed by every
 *  record appended after T: replaying it gives exactly what replaying the
 *  old file gives. No fork, no copy of the table: a thread of its own
 *  (one per compaction) does the work in steps.
 *  1. It creates FILE.compact, takes the writer lock on it (so that the
 *     file is locked the moment it takes the database's name) and writes
 *     a header with a fresh salt.
 *  2. T: under the handle's lock, it starts a snapshot (snapshot.h) and
 *     notes the log position P_T where records after T start.
 *  3. It reads the snapshot a step at a time (STEP_SLOTS table slots),
 *     under the lock, rewriting each key into memory as the commands that
 *     rebuild it ("SET key value PXAT ms"), grouped in records of up to
 *     RECORD_BYTES; between steps, without the lock, it writes them to the
 *     new file, and fsyncs it every SYNC_BYTES.
 *  4. It copies the old file's records from P_T on into the new file,
 *     sealed with the new salt (SYNCED records are left out: they speak of
 *     the old file's offsets), as far as the writer thread has written
 *     them, in rounds until little is left.
 *  5. It queues a SWITCH item in the log (ldb_writer_switch). When the
 *     writer thread reaches it, every earlier record is in the old file,
 *     fsynced; the thread calls 'prepare' (below), which copies the last
 *     records, fsyncs the new file, renames it over the old one and fsyncs
 *     the directory. Only then does the thread write the records that
 *     follow, into the new file.
 *  So a crash at any point leaves a file that holds every record written
 *  before it: the old file until the rename, the new one after. A failure
 *  (disk full, a FLUSHDB cancelling the snapshot, close) removes the new
 *  file and leaves the old one in use.
 *
 * COST
 *  While writes come, each snapshot step runs inside one of them (see
 *  TAKING THE LOCK): a few hundred keys, about 0.1-0.3 ms (longer for a
 *  key of many megabytes, which a step copies whole); T and the switch
 *  are constant work. Other threads wait for that write as for any. Extra memory: snapshot.h's bound (a copy of each key
 *  changed during the compaction), and this file's buffers (a few MiB,
 *  or one record when a value is larger).
 *
 * TAKING THE LOCK
 *  The handle's lock is no fair lock: a thread that sets keys in a loop
 *  takes it again the instant it lets go, so a thread that waits for it
 *  may wait as long as the loop runs. So the compaction thread does not
 *  wait for it: what it must do under the lock (a snapshot step, instant
 *  T, the switch) it hands to the next write (run_locked): the write, which
 *  holds the lock anyway, finds compact_at lowered and runs it
 *  (ldb_compactor_attend, from db.c's compact_due). Only when no write
 *  comes for ATTEND_WAIT_US does the thread take the lock itself: a
 *  thread preempted while it holds the lock keeps every write waiting
 *  (at 10M keys, steps the thread ran itself held the lock 2 to 20 ms
 *  where the step's work took 0.3 ms).
 *
 * THREADS
 *  c->mu guards run_started, run_finished, running, stop, done, last_rc,
 *  last_msg. The rest of struct ldb_compactor belongs to the compaction's
 *  thread, except while the writer thread runs 'prepare' (the compaction
 *  thread waits meanwhile, in ldb_writer_wait_synced). Lock order: the
 *  handle's lock, then c->mu; the compaction thread never holds c->mu while
 *  taking the handle's lock. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compact.h"
#include "command.h"
#include "db.h"
#include "keyspace.h"
#include "os.h"
#include "snapshot.h"
#include "writer.h"

#define STEP_SLOTS 512                /* table slots (and saved states) per
                                         snapshot step: about 0.1 ms */
#define RECORD_BYTES (256 * 1024)     /* a snapshot record's commands, about */
#define OUT_BYTES (4 * 1024 * 1024)   /* written to the new file in one go */
#define SYNC_BYTES (4 * 1024 * 1024)  /* fsync the new file this often, so
                                         that little is left for the last */
#define READ_BYTES (1024 * 1024)      /* read from the old file in one go */
#define SWITCH_GAP (1024 * 1024)      /* records left to copy when switching */
#define CATCH_UP_ROUNDS 100
#define ATTEND_WAIT_US 2000           /* how long to wait for a write to
                                         run a step (await_attention) */
#define ATTEND_POLL_US 50

struct ldb_compactor {
    ldb_writer_switch_job job; /* first: prepare finds the compactor from it */
    layerdb *db;
    ldb_alloc *alloc;
    pthread_t thread;
    int joinable;              /* a thread was started and not joined */
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* "run_finished grew" */
    uint64_t run_started;      /* (mu) compactions started */
    uint64_t run_finished;     /* (mu) compactions finished, whole or not */
    int running;               /* (mu) */
    int stop;                  /* (mu) close cancels the compaction */
    uint64_t done;             /* (mu) compactions that did their work */
    int last_rc;               /* (mu) the last one's result */
    char last_msg[1200];       /* (mu) */

    /* The compaction being run (its thread's): */
    char tmp_path[1100];
    int tmp_fd;
    uint64_t salt;             /* the new file's */
    uint64_t tmp_end;          /* the new file's size so far */
    int old_fd;                /* the file the log is in */
    uint64_t old_base;         /* the log position of its offset 0 */
    uint64_t copied;           /* the log position copied up to */
    uint64_t old_salt;
    ldb_snapshot snap;
    ldb_buf out;               /* sealed records to write to the new file */
    ldb_buf body;              /* the commands of the record being built */
    size_t ncmds;              /* in body */
    int body_db;               /* the database body's commands are in */
    ldb_buf rbuf;              /* the old file, read */
    uint64_t unsynced;         /* bytes written to the new file since its
                                  last fsync */
    int step_rc;               /* a rewrite's failure inside a step */
    int prepared_rc;           /* prepare's result (LAYERDB_OK or a code) */
    uint64_t switch_at;        /* the log position of the SWITCH item */
    int (*locked)(ldb_compactor *); /* what run_locked runs */
    int writes_attend;         /* a write ran the last one (run_locked) */
    int locked_rc;             /* its result */
    atomic_int pending;        /* 'locked' waits to be run (see run_locked) */
    atomic_int busy;           /* a copy of running, read without mu */
    char msg[1200];            /* the failure's detail */
};

/* ---- Errors ---- */

static int fail(ldb_compactor *c, int rc, const char *fmt, const char *what) {
    int err = errno;
    if (rc == LAYERDB_IOERR && err == ENOSPC) rc = LAYERDB_FULL;
    snprintf(c->msg, sizeof c->msg, fmt, what, strerror(err));
    return rc;
}

static int cancelled(ldb_compactor *c) {
    pthread_mutex_lock(&c->mu);
    int stop = c->stop;
    pthread_mutex_unlock(&c->mu);
    return stop;
}

/* ---- Writing the new file ---- */

/* Write out to the new file (never under the handle's lock). */
static int write_out(ldb_compactor *c) {
    if (!c->out.len) return LAYERDB_OK;
    ldb_logfmt_seal_all(c->out.p, c->out.len, c->salt);
    if (ldb_os_pwrite_all(c->tmp_fd, c->out.p, c->out.len, c->tmp_end) != 0)
        return fail(c, LAYERDB_IOERR, "compaction: write '%s': %s", c->tmp_path);
    c->tmp_end += c->out.len;
    c->unsynced += c->out.len;
    c->out.len = 0;
    if (c->out.cap > 2 * OUT_BYTES) ldb_buf_free(c->alloc, &c->out); /* after a huge value */
    return LAYERDB_OK;
}

/* The new file fsynced up to now. */
static int sync_new(ldb_compactor *c) {
    if (ldb_os_sync(c->tmp_fd) != 0)
        return fail(c, LAYERDB_IOERR, "compaction: fsync '%s': %s", c->tmp_path);
    c->unsynced = 0;
    return LAYERDB_OK;
}

/* write_out once out is full, and an fsync every SYNC_BYTES: the fsync
 * before the switch, which the writer thread waits for, then has little
 * left to do. */
static int write_if_full(ldb_compactor *c) {
    int rc = c->out.len >= OUT_BYTES ? write_out(c) : LAYERDB_OK;
    return rc == LAYERDB_OK && c->unsynced >= SYNC_BYTES ? sync_new(c) : rc;
}

/* Room for n more bytes in out, in memory: out is written between steps,
 * without the lock (write_if_full). */
static int out_room(ldb_compactor *c, size_t n) {
    if (ldb_buf_reserve(c->alloc, &c->out, n) != 0) {
        snprintf(c->msg, sizeof c->msg, "compaction: out of memory for a %zu-byte record", n);
        return LAYERDB_NOMEM;
    }
    return LAYERDB_OK;
}

/* The record of the commands in body goes to out. */
static int end_record(ldb_compactor *c) {
    if (!c->ncmds) return LAYERDB_OK;
    size_t size = ldb_logfmt_encoded_commands_size(c->ncmds, c->body.len);
    int rc = size == SIZE_MAX ? LAYERDB_TOOBIG : out_room(c, size);
    if (rc == LAYERDB_TOOBIG) snprintf(c->msg, sizeof c->msg, "compaction: a record over 2 GiB");
    if (rc) return rc;
    ldb_logfmt_put_encoded_commands(c->out.p + c->out.len, size, c->ncmds, c->body.p, c->body.len);
    c->out.len += size;
    c->body.len = 0;
    c->ncmds = 0;
    return LAYERDB_OK;
}

/* Append one command, its arguments after the name encoded already (args,
 * args_len bytes, then extra, extra_len bytes; argc counts the name), to
 * the record being built, which starts with a SELECT when its database is
 * not 0: every record is replayed from database 0. */
static int add_command(ldb_compactor *c, int db, size_t argc, ldb_slice name,
                       const unsigned char *args, size_t args_len, const unsigned char *extra,
                       size_t extra_len) {
    if (c->ncmds && (db != c->body_db || c->body.len >= RECORD_BYTES)) {
        int rc = end_record(c);
        if (rc) return rc;
    }
    char num[8];
    ldb_slice sel[2] = {{(const unsigned char *)"SELECT", 6}, {(const unsigned char *)num, 0}};
    sel[1].len = (size_t)snprintf(num, sizeof num, "%d", db);
    size_t need = (c->ncmds == 0 && db ? ldb_logfmt_args_size(2, sel) : 0) + 20 + name.len +
                  args_len + extra_len;
    if (ldb_buf_reserve(c->alloc, &c->body, need) != 0) {
        snprintf(c->msg, sizeof c->msg, "compaction: out of memory for a %zu-byte key", args_len);
        return LAYERDB_NOMEM;
    }
    unsigned char *p = c->body.p + c->body.len;
    if (c->ncmds == 0 && db) {
        p = ldb_logfmt_put_args(p, 2, sel);
        c->ncmds++;
    }
    c->body_db = db;
    p = ldb_varint_put(p, argc);
    p = ldb_varint_put(p, name.len);
    memcpy(p, name.p, name.len);
    p += name.len;
    memcpy(p, args, args_len);
    if (extra_len) memcpy(p + args_len, extra, extra_len);
    c->body.len = (size_t)(p + args_len + extra_len - c->body.p);
    c->ncmds++;
    return LAYERDB_OK;
}

/* A string key: SET key value [PXAT ms]. Its state's bytes are its key
 * and value encoded as the record encodes them (table.h). */
static int rewrite_string(ldb_compactor *c, const ldb_snap_item *it) {
    if (it->deadline < 0)
        return add_command(c, it->db, 3, ldb_slice_str("SET"), it->args, it->args_len, NULL, 0);
    unsigned char tail[40];
    char ms[24];
    ldb_slice px[2] = {ldb_slice_str("PXAT"), {(const unsigned char *)ms, 0}};
    px[1].len = (size_t)snprintf(ms, sizeof ms, "%lld", (long long)it->deadline);
    size_t tail_len = (size_t)(ldb_logfmt_put_args(tail, 2, px) - tail) - 1; /* no argc */
    return add_command(c, it->db, 5, ldb_slice_str("SET"), it->args, it->args_len, tail + 1,
                       tail_len);
}

/* How each type is rewritten: the commands that rebuild a key of it. */
static int (*const rewrite_type[])(ldb_compactor *, const ldb_snap_item *) = {
    [LDB_TYPE_STRING] = rewrite_string,
};

static int rewrite_item(ldb_compactor *c, const ldb_snap_item *it) {
    if (it->type >= sizeof rewrite_type / sizeof rewrite_type[0] || !rewrite_type[it->type]) {
        snprintf(c->msg, sizeof c->msg, "compaction: keys of type %d cannot be rewritten yet",
                 it->type);
        return LAYERDB_INVALID;
    }
    return rewrite_type[it->type](c, it);
}

/* ---- The snapshot ---- */

/* A state the snapshot hands out, under the lock: rewritten into out at
 * once, as its bytes may be freed once the lock is let go. */
static int collect(void *ud, const ldb_snap_item *item) {
    ldb_compactor *c = ud;
    if (c->step_rc == LAYERDB_OK) c->step_rc = rewrite_item(c, item);
    return c->step_rc == LAYERDB_OK ? 0 : -1;
}

/* ---- Work under the handle's lock ---- */

/* While writes come, wait up to ATTEND_WAIT_US for one to run c->locked:
 * 1 if one did. The thread takes the lock itself only when none came in
 * that time, or none came the last time (the handle is idle: then waiting
 * would only slow the compaction down). A thread that holds the lock can
 * be preempted, and the writes then wait for it for milliseconds; a write
 * that runs the step is not preempted by the compaction's thread, which
 * sleeps meanwhile. */
static int await_attention(ldb_compactor *c) {
    if (!c->writes_attend) return 0;
    ldb_db_ask_attention(c->db);
    for (long waited = 0; waited < ATTEND_WAIT_US; waited += ATTEND_POLL_US) {
        if (!atomic_load(&c->pending)) return 1;
        struct timespec pause = {0, ATTEND_POLL_US * 1000};
        nanosleep(&pause, NULL);
    }
    return !atomic_load(&c->pending);
}

/* Run c->locked = fn with the handle's lock held for writing, by a write
 * (await_attention) or by this thread (see TAKING THE LOCK). Returns fn's
 * result. */
static int run_locked(ldb_compactor *c, int (*fn)(ldb_compactor *)) {
    c->locked = fn;
    atomic_store(&c->pending, 1);
    /* ldb_db_lock_unless gives up once a write ran it */
    int by_write = await_attention(c) || !ldb_db_lock_unless(c->db, &c->pending, 0);
    if (!by_write) {
        by_write = !atomic_load(&c->pending); /* one ran it as the lock was taken */
        if (!by_write) {
            c->locked_rc = fn(c);
            atomic_store(&c->pending, 0);
        }
        ldb_db_unlock(c->db);
    }
    c->writes_attend = by_write;
    return c->locked_rc;
}

void ldb_compactor_attend(ldb_compactor *c) {
    if (!atomic_load(&c->pending)) return;
    c->locked_rc = c->locked(c);
    atomic_store(&c->pending, 0);
}

int ldb_compactor_busy(ldb_compactor *c) {
    return atomic_load_explicit(&c->busy, memory_order_relaxed);
}

/* Step 2: instant T. */
static int begin_locked(ldb_compactor *c) {
    layerdb *db = c->db;
    int rc = ldb_db_writer_error(db);
    if (rc) {
        snprintf(c->msg, sizeof c->msg, "compaction: %s", layerdb_errmsg(db));
        return rc;
    }
    ldb_keyspace *ks = ldb_db_keyspace(db);
    ldb_snapshot_init(&c->snap, c->alloc, ldb_ks_clock_ms());
    ks->snap = &c->snap;
    ldb_db_file(db, &c->old_fd, &c->old_base, &c->old_salt);
    c->copied = ldb_writer_queued(ldb_db_writer(db));
    return LAYERDB_OK;
}

static int step_locked(ldb_compactor *c) {
    return ldb_snapshot_step(&c->snap, ldb_db_keyspace(c->db), STEP_SLOTS, collect, c);
}

/* The last states (saved since the last step); the keyspace stops
 * telling the snapshot. */
static int detach_locked(ldb_compactor *c) {
    int last = ldb_snapshot_drain(&c->snap, ldb_db_keyspace(c->db), collect, c);
    ldb_db_keyspace(c->db)->snap = NULL;
    return last;
}

/* The snapshot ends, however it went. */
static int end_snapshot(ldb_compactor *c, int rc) {
    int last = run_locked(c, detach_locked);
    if (rc == LAYERDB_OK && c->step_rc) rc = c->step_rc; /* c->msg says it */
    if (rc == LAYERDB_OK && last < 0) {
        snprintf(c->msg, sizeof c->msg, "compaction cancelled: FLUSHDB, FLUSHALL or SWAPDB ran, "
                 "or no memory to keep the snapshot");
        rc = LAYERDB_NOMEM;
    }
    if (rc == LAYERDB_OK) rc = end_record(c);
    if (rc == LAYERDB_OK) rc = write_out(c);
    ldb_snapshot_free(&c->snap);
    return rc;
}

/* Step 3. */
static int write_snapshot(ldb_compactor *c) {
    c->step_rc = LAYERDB_OK;
    int rc = run_locked(c, begin_locked);
    if (rc) return rc;
    for (;;) {
        if (run_locked(c, step_locked) <= 0) break; /* end_snapshot tells why */
        rc = write_if_full(c);
        if (rc == LAYERDB_OK && cancelled(c)) {
            snprintf(c->msg, sizeof c->msg, "compaction cancelled: the handle is closing");
            rc = LAYERDB_INVALID;
        }
        if (rc) break;
    }
    return end_snapshot(c, rc);
}

/* ---- Copying the records after T ---- */

static int read_old(ldb_compactor *c, size_t n, uint64_t off) {
    size_t got;
    if (ldb_buf_reserve(c->alloc, &c->rbuf, n) != 0) {
        snprintf(c->msg, sizeof c->msg, "compaction: out of memory reading a %zu-byte record", n);
        return LAYERDB_NOMEM;
    }
    if (ldb_os_pread_all(c->old_fd, c->rbuf.p, n, off, &got) != 0)
        return fail(c, LAYERDB_IOERR, "compaction: read '%s': %s", ldb_db_path(c->db));
    if (got < n) {
        snprintf(c->msg, sizeof c->msg, "compaction: '%s' is shorter than its log",
                 ldb_db_path(c->db));
        return LAYERDB_CORRUPT;
    }
    return LAYERDB_OK;
}

/* The whole records in rbuf[0..n): the COMMANDS ones go to out. Sets
 * *used to the bytes they take (a record cut by n is left for later). */
static int copy_records(ldb_compactor *c, size_t n, size_t *used) {
    size_t p = 0;
    while (n - p >= LDB_FRAME_SIZE) {
        const unsigned char *frame = c->rbuf.p + p;
        uint32_t len;
        if (ldb_logfmt_frame_check(frame, c->old_salt, &len) != 0 ||
            (len > 0 && n - p - LDB_FRAME_SIZE >= len &&
             ldb_logfmt_body_check(frame, frame + LDB_FRAME_SIZE, len, c->old_salt) != 0)) {
            snprintf(c->msg, sizeof c->msg, "compaction: a bad record in '%s' after its snapshot",
                     ldb_db_path(c->db));
            return LAYERDB_CORRUPT;
        }
        if (n - p - LDB_FRAME_SIZE < len) break;
        if (len > 0 && frame[LDB_FRAME_SIZE] == LDB_REC_COMMANDS) {
            int rc = out_room(c, LDB_FRAME_SIZE + len);
            if (rc) return rc;
            memcpy(c->out.p + c->out.len, frame, LDB_FRAME_SIZE + len);
            c->out.len += LDB_FRAME_SIZE + len; /* write_out seals it with the new salt */
        }
        p += LDB_FRAME_SIZE + len;
    }
    *used = p;
    return LAYERDB_OK;
}

/* Copy the old file's records from c->copied up to the log position
 * 'to' (a record boundary the writer thread has written). */
static int copy_tail(ldb_compactor *c, uint64_t to) {
    while (c->copied < to) {
        uint64_t off = c->copied - c->old_base, left = to - c->copied;
        size_t n = left < READ_BYTES ? (size_t)left : READ_BYTES, used = 0;
        int rc = read_old(c, n, off);
        if (rc == LAYERDB_OK) rc = copy_records(c, n, &used);
        if (rc == LAYERDB_OK && used == 0) { /* one record larger than READ_BYTES */
            uint32_t len;
            if (ldb_logfmt_frame_check(c->rbuf.p, c->old_salt, &len) != 0 ||
                LDB_FRAME_SIZE + (uint64_t)len > left) {
                snprintf(c->msg, sizeof c->msg, "compaction: a bad record in '%s'", ldb_db_path(c->db));
                return LAYERDB_CORRUPT;
            }
            rc = read_old(c, LDB_FRAME_SIZE + len, off);
            if (rc == LAYERDB_OK) rc = copy_records(c, LDB_FRAME_SIZE + len, &used);
        }
        if (rc == LAYERDB_OK) rc = write_if_full(c);
        if (rc) return rc;
        assert(used > 0);
        c->copied += used;
    }
    if (c->rbuf.cap > 2 * READ_BYTES) ldb_buf_free(c->alloc, &c->rbuf);
    return write_out(c);
}

/* Step 4: copy what the writer thread has written, in rounds, until a
 * round finds little new. */
static int catch_up(ldb_compactor *c) {
    ldb_writer *w = ldb_db_writer(c->db);
    for (int round = 0; round < CATCH_UP_ROUNDS; round++) {
        uint64_t from = c->copied;
        int rc = copy_tail(c, ldb_writer_written(w));
        if (rc) return rc;
        if (cancelled(c)) {
            snprintf(c->msg, sizeof c->msg, "compaction cancelled: the handle is closing");
            return LAYERDB_INVALID;
        }
        if (c->copied - from <= SWITCH_GAP) break;
    }
    return sync_new(c); /* so that prepare's fsync has only the last bytes */
}

/* Step 5, in the writer thread (see ldb_writer_switch): the old file is
 * whole and fsynced up to old_end. */
static int prepare(ldb_writer_switch_job *job, int old_fd, uint64_t old_end, int *fd,
                   uint64_t *file_end, uint64_t *salt) {
    ldb_compactor *c = (ldb_compactor *)job;
    assert(old_fd == c->old_fd);
    int rc = copy_tail(c, old_end + c->old_base);
    const char *path = ldb_db_path(c->db);
    if (rc == LAYERDB_OK && ldb_os_sync(c->tmp_fd) != 0)
        rc = fail(c, LAYERDB_IOERR, "compaction: fsync '%s': %s", c->tmp_path);
    if (rc == LAYERDB_OK && ldb_os_rename(c->tmp_path, path) != 0)
        rc = fail(c, LAYERDB_IOERR, "compaction: rename '%s': %s", c->tmp_path);
    /* Renamed, the new file is the database even if this fails: the log
     * goes on there. A crash before the directory reaches the disk finds
     * the old file, whole up to the switch. */
    if (rc == LAYERDB_OK && ldb_os_sync_dir(path) != 0)
        (void)fail(c, LAYERDB_IOERR, "compaction: fsync the directory of '%s': %s", path);
    c->prepared_rc = rc;
    if (rc) return -1;
    *fd = c->tmp_fd;
    *file_end = c->tmp_end;
    *salt = c->salt;
    return 0;
}

/* Queue the SWITCH item: 32 bytes past the back-pressure bound at most,
 * so that this never waits under the lock. */
static int switch_locked(ldb_compactor *c) {
    ldb_writer *w = ldb_db_writer(c->db);
    int rc = ldb_writer_reserve_unbounded(w, LDB_WRITER_SWITCH_SIZE, c->msg, sizeof c->msg);
    if (rc) return rc;
    c->switch_at = ldb_writer_switch(w, &c->job);
    ldb_writer_finish(w);
    return LAYERDB_OK;
}

/* The last work under the lock, after success (moved_locked) or failure:
 * from here on writes plan the next compaction (db.c's compact_due). */
static int moved_locked(ldb_compactor *c) {
    atomic_store(&c->busy, 0);
    ldb_db_file_moved(c->db, c->tmp_fd, c->switch_at - c->tmp_end, c->salt);
    return 0;
}

static int switch_files(ldb_compactor *c) {
    ldb_writer *w = ldb_db_writer(c->db);
    char msg[sizeof c->msg];
    c->prepared_rc = -1;
    int rc = run_locked(c, switch_locked);
    if (rc) return rc;
    rc = ldb_writer_wait_switch(w, &c->job, msg, sizeof msg);
    if (c->prepared_rc == LAYERDB_OK) {
        /* Renamed: the new file is the database's, even if a write after
         * the switch failed (that error is the handle's now). */
        run_locked(c, moved_locked);
        ldb_os_close(c->old_fd);
        c->tmp_fd = -1;
        return LAYERDB_OK;
    }
    if (rc) snprintf(c->msg, sizeof c->msg, "compaction: %.1100s", msg);
    return rc ? rc : c->prepared_rc;
}

/* ---- The new file ---- */

/* Step 1. */
static int create_file(ldb_compactor *c) {
    const char *kind;
    long pid;
    snprintf(c->tmp_path, sizeof c->tmp_path, "%s%s", ldb_db_path(c->db), LDB_COMPACT_SUFFIX);
    if (ldb_os_open(c->tmp_path, 1, 1, &c->tmp_fd, &kind) != 0) {
        c->tmp_fd = -1;
        if (kind) errno = EEXIST;
        return fail(c, LAYERDB_IOERR, "compaction: create '%s': %s", c->tmp_path);
    }
    if (ldb_os_lock_writer(c->tmp_fd, &pid) != 0)
        return fail(c, LAYERDB_IOERR, "compaction: lock '%s': %s", c->tmp_path);
    unsigned char hdr[LDB_FILE_HEADER_SIZE];
    ldb_os_random(&c->salt, sizeof c->salt);
    ldb_logfmt_header_encode(hdr, c->salt);
    if (ldb_os_truncate(c->tmp_fd, 0) != 0 || ldb_os_pwrite_all(c->tmp_fd, hdr, sizeof hdr, 0) != 0)
        return fail(c, LAYERDB_IOERR, "compaction: write '%s': %s", c->tmp_path);
    c->tmp_end = sizeof hdr;
    return LAYERDB_OK;
}

static void remove_file(ldb_compactor *c) {
    if (c->tmp_fd < 0) return;
    (void)ldb_os_unlink(c->tmp_path);
    ldb_os_close(c->tmp_fd);
    c->tmp_fd = -1;
}

static int compact(ldb_compactor *c) {
    c->out.len = c->body.len = c->ncmds = 0;
    c->unsynced = 0;
    int rc = create_file(c);
    if (rc == LAYERDB_OK) rc = write_snapshot(c);
    if (rc == LAYERDB_OK) rc = catch_up(c);
    if (rc == LAYERDB_OK) rc = switch_files(c);
    remove_file(c); /* unless it is the database's now */
    ldb_buf_free(c->alloc, &c->out);
    ldb_buf_free(c->alloc, &c->body);
    ldb_buf_free(c->alloc, &c->rbuf);
    return rc;
}

static int failed_locked(ldb_compactor *c) {
    atomic_store(&c->busy, 0);
    ldb_db_compaction_failed(c->db);
    return 0;
}

static void *compact_main(void *arg) {
    ldb_compactor *c = arg;
    c->msg[0] = '\0';
    int rc = compact(c);
    if (rc) run_locked(c, failed_locked);
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->busy, 0);
    c->last_rc = rc;
    snprintf(c->last_msg, sizeof c->last_msg, "%s", c->msg);
    if (rc == LAYERDB_OK) c->done++;
    c->running = 0;
    c->run_finished++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- The handle's side ---- */

ldb_compactor *ldb_compactor_new(layerdb *db, ldb_alloc *a) {
    ldb_compactor *c = ldb_malloc(a, sizeof *c);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->job.prepare = prepare;
    c->db = db;
    c->alloc = a;
    c->tmp_fd = -1;
    atomic_init(&c->pending, 0);
    atomic_init(&c->busy, 0);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    return c;
}

void ldb_compactor_free(ldb_compactor *c) {
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_mutex_unlock(&c->mu);
    if (c->joinable) pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    ldb_free(c->alloc, c, sizeof *c);
}

int ldb_compactor_start(ldb_compactor *c, uint64_t *run, int *started, char *msg, size_t cap) {
    pthread_mutex_lock(&c->mu);
    int rc = LAYERDB_OK;
    *started = 0;
    if (!c->running && !c->stop) {
        if (c->joinable) pthread_join(c->thread, NULL); /* finished: running is 0 */
        c->joinable = 0;
        sigset_t all, saved;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved); /* as the writer thread */
        int err = pthread_create(&c->thread, NULL, compact_main, c);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (err) {
            snprintf(msg, cap, "cannot start a compaction thread: %s", strerror(err));
            rc = LAYERDB_IOERR;
        } else {
            c->joinable = c->running = *started = 1;
            atomic_store(&c->busy, 1);
            c->run_started++;
        }
    }
    *run = c->run_started;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int ldb_compactor_wait(ldb_compactor *c, uint64_t run, char *msg, size_t cap) {
    pthread_mutex_lock(&c->mu);
    while (c->run_finished < run) pthread_cond_wait(&c->cv, &c->mu);
    int rc = c->run_finished == run ? c->last_rc : LAYERDB_OK;
    if (rc) snprintf(msg, cap, "%s", c->last_msg);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void ldb_compactor_stats(ldb_compactor *c, uint64_t *done, int *running) {
    pthread_mutex_lock(&c->mu);
    *done = c->done;
    *running = c->running;
    pthread_mutex_unlock(&c->mu);
}
