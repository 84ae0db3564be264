/* t_string.c -- the string commands, with Redis 7.0's replies, error texts
 * and edge cases: GET, SET, SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX,
 * MGET, MSET, MSETNX, STRLEN, APPEND, GETRANGE (and SUBSTR), SETRANGE,
 * INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT.
 *
 * A handler that replies with an old value copies it into the reply
 * before it writes, since the write frees the old entry. Each write is
 * logged as what it did, in a form replay repeats at any later time:
 *  - a whole new value as SET (SET, SETNX, SETEX, PSETEX, GETSET), with
 *    PXAT for a deadline, absolute whatever the command was given;
 *  - INCRBYFLOAT as SET key result KEEPTTL, as Redis propagates it, so
 *    replay does not redo the float arithmetic;
 *  - GETEX as PEXPIREAT key ms, DEL key (an absolute time already past)
 *    or PERSIST key;
 *  - GETDEL as DEL; MSETNX as MSET;
 *  - MSET, APPEND, SETRANGE, INCR, DECR, INCRBY, DECRBY as themselves:
 *    their effect depends only on the keyspace, which replay rebuilds,
 *    and their record stays the size of their arguments (a SET of
 *    APPEND's whole new value could be far bigger: invariant (4) in
 *    command.h).
 * Nothing is logged when nothing changed. */
#include <limits.h>
#include <math.h>

#include "command.h"
#include "strnum.h"

/* Redis's proto-max-bulk-len at its default: APPEND and SETRANGE refuse
 * to make a longer string. */
#define MAX_STRING (512ull * 1024 * 1024)

/* ---- Shared steps ---- */

/* Give key the value val[0..len): with the deadline 'when' if when >= 0,
 * else keeping the one it had if keep_ttl, else none; logged as SET.
 * 0, or -1 with c->rc set. */
static int store(ldb_cmd_ctx *c, const ldb_slice *key, const void *val, size_t len,
                 int64_t when, int keep_ttl) {
    unsigned char *p;
    ldb_entry *e = ldb_cmd_new_string(c, key, len, &p);
    if (!e) return -1;
    if (len) memcpy(p, val, len);
    if ((when >= 0 ? ldb_cmd_put_expiring(c, e, when) : ldb_cmd_put(c, e, keep_ttl)) != 0)
        return -1;
    ldb_cmd_log_set(c, key, val, len, when, keep_ttl);
    return 0;
}

/* Redis's checkStringLength: may a string of 'size' bytes grow by
 * 'more'? Otherwise replies the error and returns -1. */
