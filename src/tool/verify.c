/* verify.c -- replaying a file into memory for check and repair, with
 * everything the replay found: records, where the good part ends, and the
 * kind and offset of the first bad record.
 *
 * It runs recovery (ldb_recover, the code layerdb_open runs) on a
 * read-only descriptor into a private in-memory handle, so it takes no
 * lock and writes nothing: a live writer may hold the file. Unlike
 * layerdb_open it keeps what replayed when it meets damage, so check can
 * count the keys before it and repair can say what it keeps.
 *
 * Progress counts the bytes of the records replayed as the replay hands
 * over their commands (a record's frame and head, then each command's
 * encoded arguments). SYNCED records are not seen, so the count runs
 * slightly behind the file: a progress estimate, nothing more. */
#include <errno.h>
#include <string.h>

#include "command.h"
#include "os.h"
#include "tool.h"

typedef struct replay {
    layerdb_client *client; /* a replaying client of the in-memory handle */
    tool_progress progress;
    uint64_t bytes;         /* of records replayed, about */
} replay;

/* ldb_replay_fn: count, then replay as layerdb_open does. */
static int replay_counting(void *ud, int dry_run, size_t argc, const ldb_slice *argv, char *msg,
                           size_t cap) {
    replay *r = ud;
    if (!dry_run) {
        r->bytes += argc ? ldb_logfmt_args_size(argc, argv) : LDB_FRAME_SIZE + 2;
        tool_progress_set(&r->progress, r->bytes);
    }
    return ldb_client_replay(r->client, dry_run, argc, argv, msg, cap);
}

static int run_replay(const tool_opts *o, tool_verify *v, int fd) {
    replay r = {.client = ldb_client_new(v->mem, 1)};
    if (!r.client) return tool_fail(o, "out of memory");
    tool_progress_start(&r.progress, o, NULL, v->file.size);
    v->rc = ldb_recover(fd, o->file, ldb_db_alloc(v->mem), 0, replay_counting, &r, &v->rec,
                        v->msg, sizeof v->msg);
    tool_progress_end(&r.progress);
    layerdb_client_free(r.client);
    if (v->rc == LAYERDB_IOERR || v->rc == LAYERDB_NOMEM) return tool_fail(o, "%s", v->msg);
    return TOOL_OK;
}

int tool_verify_file(const tool_opts *o, tool_verify *v) {
    const char *kind;
    int fd, rc;
    memset(v, 0, sizeof *v);
    rc = tool_file_probe(o, o->file, &v->file);
    if (rc != TOOL_OK) return rc;
    if (ldb_os_open(o->file, 0, 0, &fd, &kind) != 0)
        return tool_fail(o, "open '%s': %s", o->file, kind ? kind : strerror(errno));
    rc = layerdb_open(&v->mem, NULL, NULL);
    if (rc == LAYERDB_OK) rc = run_replay(o, v, fd);
    else rc = tool_db_fail(o, v->mem, rc);
    ldb_os_close(fd);
    if (rc != TOOL_OK) tool_verify_free(v);
    return rc;
}

void tool_verify_free(tool_verify *v) {
    layerdb_close(v->mem);
    v->mem = NULL;
}

const char *tool_bad_kind_text(int kind) {
    switch (kind) {
    case LDB_BAD_CUT: return "the file ends inside it";
    case LDB_BAD_LENGTH: return "bad length check";
    case LDB_BAD_CHECKSUM: return "bad checksum";
    case LDB_BAD_CONTENT: return "its commands do not replay";
    default: return "bad record";
    }
}
