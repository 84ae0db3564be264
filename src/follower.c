/* follower.c -- a read-only handle following a file that a writer may be
 * appending to: the tail reader, and the reload after a compaction.
 *
 * TAIL. A follower keeps its file open (fd), the offset where the last
 * whole record it applied ends, and the header's salt. A refresh replays
 * from that offset to the file's size now (ldb_replay in follow mode,
 * recovery.c), so it costs what was appended, not the file's size. The
 * replay applies whole records only, each all or nothing, and stops
 * quietly at a record the writer has not finished (cut by the end of the
 * file, or not yet whole in content); the next refresh starts there.
 * The follower never writes, truncates or locks the file: a torn tail
 * stays until a writer opens the file and cuts it, and then the records
 * that writer appends from the same offset are read as any others.
 *
 * RELOAD. Compaction writes a new file, fsyncs it and renames it over the
 * path; the old file gets no more writes. A refresh that finds the path
 * naming another file than fd (device and inode), or fd's file shorter
 * than the offset (rewritten in place), loads the file at the path from
 * its start into a fresh keyspace, then swaps that in. The two files are
 * never mixed: what is left of the old file's tail is not applied (the new
 * file holds it, or a later state). The load runs outside the handle's
 * lock, so until the swap other threads go on reading the old state; it
 * hashes keys as the old state did, so scan cursors carry across.
 *
 * Invariants:
 *  (1) offset is 0 while fd's header is not whole (nothing applied), or a
 *      record boundary of fd's file: the handle's keyspace holds exactly
 *      the records of fd's file before offset, in order.
 *  (2) salt is fd's header salt whenever offset > 0.
 *  (3) id holds fd's device and inode.
 *  (4) stale is set when (1) may not hold: a refresh failed inside a record
 *      (out of memory part way), leaving part of it applied. The next
 *      refresh reloads the whole file instead of replaying from offset.
 * LOCKS: f->lock serialises refreshes and guards every field but db, path
 *  and repair (fixed at open). Order: f->lock, then the handle's lock
 *  (ldb_db_lock). The handle's lock is held for writing while a tail is
 *  applied (other threads' reads of the handle wait for that, at most what
 *  was appended) and for the swap after a reload; never while a new file
 *  is loaded. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "db.h"
#include "follower.h"
#include "keyspace.h"
#include "os.h"
#include "recovery.h"

struct ldb_follower {
    layerdb *db;               /* the handle it fills (fixed) */
    const char *path;          /* the handle's copy of the path (fixed) */
    int repair;                /* opts->repair (fixed) */
    pthread_mutex_t lock;      /* see LOCKS */
    layerdb_client *replayer;  /* applies records; its ks says where */
    int fd;                    /* the file followed, opened read-only */
    ldb_file_id id;            /* invariant (3) */
    uint64_t offset;           /* invariant (1) */
    uint64_t salt;             /* invariant (2) */
    int stale;                 /* invariant (4) */
};

/* Open 'path' read-only: fd and its identity, or an engine code and msg. */
static int open_path(const char *path, int *fd, ldb_file_id *id, char *msg, size_t cap) {
    const char *kind;
    if (ldb_os_open(path, 0, 0, fd, &kind) != 0) {
        int err = errno;
        if (kind) {
            snprintf(msg, cap, "'%s' is not a regular file (it is %s)", path, kind);
            return LAYERDB_NOTDB;
        }
        if (err == ENOENT)
            snprintf(msg, cap, "no such database file '%s' (%s); a read-only open never creates one",
                     path, strerror(err));
        else
            snprintf(msg, cap, "open '%s': %s", path, strerror(err));
        return LAYERDB_IOERR;
    }
    if (ldb_os_fd_id(*fd, id) != 0) {
        snprintf(msg, cap, "stat '%s': %s", path, strerror(errno));
        ldb_os_close(*fd);
        *fd = -1;
        return LAYERDB_IOERR;
    }
    return LAYERDB_OK;
}

/* Replay fd's file from 'from' (0: from its header) into ks, or into the
 * handle's keyspace when ks is NULL (f->lock held). */
static int replay(ldb_follower *f, int fd, uint64_t from, ldb_keyspace *ks, ldb_recovery *rec,
                  char *msg, size_t cap) {
    ldb_replay_opts o = {.from = from, .salt = f->salt, .repair = f->repair, .follow = 1};
    f->replayer->ks = ks;
    int rc = ldb_replay(fd, f->path, ldb_db_alloc(f->db), &o, ldb_client_replay, f->replayer, rec,
                        msg, cap);
    f->replayer->ks = NULL;
    return rc;
}

/* ---- Tail ---- */

/* Apply the records appended since f->offset (f->lock held). Even on an
 * error the records before rec.good_end were applied: the offset moves. */
