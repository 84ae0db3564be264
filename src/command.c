/* command.c -- the executor: look a command up, check its arity, run its
 * handler under the handle's lock, and hand the reply over; and
 * layerdb_command, the C API's way in. The helpers handlers share (option
 * words, logged writes, replying a value) are here too. */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "command.h"

#define NAME_SHOWN 128 /* bytes of an unknown name or its arguments shown */

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

int ldb_command_exec(layerdb *db, size_t argc, const ldb_slice *argv, ldb_reply_builder *b,
                     uint64_t *end) {
    *end = 0;
    const ldb_command *cmd = ldb_command_lookup(argv[0].p, argv[0].len);
    if (!cmd) {
        reply_unknown(b, argc, argv);
        return LAYERDB_OK;
    }
    if (!arity_ok(cmd, argc)) {
        ldb_reply_error(b, "ERR wrong number of arguments for '%s' command", cmd->name);
        return LAYERDB_OK;
    }
    if (cmd->flags & LDB_CMD_WRITE) {
        int rc = ldb_db_check_writable(db);
        if (rc) return rc;
    }
    ldb_cmd_ctx c = {db, argc, argv, b, LAYERDB_OK, 0};
    ldb_db_lock(db);
    cmd->fn(&c);
    ldb_db_unlock(db);
    if (c.rc != LAYERDB_OK) {
        ldb_reply_discard(b);
        return c.rc;
    }
    assert(b->oom || (b->root != NULL && b->depth == 0)); /* invariant (1) */
    assert(c.end == 0 || (cmd->flags & LDB_CMD_WRITE));  /* invariant (3) */
    *end = c.end;
    return LAYERDB_OK;
}

/* ---- The C API ---- */

int layerdb_command(layerdb *db, int argc, const char **argv, const size_t *argvlen,
                    layerdb_reply **reply) {
    if (reply) *reply = NULL;
    int rc = ldb_db_check_open(db);
    if (rc) return rc;
    if (argc < 1 || !argv || !reply) return LAYERDB_INVALID;
    ldb_slice *args = ldb_malloc(ldb_alloc_libc(), ldb_mul_size((size_t)argc, sizeof *args));
    if (!args) return LAYERDB_NOMEM;
    for (int i = 0; i < argc; i++) {
        args[i].p = (const unsigned char *)argv[i];
        args[i].len = argvlen ? argvlen[i] : (argv[i] ? strlen(argv[i]) : 0);
        if (!argv[i] && args[i].len) rc = LAYERDB_INVALID;
    }
    ldb_reply_builder b;
    ldb_reply_init(&b);
    uint64_t end = 0;
    if (rc == LAYERDB_OK) rc = ldb_command_exec(db, (size_t)argc, args, &b, &end);
    ldb_free(ldb_alloc_libc(), args, (size_t)argc * sizeof *args);
    if (rc == LAYERDB_OK) rc = ldb_db_wait_durable(db, end);
    if (rc != LAYERDB_OK) {
        ldb_reply_discard(&b);
        return rc;
    }
    *reply = ldb_reply_finish(&b);
    return *reply ? LAYERDB_OK : LAYERDB_NOMEM;
}

/* ---- For handlers ---- */

int ldb_arg_is(const ldb_cmd_ctx *c, size_t i, const char *word) {
    size_t n = strlen(word);
    return c->argv[i].len == n && strncasecmp((const char *)c->argv[i].p, word, n) == 0;
}

int ldb_cmd_set_string(ldb_cmd_ctx *c, const ldb_slice *key, const ldb_slice *val) {
    uint64_t end;
    c->rc = ldb_db_set_locked(c->db, key->p, key->len, val->p, val->len, &end);
    if (c->rc) return -1;
    if (end) c->end = end;
    return 0;
}

size_t ldb_cmd_delete(ldb_cmd_ctx *c, size_t n, const ldb_slice *keys) {
    size_t removed;
    uint64_t end;
    c->rc = ldb_db_del_locked(c->db, n, keys, &removed, &end);
    if (c->rc) return 0;
    if (end) c->end = end;
    return removed;
}

void ldb_cmd_reply_value(ldb_cmd_ctx *c, const ldb_slice *key) {
    const void *val;
    size_t vlen;
    if (ldb_db_lookup(c->db, key->p, key->len, &val, &vlen)) ldb_reply_bulk(c->reply, val, vlen);
    else ldb_reply_nil(c->reply);
}
