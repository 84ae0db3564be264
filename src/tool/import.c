/* import.c -- layerdb import FILE < data.jsonl: JSON lines, as export
 * writes them, into FILE (created if missing).
 *
 * Each line is parsed and checked whole (json.c: the syntax; here: the
 * members, the database, the type) before anything of it is applied, and
 * then applied as one command (keytypes.c's from_json: SET key value
 * [PXAT ms] for a string), replacing a key that exists. So a bad line
 * stops the import with exit status 1 and its number, and every line
 * before it stays imported (each write is as durable as the default fsync
 * policy makes it, and all are fsynced by the close). A key whose deadline
 * has passed is skipped and counted, as a loader of an old export would
 * expect; blank lines are skipped. SIGINT and SIGTERM stop it between
 * lines, closing the file properly.
 *
 * The file is opened writable, which takes the writer lock: a file that
 * another process holds is refused, naming it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "tool.h"

/* The members every line has, besides its type's own. */
static const char *const common_members[] = {"db", "key", "key_base64", "type", "expire_at_ms",
                                             NULL};

typedef struct importer {
    const tool_opts *o;
    layerdb_client *c;
    int db;              /* the client's SELECTed database */
    int64_t now_ms;      /* deadlines before this are skipped */
    uint64_t keys, with_ttl, expired;
} importer;

static int64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int line_error(char *err, size_t cap, const char *fmt, const char *arg) {
    snprintf(err, cap, fmt, arg);
    return -1;
}

/* The type named by the line into *t, its name into type (cap bytes). */
static int read_type(const tool_json_object *obj, const tool_type **t, char *type, size_t tcap,
                     char *err, size_t cap) {
    int i = tool_json_find(obj, "type");
    if (i < 0 || obj->m[i].kind != TOOL_JSON_STRING)
        return line_error(err, cap, "%s", "'type' must be there, a string such as \"string\"");
    tool_quote(type, tcap, obj->m[i].p, obj->m[i].len);
    *t = obj->m[i].len < tcap && !memchr(obj->m[i].p, '\0', obj->m[i].len) ? tool_type_find(type) : NULL;
    if (!*t || strcmp((*t)->name, type) != 0)
        return line_error(err, cap, "type '%s' cannot be imported (yet)", type);
    return 0;
}

/* The members common to every line into k; its type into *t. */
static int read_common(const tool_json_object *obj, tool_key *k, const tool_type **t, char *err,
                       size_t cap) {
    char type[32];
    int64_t db, when;
    int rc;
    if (read_type(obj, t, type, sizeof type, err, cap) != 0) return -1;
    k->type = (*t)->name;
    if ((rc = tool_json_int(obj, "db", &db, err, cap)) <= 0)
        return rc < 0 ? -1 : line_error(err, cap, "%s", "'db' must be there, a database number");
    if (db < 0 || db >= TOOL_MAX_DBS)
        return line_error(err, cap, "%s", "'db' is not a database number");
    k->db = (int)db;
    if ((rc = tool_json_bytes(obj, "key", &k->key, &k->klen, err, cap)) <= 0)
        return rc < 0 ? -1 : line_error(err, cap, "%s", "'key' or 'key_base64' must be there");
    if ((rc = tool_json_int(obj, "expire_at_ms", &when, err, cap)) < 0) return -1;
    if (rc == 1 && when <= 0)
        return line_error(err, cap, "%s", "'expire_at_ms' must be a positive number of ms");
    k->expire_at_ms = rc == 1 ? when : -1;
    return 0;
}

static int check_members(const tool_json_object *obj, const tool_type *t, char *err, size_t cap) {
    for (size_t i = 0; i < obj->n; i++) {
        if (tool_json_name_in(obj, i, common_members) || tool_json_name_in(obj, i, t->members))
            continue;
        snprintf(err, cap, "unknown member '%.*s' for a %s", (int)obj->m[i].name_len,
                 obj->m[i].name, t->name);
        return -1;
    }
    return 0;
}

