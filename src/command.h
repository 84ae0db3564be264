/* command.h -- the command layer: one table of Redis commands and the one
 * executor every caller goes through: the C API (layerdb_command,
 * layerdb_client_command), the Lua binding (db:call and the command
 * methods), replay at open, and later the RESP server.
 *
 * A handler gets its arguments, the client context and a reply builder
 * (reply.h); it reads and changes the keyspace (keyspace.h) through the
 * helpers below, under the handle's lock, which the executor holds for
 * the whole command, and replies. It knows no Lua and no protocol.
 *
 * Logging. A write is logged as what it did, not as what was asked: the
 * handler calls ldb_cmd_log for each change, after deciding it (GETSET
 * logs SET, EXPIRE logs PEXPIREAT with an absolute time, INCRBYFLOAT logs
 * SET ... KEEPTTL). The executor collects those into one COMMANDS record
 * per command, or per EXEC, so a crash keeps all of it or none, and it
 * made room for that record before the handler ran (ldb_db_reserve), so a
 * write that cannot be logged changes nothing. Replay at open runs the
 * same handlers on the logged commands, with nothing expiring by the
 * clock: the log holds a DEL for every key that expired while it was
 * written (the executor deletes an expired key a write command names, and
 * logs it, before the handler runs; active expiry logs what it reclaims).
 *
 * Invariants, asserted in debug builds:
 *  (1) a handler replies exactly once (one root reply) unless the engine
 *      failed (ctx->rc != LAYERDB_OK), in which case its reply is dropped;
 *  (2) a handler that replies an error changed nothing and logged nothing:
 *      it checks every argument before its first write;
 *  (3) only commands flagged LDB_CMD_WRITE log;
 *  (4) a command's record fits the room the executor reserved for it:
 *      at most twice the size of its arguments plus LDB_CMD_LOG_SLACK. */
#ifndef LDB_COMMAND_H
#define LDB_COMMAND_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "db.h"
#include "keyspace.h"
#include "log_format.h"
#include "reply.h"

enum ldb_command_flags {
    LDB_CMD_WRITE = 1 << 0,    /* may change the keyspace */
    LDB_CMD_READONLY = 1 << 1, /* only reads */
    LDB_CMD_FAST = 1 << 2,     /* O(1) or O(log n), as Redis flags them */
    LDB_CMD_NO_MULTI = 1 << 3, /* runs at once inside MULTI (EXEC, DISCARD,
                                  MULTI, WATCH): never queued */
    LDB_CMD_CLIENT = 1 << 4,   /* changes the client context (SELECT) */
};

/* Room a command's record may take beyond twice its arguments: a rewrite
 * with an absolute time (PXAT 1700000000000), SELECT, or INCRBYFLOAT's
 * long double printed in full (up to 5 KiB, as Redis's). */
#define LDB_CMD_LOG_SLACK (8 * 1024)

/* A client context (layerdb_client in layerdb.h): what Redis keeps per
 * connection. Guarded by the handle's lock, except in_multi (read before
 * the lock is taken, to pick the lock's mode). */
struct layerdb_client {
    layerdb *db;
    int dbi;              /* the SELECTed database */
    int replaying;        /* replay at open: nothing expires, nothing logs */
    ldb_keyspace *ks;     /* where a replaying client applies records, or
                             NULL for the handle's own keyspace: follower.c
                             loads a file that replaced the handle's into a
                             fresh keyspace while the handle serves the old */
    atomic_int in_multi;  /* between MULTI and EXEC or DISCARD */
    int multi_dirty;      /* a command was refused while queueing: EXEC
                             aborts */
    ldb_buf queued;       /* MULTI's commands, each as ldb_logfmt_put_args */
    size_t nqueued;
    size_t queued_max_argc; /* the most arguments of one queued command */
    /* The record being built by the command or EXEC that runs now. */
    ldb_buf effects;      /* commands, each as ldb_logfmt_put_args */
    size_t neffects;
    int logged_dbi;       /* the database the record's commands are in */
    size_t reserved;      /* the room made in the log for this record */
    size_t drops_reserved; /* the entries it may drop (ldb_cmd_reserve_drops) */
};

