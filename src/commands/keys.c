/* keys.c -- the commands on keys of any type, with Redis 7.0's replies and
 * error texts: DEL, UNLINK, EXISTS, TYPE, DBSIZE, TOUCH, RENAME, RENAMENX,
 * COPY, MOVE, SWAPDB, FLUSHDB, FLUSHALL, KEYS, SCAN, RANDOMKEY, OBJECT.
 *
 * What each write logs, only when it changed something (replay runs the
 * same handlers on it):
 *  - DEL, UNLINK, COPY, MOVE, SWAPDB, FLUSHDB, FLUSHALL: themselves;
 *    RENAME and RENAMENX: "RENAME src dst". A key keeps its deadline, an
 *    absolute time, so replay at any later time gives the same keyspace.
 *  - A key of another database that MOVE or COPY ... DB n would find, and
 *    whose deadline passed, is deleted first and logged as DEL in that
 *    database (a SELECT goes before it), as the executor does for the keys
 *    a write names in the client's own database: replay, where nothing
 *    expires, would find it there and refuse the move.
 * Invariants:
 *  (1) a handler checks every argument before its first change, so one
 *      that replies an error changed nothing;
 *  (2) an entry leaves the keyspace only through ldb_db_drop, which keeps
 *      it while the log writer may still read it: FLUSHDB and FLUSHALL
 *      hand every entry to it (ldb_ks_flush_each), after making room for
 *      as many drops; MOVE moves the entry itself, so drops none;
 *  (3) the reads (TOUCH, KEYS, SCAN, RANDOMKEY, OBJECT) skip keys whose
 *      deadline passed and delete nothing: only writes are logged.
 * Orders differ from Redis's: KEYS and SCAN go in hash order and SCAN's
 * cursor is a position in the hash space (table.h), any 64-bit value. */
#include <assert.h>
#include <limits.h>
#include <stdio.h>

#include "command.h"
#include "glob.h"
#include "strnum.h"

static const char *const type_names[] = {"string", "list", "set", "zset", "hash", "stream"};

/* ---- Helpers ---- */

static int same_bytes(const ldb_slice *a, const ldb_slice *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void reply_syntax_error(ldb_cmd_ctx *c) {
    ldb_reply_error(c->reply, "ERR syntax error");
}

static void reply_same_object(ldb_cmd_ctx *c) {
    ldb_reply_error(c->reply, "ERR source and destination objects are the same");
}

/* Argument i as an int, as Redis's getIntFromObjectOrReply reads it: with
 * msg, "ERR msg" for any bad value; without, Redis's own two texts. */
static int arg_int(ldb_cmd_ctx *c, size_t i, const char *msg, int *v) {
    long long x;
    if (ldb_str_to_ll(c->argv[i].p, c->argv[i].len, &x) != 0) {
        if (msg) ldb_reply_error(c->reply, "ERR %s", msg);
        else ldb_reply_error(c->reply, "ERR value is not an integer or out of range");
        return -1;
    }
    if (x < INT_MIN || x > INT_MAX) {
        if (msg) ldb_reply_error(c->reply, "ERR %s", msg);
        else ldb_reply_error(c->reply, "ERR value is out of range, value must between %d and %d",
                             INT_MIN, INT_MAX);
        return -1;
    }
    *v = (int)x;
    return 0;
}

static int db_in_range(ldb_cmd_ctx *c, int d) {
    if (d >= 0 && d < LDB_DBS) return 1;
    ldb_reply_error(c->reply, "ERR DB index is out of range");
    return 0;
}

/* A database number in argument i, as MOVE and COPY read it. */
static int arg_db(ldb_cmd_ctx *c, size_t i, int *d) {
    return arg_int(c, i, NULL, d) == 0 && db_in_range(c, *d) ? 0 : -1;
}

/* Log a command as run in database d rather than the client's. */
static void log_in_db(ldb_cmd_ctx *c, int d, size_t argc, const ldb_slice *argv) {
    int mine = c->client->dbi;
    c->client->dbi = d;
    ldb_cmd_log(c, argc, argv);
    c->client->dbi = mine;
}

/* The live entry of key in database d, for a write: an entry whose
 * deadline passed is deleted, and logged as DEL there (see the top). */
static ldb_entry *find_for_write(ldb_cmd_ctx *c, int d, const ldb_slice *key) {
    int expired;
    ldb_entry *e = ldb_ks_find_any(c->ks, d, key->p, key->len, c->now, &expired);
    if (!e || !expired) return e;
    ldb_db_drop(c->db, ldb_ks_unlink(c->ks, d, key->p, key->len));
    ldb_slice del[2] = {ldb_slice_str("DEL"), *key};
    log_in_db(c, d, 2, del);
    return NULL;
}

/* A new entry holding e's value under 'key' (RENAME, COPY); NULL with
 * c->rc set when out of memory. A string's value is its bytes. A later
 * type whose value points to a structure adds its case here: COPY needs
 * a deep copy of it (Redis's dupStringObject, listTypeDup, ...). */
static ldb_entry *entry_copy(ldb_cmd_ctx *c, const ldb_entry *e, const ldb_slice *key) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    ldb_entry *n = NULL;
    switch (v.type) {
    case LDB_TYPE_STRING:
        n = ldb_entry_create_string(ldb_db_alloc(c->db), key->p, key->len, v.val, v.vlen, NULL);
        if (!n) c->rc = ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory copying a key");
        return n;
    default:
        c->rc = ldb_db_error(c->db, LAYERDB_INVALID, "no copy for values of type %d", v.type);
        return NULL;
    }
}

