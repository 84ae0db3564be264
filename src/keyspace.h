/* keyspace.h -- the write commands, shared by live calls and log replay.
 *
 * Every change to the table is a command (an argv of byte strings) so the
 * log needs one record format for every write: layerdb_set logs
 * "SET key value", layerdb_remove logs "DEL key", and replay feeds the same
 * argv back through ldb_ks_replay. Later data types add commands here (and
 * in a command table), not record formats. */
#ifndef LDB_KEYSPACE_H
#define LDB_KEYSPACE_H

#include "log_format.h"
#include "table.h"

/* Put the string entry e (ldb_entry_create_string) into t, where h is
 * ldb_table_prepare of its key. On LAYERDB_OK t owns e, and the replaced
 * entry (or NULL) is in *replaced, still allocated, for the caller to
 * free. Returns LAYERDB_NOMEM with t unchanged (e is still the caller's). */
LDB_INTERNAL int ldb_ks_set(ldb_table *t, uint64_t h, ldb_entry *e, ldb_entry **replaced);

/* ldb_replay_fn for recovery: ud is the ldb_table. Knows SET and DEL. */
LDB_INTERNAL int ldb_ks_replay(void *ud, int dry_run, size_t argc, const ldb_slice *argv,
                               char *msg, size_t msg_cap);

#endif
