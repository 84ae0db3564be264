/* lua_layerdb.c -- the Lua binding: require("layerdb"), luaopen_layerdb.
 *
 * layerdb.load(path [, opts]) returns a database: a full userdata LDb that
 * holds the engine handle. Its metatable gives the methods (set, get,
 * remove, len, pairs, flush, refresh, compact, info, close, call, atomic) and __gc, __close, __len,
 * __pairs, __tostring, shaped like Lua's own file handles (liolib.c). Any
 * other method name runs the Redis command of that name (db:incr("n")). Written for
 * Lua 5.4; lua_compat.h covers LuaJIT 2.1 and Lua 5.1.
 *
 * Invariants:
 *  (1) LDb.db == NULL means closed: every method but close raises "database
 *      is closed"; close, __gc and __close find nothing left to do.
 *  (2) Nothing is live when a Lua error is raised: engine messages are
 *      copied into stack buffers and handles closed before luaL_error, and a
 *      new LDb is closed (db == NULL) until layerdb_open has succeeded.
 *  (3) No Lua API function that can raise runs inside a layerdb_scan
 *      callback (it runs under the engine lock): the callback copies into
 *      the iterator's buffer, grown with the state's allocator, and records
 *      a failed allocation for the caller to raise once the scan returned.
 *  (4) A value from layerdb_get/layerdb_take is pushed before the next
 *      engine call on its handle.
 *  (5) No C globals: the two metatables (database and iterator) are
 *      upvalues 1 and 2 of every function the module registers (and of
 *      __index, whose upvalue 3 is the methods table). */
#include <stdio.h>
#include <string.h>

#include "layerdb.h"
#include "lua_compat.h"

#define DB_MT "layerdb.db"          /* also __name, used in type errors */
#define ITER_MT "layerdb.iterator"
#define DB_MT_UP lua_upvalueindex(1)
#define ITER_MT_UP lua_upvalueindex(2)
#define MSG_CAP 1500                /* engine messages hold at most 1400 bytes */
#define SCAN_BATCH 128              /* keys copied per layerdb_scan call */
#define KEEP_BUF_BYTES (1u << 20)   /* a batch buffer grown past this (large
                                       values) is freed before the next batch */

/* Built with -fvisibility=hidden: the entry point alone is exported. */
__attribute__((visibility("default"))) int luaopen_layerdb(lua_State *L);

typedef struct LDb {
    layerdb *db;        /* NULL when closed, invariant (1) */
    layerdb_client *tx; /* the client of a db:atomic running now, or NULL:
                           freed before the handle is closed */
} LDb;

/* The transaction object db:atomic hands its function: queues commands on
 * the atomic's own client until the function returns. */
#define TX_MT "layerdb.transaction"
typedef struct LTx {
    LDb *owner; /* NULL once the atomic is over */
} LTx;

/* The state of one db:pairs() loop. buf holds one batch of entries, each
 * laid out as: klen (size_t), vlen (size_t), key bytes, value bytes. */
typedef struct LIter {
    uint64_t cursor;      /* layerdb_scan cursor of the next batch */
    int done;             /* the scan came back to cursor 0 */
    int nomem;            /* the callback could not grow buf: the loop fails */
    unsigned char *buf;   /* the batch, from allocf */
    size_t len;           /* bytes of buf used */
    size_t cap;           /* bytes of buf allocated */
    size_t pos;           /* bytes of buf already returned to Lua */
    lua_Alloc allocf;     /* the state's allocator, fixed at creation */
    void *alloc_ud;       /* its user data */
} LIter;

/* ---- Errors ---- */

/* Raise "<tname> expected, got <type>" for argument arg. [-0, +1, v] */
static int typeerror(lua_State *L, int arg, const char *tname) {
    const char *msg = lua_pushfstring(L, "%s expected, got %s", tname, luaL_typename(L, arg));
    return luaL_argerror(L, arg, msg);
}

/* Raise the engine's message for a failed call on db. The message lives in
 * the handle, which the userdata still owns, so nothing leaks. [-0, +1, v] */