/* Put e, whose deadline flag is clear, into database d with deadline
 * 'when' (-1: none), dropping the entry it replaces. 0, or -1 with c->rc
 * set and nothing changed. ldb_cmd_put_expiring for any database, and e
 * stays the caller's on failure: MOVE's entry is still in its source. */
static int put_in_db(ldb_cmd_ctx *c, int d, ldb_entry *e, int64_t when) {
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    uint64_t h = ldb_table_prepare(&c->ks->keys[d], v.key, v.klen);
    ldb_entry *replaced;
    if (ldb_ks_put_expiring(c->ks, d, h, e, when, &replaced) != LAYERDB_OK) {
        c->rc = ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory storing a key");
        return -1;
    }
    ldb_db_drop(c->db, replaced);
    return 0;
}

/* ---- DEL, UNLINK, EXISTS, TOUCH, TYPE, DBSIZE ---- */

/* DEL and UNLINK: every key removed goes in one logged DEL, so a crash
 * keeps all of them or none. (UNLINK frees in the background in Redis;
 * here freeing a string is cheap enough to do at once.) */
static void del(ldb_cmd_ctx *c) {
    long long n = 0;
    for (size_t i = 1; i < c->argc; i++) n += ldb_cmd_delete(c, &c->argv[i]);
    if (n > 0) ldb_cmd_log_self(c);
    ldb_reply_int(c->reply, n);
}

/* EXISTS and TOUCH count a key named twice twice, as Redis does. (TOUCH
 * updates the access time in Redis; layerdb keeps none.) */
static void exists(ldb_cmd_ctx *c) {
    long long n = 0;
    for (size_t i = 1; i < c->argc; i++) n += ldb_cmd_find(c, &c->argv[i]) != NULL;
    ldb_reply_int(c->reply, n);
}

static void type(ldb_cmd_ctx *c) {
    ldb_entry *e = ldb_cmd_find(c, &c->argv[1]);
    ldb_reply_status(c->reply, e ? type_names[ldb_entry_type(e)] : "none");
}

/* DBSIZE counts keys whose deadline passed but which were not reclaimed
 * yet, as Redis's does. */
static void dbsize(ldb_cmd_ctx *c) {
    ldb_reply_int(c->reply, (long long)c->ks->keys[c->client->dbi].count);
}

/* ---- RENAME, RENAMENX, COPY, MOVE ---- */

/* RENAME src dst: dst gets src's value and deadline, replacing what it
 * held; RENAMENX only when dst is absent. Renaming a key to itself
 * changes nothing. */
