/* repair.c -- layerdb repair FILE [--force]: cut FILE at its first bad
 * record, keeping a backup.
 *
 * Steps, each one only if the one before succeeded:
 *  (1) refuse a file a writer holds (naming the process);
 *  (2) replay it into memory (verify.c) to find the first bad record; a
 *      clean file is left alone, with no backup made;
 *  (3) copy it to FILE.bak, whole or not at all (file.c); an existing
 *      FILE.bak is refused unless --force, so a second repair never
 *      overwrites the only copy of the original bytes;
 *  (4) open it writable with the repair option: the engine truncates at
 *      the first bad record and fsyncs. The report's figures come from
 *      that open (layerdb_info), so they describe what was done.
 * A writer that starts between (1) and (4) makes the open fail with
 * LAYERDB_LOCKED, the file untouched; so does a record that applies only
 * in part (LAYERDB_CORRUPT even under repair: only a bug or a crafted
 * file makes one). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tool.h"

/* Step (3). */
static int backup(const tool_opts *o, const tool_verify *v, char *bak, size_t cap) {
    struct stat st;
    tool_progress p;
    if ((size_t)snprintf(bak, cap, "%s.bak", o->file) >= cap) return tool_fail(o, "path too long");
    if (lstat(bak, &st) == 0 && !o->force)
        return tool_fail(o, "the backup '%s' exists already: move it away, or use --force to "
                         "replace it", bak);
    tool_progress_start(&p, o, NULL, v->file.size);
    int rc = tool_copy_file(o, o->file, bak, &p);
    tool_progress_end(&p);
    return rc;
}

/* Step (4), then the report. */
static int cut(const tool_opts *o, const tool_verify *v, const char *bak) {
    layerdb_options opts;
    layerdb_info info;
    layerdb *db;
    layerdb_options_init(&opts);
    opts.repair = 1;
    int rc = layerdb_open(&db, o->file, &opts);
    if (rc == LAYERDB_OK) rc = layerdb_info_get(db, &info);
    if (rc != LAYERDB_OK) {
        tool_db_fail(o, db, rc);
        layerdb_close(db);
        return tool_fail(o, "'%s' is unchanged; the backup '%s' is a copy of it", o->file, bak);
    }
    rc = layerdb_close(db);
    if (rc != LAYERDB_OK) return tool_fail(o, "closing '%s': %s", o->file, layerdb_strerror(rc));
    const ldb_recovery *rec = &v->rec;
    int whole = rec->bad_kind == LDB_BAD_CONTENT; /* the bad record itself checked out */
    if (rec->needs_init) { /* the open wrote a fresh header over the stub */
        printf("Repaired %s: its header was cut short (%llu of %d bytes); it is now an empty "
               "database\nThe original is in %s\n", o->file, (unsigned long long)v->file.size,
               LDB_FILE_HEADER_SIZE, bak);
        return TOOL_OK;
    }
    printf("Repaired %s: cut at offset %llu, dropping %llu byte%s", o->file,
           (unsigned long long)(v->file.size - info.dropped_bytes),
           (unsigned long long)info.dropped_bytes, info.dropped_bytes == 1 ? "" : "s");
    if (rec->bad_kind == LDB_BAD_CUT)
        printf(": a record cut short by the end of the file");
    else
        printf(": the bad record (%s) and %llu whole record%s after it",
               tool_bad_kind_text(rec->bad_kind), (unsigned long long)(rec->later_records + whole),
               rec->later_records + whole == 1 ? "" : "s");
    printf("\nKept %llu record%s; the original is in %s\n",
           (unsigned long long)info.replayed_records, info.replayed_records == 1 ? "" : "s", bak);
    return TOOL_OK;
}

int tool_repair(const tool_opts *o) {
    tool_file f;
    tool_verify v;
    char bak[4096];
    int rc = tool_file_probe(o, o->file, &f);
    if (rc == TOOL_OK) rc = tool_refuse_held(o, o->file, &f);
    if (rc == TOOL_OK) rc = tool_verify_file(o, &v);
    if (rc != TOOL_OK) return rc;
    tool_verify_free(&v); /* only the report is needed from here on */
    if (v.rc == LAYERDB_NOTDB || v.rc == LAYERDB_VERSION_MISMATCH)
        return tool_fail(o, "%s: nothing to cut", v.msg);
    if (v.rc == LAYERDB_OK && (v.rec.needs_init ? v.file.size == 0 : v.rec.good_end == v.file.size)) {
        printf("Nothing to repair: every record of %s is whole and valid\n", o->file);
        return TOOL_OK;
    }
    rc = backup(o, &v, bak, sizeof bak);
    return rc == TOOL_OK ? cut(o, &v, bak) : rc;
}
