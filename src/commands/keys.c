/* keys.c -- the commands on keys of any type: DEL, UNLINK, EXISTS, TYPE,
 * DBSIZE. */
#include "command.h"

/* DEL and UNLINK: one logged record for every key removed, so a crash
 * keeps all of them or none. (UNLINK frees in the background in Redis;
 * here freeing a string is cheap enough to do at once.) */
void ldb_cmd_del(ldb_cmd_ctx *c) {
    size_t removed = ldb_cmd_delete(c, c->argc - 1, &c->argv[1]);
    if (c->rc == LAYERDB_OK) ldb_reply_int(c->reply, (long long)removed);
}

/* EXISTS counts a key named twice twice, as Redis does. */
void ldb_cmd_exists(ldb_cmd_ctx *c) {
    long long n = 0;
    for (size_t i = 1; i < c->argc; i++) {
        const void *val;
        size_t vlen;
        n += ldb_db_lookup(c->db, c->argv[i].p, c->argv[i].len, &val, &vlen);
    }
    ldb_reply_int(c->reply, n);
}

void ldb_cmd_type(ldb_cmd_ctx *c) {
    const void *val;
    size_t vlen;
    int found = ldb_db_lookup(c->db, c->argv[1].p, c->argv[1].len, &val, &vlen);
    ldb_reply_status(c->reply, found ? "string" : "none");
}

void ldb_cmd_dbsize(ldb_cmd_ctx *c) {
    ldb_reply_int(c->reply, (long long)ldb_db_count(c->db));
}