static void rename_generic(ldb_cmd_ctx *c, int nx) {
    const ldb_slice *src = &c->argv[1], *dst = &c->argv[2];
    ldb_entry *e = ldb_cmd_find(c, src);
    if (!e) {
        ldb_reply_error(c->reply, "ERR no such key");
        return;
    }
    if (same_bytes(src, dst) || (nx && ldb_cmd_find(c, dst))) {
        if (nx) ldb_reply_int(c->reply, 0);
        else ldb_reply_status(c->reply, "OK");
        return;
    }
    ldb_entry *n = entry_copy(c, e, dst);
    if (!n) return;
    if (put_in_db(c, c->client->dbi, n, ldb_cmd_deadline(c, e)) != 0) {
        ldb_entry_free(ldb_db_alloc(c->db), n);
        return;
    }
    ldb_cmd_delete(c, src);
    ldb_slice log[3] = {ldb_slice_str("RENAME"), *src, *dst};
    ldb_cmd_log(c, 3, log);
    if (nx) ldb_reply_int(c->reply, 1);
    else ldb_reply_status(c->reply, "OK");
}

static void rename_cmd(ldb_cmd_ctx *c) { rename_generic(c, 0); }
static void renamenx(ldb_cmd_ctx *c) { rename_generic(c, 1); }

/* COPY src dst [DB n] [REPLACE]: 1 if dst (in database n) got a copy of
 * src's value and deadline; 0 if src is absent, or dst present without
 * REPLACE. */
static void copy(ldb_cmd_ctx *c) {
    int d = c->client->dbi, replace = 0;
    for (size_t i = 3; i < c->argc; i++) {
        if (ldb_arg_is(c, i, "REPLACE")) {
            replace = 1;
        } else if (ldb_arg_is(c, i, "DB") && i + 1 < c->argc) {
            if (arg_db(c, ++i, &d) != 0) return;
        } else {
            reply_syntax_error(c);
            return;
        }
    }
    const ldb_slice *src = &c->argv[1], *dst = &c->argv[2];
    if (d == c->client->dbi && same_bytes(src, dst)) {
        reply_same_object(c);
        return;
    }
    ldb_entry *e = ldb_cmd_find(c, src);
    if (!e || (find_for_write(c, d, dst) && !replace)) {
        ldb_reply_int(c->reply, 0);
        return;
    }
    ldb_entry *n = entry_copy(c, e, dst);
    if (!n) return;
    if (put_in_db(c, d, n, ldb_cmd_deadline(c, e)) != 0) {
        ldb_entry_free(ldb_db_alloc(c->db), n);
        return;
    }
    ldb_cmd_log_self(c);
    ldb_reply_int(c->reply, 1);
}

/* MOVE key n: 1 if key went to database n with its deadline; 0 if it is
 * absent here or present there. The entry itself moves: nothing is
 * copied or dropped. */
static void move(ldb_cmd_ctx *c) {
    const ldb_slice *key = &c->argv[1];
    int src = c->client->dbi, dst;
    if (arg_db(c, 2, &dst) != 0) return;
    if (dst == src) {
        reply_same_object(c);
        return;
    }
    ldb_entry *e = ldb_cmd_find(c, key);
    if (!e || find_for_write(c, dst, key)) {
        ldb_reply_int(c->reply, 0);
        return;
    }
    /* The deadline flag in e's type byte says whether its database holds
     * a deadline for it: clear while e goes into dst, set by the put iff
     * it gets one there, which then also makes the unlink below drop the
     * deadline src held. */
    int64_t when = ldb_cmd_deadline(c, e);
    ldb_ks_will_change(c->ks, src, e);
    ldb_entry_set_ttl_flag(e, 0);
    if (put_in_db(c, dst, e, when) != 0) {
        ldb_entry_set_ttl_flag(e, when >= 0);
        return;
    }
    ldb_entry *moved = ldb_ks_unlink(c->ks, src, key->p, key->len);
    assert(moved == e);
    (void)moved;
    ldb_cmd_log_self(c);
    ldb_reply_int(c->reply, 1);
}