static int raise_engine(lua_State *L, layerdb *db, int rc) {
    const char *msg = layerdb_errmsg(db);
    return luaL_error(L, "%s", msg[0] != '\0' ? msg : layerdb_strerror(rc));
}

/* Copy the message for rc on db (which may be NULL) into msg. */
static void copy_errmsg(char *msg, size_t cap, layerdb *db, int rc) {
    const char *text = db != NULL ? layerdb_errmsg(db) : "";
    snprintf(msg, cap, "%s", text[0] != '\0' ? text : layerdb_strerror(rc));
}

/* Emit a Lua 5.4 warning that closing a database failed; layerdb-run prints
 * it, plain lua5.4 only with warn("@on"). Allocates nothing. [-0, +0, -] */
static void warn_close(lua_State *L, const char *msg) {
    lua_warning(L, "layerdb: closing a database failed: ", 1);
    lua_warning(L, msg, 0);
}

/* ---- Handles ---- */

/* The database at argument 1, open or closed. [-0, +0, v] */
static LDb *toldb(lua_State *L) {
    LDb *u = lua_touserdata(L, 1);
    if (u == NULL || !lua_getmetatable(L, 1) || !lua_rawequal(L, -1, DB_MT_UP))
        typeerror(L, 1, DB_MT);
    lua_pop(L, 1);
    return u;
}

/* The open engine handle at argument 1, liolib's tofile(). [-0, +0, v] */
static layerdb *checkdb(lua_State *L) {
    LDb *u = toldb(L);
    if (u->db == NULL) luaL_error(L, "database is closed");
    return u->db;
}

/* Flush and close db; on failure, copy the first error's message into msg.
 * layerdb_close frees the handle together with its message, so the flush
 * before it is what yields a message with detail (file name, errno text);
 * the close then finds nothing left to write. */
static int close_engine(layerdb *db, char *msg, size_t cap) {
    int rc = layerdb_flush(db);
    if (rc != LAYERDB_OK) copy_errmsg(msg, cap, db, rc);
    int rc_close = layerdb_close(db);
    if (rc == LAYERDB_OK && rc_close != LAYERDB_OK) copy_errmsg(msg, cap, NULL, rc_close);
    return rc != LAYERDB_OK ? rc : rc_close;
}

/* Detach the engine handle from u (so u is closed even if closing fails)
 * and close it. Returns the engine code; msg gets the failure. */
static int close_ldb(LDb *u, char *msg, size_t cap) {
    layerdb *db = u->db;
    layerdb_client_free(u->tx); /* a close inside db:atomic's function */
    u->tx = NULL;
    u->db = NULL;
    return db != NULL ? close_engine(db, msg, cap) : LAYERDB_OK;
}

/* ---- Options ---- */

typedef void (*option_fn)(lua_State *L, int arg, const char *name, layerdb_options *o);

/* Raise "bad argument #arg to 'load' (option ...)". [-0, +1, v] */
static int option_error(lua_State *L, int arg, const char *name, const char *expected) {
    const char *got = luaL_typename(L, -1);
    if (lua_type(L, -1) == LUA_TSTRING) got = lua_pushfstring(L, "'%s'", lua_tostring(L, -1));
    else if (lua_type(L, -1) == LUA_TNUMBER) { lua_pushvalue(L, -1); got = lua_tostring(L, -1); }
    const char *msg = lua_pushfstring(L, "option '%s' must be %s, got %s", name, expected, got);
    return luaL_argerror(L, arg, msg);
}

/* The boolean value at the top of the stack. [-0, +0, v] */
static int bool_option(lua_State *L, int arg, const char *name) {
    if (lua_type(L, -1) != LUA_TBOOLEAN) option_error(L, arg, name, "a boolean");
    return lua_toboolean(L, -1);
}

static void opt_persistence(lua_State *L, int arg, const char *name, layerdb_options *o) {
    o->persistence = bool_option(L, arg, name) ? LAYERDB_PERSIST_ON : LAYERDB_PERSIST_OFF;
}

static void opt_readonly(lua_State *L, int arg, const char *name, layerdb_options *o) {
    o->readonly = bool_option(L, arg, name);
}

