/* t_string.c -- the string commands: GET, SET, SETNX, GETSET, GETDEL,
 * STRLEN, MGET.
 * A handler that replies with an old value copies it into the reply
 * before it writes, since the write frees the old entry. Every write is
 * logged as SET (with PXAT for a deadline, KEEPTTL to keep one) or DEL. */
#include "command.h"

static void get(ldb_cmd_ctx *c) {
    ldb_cmd_reply_value(c, &c->argv[1]);
}

/* The options of SET. */
typedef struct set_options {
    int nx, xx;      /* set only if the key is absent / present */
    int get;         /* reply with the old value */
    int keep_ttl;    /* KEEPTTL */
    int64_t when;    /* the deadline, -1 for none */
} set_options;

/* The expire option named by argument i, or NULL: its unit and whether
 * it is relative. */
static const struct expire_option {
    const char *name;
    int seconds, relative;
} *expire_option(ldb_cmd_ctx *c, size_t i) {
    static const struct expire_option opts[] = {
        {"EX", 1, 1}, {"PX", 0, 1}, {"EXAT", 1, 0}, {"PXAT", 0, 0}};
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
        if (ldb_arg_is(c, i, opts[k].name)) return &opts[k];
    return NULL;
}

/* Parse SET's options from argv[3], as Redis 7.0 does; replies the error
 * and returns -1 on a bad one. */
static int parse_set_options(ldb_cmd_ctx *c, set_options *o) {
    int expiring = 0;
    const struct expire_option *ex;
    for (size_t i = 3; i < c->argc; i++) {
        if (ldb_arg_is(c, i, "NX") && !o->xx) {
            o->nx = 1;
        } else if (ldb_arg_is(c, i, "XX") && !o->nx) {
            o->xx = 1;
        } else if (ldb_arg_is(c, i, "GET")) {
            o->get = 1;
        } else if (ldb_arg_is(c, i, "KEEPTTL") && !expiring) {
            o->keep_ttl = 1;
            expiring = 1;
        } else if ((ex = expire_option(c, i)) && !expiring && i + 1 < c->argc) {
            expiring = 1;
            if (ldb_arg_expire(c, ++i, ex->seconds, ex->relative, &o->when) != 0) return -1;
        } else {
            ldb_reply_error(c->reply, "ERR syntax error");
            return -1;
        }
    }
    return 0;
}

/* SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL] */
static void set(ldb_cmd_ctx *c) {
    set_options o = {0, 0, 0, 0, -1};
    if (parse_set_options(c, &o) != 0) return;
    const ldb_slice *key = &c->argv[1], *val = &c->argv[2];
    ldb_entry *e = ldb_cmd_find(c, key);
    int found = e != NULL;
    if (o.get) {
        if (found && ldb_entry_type(e) != LDB_TYPE_STRING) {
            ldb_cmd_reply_wrongtype(c);
            return;
        }
        ldb_entry_view v;
        if (found) ldb_entry_decode(e, &v);
        if (found) ldb_reply_bulk(c->reply, v.val, v.vlen);
        else ldb_reply_nil(c->reply);
    }
    if ((o.nx && found) || (o.xx && !found)) {
        if (!o.get) ldb_reply_nil(c->reply);
        return;
    }
    if (ldb_cmd_set_string(c, key, val->p, val->len, o.keep_ttl) != 0) return;
    if (o.when >= 0 && ldb_cmd_set_deadline(c, ldb_cmd_find(c, key), o.when) != 0) return;
    ldb_cmd_log_set(c, key, val->p, val->len, o.when, o.keep_ttl);
    if (!o.get) ldb_reply_status(c->reply, "OK");
}

static void setnx(ldb_cmd_ctx *c) {
    const ldb_slice *key = &c->argv[1], *val = &c->argv[2];
    if (ldb_cmd_find(c, key)) {
        ldb_reply_int(c->reply, 0);
        return;
    }
    if (ldb_cmd_set_string(c, key, val->p, val->len, 0) != 0) return;
    ldb_cmd_log_set(c, key, val->p, val->len, -1, 0);
    ldb_reply_int(c->reply, 1);
}

/* GETSET key value: the old value, and the key holds value, with no
 * deadline (logged as SET). */
static void getset(ldb_cmd_ctx *c) {
    const ldb_slice *key = &c->argv[1], *val = &c->argv[2];
    const unsigned char *old;
    size_t oldlen;
    int found = ldb_cmd_get_string(c, key, &old, &oldlen);
    if (found < 0) return;
    if (found) ldb_reply_bulk(c->reply, old, oldlen);
    else ldb_reply_nil(c->reply);
    if (ldb_cmd_set_string(c, key, val->p, val->len, 0) != 0) return;
    ldb_cmd_log_set(c, key, val->p, val->len, -1, 0);
}

/* GETDEL key: the value, then the key is gone (logged as DEL). */
static void getdel(ldb_cmd_ctx *c) {
    const ldb_slice *key = &c->argv[1];
    const unsigned char *old;
    size_t oldlen;
    int found = ldb_cmd_get_string(c, key, &old, &oldlen);
    if (found < 0) return;
    if (!found) {
        ldb_reply_nil(c->reply);
        return;
    }
    ldb_reply_bulk(c->reply, old, oldlen);
    ldb_cmd_delete(c, key);
    ldb_slice del[2] = {ldb_slice_str("DEL"), *key};
    ldb_cmd_log(c, 2, del);
}

static void strlen_cmd(ldb_cmd_ctx *c) {
    const unsigned char *val;
    size_t len;
    int found = ldb_cmd_get_string(c, &c->argv[1], &val, &len);
    if (found >= 0) ldb_reply_int(c->reply, found ? (long long)len : 0);
}

/* MGET: nil for a key that is absent or holds another type. */
static void mget(ldb_cmd_ctx *c) {
    ldb_reply_array(c->reply, c->argc - 1);
    for (size_t i = 1; i < c->argc; i++) {
        ldb_entry *e = ldb_cmd_find(c, &c->argv[i]);
        if (!e || ldb_entry_type(e) != LDB_TYPE_STRING) {
            ldb_reply_nil(c->reply);
            continue;
        }
        ldb_entry_view v;
        ldb_entry_decode(e, &v);
        ldb_reply_bulk(c->reply, v.val, v.vlen);
    }
}

#define W LDB_CMD_WRITE
#define R LDB_CMD_READONLY
#define F LDB_CMD_FAST
const ldb_command ldb_commands_string[] = {
    /* name      arity flags  keys      handler */
    {"get",      2,  R | F,   1, 1, 1,  get},
    {"getdel",   2,  W | F,   1, 1, 1,  getdel},
    {"getset",   3,  W | F,   1, 1, 1,  getset},
    {"mget",     -2, R | F,   1, -1, 1, mget},
    {"set",      -3, W,       1, 1, 1,  set},
    {"setnx",    3,  W | F,   1, 1, 1,  setnx},
    {"strlen",   2,  R | F,   1, 1, 1,  strlen_cmd},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
