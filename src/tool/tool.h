/* tool.h -- what the files of the admin tool `layerdb` share.
 *
 * One file per concern: main.c (arguments, help, dispatch), one file per
 * subcommand (check.c, repair.c, compact.c, stats.c, export.c, import.c),
 * and their helpers: verify.c (replaying a file into memory with a full
 * report), walk.c (visiting every key through the command API), keytypes.c
 * (what each data type exports and imports), json.c and base64.c, file.c,
 * progress.c.
 *
 * Conventions:
 *  (1) A subcommand returns the exit status: TOOL_OK, TOOL_FAILED (after
 *      printing "layerdb: ..." on stderr with tool_fail) or TOOL_USAGE.
 *  (2) Results go to stdout; errors and progress to stderr only.
 *  (3) Read-only subcommands (check, stats, export) take no lock and write
 *      nothing; the others refuse a file that a writer holds, naming it.
 *  (4) Keys and values are byte strings: they are printed through
 *      tool_quote and never as C strings. */
#ifndef LDB_TOOL_H
#define LDB_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "layerdb.h"
#include "recovery.h"

enum { TOOL_OK = 0, TOOL_FAILED = 1, TOOL_USAGE = 2 };
#define TOOL_GONE (-1) /* not an exit status: the key expired meanwhile */

typedef struct tool_opts {
    const char *cmd;    /* the subcommand's name, for messages */
    const char *file;   /* the FILE argument */
    int quiet;          /* -q: no progress */
    int force;          /* repair --force: overwrite an old backup */
    int jsonl;          /* export --format jsonl (else resp) */
} tool_opts;