/* Parse, check and apply one line: 0, or -1 with err set. */
static int import_line(importer *im, char *line, size_t len, char *err, size_t cap) {
    tool_json_object obj;
    tool_key k;
    const tool_type *t;
    if (tool_json_parse(line, len, &obj, err, cap) != 0 || read_common(&obj, &k, &t, err, cap) != 0 ||
        check_members(&obj, t, err, cap) != 0)
        return -1;
    if (k.expire_at_ms >= 0 && k.expire_at_ms <= im->now_ms) {
        im->expired++;
        return 0;
    }
    if (k.db != im->db) {
        int rc = tool_select(im->o, im->c, k.db);
        if (rc != 0) { snprintf(err, cap, "database %d does not exist", k.db); return -1; }
        im->db = k.db;
    }
    if (t->from_json(im->c, &k, &obj, err, cap) != 0) return -1;
    im->keys++;
    im->with_ttl += k.expire_at_ms >= 0;
    return 0;
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", s[i]) || !s[i]) return 0;
    return 1;
}

/* Every line of stdin into im: TOOL_OK or TOOL_FAILED. */
static int import_lines(importer *im) {
    char *line = NULL, err[512];
    size_t cap = 0, lineno = 0;
    uint64_t bytes = 0;
    ssize_t n;
    struct stat st;
    tool_progress p;
    int rc = TOOL_OK;
    tool_progress_start(&p, im->o, NULL, fstat(0, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
    while (rc == TOOL_OK && (n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        bytes += (uint64_t)n;
        if (n > 0 && line[n - 1] == '\n') n--; /* not part of the object */
        if (!blank(line, (size_t)n) && import_line(im, line, (size_t)n, err, sizeof err) != 0)
            rc = tool_fail(im->o, "line %zu: %s (%s)", lineno, err,
                           lineno > 1 ? "the lines before it are imported" : "nothing was imported");
        else if (tool_interrupted())
            rc = tool_fail(im->o, "interrupted after line %zu (the lines up to it are imported)", lineno);
        tool_progress_set(&p, bytes);
    }
    tool_progress_end(&p);
    if (rc == TOOL_OK && tool_interrupted()) /* while reading: no SA_RESTART */
        rc = tool_fail(im->o, "interrupted after line %zu (the lines up to it are imported)", lineno);
    if (rc == TOOL_OK && ferror(stdin)) rc = tool_fail(im->o, "read standard input: %s", strerror(errno));
    free(line);
    return rc;
}

int tool_import(const tool_opts *o) {
    importer im = {.o = o, .now_ms = now_ms()};
    tool_file f;
    layerdb *db;
    struct stat st;
    int rc = TOOL_OK;
    if (stat(o->file, &st) == 0) { /* a missing file is created by the open */
        rc = tool_file_probe(o, o->file, &f);
        if (rc == TOOL_OK) rc = tool_refuse_held(o, o->file, &f);
        if (rc != TOOL_OK) return rc;
    }
    rc = layerdb_open(&db, o->file, NULL);
    if (rc != LAYERDB_OK) {
        tool_db_fail(o, db, rc);
        layerdb_close(db);
        return TOOL_FAILED;
    }
    if (!(im.c = layerdb_client_new(db))) rc = tool_fail(o, "out of memory");
    tool_catch_signals();
    if (rc == TOOL_OK) rc = import_lines(&im);
    layerdb_client_free(im.c);
    int closed = layerdb_close(db);
    if (closed != LAYERDB_OK) return tool_fail(o, "closing '%s': %s", o->file, layerdb_strerror(closed));
    if (rc == TOOL_OK)
        printf("Imported %llu keys into %s (%llu with a deadline); skipped %llu whose deadline had "
               "passed\n", (unsigned long long)im.keys, o->file, (unsigned long long)im.with_ttl,
               (unsigned long long)im.expired);
    return rc;
}
