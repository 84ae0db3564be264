/* active_expire.h -- active expiry: reclaiming keys whose deadline has passed
 * without waiting for someone to touch them (active_expire.c). */
#ifndef LDB_ACTIVE_EXPIRE_H
#define LDB_ACTIVE_EXPIRE_H

#include "command.h"

#define LDB_EXPIRE_PERIOD_MS 100  /* a cycle runs at most this often (Redis's hz 10) */
#define LDB_EXPIRE_BUDGET_US 1000 /* and takes at most about this long */
#define LDB_EXPIRE_SAMPLES 20     /* keys sampled per round, as Redis's
                                     ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP */

/* Run a cycle if one is due: called by the executor after each write
 * command, under the lock, and by layerdb_expire. Every key reclaimed is
 * logged as a DEL record of its own. */
LDB_INTERNAL void ldb_expire_active(ldb_cmd_ctx *c);
/* Run a cycle now, due or not; returns the keys reclaimed. */
LDB_INTERNAL size_t ldb_expire_cycle(ldb_cmd_ctx *c);

#endif