static void opt_repair(lua_State *L, int arg, const char *name, layerdb_options *o) {
    o->repair = bool_option(L, arg, name);
}

static void opt_fsync(lua_State *L, int arg, const char *name, layerdb_options *o) {
    static const char *const names[] = {"everysec", "always", "no", NULL};
    static const int policies[] = {LAYERDB_FSYNC_EVERYSEC, LAYERDB_FSYNC_ALWAYS, LAYERDB_FSYNC_NO};
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    for (int i = 0; s != NULL && names[i] != NULL; i++)
        if (strcmp(s, names[i]) == 0) { o->fsync = policies[i]; return; }
    option_error(L, arg, name, "'always', 'everysec' or 'no'");
}

static void opt_max_pending(lua_State *L, int arg, const char *name, layerdb_options *o) {
    int ok;
    lua_Integer n = compat_tointeger(L, -1, &ok);
    if (!ok || n <= 0) option_error(L, arg, name, "a positive integer (bytes)");
    o->max_pending_bytes = (size_t)n;
}

static void opt_compact_factor(lua_State *L, int arg, const char *name, layerdb_options *o) {
    if (lua_type(L, -1) != LUA_TNUMBER) option_error(L, arg, name, "a number (0, or more than 1)");
    o->compact_factor = (double)lua_tonumber(L, -1);
}

static void opt_compact_min(lua_State *L, int arg, const char *name, layerdb_options *o) {
    int ok;
    lua_Integer n = compat_tointeger(L, -1, &ok);
    if (!ok || n < 0) option_error(L, arg, name, "a non-negative integer (bytes)");
    o->compact_min_bytes = (uint64_t)n;
}

static const struct {
    const char *name;
    option_fn set;
} option_table[] = {
    {"persistence", opt_persistence},
    {"fsync", opt_fsync},
    {"readonly", opt_readonly},
    {"repair", opt_repair},
    {"max_pending_bytes", opt_max_pending},
    {"compact_factor", opt_compact_factor},
    {"compact_min_bytes", opt_compact_min},
    {NULL, NULL},
};

/* Apply the option at the top of the stack, its name at -2. [-0, +0, v] */
static void apply_option(lua_State *L, int arg, layerdb_options *o) {
    if (lua_type(L, -2) != LUA_TSTRING)
        luaL_argerror(L, arg, lua_pushfstring(L, "option names must be strings, got %s",
                                              luaL_typename(L, -2)));
    const char *name = lua_tostring(L, -2);
    for (int i = 0; option_table[i].name != NULL; i++)
        if (strcmp(name, option_table[i].name) == 0) {
            option_table[i].set(L, arg, name, o);
            return;
        }
    luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'; the options are persistence, "
                                          "fsync, readonly, repair, max_pending_bytes, compact_factor, "
                                          "compact_min_bytes", name));
}

/* Fill o from the options table at argument arg. [-0, +0, v] */
static void read_options(lua_State *L, int arg, layerdb_options *o) {
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, arg) != 0) {
        apply_option(L, arg, o);
        lua_pop(L, 1);
    }
}

/* ---- The module's functions ---- */

/* layerdb.load([path [, opts]]) -> db. No path: a database in memory only. */
static int l_load(lua_State *L) {
    size_t len = 0;
    const char *path = luaL_optlstring(L, 1, NULL, &len);
    if (path != NULL && strlen(path) != len) luaL_argerror(L, 1, "path contains a zero byte");
    layerdb_options o;
    layerdb_options_init(&o);
    if (!lua_isnoneornil(L, 2)) read_options(L, 2, &o);
    LDb *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->db = NULL; /* closed until the open succeeds: invariant (2) */
    u->tx = NULL;
    lua_pushvalue(L, DB_MT_UP);
    lua_setmetatable(L, -2);
    layerdb *db = NULL;
    char msg[MSG_CAP];
    int rc = layerdb_open(&db, path, &o);
    if (rc != LAYERDB_OK) {
        copy_errmsg(msg, sizeof msg, db, rc);
        layerdb_close(db); /* it holds only the message */
        return luaL_error(L, "%s", msg);
    }
    u->db = db;
    return 1;
}

