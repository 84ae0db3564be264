/* command.c -- the executor: look a command up, check its arity, queue it
 * inside MULTI, or run its handler under the handle's lock with room made
 * for its log record, and hand the reply over; the client contexts; the C
 * API's way in (layerdb_command, layerdb_client_command); replay at open;
 * and the helpers handlers share (command.h). */
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "active_expire.h"
#include "strnum.h"
#include "table.h"

#define NAME_SHOWN 128 /* bytes of an unknown name or its arguments shown */
#define EFFECTS_KEEP (1 << 20) /* a record buffer grown past this (a huge
                                  command) is freed after the command */

/* ---- Client contexts ---- */

layerdb_client *ldb_client_new(layerdb *db, int replaying) {
    layerdb_client *cl = ldb_calloc(ldb_db_alloc(db), sizeof *cl);
    if (!cl) return NULL;
    cl->db = db;
    cl->replaying = replaying;
    atomic_init(&cl->in_multi, 0);
    return cl;
}

static void discard_queue(layerdb_client *cl) {
    cl->queued.len = 0;
    cl->nqueued = 0;
    cl->queued_max_argc = 0;
    cl->multi_dirty = 0;
    atomic_store(&cl->in_multi, 0);
}

void layerdb_client_free(layerdb_client *cl) {
    if (!cl) return;
    ldb_alloc *a = ldb_db_alloc(cl->db);
    ldb_buf_free(a, &cl->queued);
    ldb_buf_free(a, &cl->effects);
    ldb_free(a, cl, sizeof *cl);
}

layerdb_client *layerdb_client_new(layerdb *db) {
    if (ldb_db_check_open(db) != LAYERDB_OK) return NULL;
    layerdb_client *cl = ldb_client_new(db, 0);
    if (!cl) ldb_db_error(db, LAYERDB_NOMEM, "out of memory creating a client");
    return cl;
}

/* ---- Errors the executor replies ---- */

/* Redis's text for a command it does not know, with the start of its
 * arguments: ERR unknown command 'foo', with args beginning with: 'a' 'b' */
static void reply_unknown(ldb_reply_builder *b, size_t argc, const ldb_slice *argv) {
    char args[NAME_SHOWN + 8] = "";
    size_t used = 0;
    for (size_t i = 1; i < argc && used < NAME_SHOWN; i++) {
        size_t shown = argv[i].len < NAME_SHOWN - used ? argv[i].len : NAME_SHOWN - used;
        int n = snprintf(args + used, sizeof args - used, "'%.*s' ", (int)shown,
                         (const char *)argv[i].p);
        if (n < 0) break;
        used += (size_t)n < sizeof args - used ? (size_t)n : sizeof args - used - 1;
    }
    int n = argv[0].len > NAME_SHOWN ? NAME_SHOWN : (int)argv[0].len;
    ldb_reply_error(b, "ERR unknown command '%.*s', with args beginning with: %s", n,
                    (const char *)argv[0].p, args);
}

static int arity_ok(const ldb_command *cmd, size_t argc) {
    if (cmd->arity > 0) return argc == (size_t)cmd->arity;
    return argc >= (size_t)-cmd->arity;
}

/* The command argv names, or NULL after replying why not (unknown, wrong
 * number of arguments). */
static const ldb_command *resolve(ldb_reply_builder *b, size_t argc, const ldb_slice *argv) {
    const ldb_command *cmd = ldb_command_lookup(argv[0].p, argv[0].len);
    if (!cmd) {
        reply_unknown(b, argc, argv);
        return NULL;
    }
    if (!arity_ok(cmd, argc)) {
        ldb_reply_error(b, "ERR wrong number of arguments for '%s' command", cmd->name);
        return NULL;
    }
    return cmd;
}

/* ---- The record a command builds ---- */

/* The room a command's record may need: invariant (4). SIZE_MAX if even
 * its arguments would not fit a record. */