static int follow_tail(ldb_follower *f, uint64_t *records, char *msg, size_t cap) {
    ldb_recovery rec;
    ldb_db_lock(f->db);
    int rc = replay(f, f->fd, f->offset, NULL, &rec, msg, cap);
    ldb_db_unlock(f->db);
    assert(rec.good_end >= f->offset); /* invariant (1): forward only */
    f->offset = rec.good_end;
    if (rec.good_end > 0) f->salt = rec.salt;
    f->stale = rec.in_part;
    *records = rec.records;
    return rc;
}

/* ---- Reload ---- */

/* Does the path name another file than fd now, or did fd's file shrink
 * below what was applied (f->lock held)? A path that is gone or cannot be
 * read is not a new file: the follower goes on with fd's. */
static int replaced(const ldb_follower *f) {
    ldb_file_id now;
    if (ldb_os_path_id(f->path, &now) != 0) return 0;
    if (now.dev != f->id.dev || now.ino != f->id.ino) return 1;
    return ldb_os_fd_id(f->fd, &now) == 0 && now.size < f->offset;
}

/* Put ks in the handle's place; ks gets the old keyspace, to be freed
 * without the lock. */
static void swap_keyspace(ldb_follower *f, ldb_keyspace *ks) {
    ldb_db_lock(f->db);
    ldb_keyspace *mine = ldb_db_keyspace(f->db);
    ldb_keyspace old = *mine;
    *mine = *ks;
    *ks = old;
    ldb_db_unlock(f->db);
}

/* Load the file the path names now into a fresh keyspace and swap it in,
 * with its fd, offset and salt (f->lock held). On failure nothing of the
 * follower changes: it keeps the old file and state. */
static int reload(ldb_follower *f, uint64_t *records, char *msg, size_t cap) {
    int fd;
    ldb_file_id id;
    int rc = open_path(f->path, &fd, &id, msg, cap);
    if (rc) return rc;
    /* The hash seed of the state it replaces (fixed since the open, so
     * read without the handle's lock): a scan cursor is a hash value, so a
     * scan (layerdb_scan, SCAN, db:pairs) running across the swap still
     * visits each key present in both states once. */
    uint64_t seed = ldb_db_keyspace(f->db)->keys[0].seed;
    ldb_keyspace fresh;
    ldb_ks_init(&fresh, ldb_db_alloc(f->db), seed);
    ldb_recovery rec;
    rc = replay(f, fd, 0, &fresh, &rec, msg, cap);
    if (rc) {
        ldb_ks_free(&fresh);
        ldb_os_close(fd);
        return rc;
    }
    swap_keyspace(f, &fresh);
    ldb_ks_free(&fresh); /* the old state */
    ldb_os_close(f->fd);
    f->fd = fd;
    f->id = id;
    f->offset = rec.good_end;
    f->salt = rec.salt;
    f->stale = 0;
    *records = rec.records;
    return LAYERDB_OK;
}

/* ---- Entry points ---- */

int ldb_follower_open(ldb_follower **out, layerdb *db, const char *path, int repair,
                      uint64_t *records, char *msg, size_t cap) {
    *out = NULL;
    *records = 0;
    ldb_follower *f = ldb_calloc(ldb_db_alloc(db), sizeof *f);
    if (!f) {
        snprintf(msg, cap, "out of memory opening '%s'", path);
        return LAYERDB_NOMEM;
    }
    f->db = db;
    f->path = path;
    f->repair = repair;
    f->fd = -1;
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        ldb_free(ldb_db_alloc(db), f, sizeof *f);
        snprintf(msg, cap, "cannot create a mutex");
        return LAYERDB_NOMEM;
    }
    int rc = LAYERDB_OK;
    if (!(f->replayer = ldb_client_new(db, 1))) {
        snprintf(msg, cap, "out of memory opening '%s'", path);
        rc = LAYERDB_NOMEM;
    }
    if (rc == LAYERDB_OK) rc = open_path(path, &f->fd, &f->id, msg, cap);
    if (rc == LAYERDB_OK) rc = follow_tail(f, records, msg, cap); /* from the header */
    if (rc) {
        ldb_follower_close(f);
        return rc;
    }
    *out = f;
    return LAYERDB_OK;
}

int ldb_follower_refresh(ldb_follower *f, uint64_t *records, char *msg, size_t cap) {
    *records = 0;
    pthread_mutex_lock(&f->lock);
    int rc = f->stale || replaced(f) ? reload(f, records, msg, cap)
                                     : follow_tail(f, records, msg, cap);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

void ldb_follower_close(ldb_follower *f) {
    if (!f) return;
    ldb_alloc *a = ldb_db_alloc(f->db);
    layerdb_client_free(f->replayer);
    ldb_os_close(f->fd);
    pthread_mutex_destroy(&f->lock);
    ldb_free(a, f, sizeof *f);
}