/* ---- Methods ---- */

/* db:set(key, value) -> true */
static int db_set(lua_State *L) {
    layerdb *db = checkdb(L);
    size_t klen, vlen;
    const char *key = luaL_checklstring(L, 2, &klen);
    const char *val = luaL_checklstring(L, 3, &vlen);
    int rc = layerdb_set(db, key, klen, val, vlen);
    if (rc != LAYERDB_OK) return raise_engine(L, db, rc);
    lua_pushboolean(L, 1);
    return 1;
}

typedef int (*lookup_fn)(layerdb *db, const void *key, size_t klen, const void **val,
                         size_t *vlen);

/* Call get or take with the key at argument 2 and push the value it found,
 * or nil. [-0, +1, v] */
static int push_lookup(lua_State *L, lookup_fn lookup) {
    layerdb *db = checkdb(L);
    size_t klen, vlen;
    const char *key = luaL_checklstring(L, 2, &klen);
    const void *val;
    int rc = lookup(db, key, klen, &val, &vlen);
    if (rc == LAYERDB_NOTFOUND) lua_pushnil(L);
    else if (rc == LAYERDB_OK) lua_pushlstring(L, val, vlen); /* invariant (4) */
    else return raise_engine(L, db, rc);
    return 1;
}

/* db:get(key) -> value or nil */
static int db_get(lua_State *L) { return push_lookup(L, layerdb_get); }

/* db:remove(key) -> the removed value, or nil if there was none */
static int db_remove(lua_State *L) { return push_lookup(L, layerdb_take); }

/* db:len() and #db -> the number of keys */
static int db_len(lua_State *L) {
    layerdb *db = checkdb(L);
    layerdb_info info;
    int rc = layerdb_info_get(db, &info);
    if (rc != LAYERDB_OK) return raise_engine(L, db, rc);
    lua_pushinteger(L, (lua_Integer)info.keys);
    return 1;
}