static size_t record_bound(size_t argc, const ldb_slice *argv) {
    uint64_t args = ldb_logfmt_args_size(argc, argv);
    if (args > LDB_MAX_BODY) return SIZE_MAX;
    uint64_t bound = 2 * args + LDB_CMD_LOG_SLACK;
    size_t max = ldb_logfmt_encoded_commands_size(1, LDB_MAX_BODY - 16);
    return bound > max ? max : (size_t)bound;
}

static void record_begin(layerdb_client *cl, size_t reserved) {
    cl->effects.len = 0;
    cl->neffects = 0;
    cl->logged_dbi = 0;
    cl->reserved = reserved;
}

/* Append one command to the record (ldb_cmd_log without the SELECT). */
static void record_add(ldb_cmd_ctx *c, size_t argc, const ldb_slice *argv) {
    layerdb_client *cl = c->client;
    uint64_t n = ldb_logfmt_args_size(argc, argv);
    if (n > LDB_MAX_BODY || ldb_buf_reserve(ldb_db_alloc(c->db), &cl->effects, (size_t)n) != 0) {
        c->rc = ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory logging a command");
        return;
    }
    cl->effects.len = (size_t)(ldb_logfmt_put_args(cl->effects.p + cl->effects.len, argc, argv) -
                               cl->effects.p);
    cl->neffects++;
}

void ldb_cmd_log(ldb_cmd_ctx *c, size_t argc, const ldb_slice *argv) {
    layerdb_client *cl = c->client;
    if (cl->replaying || !ldb_db_logging(c->db)) return;
    if (cl->dbi != cl->logged_dbi) {
        char num[4];
        snprintf(num, sizeof num, "%d", cl->dbi);
        ldb_slice sel[2] = {ldb_slice_str("SELECT"), ldb_slice_str(num)};
        record_add(c, 2, sel);
        cl->logged_dbi = cl->dbi;
    }
    record_add(c, argc, argv);
}

void ldb_cmd_log_self(ldb_cmd_ctx *c) {
    ldb_cmd_log(c, c->argc, c->argv);
}

/* Queue the record (lock held); returns its end, 0 if there is none. A
 * record past the room reserved would be a broken invariant (4): in a
 * debug build it stops here, otherwise it gets room of its own. */
static uint64_t record_commit(ldb_cmd_ctx *c) {
    layerdb_client *cl = c->client;
    if (cl->neffects == 0) return 0;
    size_t size = ldb_logfmt_encoded_commands_size(cl->neffects, cl->effects.len);
    assert(size <= cl->reserved);
    if (size > cl->reserved) {
        int rc = ldb_db_reserve(c->db, size, 0);
        if (rc) {
            c->rc = rc;
            return 0;
        }
    }
    return ldb_db_log(c->db, cl->neffects, cl->effects.p, cl->effects.len);
}

/* ---- Running a command ---- */

static void ctx_init(ldb_cmd_ctx *c, layerdb_client *cl, ldb_reply_builder *b) {
    memset(c, 0, sizeof *c);
    c->db = cl->db;
    c->client = cl;
    c->ks = cl->ks ? cl->ks : ldb_db_keyspace(cl->db);
    c->now = cl->replaying ? LDB_KS_NO_EXPIRY : ldb_ks_clock_ms();
    c->reply = b;
}

/* Before a write command runs: delete the keys it names whose deadline
 * has passed, and log each as a DEL, so that replay (where nothing
 * expires by the clock) sees the key gone too. */
static void expire_named_keys(ldb_cmd_ctx *c, const ldb_command *cmd) {
    if (c->now == LDB_KS_NO_EXPIRY || c->ks->ttl_keys == 0 || cmd->first_key == 0) return;
    int last = cmd->last_key < 0 ? (int)c->argc + cmd->last_key : cmd->last_key;
    for (int i = cmd->first_key; i <= last && i < (int)c->argc; i += cmd->key_step) {
        int expired;
        const ldb_slice *key = &c->argv[i];
        ldb_entry *e = ldb_ks_find_any(c->ks, c->client->dbi, key->p, key->len, c->now, &expired);
        if (!e || !expired) continue;
        ldb_db_drop(c->db, ldb_ks_unlink(c->ks, c->client->dbi, key->p, key->len));
        ldb_slice del[2] = {ldb_slice_str("DEL"), *key};
        ldb_cmd_log(c, 2, del);
    }
}

