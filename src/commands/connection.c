/* connection.c -- the commands about the connection itself: PING, ECHO,
 * SELECT. */
#include "command.h"

/* PING [message]: PONG, or the message as a bulk string. */
static void ping(ldb_cmd_ctx *c) {
    if (c->argc > 2)
        ldb_reply_error(c->reply, "ERR wrong number of arguments for 'ping' command");
    else if (c->argc == 2)
        ldb_reply_bulk(c->reply, c->argv[1].p, c->argv[1].len);
    else
        ldb_reply_status(c->reply, "PONG");
}

static void echo(ldb_cmd_ctx *c) {
    ldb_reply_bulk(c->reply, c->argv[1].p, c->argv[1].len);
}

/* SELECT index: the client's database from now on (replay's SELECTs
 * come from the log, so they run too). */
static void select_db(ldb_cmd_ctx *c) {
    long long d;
    if (ldb_arg_ll(c, 1, &d) != 0) return;
    if (d < 0 || d >= LDB_DBS) {
        ldb_reply_error(c->reply, "ERR DB index is out of range");
        return;
    }
    c->client->dbi = (int)d;
    ldb_reply_status(c->reply, "OK");
}

const ldb_command ldb_commands_connection[] = {
    /* name    arity flags                           keys      handler */
    {"echo",   2,  LDB_CMD_FAST,                     0, 0, 0,  echo},
    {"ping",   -1, LDB_CMD_FAST,                     0, 0, 0,  ping},
    {"select", 2,  LDB_CMD_FAST | LDB_CMD_CLIENT,    0, 0, 0,  select_db},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
