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

/* Appending a record, with cfg->lock held through both steps:
 * 1. ldb_writer_reserve makes room for a record of 'need' bytes
 *    (ldb_logfmt_command_record_size). While max_pending bytes wait it
 *    blocks, releasing the lock meanwhile. Returns LAYERDB_OK, the sticky
 *    error code (msg gets the text), LAYERDB_NOMEM, or LAYERDB_TOOBIG if
 *    'need' is SIZE_MAX (the record would pass LDB_MAX_BODY).
 * 2. ldb_writer_append, after the caller's change succeeded, appends the
 *    command and returns the record's end offset. It cannot fail.
 * The caller may give up between the two (its change failed). */
LDB_INTERNAL int ldb_writer_reserve(ldb_writer *w, size_t need, char *msg, size_t msg_cap);

/* ldb_writer_append's two halves: where the reserved record goes (after a
 * SYNCED record, if one is due), and queueing the record written there. */
LDB_INTERNAL unsigned char *ldb_writer_claim(ldb_writer *w);
LDB_INTERNAL uint64_t ldb_writer_commit(ldb_writer *w, size_t need);

/* Inline, so that the encoding happens where the command's name and
 * argument count are constants (see LDB_HOT_INLINE). */
LDB_HOT_INLINE uint64_t ldb_writer_append(ldb_writer *w, size_t need, size_t argc,
                                          const ldb_slice *argv) {
    ldb_logfmt_put_command_unsealed(ldb_writer_claim(w), need, argc, argv);
    return ldb_writer_commit(w, need);
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
