/* walk.c -- visiting every key of a handle through the public command API,
 * as a Redis client would: per database SELECT, then SCAN with COUNT, and
 * for each key TYPE and PEXPIRETIME. So the tool sees every type the
 * command table knows, with no knowledge of the keyspace's layout.
 *
 * Databases are found by SELECTing 0, 1, 2, ... until one is refused (up
 * to TOOL_MAX_DBS); empty ones (DBSIZE 0) are skipped. The handle is not
 * changed while walking (the subcommands open it read-only, or it is a
 * private in-memory copy), so SCAN visits every key exactly once; a key
 * that expires meanwhile answers TYPE "none" and is skipped.
 * Also here: counting keys per database and type (the census). */
#include <stdio.h>
#include <string.h>

#include "tool.h"

#define SCAN_COUNT "1000" /* keys asked of each SCAN */

layerdb_reply *tool_run(const tool_opts *o, layerdb_client *c, int argc, const char *const *argv,
                        const size_t *lens) {
    layerdb_reply *r = NULL;
    int rc = layerdb_client_command(c, argc, (const char **)argv, lens, &r);
    if (rc == LAYERDB_OK) return r;
    tool_fail(o, "%s failed: %s", argv[0], layerdb_strerror(rc));
    return NULL;
}

/* A command whose reply must be an integer: 0 with *v, or TOOL_FAILED. */
static int run_int(const tool_opts *o, layerdb_client *c, int argc, const char *const *argv,
                   const size_t *lens, long long *v) {
    layerdb_reply *r = tool_run(o, c, argc, argv, lens);
    if (!r) return TOOL_FAILED;
    int ok = r->type == LAYERDB_REPLY_INTEGER;
    if (ok) *v = r->integer;
    else tool_fail(o, "%s: unexpected reply (%.*s)", argv[0], (int)r->len, r->str ? r->str : "");
    layerdb_reply_free(r);
    return ok ? TOOL_OK : TOOL_FAILED;
}

int tool_select(const tool_opts *o, layerdb_client *c, int dbi) {
    char num[16];
    const char *argv[2] = {"SELECT", num};
    snprintf(num, sizeof num, "%d", dbi);
    layerdb_reply *r = tool_run(o, c, 2, argv, NULL);
    if (!r) return -1;
    int rc = r->type == LAYERDB_REPLY_ERROR ? 1 : 0;
    layerdb_reply_free(r);
    return rc;
}

/* The databases with keys into dbs[] (their count), and the keys in all. */
static int find_databases(const tool_opts *o, layerdb_client *c, int *dbs, int *n,
                          uint64_t *keys) {
    static const char *const dbsize[1] = {"DBSIZE"};
    *n = 0;
    *keys = 0;
    for (int i = 0; i < TOOL_MAX_DBS; i++) {
        long long size;
        int rc = tool_select(o, c, i);
        if (rc < 0) return TOOL_FAILED;
        if (rc > 0) break; /* past the last database */
        if (run_int(o, c, 1, dbsize, NULL, &size) != TOOL_OK) return TOOL_FAILED;
        if (size > 0) { dbs[(*n)++] = i; *keys += (uint64_t)size; }
    }
    return TOOL_OK;
}

/* TYPE and PEXPIRETIME of one key into k; TOOL_GONE if it is gone. */
static int describe_key(const tool_opts *o, layerdb_client *c, tool_key *k, char *type,
                        size_t cap) {
    const char *argv[2] = {"TYPE", k->key};
    size_t lens[2] = {4, k->klen};
    layerdb_reply *r = tool_run(o, c, 2, argv, lens);
    if (!r) return TOOL_FAILED;
    int ok = r->type == LAYERDB_REPLY_STATUS;
    snprintf(type, cap, "%.*s", ok ? (int)r->len : 0, ok ? r->str : "");
    layerdb_reply_free(r);
    if (!ok) return tool_fail(o, "TYPE: unexpected reply");
    if (strcmp(type, "none") == 0) return TOOL_GONE;
    long long when;
    argv[0] = "PEXPIRETIME";
    lens[0] = 11;
    if (run_int(o, c, 2, argv, lens, &when) != TOOL_OK) return TOOL_FAILED;
    if (when == -2) return TOOL_GONE;
    k->type = type;
    k->expire_at_ms = when;
    return TOOL_OK;
}

typedef struct walk {
    const tool_opts *o;
    layerdb_client *c;
    tool_key_fn fn;
    void *ud;
    tool_progress progress;
    uint64_t visited;
} walk;

