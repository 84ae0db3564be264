/* export.c -- layerdb export FILE [--format resp|jsonl]: every key of
 * every database to stdout.
 *
 * resp: the commands that recreate each key (keytypes.c's dump), encoded
 * as RESP arrays of bulk strings, binary-safe, which `redis-cli --pipe`
 * sends to a server as they are. The stream starts in database 0 and says
 * SELECT n before the first key of each other database it has keys in.
 * jsonl: one object per key, {"db":n,"key":...,"type":...,<value
 * members>,"expire_at_ms":ms}, with "_base64" members for bytes that are
 * not UTF-8 (json.c).
 *
 * The file is replayed read-only into memory (walk.c's tool_walk_file:
 * no lock, nothing written, so a live writer may hold it) and read
 * through the command API, so the export is the state of the file when
 * it was opened; a key that expires while the export
 * runs may be left out. Nothing is written for a key until its whole
 * value has been read. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

typedef struct exporter {
    tool_sink sink;      /* first: resp_command gets it back as this */
    const tool_opts *o;
    FILE *out;
    int db;              /* the database the RESP stream is in */
} exporter;

static void resp_write(FILE *out, int argc, const char *const *argv, const size_t *lens) {
    fprintf(out, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        fprintf(out, "$%zu\r\n", lens[i]);
        fwrite(argv[i], 1, lens[i], out);
        fputs("\r\n", out);
    }
}

static int resp_command(tool_sink *s, int argc, const char *const *argv, const size_t *lens) {
    resp_write(((exporter *)s)->out, argc, argv, lens);
    return TOOL_OK;
}

/* SELECT k's database in the stream if it is not the current one. */
static void resp_select(exporter *x, int db) {
    char num[16];
    const char *argv[2] = {"SELECT", num};
    size_t lens[2] = {6, (size_t)snprintf(num, sizeof num, "%d", db)};
    if (db == x->db) return;
    resp_write(x->out, 2, argv, lens);
    x->db = db;
}

static void json_line(FILE *out, const tool_type *t, const tool_key *k, const layerdb_reply *v) {
    fprintf(out, "{\"db\":%d", k->db);
    tool_json_bytes_member(out, "key", k->key, k->klen);
    fputs(",\"type\":", out);
    tool_json_write_string(out, k->type, strlen(k->type));
    t->to_json(k, v, out);
    if (k->expire_at_ms >= 0) fprintf(out, ",\"expire_at_ms\":%lld", (long long)k->expire_at_ms);
    fputs("}\n", out);
}

static int export_key(void *ud, layerdb_client *c, const tool_key *k) {
    exporter *x = ud;
    const tool_type *t = tool_type_find(k->type);
    layerdb_reply *v;
    if (!t) return tool_type_unknown(x->o, k, "export");
    int rc = t->fetch(x->o, c, k, &v);
    if (rc != TOOL_OK) return rc;
    if (x->o->jsonl) {
        json_line(x->out, t, k, v);
    } else {
        resp_select(x, k->db);
        rc = t->dump(k, v, &x->sink);
    }
    layerdb_reply_free(v);
    if (rc == TOOL_OK && ferror(x->out))
        rc = tool_fail(x->o, "write to standard output: %s", strerror(errno));
    return rc;
}

int tool_export(const tool_opts *o) {
    exporter x = {.sink = {resp_command}, .o = o, .out = stdout, .db = 0};
    tool_file f;
    int rc = tool_walk_file(o, export_key, &x, &f);
    if (rc == TOOL_OK && fflush(stdout) != 0)
        rc = tool_fail(o, "write to standard output: %s", strerror(errno));
    return rc;
}
