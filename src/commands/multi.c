/* multi.c -- transactions: MULTI, EXEC, DISCARD.
 *
 * Between MULTI and EXEC the executor queues each command in the client
 * context (command.c) and replies QUEUED; a command it cannot queue (an
 * unknown name, a wrong number of arguments, a write on a read-only
 * handle) makes EXEC fail, as in Redis. EXEC runs the queue under one
 * hold of the lock with one clock reading, and everything the commands
 * did is logged as one record: a crash keeps all of it or none. A command
 * that fails at run time (WRONGTYPE) replies its error in EXEC's array and
 * the others still run, as in Redis: there is no rollback. */
#include "command.h"

static void multi(ldb_cmd_ctx *c) {
    if (atomic_load(&c->client->in_multi)) {
        ldb_reply_error(c->reply, "ERR MULTI calls can not be nested");
        return;
    }
    atomic_store(&c->client->in_multi, 1);
    ldb_reply_status(c->reply, "OK");
}

static void exec(ldb_cmd_ctx *c) {
    if (!atomic_load(&c->client->in_multi)) {
        ldb_reply_error(c->reply, "ERR EXEC without MULTI");
        return;
    }
    if (c->client->multi_dirty) {
        ldb_cmd_discard_queued(c);
        ldb_reply_error(c->reply, "EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    ldb_cmd_exec_queued(c);
}

static void discard(ldb_cmd_ctx *c) {
    if (!atomic_load(&c->client->in_multi)) {
        ldb_reply_error(c->reply, "ERR DISCARD without MULTI");
        return;
    }
    ldb_cmd_discard_queued(c);
    ldb_reply_status(c->reply, "OK");
}

#define TX (LDB_CMD_NO_MULTI | LDB_CMD_CLIENT | LDB_CMD_FAST)
const ldb_command ldb_commands_multi[] = {
    /* name     arity flags keys      handler */
    {"discard", 1,  TX,   0, 0, 0,  discard},
    {"exec",    1,  TX,   0, 0, 0,  exec},
    {"multi",   1,  TX,   0, 0, 0,  multi},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
