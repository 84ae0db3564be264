/* recovery.h -- replaying a log file: at open, and as a follower catching
 * up on what a writer appended (follower.c). See recovery.c. */
#ifndef LDB_RECOVERY_H
#define LDB_RECOVERY_H

#include <stdint.h>

#include "alloc.h"
#include "log_format.h"

/* Called for each command of each record, first with dry_run = 1 for every
 * command of a record (to refuse unknown commands before applying any: a
 * record applies all-or-nothing), then with argc = 0 (and argv NULL) to
 * say that the record's commands follow, then with dry_run = 0 for each. Returns LAYERDB_OK,
 * LAYERDB_CORRUPT (unknown command: msg says which) or LAYERDB_NOMEM. */
typedef int (*ldb_replay_fn)(void *ud, int dry_run, size_t argc, const ldb_slice *argv,
                             char *msg, size_t msg_cap);

typedef struct ldb_recovery {
    uint64_t file_size;   /* bytes in the file at open */
    uint64_t good_end;    /* end of the last whole, valid record */
    uint64_t records;     /* COMMANDS records replayed */
    uint64_t marked_end;  /* largest offset a SYNCED record vouches for */
    int needs_init;       /* empty file, or a header cut short by a crash
                             while creating it: write a fresh header */
    int repaired;         /* good_end < file_size because of opts.repair */
    uint64_t salt;        /* the header's checksum seed (unset if needs_init) */
    int in_part;          /* the replay failed inside a record, some of whose
                             commands had been applied (out of memory, or a
                             command refused after others of its record) */
    /* The first bad record, for reports (layerdb check, repair): */
    int bad_kind;         /* enum ldb_bad_kind; LDB_BAD_NONE if none */
    uint64_t bad_offset;  /* where it starts */
    uint64_t later_records; /* whole COMMANDS records found after it (not
                             counted for a torn tail cut by the end of the
                             file): what truncating there drops besides it */
} ldb_recovery;

/* What was wrong with the first bad record. A bad length or checksum may
 * still turn out to be a torn tail (nothing fsynced vouches for it): then
 * the result is LAYERDB_OK with good_end < file_size. */
enum ldb_bad_kind {
    LDB_BAD_NONE = 0,
    LDB_BAD_CUT,      /* the file ends inside it */
    LDB_BAD_LENGTH,   /* its length check fails */
    LDB_BAD_CHECKSUM, /* its body's checksum fails */
    LDB_BAD_CONTENT   /* it checks out, but its commands do not apply */
};

/* How ldb_replay reads the file. */
typedef struct ldb_replay_opts {
    uint64_t from;   /* 0: the whole file, header first. Otherwise a record
                        boundary an earlier replay of this file reached (its
                        good_end), and 'salt' is the header's salt */
    uint64_t salt;   /* with from > 0 */
    int repair;      /* a damaged record ends the replay there instead of
                        failing with LAYERDB_CORRUPT (rec->repaired) */
    int follow;      /* a writer may be appending right now: a bad record
                        that a later SYNCED record vouches for is read again
                        before it is called damage (recovery.c, "Following") */
} ldb_replay_opts;

/* Replay the records of the file in fd from o->from up to its size now
 * into fn. Returns LAYERDB_OK with rec filled in: good_end is the end of
 * the last whole, valid record (the next replay's 'from'; 0 if the header
 * is not whole yet, rec->needs_init), and good_end < file_size means a
 * torn tail, or in follow mode also a record still being written. Or
 * LAYERDB_NOTDB, LAYERDB_VERSION_MISMATCH, LAYERDB_CORRUPT, LAYERDB_IOERR,
 * LAYERDB_NOMEM with msg naming the file and offset; then the records
 * before good_end have been applied (good_end is o->from when none was),
 * and with rec->in_part part of the one at good_end too. Never writes to
 * the file. */
LDB_INTERNAL int ldb_replay(int fd, const char *path, ldb_alloc *a, const ldb_replay_opts *o,
                            ldb_replay_fn fn, void *ud, ldb_recovery *rec, char *msg,
                            size_t msg_cap);

/* ldb_replay of the whole file, not following: the open of a writer (and
 * the tests). Replay the file in fd into fn. Returns LAYERDB_OK with rec filled in
 * (good_end < file_size means a torn tail to cut), or LAYERDB_NOTDB,
 * LAYERDB_VERSION_MISMATCH, LAYERDB_CORRUPT, LAYERDB_IOERR, LAYERDB_NOMEM
 * with msg naming the file and offset. Never writes to the file. */
LDB_INTERNAL int ldb_recover(int fd, const char *path, ldb_alloc *a, int repair,
                             ldb_replay_fn fn, void *ud, ldb_recovery *rec, char *msg,
                             size_t msg_cap);

#endif