/* db:flush() -> true once every write so far is on disk */
static int db_flush(lua_State *L) {
    layerdb *db = checkdb(L);
    int rc = layerdb_flush(db);
    if (rc != LAYERDB_OK) return raise_engine(L, db, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static void set_int_field(lua_State *L, const char *name, uint64_t v) { /* [-0, +0, m] */
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, name);
}

/* db:refresh() -> the number of records applied: a read-only database
 * catches up with its writer (layerdb_refresh) */
static int db_refresh(lua_State *L) {
    layerdb *db = checkdb(L);
    uint64_t records;
    int rc = layerdb_refresh(db, &records);
    if (rc != LAYERDB_OK) return raise_engine(L, db, rc);
    lua_pushinteger(L, (lua_Integer)records);
    return 1;
}

/* db:compact([wait]) -> true: rewrite the file without its dead records,
 * in the background (layerdb_compact); with wait, return once done */
static int db_compact(lua_State *L) {
    layerdb *db = checkdb(L);
    int rc = layerdb_compact(db, lua_toboolean(L, 2) ? LAYERDB_COMPACT_WAIT : 0);
    if (rc != LAYERDB_OK) return raise_engine(L, db, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* db:info() -> a table of the engine's counters (layerdb_info) */
static int db_info(lua_State *L) {
    layerdb *db = checkdb(L);
    layerdb_info info;
    int rc = layerdb_info_get(db, &info);
    if (rc != LAYERDB_OK) return raise_engine(L, db, rc);
    lua_createtable(L, 0, 12);
    set_int_field(L, "keys", info.keys);
    set_int_field(L, "live_bytes", info.live_bytes);
    set_int_field(L, "file_bytes", info.file_bytes);
    set_int_field(L, "compactions", info.compactions);
    lua_pushboolean(L, info.compacting);
    lua_setfield(L, -2, "compacting");
    set_int_field(L, "log_bytes", info.log_bytes);
    set_int_field(L, "synced_bytes", info.synced_bytes);
    set_int_field(L, "dropped_bytes", info.dropped_bytes);
    set_int_field(L, "replayed_records", info.replayed_records);
    set_int_field(L, "memory_bytes", info.memory_bytes);
    set_int_field(L, "largest_batch_bytes", info.largest_batch_bytes);
    lua_pushboolean(L, info.persistent);
    lua_setfield(L, -2, "persistent");
    return 1;
}

/* db:close() -> true. Raises what the engine reports (a write that never
 * reached the disk); the database is closed either way. */
static int db_close(lua_State *L) {
    LDb *u = toldb(L);
    char msg[MSG_CAP];
    if (close_ldb(u, msg, sizeof msg) != LAYERDB_OK) return luaL_error(L, "%s", msg);
    lua_pushboolean(L, 1);
    return 1;
}

/* __gc: close a database nobody closed. Never raises: a failure becomes a
 * warning. __gc is only in our metatable, so argument 1 is an LDb. */
static int db_gc(lua_State *L) {
    LDb *u = lua_touserdata(L, 1);
    char msg[MSG_CAP];
    if (u != NULL && close_ldb(u, msg, sizeof msg) != LAYERDB_OK) warn_close(L, msg);
    return 0;
}

/* __close (Lua 5.4's <close>): close as db:close() does. A failure raises
 * when the scope ended normally; when it ends by an error, the failure is
 * a warning, so it does not replace that error. */
static int db_toclose(lua_State *L) {
    LDb *u = lua_touserdata(L, 1);
    char msg[MSG_CAP];
    if (u == NULL || close_ldb(u, msg, sizeof msg) == LAYERDB_OK) return 0;
    if (lua_isnoneornil(L, 2)) return luaL_error(L, "%s", msg);
    warn_close(L, msg);
    return 0;
}

static int db_tostring(lua_State *L) {
    LDb *u = toldb(L);
    if (u->db == NULL) lua_pushliteral(L, "layerdb (closed)");
    else lua_pushfstring(L, "layerdb (%p)", (void *)u->db);
    return 1;
}

/* ---- Iteration (db:pairs) ---- */

/* Make room for need more bytes in it->buf. Called under the engine lock,
 * so it never raises: returns 0 if the allocator failed. */
static int iter_reserve(LIter *it, size_t need) {
    if (it->cap - it->len >= need) return 1;
    size_t cap = it->cap != 0 ? it->cap : 4096;
    while (cap - it->len < need) {
        if (cap > (size_t)-1 / 2) return 0;
        cap *= 2;
    }
    unsigned char *p = it->allocf(it->alloc_ud, it->buf, it->cap, cap);
    if (p == NULL) return 0;
    it->buf = p;
    it->cap = cap;
    return 1;
}

/* layerdb_scan callback: append one entry to the batch. Invariant (3). */
static void scan_copy(void *ud, const void *key, size_t klen, const void *val, size_t vlen) {
    LIter *it = ud;
    size_t need = 2 * sizeof(size_t) + klen + vlen;
    if (it->nomem || !iter_reserve(it, need)) { it->nomem = 1; return; }
    unsigned char *p = it->buf + it->len;
    memcpy(p, &klen, sizeof klen);
    memcpy(p + sizeof klen, &vlen, sizeof vlen);
    memcpy(p + 2 * sizeof(size_t), key, klen);
    if (vlen != 0) memcpy(p + 2 * sizeof(size_t) + klen, val, vlen);
    it->len += need;
}

static void iter_free_buf(LIter *it) {
    if (it->buf != NULL) it->allocf(it->alloc_ud, it->buf, it->cap, 0);
    it->buf = NULL;
    it->cap = it->len = it->pos = 0;
}

/* Copy the next batch of entries into it->buf. */
static int iter_fill(layerdb *db, LIter *it) {
    if (it->cap > KEEP_BUF_BYTES) iter_free_buf(it);
    it->len = it->pos = 0;
    int rc = layerdb_scan(db, &it->cursor, SCAN_BATCH, scan_copy, it);
    if (rc == LAYERDB_OK && it->cursor == 0) it->done = 1;
    return rc;
}

/* Push the key and value of the entry at it->pos. [-0, +2, m] */
static void iter_push(lua_State *L, LIter *it) {
    size_t klen, vlen;
    const unsigned char *p = it->buf + it->pos;
    memcpy(&klen, p, sizeof klen);
    memcpy(&vlen, p + sizeof klen, sizeof vlen);
    p += 2 * sizeof(size_t);
    it->pos += 2 * sizeof(size_t) + klen + vlen;
    lua_pushlstring(L, (const char *)p, klen);
    lua_pushlstring(L, (const char *)p + klen, vlen);
}

/* The iterator returned by db:pairs(): upvalue 1 the database, upvalue 2
 * the LIter. Returns key, value; nothing when the scan is complete. */
static int iter_next(lua_State *L) {
    LDb *u = lua_touserdata(L, lua_upvalueindex(1));
    LIter *it = lua_touserdata(L, lua_upvalueindex(2));
    if (u->db == NULL) return luaL_error(L, "database is closed");
    while (it->pos == it->len) {
        if (it->done) { iter_free_buf(it); return 0; }
        int rc = iter_fill(u->db, it);
        if (it->nomem) return luaL_error(L, "not enough memory to copy keys for db:pairs()");
        if (rc != LAYERDB_OK) return raise_engine(L, u->db, rc);
    }
    iter_push(L, it);
    return 2;
}

static int iter_gc(lua_State *L) {
    LIter *it = lua_touserdata(L, 1);
    if (it != NULL) iter_free_buf(it);
    return 0;
}

/* db:pairs() and pairs(db) (5.4's __pairs) -> iterator, nil, nil. Visits
 * every key present from start to end once; keys set or removed meanwhile
 * may or may not be visited. */
static int db_pairs(lua_State *L) {
    checkdb(L);
    lua_settop(L, 1);
    LIter *it = lua_newuserdatauv(L, sizeof *it, 0);
    memset(it, 0, sizeof *it);
    it->allocf = lua_getallocf(L, &it->alloc_ud);
    lua_pushvalue(L, ITER_MT_UP);
    lua_setmetatable(L, -2);
    lua_pushcclosure(L, iter_next, 2);
    lua_pushnil(L);
    lua_pushnil(L);
    return 3;
}

/* ---- Redis commands: db:call(name, ...) and db:<command>(...) ---- */

/* Push reply r as a Lua value: integer, string, nil, true for status OK,
 * other status text, sequence, number, table for a map. A nil inside an
 * array becomes false, so the table stays a sequence (as in Redis's own
 * Lua scripting). [-0, +1, m] */
static void push_reply(lua_State *L, const layerdb_reply *r, int in_array) {
    luaL_checkstack(L, 3, "reply nested too deeply");
    switch (r->type) {
    case LAYERDB_REPLY_INTEGER: lua_pushinteger(L, (lua_Integer)r->integer); break;
    case LAYERDB_REPLY_STRING:
    case LAYERDB_REPLY_ERROR: lua_pushlstring(L, r->str, r->len); break;
    case LAYERDB_REPLY_STATUS:
        if (r->len == 2 && memcmp(r->str, "OK", 2) == 0) lua_pushboolean(L, 1);
        else lua_pushlstring(L, r->str, r->len);
        break;
    case LAYERDB_REPLY_DOUBLE: lua_pushnumber(L, (lua_Number)r->dval); break;
    case LAYERDB_REPLY_ARRAY:
        lua_createtable(L, (int)r->elements, 0);
        for (size_t i = 0; i < r->elements; i++) {
            push_reply(L, r->element[i], 1);
            lua_rawseti(L, -2, (int)i + 1);
        }
        break;
    case LAYERDB_REPLY_MAP:
        lua_createtable(L, 0, (int)(r->elements / 2));
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            push_reply(L, r->element[i], 1);
            push_reply(L, r->element[i + 1], 1);
            lua_rawset(L, -3);
        }
        break;
    default:
        if (in_array) lua_pushboolean(L, 0);
        else lua_pushnil(L);
    }
}

/* Run in protected mode, so that a memory error while converting leaves
 * the reply to be freed (invariant (2)): pushes the value and whether it
 * is an error reply. */
static int convert_reply(lua_State *L) {
    const layerdb_reply *r = lua_touserdata(L, 1);
    push_reply(L, r, 0);
    lua_pushboolean(L, r->type == LAYERDB_REPLY_ERROR);
    return 2;
}

/* Run the command named by the string at 'name_idx' with the arguments
 * from 'first' to the top (strings, or numbers in their string form), and
 * return its reply; an error reply raises its text. [-0, +1, v] */
static int run_command_on(lua_State *L, layerdb *db, layerdb_client *client, int name_idx,
                          int first) {
    int top = lua_gettop(L), argc = top - first + 2;
    const char **argv = lua_newuserdata(L, (size_t)argc * sizeof *argv);
    size_t *lens = lua_newuserdata(L, (size_t)argc * sizeof *lens);
    argv[0] = luaL_checklstring(L, name_idx, &lens[0]);
    for (int i = first; i <= top; i++) {
        if (lua_type(L, i) != LUA_TSTRING && lua_type(L, i) != LUA_TNUMBER)
            typeerror(L, i, "string");
        argv[i - first + 1] = lua_tolstring(L, i, &lens[i - first + 1]);
    }
    lua_pushcfunction(L, convert_reply); /* before the reply exists: may raise */
    luaL_checkstack(L, 2, NULL);
    layerdb_reply *r = NULL;
    int rc = client ? layerdb_client_command(client, argc, argv, lens, &r)
                    : layerdb_command(db, argc, argv, lens, &r);
    if (rc != LAYERDB_OK) return raise_engine(L, db, rc);
    lua_pushlightuserdata(L, r);
    int status = lua_pcall(L, 1, 2, 0);
    layerdb_reply_free(r);
    if (status != LUA_OK || lua_toboolean(L, -1)) { /* a Lua error, or an error reply */
        if (status == LUA_OK) lua_pop(L, 1);
        return lua_error(L);
    }
    lua_pop(L, 1);
    return 1;
}

static int run_command(lua_State *L, int name_idx, int first) {
    return run_command_on(L, checkdb(L), NULL, name_idx, first);
}

/* db:call(name, ...) -> the reply */
static int db_call(lua_State *L) {
    return run_command(L, 2, 3);
}

/* db:<name>(...), a command as a method: upvalue 3 is its name. */
static int db_command_method(lua_State *L) {
    lua_pushvalue(L, lua_upvalueindex(3));
    lua_insert(L, 2);
    return run_command(L, 2, 3);
}

/* __index: the methods, then any other name as a command method (its
 * reply is "ERR unknown command" if there is no such command). */
static int db_index(lua_State *L) {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(3)); /* the methods table */
    if (!lua_isnil(L, -1) || lua_type(L, 2) != LUA_TSTRING) return 1;
    lua_pushvalue(L, DB_MT_UP);
    lua_pushvalue(L, ITER_MT_UP);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, db_command_method, 3);
    return 1;
}

