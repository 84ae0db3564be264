/* keys.c -- the commands on keys of any type: DEL, UNLINK, EXISTS, TYPE,
 * DBSIZE. */
#include "command.h"

/* DEL and UNLINK: every key removed goes in one logged DEL, so a crash
 * keeps all of them or none. (UNLINK frees in the background in Redis;
 * here freeing a string is cheap enough to do at once.) */
static void del(ldb_cmd_ctx *c) {
    long long n = 0;
    for (size_t i = 1; i < c->argc; i++) n += ldb_cmd_delete(c, &c->argv[i]);
    if (n > 0) ldb_cmd_log_self(c);
    ldb_reply_int(c->reply, n);
}

/* EXISTS counts a key named twice twice, as Redis does. */
static void exists(ldb_cmd_ctx *c) {
    long long n = 0;
    for (size_t i = 1; i < c->argc; i++) n += ldb_cmd_find(c, &c->argv[i]) != NULL;
    ldb_reply_int(c->reply, n);
}

static const char *const type_names[] = {"string", "list", "set", "zset", "hash", "stream"};

static void type(ldb_cmd_ctx *c) {
    ldb_entry *e = ldb_cmd_find(c, &c->argv[1]);
    ldb_reply_status(c->reply, e ? type_names[ldb_entry_type(e)] : "none");
}

/* DBSIZE counts keys whose deadline passed but which were not reclaimed
 * yet, as Redis's does. */
static void dbsize(ldb_cmd_ctx *c) {
    ldb_reply_int(c->reply, (long long)c->ks->keys[c->client->dbi].count);
}

#define W LDB_CMD_WRITE
#define R LDB_CMD_READONLY
#define F LDB_CMD_FAST
const ldb_command ldb_commands_keys[] = {
    /* name      arity flags  keys      handler */
    {"dbsize",   1,  R | F,   0, 0, 0,  dbsize},
    {"del",      -2, W,       1, -1, 1, del},
    {"exists",   -2, R | F,   1, -1, 1, exists},
    {"type",     2,  R | F,   1, 1, 1,  type},
    {"unlink",   -2, W | F,   1, -1, 1, del},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
