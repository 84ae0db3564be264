/* command.h -- the command layer: one table of Redis commands and the one
 * executor every caller goes through (the C API's layerdb_command, the Lua
 * binding's db:call; later replay at open and the RESP server).
 *
 * A handler gets the arguments and a reply builder (reply.h), reads and
 * changes the keyspace through db.h under the handle's lock, which the
 * executor holds for the whole command, and replies. It knows no Lua and
 * no protocol. Invariants, asserted in debug builds:
 *  (1) a handler replies exactly once (one root reply) unless the engine
 *      failed (ctx->rc != LAYERDB_OK), in which case its reply is dropped;
 *  (2) a handler that replies an error changed nothing and logged nothing:
 *      it checks every argument before its first write;
 *  (3) only commands flagged LDB_CMD_WRITE write. */
#ifndef LDB_COMMAND_H
#define LDB_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "log_format.h"
#include "reply.h"

enum ldb_command_flags {
    LDB_CMD_WRITE = 1 << 0,    /* may change the keyspace */
    LDB_CMD_READONLY = 1 << 1, /* only reads */
    LDB_CMD_FAST = 1 << 2,     /* O(1) or O(log n), as Redis flags them */
};

typedef struct ldb_cmd_ctx {
    layerdb *db;
    size_t argc;              /* argv[0] is the command's name */
    const ldb_slice *argv;
    ldb_reply_builder *reply;
    int rc;                   /* an engine failure (LAYERDB_NOMEM, _IOERR,
                                 ...), its message in the handle */
    uint64_t end;             /* the log end of the last write, for
                                 ldb_db_wait_durable */
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

/* The command named name[0..len), in any case, or NULL (command_table.c). */
LDB_INTERNAL const ldb_command *ldb_command_lookup(const void *name, size_t len);

/* Run argv[0..argc) on db, replying into b. Takes and releases the
 * handle's lock. Returns LAYERDB_OK when a reply (maybe an error reply)
 * was made, or the engine's code with b emptied; *end as ctx->end. */
LDB_INTERNAL int ldb_command_exec(layerdb *db, size_t argc, const ldb_slice *argv,
                                  ldb_reply_builder *b, uint64_t *end);

/* ---- For handlers (command.c) ---- */

/* 1 if argument i equals 'word' in any case (option names). */
LDB_INTERNAL int ldb_arg_is(const ldb_cmd_ctx *c, size_t i, const char *word);
/* Set a string and log it; an engine failure goes to c->rc. Returns 0 on
 * success. */
LDB_INTERNAL int ldb_cmd_set_string(ldb_cmd_ctx *c, const ldb_slice *key, const ldb_slice *val);
/* Delete keys[0..n) as one logged record; returns how many existed, or
 * 0 with c->rc set on an engine failure. */
LDB_INTERNAL size_t ldb_cmd_delete(ldb_cmd_ctx *c, size_t n, const ldb_slice *keys);
/* Reply with a key's string value, or nil when absent. */
LDB_INTERNAL void ldb_cmd_reply_value(ldb_cmd_ctx *c, const ldb_slice *key);

/* ---- The handlers, one file per family (commands/) ---- */
/* connection.c */
LDB_INTERNAL void ldb_cmd_ping(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_echo(ldb_cmd_ctx *c);
/* t_string.c */
LDB_INTERNAL void ldb_cmd_get(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_set(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_setnx(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_getset(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_getdel(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_strlen(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_mget(ldb_cmd_ctx *c);
/* keys.c */
LDB_INTERNAL void ldb_cmd_del(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_exists(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_type(ldb_cmd_ctx *c);
LDB_INTERNAL void ldb_cmd_dbsize(ldb_cmd_ctx *c);

#endif
