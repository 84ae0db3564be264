/* check.c -- layerdb check FILE: verify every record and report.
 *
 *   File: game.db
 *     Size: 1048576 bytes (1.0 MiB)
 *     Records: 10234
 *     Keys: 1020
 *       db 0: 1000 keys (string 1000), 12 with a deadline
 *     Status: clean
 *
 * The verdict, and the exit status (0 clean, 1 damaged):
 *  - clean: every record whole and valid (an empty file, with no header
 *    yet, too: the first open writes one);
 *  - torn tail at offset X: the file ends inside a record, or bad bytes
 *    follow the last fsync, as a crash leaves it. Damaged (1) when no
 *    writer holds the file; when one does, those bytes are most likely the
 *    record it is writing right now, and the file counts as clean (0);
 *  - damaged at offset X: a bad record before data that was fsynced, or
 *    one that checks out but does not replay (1);
 *  - not a layerdb file, or a newer format: reported as an error (1).
 * Counts come from the records before the first bad one (verify.c). */
#include <stdio.h>

#include "tool.h"

static void print_torn(const tool_opts *o, const tool_verify *v, int held) {
    const ldb_recovery *rec = &v->rec;
    uint64_t tail = v->file.size - rec->good_end;
    if (held) {
        printf("  Status: clean; the last %llu bytes, from offset %llu, are not a whole record "
               "yet: the writer is appending\n", (unsigned long long)tail,
               (unsigned long long)rec->good_end);
        return;
    }
    if (rec->needs_init) {
        printf("  Status: torn tail at offset 0: the header is cut short (%llu of %d bytes), as a "
               "crash while creating the file leaves it\n", (unsigned long long)v->file.size,
               LDB_FILE_HEADER_SIZE);
        return;
    }
    printf("  Status: torn tail at offset %llu: the last %llu bytes are not a whole record (%s), "
           "as a crash while writing leaves it", (unsigned long long)rec->good_end,
           (unsigned long long)tail, tool_bad_kind_text(rec->bad_kind));
    if (rec->later_records)
        printf("; %llu whole record%s after it, which no fsync vouches for",
               (unsigned long long)rec->later_records, rec->later_records == 1 ? "" : "s");
    printf("\n  Opening it for writing, or 'layerdb repair %s', cuts the tail off\n", o->file);
}

static void print_damage(const tool_opts *o, const tool_verify *v) {
    const ldb_recovery *rec = &v->rec;
    printf("  Status: damaged at offset %llu: %s; %llu whole record%s after it, %llu bytes to "
           "the end of the file\n", (unsigned long long)rec->bad_offset,
           tool_bad_kind_text(rec->bad_kind), (unsigned long long)rec->later_records,
           rec->later_records == 1 ? "" : "s", (unsigned long long)(v->file.size - rec->bad_offset));
    if (rec->bad_kind == LDB_BAD_CONTENT) printf("  Detail: %s\n", v->msg);
    printf("  'layerdb repair %s' cuts the file at offset %llu, keeping a backup\n", o->file,
           (unsigned long long)rec->bad_offset);
}

/* The verdict line(s); returns the exit status. */
static int print_status(const tool_opts *o, const tool_verify *v) {
    const ldb_recovery *rec = &v->rec;
    if (v->rc == LAYERDB_CORRUPT) {
        print_damage(o, v);
        return TOOL_FAILED;
    }
    if (rec->needs_init && v->file.size == 0) {
        printf("  Status: clean (empty: no header yet; the first open writes one)\n");
        return TOOL_OK;
    }
    if (!rec->needs_init && rec->good_end == v->file.size) {
        printf("  Status: clean\n");
        return TOOL_OK;
    }
    print_torn(o, v, v->file.held);
    return v->file.held ? TOOL_OK : TOOL_FAILED;
}

int tool_check(const tool_opts *o) {
    tool_verify v;
    tool_census cs;
    int rc = tool_verify_file(o, &v);
    if (rc != TOOL_OK) return rc;
    if (v.rc == LAYERDB_NOTDB || v.rc == LAYERDB_VERSION_MISMATCH) {
        tool_print_file(o->file, &v.file);
        printf("  Status: %s\n", v.rc == LAYERDB_NOTDB ? "not a layerdb file" : "a newer format");
        tool_verify_free(&v);
        return tool_fail(o, "%s", v.msg);
    }
    rc = tool_census_take(o, v.mem, &cs);
    if (rc == TOOL_OK) {
        tool_print_file(o->file, &v.file);
        printf("  Records: %llu%s\n", (unsigned long long)v.rec.records,
               v.rc == LAYERDB_CORRUPT ? " before the damage" : "");
        printf("  Keys: %llu\n", (unsigned long long)cs.keys);
        tool_census_print(stdout, &cs);
        rc = print_status(o, &v);
    }
    tool_verify_free(&v);
    return rc;
}
