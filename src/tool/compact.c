/* compact.c -- layerdb compact FILE: rewrite FILE with only its live data
 * (layerdb_compact, waiting for it to finish) and report the sizes.
 *
 * Only a file no writer holds: the tool opens it writable, which takes
 * the writer lock, so a running application is never raced; it compacts
 * its own file. Opening writable also cuts a torn tail, as any writer's
 * open does; a damaged file is refused (repair it first). */
#include <stdio.h>

#include "tool.h"

static void print_sizes(const tool_opts *o, uint64_t before, uint64_t after) {
    char b[32], a[32];
    tool_human_bytes(b, sizeof b, before);
    tool_human_bytes(a, sizeof a, after);
    printf("Compacted %s: %llu bytes (%s) before, %llu bytes (%s) after", o->file,
           (unsigned long long)before, b, (unsigned long long)after, a);
    if (before > after && before > 0)
        printf(", %.1f%% smaller", 100.0 * (double)(before - after) / (double)before);
    printf("\n");
}

int tool_compact(const tool_opts *o) {
    tool_file before, after;
    layerdb *db;
    int rc = tool_file_probe(o, o->file, &before);
    if (rc == TOOL_OK) rc = tool_refuse_held(o, o->file, &before);
    if (rc != TOOL_OK) return rc;
    rc = layerdb_open(&db, o->file, NULL);
    if (rc == LAYERDB_OK) rc = layerdb_compact(db, LAYERDB_COMPACT_WAIT);
    if (rc != LAYERDB_OK) {
        tool_db_fail(o, db, rc);
        layerdb_close(db);
        return TOOL_FAILED;
    }
    rc = layerdb_close(db);
    if (rc != LAYERDB_OK) return tool_fail(o, "closing '%s': %s", o->file, layerdb_strerror(rc));
    rc = tool_file_probe(o, o->file, &after);
    if (rc == TOOL_OK) print_sizes(o, before.size, after.size);
    return rc;
}
