/* compact.h -- rewriting the log without its dead records, in the
 * background, while the application goes on reading and writing. See the
 * DESIGN comment in compact.c. One compactor per handle that writes a file. */
#ifndef LDB_COMPACT_H
#define LDB_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

typedef struct ldb_compactor ldb_compactor;

/* NULL without memory. */
LDB_INTERNAL ldb_compactor *ldb_compactor_new(layerdb *db, ldb_alloc *a);
/* Cancel a compaction that runs (its new file is removed), wait for its
 * thread, free everything. Call before the writer stops. NULL is fine. */
LDB_INTERNAL void ldb_compactor_free(ldb_compactor *c);

/* Start a compaction in the background unless one runs already (then
 * *started is 0). *run gets the number of the one that runs now, for
 * ldb_compactor_wait. LAYERDB_OK, or LAYERDB_IOERR (no thread) with msg.
 * Once it has done its work under the handle's lock, it calls
 * ldb_db_file_moved or ldb_db_compaction_failed there. */
LDB_INTERNAL int ldb_compactor_start(ldb_compactor *c, uint64_t *run, int *started, char *msg,
                                     size_t cap);
/* Wait until compaction number 'run' has finished: LAYERDB_OK if it did
 * its work, or its error with msg. */
LDB_INTERNAL int ldb_compactor_wait(ldb_compactor *c, uint64_t run, char *msg, size_t cap);
/* Compactions done (whole), and whether one runs now. */
LDB_INTERNAL void ldb_compactor_stats(ldb_compactor *c, uint64_t *done, int *running);

/* For db.c, in a write (the handle's lock held for writing): run what the
 * compaction thread waits to do under the lock, if anything. */
LDB_INTERNAL void ldb_compactor_attend(ldb_compactor *c);
/* 1 from the start of a compaction to its last work under the handle's
 * lock (set and cleared with the lock held). */
LDB_INTERNAL int ldb_compactor_busy(ldb_compactor *c);

/* The name of the file a compaction writes before renaming it over the
 * database's: path + this suffix. */
#define LDB_COMPACT_SUFFIX ".compact"

#endif