/* ---- SWAPDB, FLUSHDB, FLUSHALL ---- */

/* SWAPDB a b: every client of database a sees b's keys, and the other
 * way round, as in Redis. */
static void swapdb(ldb_cmd_ctx *c) {
    int a, b;
    if (arg_int(c, 1, "invalid first DB index", &a) != 0 ||
        arg_int(c, 2, "invalid second DB index", &b) != 0)
        return;
    if (!db_in_range(c, a) || !db_in_range(c, b)) return;
    if (a != b && (c->ks->keys[a].count || c->ks->keys[b].count)) {
        ldb_ks_swap(c->ks, a, b);
        ldb_cmd_log_self(c);
    }
    ldb_reply_status(c->reply, "OK");
}

/* FLUSHDB and FLUSHALL take ASYNC or SYNC, alone; both free at once here
 * (an entry the log writer may still read waits in db.c's limbo). */
static int flush_option_ok(ldb_cmd_ctx *c) {
    if (c->argc == 1 || (c->argc == 2 && (ldb_arg_is(c, 1, "ASYNC") || ldb_arg_is(c, 1, "SYNC"))))
        return 1;
    reply_syntax_error(c);
    return 0;
}

static void drop_entry(void *db, ldb_entry *e) {
    ldb_db_drop(db, e);
}

/* Empty databases [from, to], logging the command if they held anything;
 * replies OK unless the engine failed (then nothing changed). */
static void flush_dbs(ldb_cmd_ctx *c, int from, int to) {
    size_t n = 0;
    for (int d = from; d <= to; d++) n += c->ks->keys[d].count;
    if (n > 0) {
        if (ldb_cmd_reserve_drops(c, n) != 0) return;
        for (int d = from; d <= to; d++) ldb_ks_flush_each(c->ks, d, drop_entry, c->db);
        ldb_cmd_log_self(c);
    }
    ldb_reply_status(c->reply, "OK");
}

static void flushdb(ldb_cmd_ctx *c) {
    if (flush_option_ok(c)) flush_dbs(c, c->client->dbi, c->client->dbi);
}

static void flushall(ldb_cmd_ctx *c) {
    if (flush_option_ok(c)) flush_dbs(c, 0, LDB_DBS - 1);
}

/* ---- KEYS and SCAN ---- */

/* The keys a walk of a table collects: live ones that pass the filters. */
typedef struct key_list {
    ldb_cmd_ctx *c;
    const ldb_slice *pattern; /* NULL: any key */
    const ldb_slice *type;    /* NULL: any type */
    ldb_slice *keys;
    size_t n, cap;
    size_t visited; /* entries seen, kept or not (SCAN's COUNT) */
    int oom;
} key_list;

/* Does an entry's type name equal the TYPE argument? Compared as Redis
 * does, with strcasecmp: in any case, up to a zero byte (in ASCII here,
 * whatever the host's locale). */
static int type_matches(const ldb_slice *want, int type) {
    ldb_slice upto_zero = {want->p, strnlen((const char *)want->p, want->len)};
    return ldb_slice_is(&upto_zero, type_names[type]);
}

static void collect_key(void *ud, const ldb_entry *e) {
    key_list *l = ud;
    l->visited++;
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    if (l->oom) return;
    if (l->pattern && !ldb_glob_match(l->pattern->p, l->pattern->len, v.key, v.klen, 0)) return;
    if (l->type && !type_matches(l->type, v.type)) return;
    if (ldb_ks_is_expired(l->c->ks, l->c->client->dbi, e, l->c->now)) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        ldb_slice *p = ldb_realloc(ldb_db_alloc(l->c->db), l->keys, l->cap * sizeof *p,
                                   ldb_mul_size(cap, sizeof *p));
        if (!p) {
            l->oom = 1;
            return;
        }
        l->keys = p;
        l->cap = cap;
    }
    l->keys[l->n].p = v.key;
    l->keys[l->n++].len = v.klen;
}

/* Reply the keys collected as an array (or fail the command without
 * memory), then free the list. */