static int check_length(ldb_cmd_ctx *c, unsigned long long size, unsigned long long more) {
    if (size + more >= size && size + more <= MAX_STRING) return 0;
    ldb_reply_error(c->reply, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    return -1;
}

/* ---- GET, SET and the options they share ---- */

static void get(ldb_cmd_ctx *c) {
    ldb_cmd_reply_value(c, &c->argv[1]);
}

enum {
    OPT_NX = 1 << 0, OPT_XX = 1 << 1, OPT_GET = 1 << 2, OPT_KEEPTTL = 1 << 3,
    OPT_PERSIST = 1 << 4, OPT_EX = 1 << 5, OPT_PX = 1 << 6, OPT_EXAT = 1 << 7,
    OPT_PXAT = 1 << 8,
};
#define OPT_TIMES (OPT_EX | OPT_PX | OPT_EXAT | OPT_PXAT)

/* The options of SET and GETEX, as Redis 7.0's
 * parseExtendedStringArgumentsOrReply takes them: each is refused after
 * those it 'excludes' (so a repeated one is fine, "EX 1 EX 2" included:
 * the last time given counts). */
static const struct option_word {
    const char *name;
    unsigned flag, excludes;
    int for_set, for_getex;
} option_words[] = {
    {"NX", OPT_NX, OPT_XX, 1, 0},
    {"XX", OPT_XX, OPT_NX, 1, 0},
    {"GET", OPT_GET, 0, 1, 0},
    {"KEEPTTL", OPT_KEEPTTL, OPT_PERSIST | OPT_TIMES, 1, 0},
    {"PERSIST", OPT_PERSIST, OPT_KEEPTTL | OPT_TIMES, 0, 1},
    {"EX", OPT_EX, OPT_KEEPTTL | OPT_PERSIST | (OPT_TIMES & ~OPT_EX), 1, 1},
    {"PX", OPT_PX, OPT_KEEPTTL | OPT_PERSIST | (OPT_TIMES & ~OPT_PX), 1, 1},
    {"EXAT", OPT_EXAT, OPT_KEEPTTL | OPT_PERSIST | (OPT_TIMES & ~OPT_EXAT), 1, 1},
    {"PXAT", OPT_PXAT, OPT_KEEPTTL | OPT_PERSIST | (OPT_TIMES & ~OPT_PXAT), 1, 1},
};

typedef struct str_options {
    unsigned flags;
    size_t time_arg; /* argv index of the (last) expire time, 0 if none */
} str_options;

/* Parse the options from argv[first] on, for SET (getex == 0) or GETEX;
 * replies "ERR syntax error" and returns -1 on a bad one. The time is
 * only read later (expire_time): Redis reports a syntax error anywhere
 * before a bad number. */
static int parse_options(ldb_cmd_ctx *c, size_t first, int getex, str_options *o) {
    for (size_t i = first; i < c->argc; i++) {
        const struct option_word *w = NULL;
        for (size_t k = 0; !w && k < sizeof option_words / sizeof option_words[0]; k++)
            if ((getex ? option_words[k].for_getex : option_words[k].for_set) &&
                ldb_arg_is(c, i, option_words[k].name))
                w = &option_words[k];
        int timed = w && (w->flag & OPT_TIMES);
        if (!w || (o->flags & w->excludes) || (timed && i + 1 >= c->argc)) {
            ldb_reply_error(c->reply, "ERR syntax error");
            return -1;
        }
        o->flags |= w->flag;
        if (timed) o->time_arg = ++i;
    }
    return 0;
}

/* The deadline the options give (-1 for none) into *when; -1 after
 * replying the error (Redis's getExpireMillisecondsOrReply). */
static int expire_time(ldb_cmd_ctx *c, const str_options *o, int64_t *when) {
    *when = -1;
    if (!o->time_arg) return 0;
    int seconds = (o->flags & (OPT_EX | OPT_EXAT)) != 0;
    int relative = (o->flags & (OPT_EX | OPT_PX)) != 0;
    return ldb_arg_expire(c, o->time_arg, seconds, relative, when);
}

/* SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL] */
static void set(ldb_cmd_ctx *c) {
    str_options o = {0, 0};
    int64_t when;
    if (parse_options(c, 3, 0, &o) != 0 || expire_time(c, &o, &when) != 0) return;
    const ldb_slice *key = &c->argv[1], *val = &c->argv[2];
    if (o.flags & OPT_GET) {
        const unsigned char *old;
        size_t oldlen;
        int had = ldb_cmd_get_string(c, key, &old, &oldlen);
        if (had < 0) return;
        if (had) ldb_reply_bulk(c->reply, old, oldlen);
        else ldb_reply_nil(c->reply);
    }
    /* A plain SET needs no lookup: the put finds the key (and a lookup
     * first would pay the table's memory miss twice). */
    int found = (o.flags & (OPT_NX | OPT_XX)) && ldb_cmd_find(c, key) != NULL;
    if (((o.flags & OPT_NX) && found) || ((o.flags & OPT_XX) && !found)) {
        if (!(o.flags & OPT_GET)) ldb_reply_nil(c->reply);
        return;
    }
    if (store(c, key, val->p, val->len, when, (o.flags & OPT_KEEPTTL) != 0) != 0) return;
    if (!(o.flags & OPT_GET)) ldb_reply_status(c->reply, "OK");
}

static void setnx(ldb_cmd_ctx *c) {
    const ldb_slice *key = &c->argv[1], *val = &c->argv[2];
    if (ldb_cmd_find(c, key)) {
        ldb_reply_int(c->reply, 0);
        return;
    }
    if (store(c, key, val->p, val->len, -1, 0) != 0) return;
    ldb_reply_int(c->reply, 1);
}

/* SETEX key seconds value, PSETEX key ms value: SET key value EX/PX,
 * logged with PXAT. */
static void setex_generic(ldb_cmd_ctx *c, int seconds) {
    int64_t when;
    if (ldb_arg_expire(c, 2, seconds, 1, &when) != 0) return;
    if (store(c, &c->argv[1], c->argv[3].p, c->argv[3].len, when, 0) != 0) return;
    ldb_reply_status(c->reply, "OK");
}

static void setex(ldb_cmd_ctx *c) { setex_generic(c, 1); }
static void psetex(ldb_cmd_ctx *c) { setex_generic(c, 0); }

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
    store(c, key, val->p, val->len, -1, 0);
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

/* GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]: the value, and
 * the key's deadline changed. As Redis does: a syntax error first, then
 * nil for a missing key and WRONGTYPE, and only then a bad time; an
 * absolute time already past deletes the key (not while replaying, where
 * the clock does not count). */
static void getex(ldb_cmd_ctx *c) {
    const ldb_slice *key = &c->argv[1];
    str_options o = {0, 0};
    if (parse_options(c, 2, 1, &o) != 0) return;
    ldb_entry *e = ldb_cmd_find(c, key);
    if (!e) {
        ldb_reply_nil(c->reply);
        return;
    }
    if (ldb_entry_type(e) != LDB_TYPE_STRING) {
        ldb_cmd_reply_wrongtype(c);
        return;
    }
    int64_t when;
    if (expire_time(c, &o, &when) != 0) return;
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    ldb_reply_bulk(c->reply, v.val, v.vlen);
    int absolute = (o.flags & (OPT_EXAT | OPT_PXAT)) != 0;
    if (absolute && c->now != LDB_KS_NO_EXPIRY && when <= c->now) {
        ldb_cmd_delete(c, key);
        ldb_slice del[2] = {ldb_slice_str("DEL"), *key};
        ldb_cmd_log(c, 2, del);
    } else if (when >= 0) {
        if (ldb_cmd_set_deadline(c, e, when) != 0) return;
        char num[24];
        ldb_slice log[3] = {ldb_slice_str("PEXPIREAT"), *key, {(const unsigned char *)num, 0}};
        log[2].len = ldb_ll_to_str(num, when);
        ldb_cmd_log(c, 3, log);
    } else if ((o.flags & OPT_PERSIST) && ldb_cmd_clear_deadline(c, e)) {
        ldb_slice persist[2] = {ldb_slice_str("PERSIST"), *key};
        ldb_cmd_log(c, 2, persist);
    }
}

static void strlen_cmd(ldb_cmd_ctx *c) {
    const unsigned char *val;
    size_t len;
    int found = ldb_cmd_get_string(c, &c->argv[1], &val, &len);
    if (found >= 0) ldb_reply_int(c->reply, found ? (long long)len : 0);
}

/* ---- Several keys ---- */

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

/* MSET k v [k v ...], and MSETNX, which sets nothing (replies 0) when any
 * of the keys exists. Each key loses its deadline, as with SET. Logged
 * as one MSET. Every entry is made before the first is put, so running
 * out of memory for a value changes nothing; if a put fails (the table
 * could not grow), the pairs put before stay, logged as the MSET of them,
 * as EXEC keeps the commands run before one that failed. */
static void mset_generic(ldb_cmd_ctx *c, int nx) {
    if (c->argc % 2 == 0) {
        ldb_reply_error(c->reply, "ERR wrong number of arguments for '%s' command", c->cmd->name);
        return;
    }
    if (nx) {
        for (size_t i = 1; i < c->argc; i += 2) {
            if (ldb_cmd_find(c, &c->argv[i])) {
                ldb_reply_int(c->reply, 0);
                return;
            }
        }
    }
    size_t n = c->argc / 2, made = 0, done = 0;
    ldb_alloc *a = ldb_db_alloc(c->db);
    size_t esize = ldb_mul_size(n, sizeof(ldb_entry *));
    size_t rsize = ldb_mul_size(c->argc, sizeof(ldb_slice));
    ldb_entry **ents = ldb_malloc(a, esize);
    ldb_slice *renamed = nx ? ldb_malloc(a, rsize) : NULL; /* MSETNX's args named MSET */
    if (ents && (renamed || !nx)) {
        for (; made < n; made++) {
            const ldb_slice *val = &c->argv[2 + 2 * made];
            unsigned char *p;
            ents[made] = ldb_cmd_new_string(c, &c->argv[1 + 2 * made], val->len, &p);
            if (!ents[made]) break;
            if (val->len) memcpy(p, val->p, val->len);
        }
    }
    if (made < n) {
        for (size_t i = 0; i < made; i++) ldb_entry_free(a, ents[i]);
        if (!c->rc) c->rc = ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory running %s", c->cmd->name);
    } else {
        while (done < n && ldb_cmd_put(c, ents[done], 0) == 0) done++;
        /* A failed put freed its own entry; those after it are still ours. */
        for (size_t i = done + 1; i < n; i++) ldb_entry_free(a, ents[i]);
    }
    if (done) {
        const ldb_slice *logv = c->argv;
        if (nx) {
            memcpy(renamed, c->argv, c->argc * sizeof *renamed);
            renamed[0] = ldb_slice_str("MSET");
            logv = renamed;
        }
        ldb_cmd_log(c, 1 + 2 * done, logv); /* also after a failed put: what was done */
    }
    if (ents) ldb_free(a, ents, esize);
    if (renamed) ldb_free(a, renamed, rsize);
    if (c->rc) return;
    if (nx) ldb_reply_int(c->reply, 1);
    else ldb_reply_status(c->reply, "OK");
}

static void mset(ldb_cmd_ctx *c) { mset_generic(c, 0); }
static void msetnx(ldb_cmd_ctx *c) { mset_generic(c, 1); }

/* ---- Changing part of a value ---- */

/* APPEND key value: the new length. A missing key is created (even with
 * an empty value); an existing one keeps its deadline. */
static void append(ldb_cmd_ctx *c) {
    const ldb_slice *key = &c->argv[1], *more = &c->argv[2];
    const unsigned char *old = NULL;
    size_t oldlen = 0;
    int found = ldb_cmd_get_string(c, key, &old, &oldlen);
    if (found < 0) return;
    /* Redis checks the size only when appending to a value. */
    if (found && check_length(c, oldlen, more->len) != 0) return;
    unsigned char *p;
    ldb_entry *e = ldb_cmd_new_string(c, key, oldlen + more->len, &p);
    if (!e) return;
    if (oldlen) memcpy(p, old, oldlen);
    if (more->len) memcpy(p + oldlen, more->p, more->len);
    if (ldb_cmd_put(c, e, 1) != 0) return;
    ldb_cmd_log_self(c);
    ldb_reply_int(c->reply, (long long)(oldlen + more->len));
}

/* GETRANGE key start end (and SUBSTR): the bytes from start to end, both
 * included, negative ones counting from the end; "" for a missing key. */
static void getrange(ldb_cmd_ctx *c) {
    long long start, end;
    if (ldb_arg_ll(c, 2, &start) != 0 || ldb_arg_ll(c, 3, &end) != 0) return;
    const unsigned char *val = NULL;
    size_t len;
    int found = ldb_cmd_get_string(c, &c->argv[1], &val, &len);
    if (found < 0) return;
    long long n = found ? (long long)len : 0;
    /* Both from the end and crossed: empty, before the clamping below
     * could make them meet at 0. */
    if (start < 0 && end < 0 && start > end) n = 0;
    if (start < 0) start += n;
    if (end < 0) end += n;
    if (start < 0) start = 0;
    if (end < 0) end = 0;
    if (end >= n) end = n - 1;
    if (n == 0 || start > end) ldb_reply_bulk(c->reply, "", 0);
    else ldb_reply_bulk(c->reply, val + start, (size_t)(end - start + 1));
}

/* SETRANGE key offset value: value written at offset, the gap before it
 * zeroed; the new length. An empty value changes nothing (and creates no
 * key); an existing key keeps its deadline. */
static void setrange(ldb_cmd_ctx *c) {
    const ldb_slice *key = &c->argv[1], *val = &c->argv[3];
    long long offset;
    if (ldb_arg_ll(c, 2, &offset) != 0) return;
    if (offset < 0) {
        ldb_reply_error(c->reply, "ERR offset is out of range");
        return;
    }
    const unsigned char *old = NULL;
    size_t oldlen = 0;
    int found = ldb_cmd_get_string(c, key, &old, &oldlen);
    if (found < 0) return;
    if (val->len == 0) {
        ldb_reply_int(c->reply, (long long)oldlen);
        return;
    }
    if (check_length(c, (unsigned long long)offset, val->len) != 0) return;
    size_t at = (size_t)offset, end = at + val->len;
    size_t newlen = end > oldlen ? end : oldlen;
    unsigned char *p;
    ldb_entry *e = ldb_cmd_new_string(c, key, newlen, &p);
    if (!e) return;
    if (oldlen) memcpy(p, old, oldlen);
    if (at > oldlen) memset(p + oldlen, 0, at - oldlen);
    memcpy(p + at, val->p, val->len);
    if (ldb_cmd_put(c, e, 1) != 0) return;
    ldb_cmd_log_self(c);
    ldb_reply_int(c->reply, (long long)newlen);
}

/* ---- Counters ---- */

/* INCR and its kin: the key's integer (0 when missing) plus 'by', stored
 * as its text, keeping the key's deadline; the result. */
static void incr_generic(ldb_cmd_ctx *c, long long by) {
    const ldb_slice *key = &c->argv[1];
    const unsigned char *old;
    size_t oldlen;
    long long v = 0;
    int found = ldb_cmd_get_string(c, key, &old, &oldlen);
    if (found < 0) return;
    if (found && ldb_str_to_ll(old, oldlen, &v) != 0) {
        ldb_reply_error(c->reply, "ERR value is not an integer or out of range");
        return;
    }
    if ((by < 0 && v < 0 && by < LLONG_MIN - v) || (by > 0 && v > 0 && by > LLONG_MAX - v)) {
        ldb_reply_error(c->reply, "ERR increment or decrement would overflow");
        return;
    }
    v += by;
    char num[24];
    size_t n = ldb_ll_to_str(num, v);
    if (ldb_cmd_set_string(c, key, num, n, 1) != 0) return;
    ldb_cmd_log_self(c);
    ldb_reply_int(c->reply, v);
}

static void incr(ldb_cmd_ctx *c) { incr_generic(c, 1); }
static void decr(ldb_cmd_ctx *c) { incr_generic(c, -1); }

static void incrby(ldb_cmd_ctx *c) {
    long long by;
    if (ldb_arg_ll(c, 2, &by) == 0) incr_generic(c, by);
}

static void decrby(ldb_cmd_ctx *c) {
    long long by;
    if (ldb_arg_ll(c, 2, &by) != 0) return;
    if (by == LLONG_MIN) { /* its negation would overflow */
        ldb_reply_error(c->reply, "ERR decrement would overflow");
        return;
    }
    incr_generic(c, -by);
}

/* INCRBYFLOAT key increment: in long double, as Redis computes it, and
 * stored and replied as Redis prints it (strnum.h); logged as SET key
 * result KEEPTTL. */
static void incrbyfloat(ldb_cmd_ctx *c) {
    const ldb_slice *key = &c->argv[1], *arg = &c->argv[2];
    const unsigned char *old;
    size_t oldlen;
    long double v = 0, by;
    int found = ldb_cmd_get_string(c, key, &old, &oldlen);
    if (found < 0) return;
    if ((found && ldb_str_to_ld(old, oldlen, &v) != 0) ||
        ldb_str_to_ld(arg->p, arg->len, &by) != 0) {
        ldb_reply_error(c->reply, "ERR value is not a valid float");
        return;
    }
    v += by;
    if (isnan(v) || isinf(v)) {
        ldb_reply_error(c->reply, "ERR increment would produce NaN or Infinity");
        return;
    }
    char num[LDB_LD_STR_MAX];
    size_t n = ldb_ld_to_str(num, sizeof num, v);
    if (store(c, key, num, n, -1, 1) != 0) return;
    ldb_reply_bulk(c->reply, num, n);
}

#define W LDB_CMD_WRITE
#define R LDB_CMD_READONLY
#define F LDB_CMD_FAST
const ldb_command ldb_commands_string[] = {
    /* name         arity flags  keys      handler */
    {"append",      3,  W | F,   1, 1, 1,  append},
    {"decr",        2,  W | F,   1, 1, 1,  decr},
    {"decrby",      3,  W | F,   1, 1, 1,  decrby},
    {"get",         2,  R | F,   1, 1, 1,  get},
    {"getdel",      2,  W | F,   1, 1, 1,  getdel},
    {"getex",       -2, W | F,   1, 1, 1,  getex},
    {"getrange",    4,  R,       1, 1, 1,  getrange},
    {"getset",      3,  W | F,   1, 1, 1,  getset},
    {"incr",        2,  W | F,   1, 1, 1,  incr},
    {"incrby",      3,  W | F,   1, 1, 1,  incrby},
    {"incrbyfloat", 3,  W | F,   1, 1, 1,  incrbyfloat},
    {"mget",        -2, R | F,   1, -1, 1, mget},
    {"mset",        -3, W,       1, -1, 2, mset},
    {"msetnx",      -3, W,       1, -1, 2, msetnx},
    {"psetex",      4,  W,       1, 1, 1,  psetex},
    {"set",         -3, W,       1, 1, 1,  set},
    {"setex",       4,  W,       1, 1, 1,  setex},
    {"setnx",       3,  W | F,   1, 1, 1,  setnx},
    {"setrange",    4,  W,       1, 1, 1,  setrange},
    {"strlen",      2,  R | F,   1, 1, 1,  strlen_cmd},
    {"substr",      4,  R,       1, 1, 1,  getrange},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
