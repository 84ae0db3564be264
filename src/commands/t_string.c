/* t_string.c -- the string commands: GET, SET, SETNX, GETSET, GETDEL,
 * STRLEN, MGET.
 * Every key holds a string so far, so no command here can meet WRONGTYPE
 * yet. A handler that replies with an old value copies it into the reply
 * before it writes, since the write frees the old entry. */
#include "command.h"

void ldb_cmd_get(ldb_cmd_ctx *c) {
    ldb_cmd_reply_value(c, &c->argv[1]);
}

/* The options of SET this version parses. */
typedef struct set_options {
    int nx, xx; /* set only if the key is absent / present */
    int get;    /* reply with the old value */
} set_options;

/* Parse SET's options from argv[3]; replies the error and returns -1 on a
 * bad one. Expiry options need expiry, which is not there yet: they get an
 * error of their own rather than Redis's syntax error. */
static int parse_set_options(ldb_cmd_ctx *c, set_options *o) {
    static const char *const expiry[] = {"EX", "PX", "EXAT", "PXAT", "KEEPTTL"};
    for (size_t i = 3; i < c->argc; i++) {
        if (ldb_arg_is(c, i, "NX") && !o->xx) { o->nx = 1; continue; }
        if (ldb_arg_is(c, i, "XX") && !o->nx) { o->xx = 1; continue; }
        if (ldb_arg_is(c, i, "GET")) { o->get = 1; continue; }
        for (size_t k = 0; k < sizeof expiry / sizeof expiry[0]; k++) {
            if (ldb_arg_is(c, i, expiry[k])) {
                ldb_reply_error(c->reply, "ERR SET option %s is not supported yet: layerdb has no "
                                          "expiry", expiry[k]);
                return -1;
            }
        }
        ldb_reply_error(c->reply, "ERR syntax error");
        return -1;
    }
    return 0;
}

/* SET key value [NX | XX] [GET] */
void ldb_cmd_set(ldb_cmd_ctx *c) {
    set_options o = {0, 0, 0};
    if (parse_set_options(c, &o) != 0) return;
    const void *old;
    size_t oldlen;
    int exists = ldb_db_lookup(c->db, c->argv[1].p, c->argv[1].len, &old, &oldlen);
    if (o.get) {
        if (exists) ldb_reply_bulk(c->reply, old, oldlen);
        else ldb_reply_nil(c->reply);
    }
    if ((o.nx && exists) || (o.xx && !exists)) {
        if (!o.get) ldb_reply_nil(c->reply);
        return;
    }
    if (ldb_cmd_set_string(c, &c->argv[1], &c->argv[2]) == 0 && !o.get)
        ldb_reply_status(c->reply, "OK");
}

void ldb_cmd_setnx(ldb_cmd_ctx *c) {
    const void *old;
    size_t oldlen;
    if (ldb_db_lookup(c->db, c->argv[1].p, c->argv[1].len, &old, &oldlen)) {
        ldb_reply_int(c->reply, 0);
        return;
    }
    if (ldb_cmd_set_string(c, &c->argv[1], &c->argv[2]) == 0) ldb_reply_int(c->reply, 1);
}

void ldb_cmd_getset(ldb_cmd_ctx *c) {
    ldb_cmd_reply_value(c, &c->argv[1]);
    ldb_cmd_set_string(c, &c->argv[1], &c->argv[2]);
}

/* GETDEL key: the value, then the key is gone (logged as DEL). */
void ldb_cmd_getdel(ldb_cmd_ctx *c) {
    ldb_cmd_reply_value(c, &c->argv[1]);
    ldb_cmd_delete(c, 1, &c->argv[1]);
}

void ldb_cmd_strlen(ldb_cmd_ctx *c) {
    const void *val;
    size_t vlen;
    int found = ldb_db_lookup(c->db, c->argv[1].p, c->argv[1].len, &val, &vlen);
    ldb_reply_int(c->reply, found ? (long long)vlen : 0);
}

void ldb_cmd_mget(ldb_cmd_ctx *c) {
    ldb_reply_array(c->reply, c->argc - 1);
    for (size_t i = 1; i < c->argc; i++) ldb_cmd_reply_value(c, &c->argv[i]);
}