static void reply_keys(ldb_cmd_ctx *c, key_list *l) {
    if (l->oom) {
        c->rc = ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory listing keys");
    } else {
        ldb_reply_array(c->reply, l->n);
        for (size_t i = 0; i < l->n; i++) ldb_reply_bulk(c->reply, l->keys[i].p, l->keys[i].len);
    }
    ldb_free(ldb_db_alloc(c->db), l->keys, l->cap * sizeof *l->keys);
}

/* A pattern that is exactly "*" takes every key, the empty one too (the
 * matcher's "*" does not match ""): Redis skips matching for it. */
static const ldb_slice *pattern_or_all(const ldb_slice *pattern) {
    return pattern->len == 1 && pattern->p[0] == '*' ? NULL : pattern;
}

static void keys(ldb_cmd_ctx *c) {
    key_list l = {c, pattern_or_all(&c->argv[1]), NULL, NULL, 0, 0, 0, 0};
    ldb_table_scan(&c->ks->keys[c->client->dbi], 0, SIZE_MAX, collect_key, &l);
    reply_keys(c, &l);
}

static int is_space(unsigned char b) {
    return b == ' ' || (b >= '\t' && b <= '\r'); /* isspace in the C locale */
}

/* SCAN's cursor, as Redis reads it with strtoul: no leading space, an
 * optional sign, decimal digits up to the end or a zero byte, at most
 * 2^64 - 1; "-n" is 2^64 - n, and an argument that is empty or starts
 * with a zero byte is 0. 0, or -1 for "ERR invalid cursor". */
static int parse_cursor(const ldb_slice *a, uint64_t *cursor) {
    const unsigned char *p = a->p, *end = p + a->len;
    if (p == end || *p == '\0') {
        *cursor = 0;
        return 0;
    }
    int neg = *p == '-';
    if (is_space(*p)) return -1;
    if (*p == '-' || *p == '+') p++;
    if (p == end || *p < '0' || *p > '9') return -1;
    uint64_t v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return -1; /* ERANGE */
        v = v * 10 + d;
    }
    if (p < end && *p != '\0') return -1;
    *cursor = neg ? 0 - v : v;
    return 0;
}

/* SCAN's options from argument 2 on; -1 after replying an error. */
static int parse_scan_options(ldb_cmd_ctx *c, key_list *l, long long *count) {
    for (size_t i = 2; i < c->argc; i += 2) {
        int has_value = i + 1 < c->argc;
        if (ldb_arg_is(c, i, "COUNT") && has_value) {
            if (ldb_arg_ll(c, i + 1, count) != 0) return -1;
            if (*count < 1) {
                reply_syntax_error(c);
                return -1;
            }
        } else if (ldb_arg_is(c, i, "MATCH") && has_value) {
            l->pattern = pattern_or_all(&c->argv[i + 1]);
        } else if (ldb_arg_is(c, i, "TYPE") && has_value) {
            l->type = &c->argv[i + 1];
        } else {
            reply_syntax_error(c);
            return -1;
        }
    }
    return 0;
}

/* SCAN cursor [MATCH pattern] [COUNT n] [TYPE name]: walks about COUNT
 * entries (up to ten times as many slots on a sparse table, as Redis's
 * bound of ten buckets per COUNT), then filters them as Redis does, so
 * a reply may hold fewer keys than COUNT, or none, before the end. An
 * entry present for the whole iteration is replied exactly once. */
static void scan(ldb_cmd_ctx *c) {
    uint64_t cursor;
    long long count = 10;
    key_list l = {c, NULL, NULL, NULL, 0, 0, 0, 0};
    if (parse_cursor(&c->argv[1], &cursor) != 0) {
        ldb_reply_error(c->reply, "ERR invalid cursor");
        return;
    }
    if (parse_scan_options(c, &l, &count) != 0) return;
    const ldb_table *t = &c->ks->keys[c->client->dbi];
    size_t slots = (unsigned long long)count > SIZE_MAX ? SIZE_MAX : (size_t)count;
    int calls = 0;
    do cursor = ldb_table_scan(t, cursor, slots, collect_key, &l);
    while (cursor != 0 && l.visited < (unsigned long long)count && ++calls < 10);
    if (l.oom) {
        reply_keys(c, &l);
        return;
    }
    char num[24];
    ldb_reply_array(c->reply, 2);
    ldb_reply_bulk(c->reply, num, (size_t)snprintf(num, sizeof num, "%llu",
                                                   (unsigned long long)cursor));
    reply_keys(c, &l);
}