typedef struct ldb_cmd_ctx {
    layerdb *db;
    layerdb_client *client;
    ldb_keyspace *ks;
    int64_t now;              /* ms since the epoch, fixed for the whole
                                 command (and EXEC); LDB_KS_NO_EXPIRY while
                                 replaying */
    const struct ldb_command *cmd; /* the command running */
    size_t argc;              /* argv[0] is the command's name */
    const ldb_slice *argv;
    ldb_reply_builder *reply;
    int rc;                   /* an engine failure (LAYERDB_NOMEM, ...),
                                 its message in the handle */
    uint64_t end;             /* the end of the command's log record */
    const ldb_entry *put_entry; /* the last ldb_cmd_new_string entry, not
                                   yet put, and */
    uint64_t put_hash;          /* its key's hash, for ldb_cmd_put */
} ldb_cmd_ctx;

typedef void (*ldb_command_fn)(ldb_cmd_ctx *c);

typedef struct ldb_command {
    const char *name;   /* lower case, as Redis names it in errors */
    int arity;          /* n > 0: exactly n arguments with the name;
                           n < 0: at least -n */
    unsigned flags;     /* enum ldb_command_flags */
    int first_key;      /* argv index of the first key, 0 if none */
    int last_key;       /* of the last key; -1: the last argument */
    int key_step;       /* between keys */
    ldb_command_fn fn;
} ldb_command;

/* Each family of commands (commands/ *.c) lists its own, ended by an
 * entry whose name is NULL; command_table.c merges them. */
extern const ldb_command ldb_commands_connection[];
extern const ldb_command ldb_commands_string[];
extern const ldb_command ldb_commands_bits[];
extern const ldb_command ldb_commands_keys[];
extern const ldb_command ldb_commands_expire[];
extern const ldb_command ldb_commands_multi[];
extern const ldb_command ldb_commands_server[];

/* The command named name[0..len), in any case, or NULL (command_table.c). */
LDB_INTERNAL const ldb_command *ldb_command_lookup(const void *name, size_t len);

/* ---- The executor (command.c) ---- */

LDB_INTERNAL layerdb_client *ldb_client_new(layerdb *db, int replaying);
/* Run argv[0..argc) for client, replying into b. Takes and releases the
 * handle's lock. Returns LAYERDB_OK when a reply (maybe an error reply)
 * was made, or the engine's code with b emptied; *end gets the end of the
 * command's log record for ldb_db_wait_durable (0 if none). */
LDB_INTERNAL int ldb_command_exec(layerdb_client *client, size_t argc, const ldb_slice *argv,
                                  ldb_reply_builder *b, uint64_t *end);
/* ldb_replay_fn (recovery.h) for a replaying client: argc == 0 marks the
 * start of a record. */
LDB_INTERNAL int ldb_client_replay(void *client, int dry_run, size_t argc, const ldb_slice *argv,
                                   char *msg, size_t msg_cap);

/* EXEC's work, for commands/multi.c: run the queued commands as one
 * write, replying an array of their replies, and leave MULTI; and
 * DISCARD's. */