/* ---- db:atomic(function(tx) ... end) ---- */

/* The open atomic's owner of the transaction at argument 1. [-0, +0, v] */
static LDb *checktx(lua_State *L) {
    LTx *t = luaL_checkudata(L, 1, TX_MT);
    if (t->owner == NULL || t->owner->tx == NULL)
        luaL_error(L, "the transaction is over: use tx only inside db:atomic's function");
    return t->owner;
}

/* tx:call(name, ...) and tx:<name>(...): queue the command. Returns
 * nothing: the replies come back from db:atomic, as EXEC's. */
static int tx_call(lua_State *L) {
    LDb *u = checktx(L);
    run_command_on(L, u->db, u->tx, 2, 3);
    return 0;
}

static int tx_command_method(lua_State *L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 2);
    return tx_call(L);
}

static int tx_index(lua_State *L) {
    const char *name = luaL_checkstring(L, 2);
    if (strcmp(name, "call") == 0) {
        lua_pushcfunction(L, tx_call);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, tx_command_method, 1);
    return 1;
}

/* Run one command word on the atomic's client (MULTI, EXEC, DISCARD);
 * leaves the reply on the stack. [-0, +1, v] */
static void tx_control(lua_State *L, LDb *u, const char *word) {
    int top = lua_gettop(L);
    lua_pushstring(L, word);
    run_command_on(L, u->db, u->tx, top + 1, top + 2);
    lua_remove(L, top + 1);
}