/* ---- RANDOMKEY ---- */

typedef struct first_live {
    ldb_cmd_ctx *c;
    const ldb_entry *found;
} first_live;

static void take_first_live(void *ud, const ldb_entry *e) {
    first_live *f = ud;
    if (!f->found && !ldb_ks_is_expired(f->c->ks, f->c->client->dbi, e, f->c->now)) f->found = e;
}

/* A live key from a walk starting at a random place: when sampling keeps
 * meeting keys whose deadline passed (Redis deletes those and samples
 * again; a read here deletes nothing). */
static const ldb_entry *walk_for_live(ldb_cmd_ctx *c, const ldb_table *t) {
    first_live f = {c, NULL};
    uint64_t cursor = ldb_ks_random(c->ks);
    for (int pass = 0; pass < 2 && !f.found; pass++, cursor = 0) {
        do cursor = ldb_table_scan(t, cursor, 1024, take_first_live, &f);
        while (!f.found && cursor != 0);
    }
    return f.found;
}

static void randomkey(ldb_cmd_ctx *c) {
    const ldb_table *t = &c->ks->keys[c->client->dbi];
    const ldb_entry *e = NULL;
    for (int tries = 0; tries < 100 && !e; tries++) {
        const ldb_entry *s = ldb_table_sample(t, ldb_ks_random(c->ks));
        if (!s) break; /* empty */
        if (!ldb_ks_is_expired(c->ks, c->client->dbi, s, c->now)) e = s;
    }
    if (!e && t->count > 0) e = walk_for_live(c, t);
    if (!e) {
        ldb_reply_nil(c->reply);
        return;
    }
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    ldb_reply_bulk(c->reply, v.key, v.klen);
}

/* ---- OBJECT ---- */

#define SHARED_INTEGERS 10000 /* Redis shares the int values 0..9999 */

/* A string's encoding as Redis 7.0 picks it when a command stores a value
 * through tryObjectEncoding (SET, MSET, SETEX, INCR, APPEND to a missing
 * key, ...): "int" for an integer of at most 20 bytes, "embstr" up to 44
 * bytes, "raw" beyond. Redis keeps the encoding a command made: after
 * APPEND to a present key, SETRANGE or SETBIT it says "raw" (REFCOUNT 1),
 * after INCRBYFLOAT "embstr" even for "3"; layerdb, which stores the bytes
 * only, says what the value would get from SET. */
static const char *string_encoding(const ldb_entry_view *v, long long *as_int) {
    long long x;
    if (ldb_str_to_ll(v->val, v->vlen, &x) == 0) {
        if (as_int) *as_int = x;
        return "int";
    }
    return v->vlen <= 44 ? "embstr" : "raw";
}

/* Strings only exist so far: a later type names its own encodings here
 * ("listpack", "hashtable", ...) and REFCOUNT replies 1 for it. */
static void object_encoding(ldb_cmd_ctx *c, const ldb_entry_view *v) {
    const char *name = string_encoding(v, NULL);
    ldb_reply_bulk(c->reply, name, strlen(name));
}

/* Shared integers have Redis's OBJ_SHARED_REFCOUNT (INT_MAX); any other
 * value one reference. */
static void object_refcount(ldb_cmd_ctx *c, const ldb_entry_view *v) {
    long long x = -1;
    int shared = string_encoding(v, &x)[0] == 'i' && x >= 0 && x < SHARED_INTEGERS;
    ldb_reply_int(c->reply, shared ? INT_MAX : 1);
}

/* layerdb keeps no access time: a key is never idle. */
static void object_idletime(ldb_cmd_ctx *c, const ldb_entry_view *v) {
    (void)v;
    ldb_reply_int(c->reply, 0);
}