/* Run one command whose room is made (lock held). */
static void run_handler(ldb_cmd_ctx *c, const ldb_command *cmd, size_t argc,
                        const ldb_slice *argv) {
    c->argc = argc;
    c->argv = argv;
    c->cmd = cmd;
    if (cmd->flags & LDB_CMD_WRITE) expire_named_keys(c, cmd);
    if (c->rc == LAYERDB_OK) cmd->fn(c);
}

/* A write command, or EXEC: room for a record of up to 'bound' bytes and
 * 'drops' dropped entries, then run, then log (lock held). */
static int run_write(ldb_cmd_ctx *c, const ldb_command *cmd, size_t bound, size_t drops) {
    layerdb_client *cl = c->client;
    int logging = ldb_db_logging(c->db) && !cl->replaying;
    if (logging && bound == SIZE_MAX)
        return ldb_db_error(c->db, LAYERDB_TOOBIG, "a command of more than 2 GiB cannot be logged");
    int rc = ldb_db_reserve(c->db, logging ? bound : 0, drops);
    if (rc) return rc;
    record_begin(cl, bound);
    cl->drops_reserved = drops;
    /* The record's memory too, so that logging a change cannot fail. */
    if (logging && ldb_buf_reserve(ldb_db_alloc(c->db), &cl->effects, bound) != 0)
        return ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory making room to log a command");
    run_handler(c, cmd, c->argc, c->argv);
    /* Whatever changed is logged, also when the engine failed midway
     * (an EXEC whose later command ran out of memory). */
    int failed = c->rc;
    c->rc = LAYERDB_OK;
    c->end = record_commit(c);
    if (cl->effects.cap > EFFECTS_KEEP) ldb_buf_free(ldb_db_alloc(c->db), &cl->effects);
    if (!cl->replaying) ldb_expire_active(c);
    return failed ? failed : c->rc;
}

/* Queue a command inside MULTI, as Redis does: an unknown command or a
 * wrong arity is refused now and makes EXEC fail. (lock held) */
static int queue_command(layerdb_client *cl, const ldb_command *cmd, size_t argc,
                         const ldb_slice *argv, ldb_reply_builder *b) {
    if (!cmd) {
        cl->multi_dirty = 1;
        return LAYERDB_OK; /* resolve replied */
    }
    uint64_t n = ldb_logfmt_args_size(argc, argv);
    if (n > LDB_MAX_BODY || ldb_buf_reserve(ldb_db_alloc(cl->db), &cl->queued, (size_t)n) != 0)
        return ldb_db_error(cl->db, LAYERDB_NOMEM, "out of memory queueing a command");
    cl->queued.len = (size_t)(ldb_logfmt_put_args(cl->queued.p + cl->queued.len, argc, argv) -
                              cl->queued.p);
    cl->nqueued++;
    if (argc > cl->queued_max_argc) cl->queued_max_argc = argc;
    ldb_reply_status(b, "QUEUED");
    return LAYERDB_OK;
}

/* ldb_command_exec once the command is known: cmd, or NULL when resolve
 * replied why there is none. */