/* Visit the keys of one SCAN reply's array. */
static int visit_keys(walk *w, int dbi, const layerdb_reply *keys) {
    for (size_t i = 0; i < keys->elements; i++) {
        const layerdb_reply *e = keys->element[i];
        char type[32];
        tool_key k = {.db = dbi, .key = e->str, .klen = e->len};
        int rc = describe_key(w->o, w->c, &k, type, sizeof type);
        if (rc == TOOL_OK) rc = w->fn(w->ud, w->c, &k);
        if (rc != TOOL_OK && rc != TOOL_GONE) return rc;
        tool_progress_set(&w->progress, ++w->visited);
    }
    return TOOL_OK;
}

static int walk_db(walk *w, int dbi) {
    char cursor[32] = "0";
    const char *argv[4] = {"SCAN", cursor, "COUNT", SCAN_COUNT};
    if (tool_select(w->o, w->c, dbi) != 0) return tool_fail(w->o, "SELECT %d failed", dbi);
    do {
        layerdb_reply *r = tool_run(w->o, w->c, 4, argv, NULL);
        if (!r) return TOOL_FAILED;
        if (r->type != LAYERDB_REPLY_ARRAY || r->elements != 2 ||
            r->element[1]->type != LAYERDB_REPLY_ARRAY) {
            layerdb_reply_free(r);
            return tool_fail(w->o, "SCAN: unexpected reply");
        }
        snprintf(cursor, sizeof cursor, "%.*s", (int)r->element[0]->len, r->element[0]->str);
        int rc = visit_keys(w, dbi, r->element[1]);
        layerdb_reply_free(r);
        if (rc != TOOL_OK) return rc;
    } while (strcmp(cursor, "0") != 0);
    return TOOL_OK;
}

int tool_walk(const tool_opts *o, layerdb *db, tool_key_fn fn, void *ud) {
    walk w = {.o = o, .fn = fn, .ud = ud};
    int dbs[TOOL_MAX_DBS], n, rc;
    uint64_t keys;
    if (!(w.c = layerdb_client_new(db))) return tool_fail(o, "out of memory");
    rc = find_databases(o, w.c, dbs, &n, &keys);
    tool_progress_start(&w.progress, o, "keys", keys);
    for (int i = 0; rc == TOOL_OK && i < n; i++) rc = walk_db(&w, dbs[i]);
    tool_progress_end(&w.progress);
    layerdb_client_free(w.c);
    return rc;
}

int tool_walk_file(const tool_opts *o, tool_key_fn fn, void *ud, tool_file *f) {
    tool_verify v;
    int rc = tool_verify_file(o, &v);
    if (rc != TOOL_OK) return rc;
    *f = v.file;
    if (v.rc == LAYERDB_CORRUPT)
        rc = tool_fail(o, "%s\n(see 'layerdb check %s'; 'layerdb repair' cuts the file there)",
                       v.msg, o->file);
    else if (v.rc != LAYERDB_OK)
        rc = tool_fail(o, "%s", v.msg);
    else
        rc = tool_walk(o, v.mem, fn, ud);
    tool_verify_free(&v);
    return rc;
}

/* ---- Keys per database and type ---- */

void tool_census_add(tool_census *cs, const tool_key *k) {
    if (k->db < 0 || k->db >= TOOL_MAX_DBS) return;
    cs->keys++;
    cs->db[k->db].keys++;
    if (k->expire_at_ms >= 0) cs->db[k->db].with_ttl++;
    for (int i = 0; i < TOOL_MAX_TYPES; i++) {
        char *name = cs->db[k->db].types[i].name;
        if (name[0] && strcmp(name, k->type) != 0) continue;
        if (!name[0]) snprintf(name, sizeof cs->db[k->db].types[i].name, "%s", k->type);
        cs->db[k->db].types[i].n++;
        return;
    }
}

void tool_census_print(FILE *out, const tool_census *cs) {
    if (cs->keys == 0) fprintf(out, "    (none)\n");
    for (int d = 0; d < TOOL_MAX_DBS; d++) {
        if (!cs->db[d].keys) continue;
        fprintf(out, "    db %d: %llu key%s (", d, (unsigned long long)cs->db[d].keys,
                cs->db[d].keys == 1 ? "" : "s");
        for (int i = 0; i < TOOL_MAX_TYPES && cs->db[d].types[i].name[0]; i++)
            fprintf(out, "%s%s %llu", i ? ", " : "", cs->db[d].types[i].name,
                    (unsigned long long)cs->db[d].types[i].n);
        fprintf(out, "), %llu with a deadline\n", (unsigned long long)cs->db[d].with_ttl);
    }
}

static int count_key(void *ud, layerdb_client *c, const tool_key *k) {
    (void)c;
    tool_census_add(ud, k);
    return TOOL_OK;
}

int tool_census_take(const tool_opts *o, layerdb *db, tool_census *cs) {
    memset(cs, 0, sizeof *cs);
    return tool_walk(o, db, count_key, cs);
}