/* Redis's reply without an LFU maxmemory policy, which layerdb never has. */
static void object_freq(ldb_cmd_ctx *c, const ldb_entry_view *v) {
    (void)v;
    ldb_reply_error(c->reply, "ERR An LFU maxmemory policy is not selected, access frequency not "
                              "tracked. Please note that when switching between policies at "
                              "runtime LRU and LFU data will take some time to adjust.");
}

static void object_help(ldb_cmd_ctx *c) {
    static const char *const lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    };
    size_t n = sizeof lines / sizeof lines[0];
    ldb_reply_array(c->reply, n);
    for (size_t i = 0; i < n; i++) ldb_reply_status(c->reply, lines[i]);
}

/* Redis's text for an unknown subcommand, its name cut as Redis's %.128s
 * cuts it (at 128 bytes or a zero byte), line breaks made spaces. */
static void reply_unknown_subcommand(ldb_cmd_ctx *c) {
    char name[129];
    size_t n = strnlen((const char *)c->argv[1].p, c->argv[1].len < 128 ? c->argv[1].len : 128);
    for (size_t i = 0; i < n; i++) {
        char ch = (char)c->argv[1].p[i];
        name[i] = ch == '\r' || ch == '\n' ? ' ' : ch;
    }
    name[n] = '\0';
    ldb_reply_error(c->reply, "ERR unknown subcommand '%s'. Try OBJECT HELP.", name);
}

/* OBJECT subcommand [key]: each subcommand has its own arity, as Redis's
 * container commands do; a missing key replies nil. */
static void object(ldb_cmd_ctx *c) {
    static const struct {
        const char *name;
        void (*fn)(ldb_cmd_ctx *c, const ldb_entry_view *v);
    } subs[] = {{"encoding", object_encoding},
                {"freq", object_freq},
                {"idletime", object_idletime},
                {"refcount", object_refcount}};
    if (ldb_arg_is(c, 1, "help")) {
        if (c->argc == 2) object_help(c);
        else ldb_reply_error(c->reply, "ERR wrong number of arguments for 'object|help' command");
        return;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (!ldb_arg_is(c, 1, subs[i].name)) continue;
        if (c->argc != 3) {
            ldb_reply_error(c->reply, "ERR wrong number of arguments for 'object|%s' command",
                            subs[i].name);
            return;
        }
        ldb_entry *e = ldb_cmd_find(c, &c->argv[2]);
        if (!e) {
            ldb_reply_nil(c->reply);
            return;
        }
        ldb_entry_view v;
        ldb_entry_decode(e, &v);
        subs[i].fn(c, &v);
        return;
    }
    reply_unknown_subcommand(c);
}

/* ---- The table ---- */

#define W LDB_CMD_WRITE
#define R LDB_CMD_READONLY
#define F LDB_CMD_FAST
const ldb_command ldb_commands_keys[] = {
    /* name      arity flags  keys      handler */
    {"copy",     -3, W,       1, 2, 1,  copy},
    {"dbsize",   1,  R | F,   0, 0, 0,  dbsize},
    {"del",      -2, W,       1, -1, 1, del},
    {"exists",   -2, R | F,   1, -1, 1, exists},
    {"flushall", -1, W,       0, 0, 0,  flushall},
    {"flushdb",  -1, W,       0, 0, 0,  flushdb},
    {"keys",     2,  R,       0, 0, 0,  keys},
    {"move",     3,  W | F,   1, 1, 1,  move},
    {"object",   -2, R,       2, 2, 1,  object},
    {"randomkey", 1, R,       0, 0, 0,  randomkey},
    {"rename",   3,  W,       1, 2, 1,  rename_cmd},
    {"renamenx", 3,  W | F,   1, 2, 1,  renamenx},
    {"scan",     -2, R,       0, 0, 0,  scan},
    {"swapdb",   3,  W | F,   0, 0, 0,  swapdb},
    {"touch",    -2, R | F,   1, -1, 1, exists},
    {"type",     2,  R | F,   1, 1, 1,  type},
    {"unlink",   -2, W | F,   1, -1, 1, del},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