static void tx_end(LDb *u, LTx *t) {
    layerdb_client_free(u->tx);
    u->tx = NULL;
    t->owner = NULL;
}

/* EXEC on the atomic's client, in protected mode so that the client is
 * freed whatever happens. [-0, +1, v] */
static int db_atomic_exec(lua_State *L) {
    LDb *u = lua_touserdata(L, 1);
    tx_control(L, u, "EXEC");
    return 1;
}

/* db:atomic(fn): MULTI on a client of its own, fn(tx) queues commands,
 * then EXEC: every command applied and logged as one record, or none if
 * fn raises (the error goes on). Returns EXEC's replies as a sequence. */
static int db_atomic(lua_State *L) {
    LDb *u = toldb(L);
    layerdb *db = checkdb(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (u->tx) return luaL_error(L, "db:atomic cannot be nested");
    LTx *t = lua_newuserdatauv(L, sizeof *t, 0); /* index 3 */
    t->owner = NULL;
    luaL_setmetatable(L, TX_MT);
    if (!(u->tx = layerdb_client_new(db))) return raise_engine(L, db, LAYERDB_NOMEM);
    t->owner = u;
    tx_control(L, u, "MULTI");
    lua_pop(L, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    int status = lua_pcall(L, 1, 0, 0);
    if (u->tx == NULL) { /* fn closed the database */
        t->owner = NULL;
        return status == LUA_OK ? luaL_error(L, "the database was closed inside db:atomic")
                                : lua_error(L);
    }
    if (status != LUA_OK) {
        tx_end(u, t); /* freeing the client discards the queue */
        return lua_error(L);
    }
    lua_pushcfunction(L, db_atomic_exec);
    lua_pushlightuserdata(L, u);
    status = lua_pcall(L, 1, 1, 0);
    tx_end(u, t);
    return status == LUA_OK ? 1 : lua_error(L);
}

/* ---- Registration ---- */

static const luaL_Reg db_methods[] = {
    {"set", db_set},     {"get", db_get},     {"remove", db_remove}, {"len", db_len},
    {"pairs", db_pairs}, {"flush", db_flush}, {"info", db_info},     {"close", db_close},
    {"call", db_call},   {"atomic", db_atomic}, {"refresh", db_refresh},
    {"compact", db_compact}, {NULL, NULL},
};

static const luaL_Reg db_meta[] = {
    {"__gc", db_gc},   {"__close", db_toclose}, {"__len", db_len},
    {"__pairs", db_pairs}, {"__tostring", db_tostring}, {NULL, NULL},
};

static const luaL_Reg module_funcs[] = {
    {"load", l_load},
    {NULL, NULL},
};

/* Register l into the table at the top, with both metatables (at mt and
 * mt + 1) as upvalues 1 and 2. [-0, +0, m] */
static void set_funcs(lua_State *L, int mt, const luaL_Reg *l) {
    lua_pushvalue(L, mt);
    lua_pushvalue(L, mt + 1);
    luaL_setfuncs(L, l, 2);
}

int luaopen_layerdb(lua_State *L) {
    luaL_newmetatable(L, DB_MT); /* index 'mt' */
    int mt = lua_gettop(L);
    luaL_newmetatable(L, ITER_MT); /* mt + 1 */
    lua_pushcfunction(L, iter_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, mt);
    set_funcs(L, mt, db_meta);
    lua_pushvalue(L, mt);
    lua_pushvalue(L, mt + 1);
    lua_newtable(L);
    set_funcs(L, mt, db_methods);
    lua_pushcclosure(L, db_index, 3);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, TX_MT);
    lua_pushcfunction(L, tx_index);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_newtable(L);
    set_funcs(L, mt, module_funcs);
    lua_pushliteral(L, "layerdb " LAYERDB_VERSION);
    lua_setfield(L, -2, "_VERSION");
    lua_pushliteral(L, LAYERDB_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