static int exec_resolved(layerdb_client *cl, const ldb_command *cmd, size_t argc,
                         const ldb_slice *argv, ldb_reply_builder *b, uint64_t *end) {
    layerdb *db = cl->db;
    *end = 0;
    int in_multi = atomic_load_explicit(&cl->in_multi, memory_order_relaxed);
    if (!cmd && !in_multi) return LAYERDB_OK;
    if (cmd && (cmd->flags & LDB_CMD_WRITE) && !cl->replaying) {
        int rc = ldb_db_check_writable(db);
        if (rc) {
            if (in_multi) cl->multi_dirty = 1;
            return rc;
        }
    }
    ldb_cmd_ctx c;
    ctx_init(&c, cl, b);
    int rc = LAYERDB_OK;
    /* A command that only reads shares the lock with other readers. */
    int reads_only = cmd && !in_multi && !(cmd->flags & (LDB_CMD_WRITE | LDB_CMD_CLIENT | LDB_CMD_NO_MULTI));
    /* Replay runs inside layerdb_open, where no other thread has the
     * handle, or in layerdb_refresh, which holds the lock for writing
     * already or fills a keyspace no other thread sees (follower.c). */
    int locking = !cl->replaying;
    if (locking && reads_only) ldb_db_rdlock(db);
    else if (locking) ldb_db_lock(db);
    if (in_multi && !(cmd && (cmd->flags & LDB_CMD_NO_MULTI))) {
        rc = queue_command(cl, cmd, argc, argv, b);
    } else if (cmd->flags & LDB_CMD_WRITE) {
        c.argc = argc;
        c.argv = argv;
        rc = run_write(&c, cmd, record_bound(argc, argv), argc);
    } else {
        run_handler(&c, cmd, argc, argv);
        rc = c.rc;
    }
    if (locking && reads_only) ldb_db_rdunlock(db);
    else if (locking) ldb_db_unlock(db);
    *end = c.end;
    if (rc != LAYERDB_OK) {
        ldb_reply_discard(b);
        return rc;
    }
    assert(b->oom || b->sink || (b->root != NULL && b->depth == 0)); /* invariant (1) */
    assert(*end == 0 || (cmd->flags & (LDB_CMD_WRITE | LDB_CMD_NO_MULTI))); /* (3), EXEC */
    return LAYERDB_OK;
}

int ldb_command_exec(layerdb_client *cl, size_t argc, const ldb_slice *argv, ldb_reply_builder *b,
                     uint64_t *end) {
    return exec_resolved(cl, resolve(b, argc, argv), argc, argv, b, end);
}

/* ---- Transactions: what EXEC runs (commands/multi.c replies) ---- */

/* Walk the queued commands: calls fn for each with its argv. */
typedef int (*queued_fn)(void *ud, const ldb_command *cmd, size_t argc, const ldb_slice *argv);

static int each_queued(layerdb_client *cl, queued_fn fn, void *ud) {
    if (cl->nqueued == 0) return 0; /* queued.p may be NULL: no pointer sums */
    ldb_cmd_reader r = {cl->queued.p, cl->queued.p + cl->queued.len, cl->nqueued};
    ldb_alloc *a = ldb_db_alloc(cl->db);
    size_t bytes = ldb_mul_size(cl->queued_max_argc, sizeof(ldb_slice)), argc;
    ldb_slice *argv = ldb_malloc(a, bytes);
    if (!argv) return LAYERDB_NOMEM;
    int rc = 0;
    while (rc == 0 && ldb_logfmt_commands_next(&r, argv, &argc))
        rc = fn(ud, ldb_command_lookup(argv[0].p, argv[0].len), argc, argv);
    ldb_free(a, argv, bytes);
    return rc;
}

typedef struct exec_plan {
    size_t bound;
    size_t drops;
    int writes;
} exec_plan;

static int plan_one(void *ud, const ldb_command *cmd, size_t argc, const ldb_slice *argv) {
    exec_plan *p = ud;
    if (!(cmd->flags & LDB_CMD_WRITE)) return 0;
    size_t b = record_bound(argc, argv);
    p->bound = b == SIZE_MAX || p->bound > SIZE_MAX - b ? SIZE_MAX : p->bound + b;
    p->drops += argc;
    p->writes = 1;
    return 0;
}

static int exec_one(void *ud, const ldb_command *cmd, size_t argc, const ldb_slice *argv) {
    ldb_cmd_ctx *c = ud;
    run_handler(c, cmd, argc, argv);
    return c->rc;
}

static void exec_all(ldb_cmd_ctx *c) {
    layerdb_client *cl = c->client;
    ldb_reply_array(c->reply, cl->nqueued);
    c->rc = each_queued(cl, exec_one, c);
}

static const ldb_command exec_runner = {"exec", 1, LDB_CMD_WRITE, 0, 0, 0, exec_all};