/* ---- main.c ---- */
/* Print "layerdb: <cmd>: <text>" on stderr; returns TOOL_FAILED. */
int tool_fail(const tool_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* From tool_catch_signals on, SIGINT and SIGTERM only set a flag that
 * tool_interrupted reads: a loop that writes stops and closes the file. */
void tool_catch_signals(void);
int tool_interrupted(void);

/* ---- The subcommands ---- */
int tool_check(const tool_opts *o);
int tool_repair(const tool_opts *o);
int tool_compact(const tool_opts *o);
int tool_stats(const tool_opts *o);
int tool_export(const tool_opts *o);
int tool_import(const tool_opts *o);

/* ---- progress.c: a status line on stderr ---- */
typedef struct tool_progress {
    int on;             /* drawing at all (stderr is a terminal, no -q) */
    const char *label;  /* the subcommand */
    const char *unit;   /* "keys", "lines"; NULL: bytes */
    uint64_t total;     /* 0 when unknown: no percentage, no time left */
    uint64_t done;
    double start_s;     /* monotonic clock at the start */
    double drawn_s;     /* when the line was last drawn */
    unsigned calls;     /* updates since the clock was last read */
    int width;          /* characters of the line on screen */
} tool_progress;

void tool_progress_start(tool_progress *p, const tool_opts *o, const char *unit,
                         uint64_t total);
void tool_progress_set(tool_progress *p, uint64_t done);
/* Erase the line (if drawn). */
void tool_progress_end(tool_progress *p);

/* ---- file.c ---- */
typedef struct tool_file {
    uint64_t size;      /* bytes */
    time_t mtime;       /* last modification: the last write */
    long holder;        /* the pid of the writer holding the file, 0 if
                           unknown; meaningful when held */
    int held;           /* a writer holds the file */
} tool_file;

/* Stat an existing regular file and ask who holds it, taking no lock.
 * TOOL_OK, or TOOL_FAILED after saying why. */
int tool_file_probe(const tool_opts *o, const char *path, tool_file *f);
/* TOOL_FAILED with "'x' is in use by process N" if a writer holds f. */
int tool_refuse_held(const tool_opts *o, const char *path, const tool_file *f);
/* Copy 'from' to 'to' (which must not exist), fsynced with its directory,
 * through 'to'.tmp and a rename, so that 'to' is whole or absent. */
int tool_copy_file(const tool_opts *o, const char *from, const char *to, tool_progress *p);
/* The lines that open check's and stats's reports: the file, its size,
 * and the writer holding it, if any. */
void tool_print_file(const char *path, const tool_file *f);
/* "1.5 MiB" */
void tool_human_bytes(char *buf, size_t cap, uint64_t n);
/* 'bytes' for a message, C-escaped and cut at cap (with "..."). */
void tool_quote(char *buf, size_t cap, const void *bytes, size_t n);
/* Print the error of a failed call on the handle; TOOL_FAILED. */
int tool_db_fail(const tool_opts *o, layerdb *db, int rc);

/* ---- verify.c: a file replayed into memory, with a full report ---- */
typedef struct tool_verify {
    tool_file file;     /* size, mtime, holder */
    int rc;             /* the replay's result: LAYERDB_OK (torn tail or
                           not), _CORRUPT, _NOTDB, _VERSION_MISMATCH */
    char msg[1024];     /* its message when rc != LAYERDB_OK */
    ldb_recovery rec;   /* records, where the good part ends, the first
                           bad record */
    layerdb *mem;       /* an in-memory handle holding what replayed: the
                           records before any bad one */
} tool_verify;

/* Replay o->file into v->mem the way layerdb_open reads it, but never
 * failing on a bad record: v->rc and v->rec say what was found. Takes no
 * lock, writes nothing. TOOL_OK (free v with tool_verify_free), or
 * TOOL_FAILED after saying why the file could not be read at all. */
int tool_verify_file(const tool_opts *o, tool_verify *v);
void tool_verify_free(tool_verify *v);
/* What was wrong with the first bad record: "bad checksum", ... */
const char *tool_bad_kind_text(int kind);

/* ---- walk.c: every key, through the command API ---- */
typedef struct tool_key {
    int db;               /* its database (SELECTed when fn runs) */
    const char *key;      /* bytes, klen of them */
    size_t klen;
    const char *type;     /* as TYPE replies it: "string", ... */
    int64_t expire_at_ms; /* deadline in ms since the epoch, -1 if none */
} tool_key;

/* Called for each live key with the client the walk uses (SELECTed on the
 * key's database). Returns TOOL_OK or TOOL_GONE (the key expired
 * meanwhile) to go on, or an exit status to stop. */
typedef int (*tool_key_fn)(void *ud, layerdb_client *c, const tool_key *k);

/* Visit every key of every database with SCAN, TYPE and PEXPIRETIME,
 * progress counted in keys. TOOL_OK or the first other status. */
int tool_walk(const tool_opts *o, layerdb *db, tool_key_fn fn, void *ud);

/* tool_walk over o->file replayed into memory (tool_verify_file: no
 * lock, nothing written, progress in bytes while it replays), its probe
 * into *f. A damaged file is refused, pointing at check and repair. */
int tool_walk_file(const tool_opts *o, tool_key_fn fn, void *ud, tool_file *f);

/* Run a command on c; the reply, or NULL after printing the engine's
 * error (an error reply is returned as a reply). */
layerdb_reply *tool_run(const tool_opts *o, layerdb_client *c, int argc, const char *const *argv,
                        const size_t *lens);
/* SELECT dbi on c: 0, 1 if there is no such database, or -1 after an error. */
int tool_select(const tool_opts *o, layerdb_client *c, int dbi);

/* Keys per database and type. */
#define TOOL_MAX_DBS 64
#define TOOL_MAX_TYPES 8
typedef struct tool_census {
    struct {
        uint64_t keys;
        uint64_t with_ttl;
        struct { char name[24]; uint64_t n; } types[TOOL_MAX_TYPES];
    } db[TOOL_MAX_DBS];
    uint64_t keys;       /* in every database */
} tool_census;

void tool_census_add(tool_census *cs, const tool_key *k);
/* "  db 0: 3 keys (string 3), 1 with a deadline" lines, or "  (none)". */
void tool_census_print(FILE *out, const tool_census *cs);
/* Count every key of db into cs (a tool_walk). */
int tool_census_take(const tool_opts *o, layerdb *db, tool_census *cs);

/* ---- keytypes.c: what each data type exports and imports ---- */
/* Receives the commands that recreate a key, one at a time. */
typedef struct tool_sink {
    int (*command)(struct tool_sink *s, int argc, const char *const *argv, const size_t *lens);
} tool_sink;

struct tool_json_object;

typedef struct tool_type {
    const char *name; /* as TYPE replies it */
    /* Read k's value through c (SELECTed on k's database): TOOL_OK with
     * *value, a reply tree for layerdb_reply_free; TOOL_GONE if the key
     * went away meanwhile (expired); TOOL_FAILED after an error. */
    int (*fetch)(const tool_opts *o, layerdb_client *c, const tool_key *k, layerdb_reply **value);
    /* Send s the commands that recreate k holding value, in its database,
     * its deadline included. TOOL_OK, or what s->command returned. */
    int (*dump)(const tool_key *k, const layerdb_reply *value, tool_sink *s);
    /* Write value as the JSON members that follow the common ones
     * (",\"value\":\"...\""). */
    void (*to_json)(const tool_key *k, const layerdb_reply *value, FILE *out);
    /* Recreate k from a JSON line's members. 0, or -1 with err set (the
     * caller names the line). */
    int (*from_json)(layerdb_client *c, const tool_key *k, const struct tool_json_object *obj,
                     char *err, size_t cap);
    const char *const *members; /* the JSON members from_json reads */
} tool_type;

/* The type named 'name', or NULL when the tool cannot handle it yet. */
const tool_type *tool_type_find(const char *name);
/* TOOL_FAILED with "key 'k' in database n has type 't', which <what> cannot handle yet". */
int tool_type_unknown(const tool_opts *o, const tool_key *k, const char *what);

/* ---- base64.c ---- */
/* Write n bytes as standard base64 with padding. */
void tool_base64_write(FILE *out, const void *p, size_t n);
/* Decode s[0..n) in place; the decoded length, or -1 if it is not base64. */
long long tool_base64_decode(char *s, size_t n);

/* ---- json.c ---- */
/* Write ,"name":"text" when p[0..n) is valid UTF-8, else
 * ,"name_base64":"...". */
void tool_json_bytes_member(FILE *out, const char *name, const void *p, size_t n);
/* Write p[0..n), valid UTF-8, as a JSON string. */
void tool_json_write_string(FILE *out, const void *p, size_t n);
/* 1 if p[0..n) is valid UTF-8 (no surrogates, no overlong forms). */
int tool_utf8_valid(const unsigned char *p, size_t n);

enum tool_json_kind { TOOL_JSON_STRING, TOOL_JSON_NUMBER, TOOL_JSON_TRUE, TOOL_JSON_FALSE,
                      TOOL_JSON_NULL };
#define TOOL_JSON_MAX_MEMBERS 16

typedef struct tool_json_object {
    struct {
        const char *name; /* decoded, NUL-free by check, name_len bytes */
        size_t name_len;
        int kind;         /* enum tool_json_kind */
        char *p;          /* a string's decoded bytes, a number's text */
        size_t len;
    } m[TOOL_JSON_MAX_MEMBERS];
    size_t n;
} tool_json_object;

/* Parse one JSON object of scalar members from line[0..len), decoding
 * strings in place (line is changed). 0, or -1 with err set to what is
 * wrong and at which column. */
int tool_json_parse(char *line, size_t len, tool_json_object *obj, char *err, size_t cap);
/* The member named 'name', or -1. */
int tool_json_find(const tool_json_object *obj, const char *name);
/* A byte string held as "name" or "name_base64": 1 with *p, *n; 0 if
 * neither is there; -1 with err set (both, not a string, bad base64). */
int tool_json_bytes(const tool_json_object *obj, const char *name, const char **p, size_t *n,
                    char *err, size_t cap);
/* An integer member: 1 with *v; 0 if absent or null; -1 with err set. */
int tool_json_int(const tool_json_object *obj, const char *name, int64_t *v, char *err, size_t cap);
/* 1 if member i's name is one of names (NULL-terminated). */
int tool_json_name_in(const tool_json_object *obj, size_t i, const char *const *names);

#endif
