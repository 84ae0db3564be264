/* connection.c -- the commands about the connection itself: PING, ECHO. */
#include "command.h"

/* PING [message]: PONG, or the message as a bulk string. */
void ldb_cmd_ping(ldb_cmd_ctx *c) {
    if (c->argc > 2)
        ldb_reply_error(c->reply, "ERR wrong number of arguments for 'ping' command");
    else if (c->argc == 2)
        ldb_reply_bulk(c->reply, c->argv[1].p, c->argv[1].len);
    else
        ldb_reply_status(c->reply, "PONG");
}

void ldb_cmd_echo(ldb_cmd_ctx *c) {
    ldb_reply_bulk(c->reply, c->argv[1].p, c->argv[1].len);
}