void ldb_cmd_exec_queued(ldb_cmd_ctx *c) {
    layerdb_client *cl = c->client;
    exec_plan plan = {0, 0, 0};
    if (each_queued(cl, plan_one, &plan) != 0) {
        c->rc = ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory running EXEC");
    } else if (!plan.writes) {
        exec_all(c);
    } else {
        int rc = run_write(c, &exec_runner, plan.bound, plan.drops);
        if (rc) c->rc = rc;
    }
    discard_queue(cl);
}

void ldb_cmd_discard_queued(ldb_cmd_ctx *c) {
    discard_queue(c->client);
}

/* ---- Replay ---- */

int ldb_client_replay(void *ud, int dry_run, size_t argc, const ldb_slice *argv, char *msg,
                      size_t cap) {
    layerdb_client *cl = ud;
    if (argc == 0) { /* a record starts: in database 0 */
        cl->dbi = 0;
        return LAYERDB_OK;
    }
    const ldb_command *cmd = ldb_command_lookup(argv[0].p, argv[0].len);
    if (!cmd || !arity_ok(cmd, argc) || !(cmd->flags & (LDB_CMD_WRITE | LDB_CMD_CLIENT))) {
        int n = argv[0].len > 32 ? 32 : (int)argv[0].len;
        snprintf(msg, cap, "unknown command '%.*s' with %zu arguments", n,
                 (const char *)argv[0].p, argc - 1);
        return LAYERDB_CORRUPT;
    }
    if (dry_run) return LAYERDB_OK;
    ldb_reply_builder b;
    ldb_reply_init_sink(&b);
    uint64_t end;
    int rc = exec_resolved(cl, cmd, argc, argv, &b, &end);
    if (rc) {
        snprintf(msg, cap, "%s", layerdb_errmsg(cl->db));
        return rc;
    }
    if (b.error[0]) {
        int n = argv[0].len > 32 ? 32 : (int)argv[0].len;
        snprintf(msg, cap, "replaying '%.*s' failed: %s", n, (const char *)argv[0].p, b.error);
        return LAYERDB_CORRUPT;
    }
    return LAYERDB_OK;
}

/* ---- The C API ---- */

static int command_api(layerdb_client *cl, int argc, const char **argv, const size_t *argvlen,
                       layerdb_reply **reply) {
    layerdb *db = cl->db;
    if (argc < 1 || !argv || !reply) return LAYERDB_INVALID;
    ldb_slice small[16];
    ldb_slice *args = argc <= 16 ? small
                                 : ldb_malloc(ldb_alloc_libc(), ldb_mul_size((size_t)argc, sizeof *args));
    if (!args) return LAYERDB_NOMEM;
    int rc = LAYERDB_OK;
    for (int i = 0; i < argc; i++) {
        args[i].p = (const unsigned char *)argv[i];
        args[i].len = argvlen ? argvlen[i] : (argv[i] ? strlen(argv[i]) : 0);
        if (!argv[i] && args[i].len) rc = LAYERDB_INVALID;
    }
    ldb_reply_builder b;
    ldb_reply_init(&b);
    uint64_t end = 0;
    if (rc == LAYERDB_OK) rc = ldb_command_exec(cl, (size_t)argc, args, &b, &end);
    if (args != small) ldb_free(ldb_alloc_libc(), args, (size_t)argc * sizeof *args);
    if (rc == LAYERDB_OK) rc = ldb_db_wait_durable(db, end);
    if (rc != LAYERDB_OK) {
        ldb_reply_discard(&b);
        return rc;
    }
    *reply = ldb_reply_finish(&b);
    return *reply ? LAYERDB_OK : LAYERDB_NOMEM;
}

int layerdb_command(layerdb *db, int argc, const char **argv, const size_t *argvlen,
                    layerdb_reply **reply) {
    if (reply) *reply = NULL;
    int rc = ldb_db_check_open(db);
    return rc ? rc : command_api(ldb_db_client(db), argc, argv, argvlen, reply);
}

int layerdb_client_command(layerdb_client *cl, int argc, const char **argv,
                           const size_t *argvlen, layerdb_reply **reply) {
    if (reply) *reply = NULL;
    if (!cl) return LAYERDB_INVALID;
    int rc = ldb_db_check_open(cl->db);
    return rc ? rc : command_api(cl, argc, argv, argvlen, reply);
}

