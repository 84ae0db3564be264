/* server.c -- the commands about the database file itself: BGREWRITEAOF,
 * which starts a compaction (compact.c) as Redis's starts an AOF rewrite.
 * Nothing here is logged. */
#include "command.h"

static void bgrewriteaof(ldb_cmd_ctx *c) {
    int already = 0;
    if (ldb_db_compact_begin(c->db, &already) != LAYERDB_OK)
        ldb_reply_error(c->reply, "ERR %s", layerdb_errmsg(c->db));
    else if (already)
        ldb_reply_error(c->reply, "ERR Background append only file rewriting already in progress");
    else
        ldb_reply_status(c->reply, "Background append only file rewriting started");
}

const ldb_command ldb_commands_server[] = {
    /* name          arity flags keys      handler */
    {"bgrewriteaof", 1,    0,    0, 0, 0,  bgrewriteaof},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
