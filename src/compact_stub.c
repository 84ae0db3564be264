/* compact_stub.c -- a stand-in for layerdb_compact until the compaction
 * engine lands: it refuses with LAYERDB_INVALID and says so, so the admin
 * tool (layerdb compact) and its tests can be built against the final
 * signature. Delete this file when the real layerdb_compact is merged. */
#include "db.h"

int layerdb_compact(layerdb *db, int flags) {
    (void)flags;
    int rc = ldb_db_check_open(db);
    if (rc) return rc;
    return ldb_db_error(db, LAYERDB_INVALID, "compaction is not built yet");
}