/* ---- For handlers ---- */

/* In ASCII, whatever the host's locale: "PERSIST" must match "persist"
 * under a Turkish locale too. */
int ldb_arg_is(const ldb_cmd_ctx *c, size_t i, const char *word) {
    return ldb_slice_is(&c->argv[i], word);
}

int ldb_slice_is(const ldb_slice *s, const char *word) {
    const unsigned char *p = s->p;
    size_t n = strlen(word);
    if (s->len != n) return 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char a = p[k], b = (unsigned char)word[k];
        if (a >= 'a' && a <= 'z') a = (unsigned char)(a - ('a' - 'A'));
        if (b >= 'a' && b <= 'z') b = (unsigned char)(b - ('a' - 'A'));
        if (a != b) return 0;
    }
    return 1;
}

int ldb_arg_expire(ldb_cmd_ctx *c, size_t i, int seconds, int relative, int64_t *when) {
    long long t;
    if (ldb_arg_ll(c, i, &t) != 0) return -1;
    if (t <= 0 || (seconds && t > LLONG_MAX / 1000)) {
        ldb_reply_error(c->reply, "ERR invalid expire time in '%s' command", c->cmd->name);
        return -1;
    }
    if (seconds) t *= 1000;
    if (relative) {
        if (t > LLONG_MAX - c->now) t = -1; /* overflows: Redis's test sees it negative */
        else t += c->now;
    }
    if (t <= 0) {
        ldb_reply_error(c->reply, "ERR invalid expire time in '%s' command", c->cmd->name);
        return -1;
    }
    *when = t;
    return 0;
}

void ldb_cmd_log_set(ldb_cmd_ctx *c, const ldb_slice *key, const void *val, size_t vlen,
                     int64_t when, int keep_ttl) {
    char num[24];
    ldb_slice argv[5] = {ldb_slice_str("SET"), *key, {val, vlen}};
    size_t argc = 3;
    if (when >= 0) {
        argv[argc++] = ldb_slice_str("PXAT");
        argv[argc].p = (const unsigned char *)num;
        argv[argc++].len = ldb_ll_to_str(num, when);
    } else if (keep_ttl) {
        argv[argc++] = ldb_slice_str("KEEPTTL");
    }
    ldb_cmd_log(c, argc, argv);
}

int ldb_arg_ll(ldb_cmd_ctx *c, size_t i, long long *v) {
    if (ldb_str_to_ll(c->argv[i].p, c->argv[i].len, v) == 0) return 0;
    ldb_reply_error(c->reply, "ERR value is not an integer or out of range");
    return -1;
}

ldb_entry *ldb_cmd_find(ldb_cmd_ctx *c, const ldb_slice *key) {
    return ldb_ks_find(c->ks, c->client->dbi, key->p, key->len, c->now);
}

