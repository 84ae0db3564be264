/* expiry.c -- the commands on key deadlines: EXPIRE, PEXPIRE, EXPIREAT,
 * PEXPIREAT (NX, XX, GT, LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST,
 * with Redis 7.0's replies and error texts.
 * A new deadline is logged as "PEXPIREAT key ms", absolute whatever the
 * command was, so replay sets the same deadline at any later time; a
 * deadline already past deletes the key, logged as DEL. (Replay, where
 * the clock does not count, sets such a PEXPIREAT as it is.) */
#include <limits.h>

#include "command.h"
#include "strnum.h"

enum { NX = 1, XX = 2, GT = 4, LT = 8 };

/* The options from argv[3] on; -1 after replying an error. */
static int parse_flags(ldb_cmd_ctx *c) {
    int flags = 0;
    for (size_t i = 3; i < c->argc; i++) {
        if (ldb_arg_is(c, i, "NX")) flags |= NX;
        else if (ldb_arg_is(c, i, "XX")) flags |= XX;
        else if (ldb_arg_is(c, i, "GT")) flags |= GT;
        else if (ldb_arg_is(c, i, "LT")) flags |= LT;
        else {
            ldb_reply_error(c->reply, "ERR Unsupported option %.*s", (int)c->argv[i].len,
                            (const char *)c->argv[i].p);
            return -1;
        }
    }
    if ((flags & NX) && (flags & (XX | GT | LT))) {
        ldb_reply_error(c->reply, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return -1;
    }
    if ((flags & GT) && (flags & LT)) {
        ldb_reply_error(c->reply, "ERR GT and LT options at the same time are not compatible");
        return -1;
    }
    return flags;
}

/* Does the condition let a key whose deadline is 'current' (-1: none) get
 * 'when'? A key without a deadline counts as one at infinity. */
static int condition_holds(int flags, int64_t current, int64_t when) {
    if ((flags & NX) && current != -1) return 0;
    if ((flags & XX) && current == -1) return 0;
    if ((flags & GT) && (current == -1 || when <= current)) return 0;
    if ((flags & LT) && current != -1 && when >= current) return 0;
    return 1;
}

static void reply_invalid_time(ldb_cmd_ctx *c) {
    ldb_reply_error(c->reply, "ERR invalid expire time in '%s' command", c->cmd->name);
}

static void expire_generic(ldb_cmd_ctx *c, int seconds, int relative) {
    const ldb_slice *key = &c->argv[1];
    int flags = parse_flags(c);
    long long when;
    if (flags < 0 || ldb_arg_ll(c, 2, &when) != 0) return;
    if (seconds) {
        if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) { reply_invalid_time(c); return; }
        when *= 1000;
    }
    long long base = relative ? c->now : 0;
    if (when > LLONG_MAX - base) { reply_invalid_time(c); return; }
    when += base;
    ldb_entry *e = ldb_cmd_find(c, key);
    if (!e || !condition_holds(flags, ldb_cmd_deadline(c, e), when)) {
        ldb_reply_int(c->reply, 0);
        return;
    }
    if (c->now != LDB_KS_NO_EXPIRY && when <= c->now) {
        ldb_cmd_delete(c, key);
        ldb_slice del[2] = {ldb_slice_str("DEL"), *key};
        ldb_cmd_log(c, 2, del);
    } else {
        if (ldb_cmd_set_deadline(c, e, when) != 0) return;
        char num[24];
        ldb_slice log[3] = {ldb_slice_str("PEXPIREAT"), *key, {(const unsigned char *)num, 0}};
        log[2].len = ldb_ll_to_str(num, when);
        ldb_cmd_log(c, 3, log);
    }
    ldb_reply_int(c->reply, 1);
}

static void expire(ldb_cmd_ctx *c) { expire_generic(c, 1, 1); }
static void pexpire(ldb_cmd_ctx *c) { expire_generic(c, 0, 1); }
static void expireat(ldb_cmd_ctx *c) { expire_generic(c, 1, 0); }
static void pexpireat(ldb_cmd_ctx *c) { expire_generic(c, 0, 0); }

/* TTL and its kin: -2 for no key, -1 for no deadline, else the time left
 * (or the deadline itself, 'absolute'), rounded to seconds unless 'ms'. */
static void ttl_generic(ldb_cmd_ctx *c, int ms, int absolute) {
    ldb_entry *e = ldb_cmd_find(c, &c->argv[1]);
    if (!e) { ldb_reply_int(c->reply, -2); return; }
    int64_t deadline = ldb_cmd_deadline(c, e);
    if (deadline < 0) { ldb_reply_int(c->reply, -1); return; }
    int64_t t = absolute ? deadline : deadline - c->now;
    if (t < 0) t = 0;
    ldb_reply_int(c->reply, ms ? t : (t + 500) / 1000);
}

static void ttl(ldb_cmd_ctx *c) { ttl_generic(c, 0, 0); }
static void pttl(ldb_cmd_ctx *c) { ttl_generic(c, 1, 0); }
static void expiretime(ldb_cmd_ctx *c) { ttl_generic(c, 0, 1); }
static void pexpiretime(ldb_cmd_ctx *c) { ttl_generic(c, 1, 1); }

static void persist(ldb_cmd_ctx *c) {
    ldb_entry *e = ldb_cmd_find(c, &c->argv[1]);
    int had = e && ldb_cmd_clear_deadline(c, e);
    if (had) ldb_cmd_log_self(c);
    ldb_reply_int(c->reply, had);
}

#define W LDB_CMD_WRITE
#define R LDB_CMD_READONLY
#define F LDB_CMD_FAST
const ldb_command ldb_commands_expire[] = {
    /* name         arity flags  keys      handler */
    {"expire",      -3, W | F,   1, 1, 1,  expire},
    {"expireat",    -3, W | F,   1, 1, 1,  expireat},
    {"expiretime",  2,  R | F,   1, 1, 1,  expiretime},
    {"persist",     2,  W | F,   1, 1, 1,  persist},
    {"pexpire",     -3, W | F,   1, 1, 1,  pexpire},
    {"pexpireat",   -3, W | F,   1, 1, 1,  pexpireat},
    {"pexpiretime", 2,  R | F,   1, 1, 1,  pexpiretime},
    {"pttl",        2,  R | F,   1, 1, 1,  pttl},
    {"ttl",         2,  R | F,   1, 1, 1,  ttl},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