LDB_INTERNAL void ldb_cmd_exec_queued(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_discard_queued(ldb_cmd_ctx *c);

/* ---- For handlers (command.c) ---- */

/* 1 if argument i equals 'word' in any case (option names), in ASCII
 * whatever the host's locale; ldb_slice_is for any slice. */
LDB_INTERNAL int ldb_arg_is(const ldb_cmd_ctx *c, size_t i, const char *word);
LDB_INTERNAL int ldb_slice_is(const ldb_slice *s, const char *word);
/* Argument i as a long long, as Redis's string2ll reads it; otherwise
 * replies "ERR value is not an integer or out of range" and returns -1. */
LDB_INTERNAL int ldb_arg_ll(ldb_cmd_ctx *c, size_t i, long long *v);

/* An expire time in argument i, as Redis's getExpireMillisecondsOrReply
 * reads it: an integer > 0, in seconds or milliseconds, relative to
 * c->now or absolute; *when gets the deadline in ms since the epoch.
 * Otherwise replies the error ("ERR invalid expire time in 'set'
 * command") and returns -1. */
LDB_INTERNAL int ldb_arg_expire(ldb_cmd_ctx *c, size_t i, int seconds, int relative,
                                int64_t *when);

/* Log "SET key val", with "PXAT when" if when >= 0, or else "KEEPTTL" if
 * keep_ttl: how every string write that replaces a value is logged. */
LDB_INTERNAL void ldb_cmd_log_set(ldb_cmd_ctx *c, const ldb_slice *key, const void *val,
                                  size_t vlen, int64_t when, int keep_ttl);

/* The live entry of key in the client's database, or NULL. */
LDB_INTERNAL ldb_entry *ldb_cmd_find(ldb_cmd_ctx *c, const ldb_slice *key);
/* A key's string value: 1 and *val, *len if it holds a string; 0 if it is
 * absent; -1 if it holds another type, having replied WRONGTYPE. The
 * value stays valid until the next change. */
LDB_INTERNAL int ldb_cmd_get_string(ldb_cmd_ctx *c, const ldb_slice *key, const unsigned char **val,
                                    size_t *len);
/* A new string entry for key with room for vlen bytes of value at *val,
 * for the caller to fill before ldb_cmd_put; NULL with c->rc set when out
 * of memory. */
LDB_INTERNAL ldb_entry *ldb_cmd_new_string(ldb_cmd_ctx *c, const ldb_slice *key, size_t vlen,
                                           unsigned char **val);
/* Put e (from ldb_cmd_new_string) in the client's database, replacing the
 * key's value; with keep_ttl the key keeps its deadline. Returns 0, or -1
 * with c->rc set (e freed). Logs nothing. */
LDB_INTERNAL int ldb_cmd_put(ldb_cmd_ctx *c, ldb_entry *e, int keep_ttl);
/* ldb_cmd_put that also gives the key the deadline 'when' (when >= 0; a
 * deadline it had is dropped otherwise), all or nothing: 0, or -1 with
 * c->rc set, e freed and nothing changed. */
LDB_INTERNAL int ldb_cmd_put_expiring(ldb_cmd_ctx *c, ldb_entry *e, int64_t when);
/* ldb_cmd_new_string and ldb_cmd_put of a whole value. */
LDB_INTERNAL int ldb_cmd_set_string(ldb_cmd_ctx *c, const ldb_slice *key, const void *val,
                                    size_t vlen, int keep_ttl);
/* Remove key from the client's database; 1 if it was there. Logs nothing. */
LDB_INTERNAL int ldb_cmd_delete(ldb_cmd_ctx *c, const ldb_slice *key);
/* A live key's deadline in ms since the epoch, or -1 if it has none. */
LDB_INTERNAL int64_t ldb_cmd_deadline(ldb_cmd_ctx *c, const ldb_entry *e);
/* Give e (live, in the client's database) a deadline; 0, or -1 with c->rc. */
LDB_INTERNAL int ldb_cmd_set_deadline(ldb_cmd_ctx *c, ldb_entry *e, int64_t when);
/* Take e's deadline away; 1 if it had one. */
LDB_INTERNAL int ldb_cmd_clear_deadline(ldb_cmd_ctx *c, ldb_entry *e);
/* Room to drop n more entries than the executor made room for (one per
 * argument): FLUSHDB, SWAPDB. 0, or -1 with c->rc set. */
LDB_INTERNAL int ldb_cmd_reserve_drops(ldb_cmd_ctx *c, size_t n);

/* Append a command to the record of what this command did, in the
 * client's database (a SELECT goes first when that is not the record's
 * database so far). Logs nothing when the handle does not log. Log every
 * change made, also after a later step failed (c->rc set): the executor
 * made room for the record before the handler ran, so this cannot fail
 * within invariant (4). */
LDB_INTERNAL void ldb_cmd_log(ldb_cmd_ctx *c, size_t argc, const ldb_slice *argv);
/* Log the command as it was given. */
LDB_INTERNAL void ldb_cmd_log_self(ldb_cmd_ctx *c);

/* Reply "WRONGTYPE Operation against a key holding the wrong kind of value". */
LDB_INTERNAL void ldb_cmd_reply_wrongtype(ldb_cmd_ctx *c);
/* Reply with a key's string value, nil when absent, WRONGTYPE otherwise. */
LDB_INTERNAL void ldb_cmd_reply_value(ldb_cmd_ctx *c, const ldb_slice *key);

/* A slice of a C string. */
static inline ldb_slice ldb_slice_str(const char *s) {
    ldb_slice x = {(const unsigned char *)s, strlen(s)};
    return x;
}

#endif