void ldb_cmd_reply_wrongtype(ldb_cmd_ctx *c) {
    ldb_reply_error(c->reply, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

int ldb_cmd_get_string(ldb_cmd_ctx *c, const ldb_slice *key, const unsigned char **val,
                       size_t *len) {
    ldb_entry *e = ldb_cmd_find(c, key);
    if (!e) return 0;
    if (ldb_entry_type(e) != LDB_TYPE_STRING) {
        ldb_cmd_reply_wrongtype(c);
        return -1;
    }
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    *val = v.val;
    *len = v.vlen;
    return 1;
}

ldb_entry *ldb_cmd_new_string(ldb_cmd_ctx *c, const ldb_slice *key, size_t vlen,
                              unsigned char **val) {
    /* Hash the key and start loading its slot now: the allocation and the
     * caller's copy run while it arrives (see ldb_table_prepare). */
    c->put_hash = ldb_table_prepare(&c->ks->keys[c->client->dbi], key->p, key->len);
    ldb_entry *e = ldb_entry_create_string(ldb_db_alloc(c->db), key->p, key->len, NULL, vlen, NULL);
    c->put_entry = e;
    if (!e) {
        c->rc = ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory storing a %zu-byte value", vlen);
        return NULL;
    }
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    *val = (unsigned char *)v.val;
    return e;
}

/* The hash of e's key in the client's database: ldb_cmd_new_string's, if
 * e is the entry it made. */
static uint64_t put_hash(ldb_cmd_ctx *c, const ldb_entry *e) {
    if (e == c->put_entry) { /* used once: e may be freed and its address reused */
        c->put_entry = NULL;
        return c->put_hash;
    }
    ldb_entry_view v;
    ldb_entry_decode(e, &v);
    return ldb_table_prepare(&c->ks->keys[c->client->dbi], v.key, v.klen);
}

int ldb_cmd_put(ldb_cmd_ctx *c, ldb_entry *e, int keep_ttl) {
    int d = c->client->dbi;
    uint64_t h = put_hash(c, e);
    ldb_entry *replaced;
    if (ldb_ks_put(c->ks, d, h, e, keep_ttl, &replaced) != LAYERDB_OK) {
        ldb_entry_free(ldb_db_alloc(c->db), e);
        c->rc = ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory storing a key");
        return -1;
    }
    ldb_db_drop(c->db, replaced);
    return 0;
}

int ldb_cmd_put_expiring(ldb_cmd_ctx *c, ldb_entry *e, int64_t when) {
    int d = c->client->dbi;
    uint64_t h = put_hash(c, e);
    ldb_entry *replaced;
    if (ldb_ks_put_expiring(c->ks, d, h, e, when, &replaced) != LAYERDB_OK) {
        ldb_entry_free(ldb_db_alloc(c->db), e);
        c->rc = ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory storing a key");
        return -1;
    }
    ldb_db_drop(c->db, replaced);
    return 0;
}

int ldb_cmd_set_string(ldb_cmd_ctx *c, const ldb_slice *key, const void *val, size_t vlen,
                       int keep_ttl) {
    unsigned char *p;
    ldb_entry *e = ldb_cmd_new_string(c, key, vlen, &p);
    if (!e) return -1;
    if (vlen) memcpy(p, val, vlen);
    return ldb_cmd_put(c, e, keep_ttl);
}

int ldb_cmd_delete(ldb_cmd_ctx *c, const ldb_slice *key) {
    int d = c->client->dbi, expired;
    ldb_entry *e = ldb_ks_find_any(c->ks, d, key->p, key->len, c->now, &expired);
    if (!e) return 0;
    ldb_db_drop(c->db, ldb_ks_unlink(c->ks, d, key->p, key->len));
    return !expired;
}

int64_t ldb_cmd_deadline(ldb_cmd_ctx *c, const ldb_entry *e) {
    return ldb_ks_deadline(c->ks, c->client->dbi, e);
}

int ldb_cmd_set_deadline(ldb_cmd_ctx *c, ldb_entry *e, int64_t when) {
    if (ldb_ks_set_deadline(c->ks, c->client->dbi, e, when) == LAYERDB_OK) return 0;
    c->rc = ldb_db_error(c->db, LAYERDB_NOMEM, "out of memory setting a deadline");
    return -1;
}

int ldb_cmd_clear_deadline(ldb_cmd_ctx *c, ldb_entry *e) {
    return ldb_ks_clear_deadline(c->ks, c->client->dbi, e);
}

int ldb_cmd_reserve_drops(ldb_cmd_ctx *c, size_t n) {
    /* On top of what the executor made room for: inside EXEC, the
     * commands after this one still need theirs. */
    size_t more = c->client->drops_reserved;
    int rc = ldb_db_reserve(c->db, 0, n > SIZE_MAX - more ? SIZE_MAX : n + more);
    if (rc) c->rc = rc;
    return rc ? -1 : 0;
}

void ldb_cmd_reply_value(ldb_cmd_ctx *c, const ldb_slice *key) {
    const unsigned char *val;
    size_t len;
    int found = ldb_cmd_get_string(c, key, &val, &len);
    if (found > 0) ldb_reply_bulk(c->reply, val, len);
    else if (found == 0) ldb_reply_nil(c->reply);
}
