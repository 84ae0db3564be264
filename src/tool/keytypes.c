/* keytypes.c -- what export, import and stats do with each data type: one
 * row per type in 'types', found by the name TYPE replies.
 *
 * A row says how to read a key of its type through the command API
 * (fetch: a reply tree, whole, so that a key that expires meanwhile is
 * skipped before anything of it is written) and turn that into the
 * commands that recreate it (dump: RESP export, and the live-bytes
 * estimate of stats), into JSON members (to_json), and back from them
 * (from_json, import). A new type (hash, list, set, zset) is one more row
 * here; one whose values can be huge (a hash of millions of fields) may
 * fetch in parts with its SCAN command. A key of a type with no row stops
 * export and import with an error naming the key and its type
 * (tool_type_unknown), never a silent skip. Deadlines are absolute
 * milliseconds (PXAT), so an export loaded later still expires at the
 * same moment. */
#include <stdio.h>
#include <string.h>

#include "tool.h"

/* ---- Helpers ---- */

/* Run a command for import: 0, or -1 with err set to the engine's failure
 * or the error reply. */
static int apply(layerdb_client *c, int argc, const char *const *argv, const size_t *lens,
                 char *err, size_t cap) {
    layerdb_reply *r = NULL;
    int rc = layerdb_client_command(c, argc, (const char **)argv, lens, &r);
    if (rc != LAYERDB_OK) {
        snprintf(err, cap, "%s: %s", argv[0], layerdb_strerror(rc));
        return -1;
    }
    int failed = r->type == LAYERDB_REPLY_ERROR;
    if (failed) snprintf(err, cap, "%s: %.*s", argv[0], (int)r->len, r->str);
    layerdb_reply_free(r);
    return failed ? -1 : 0;
}

/* SET key value, with PXAT when the key has a deadline: argv, lens and
 * their count, pointing at k, val and ms (room for a number). */
static int set_command(const tool_key *k, const char *val, size_t vlen, char ms[24],
                       const char *argv[5], size_t lens[5]) {
    argv[0] = "SET", lens[0] = 3;
    argv[1] = k->key, lens[1] = k->klen;
    argv[2] = val, lens[2] = vlen;
    if (k->expire_at_ms < 0) return 3;
    argv[3] = "PXAT", lens[3] = 4;
    argv[4] = ms, lens[4] = (size_t)snprintf(ms, 24, "%lld", (long long)k->expire_at_ms);
    return 5;
}

/* ---- Strings ---- */

static const char *const string_members[] = {"value", "value_base64", NULL};

/* GET: the value is the bulk string reply. */
static int string_fetch(const tool_opts *o, layerdb_client *c, const tool_key *k,
                        layerdb_reply **value) {
    const char *argv[2] = {"GET", k->key};
    size_t lens[2] = {3, k->klen};
    layerdb_reply *r = tool_run(o, c, 2, argv, lens);
    *value = r;
    if (!r) return TOOL_FAILED;
    if (r->type == LAYERDB_REPLY_STRING) return TOOL_OK;
    int gone = r->type == LAYERDB_REPLY_NIL;
    if (!gone) tool_fail(o, "GET: unexpected reply (%.*s)", (int)r->len, r->str ? r->str : "");
    layerdb_reply_free(r);
    *value = NULL;
    return gone ? TOOL_GONE : TOOL_FAILED;
}

static int string_dump(const tool_key *k, const layerdb_reply *value, tool_sink *s) {
    const char *argv[5];
    size_t lens[5];
    char ms[24];
    int argc = set_command(k, value->str, value->len, ms, argv, lens);
    return s->command(s, argc, argv, lens);
}

static void string_to_json(const tool_key *k, const layerdb_reply *value, FILE *out) {
    (void)k;
    tool_json_bytes_member(out, "value", value->str, value->len);
}

static int string_from_json(layerdb_client *c, const tool_key *k, const tool_json_object *obj,
                            char *err, size_t cap) {
    const char *val, *argv[5];
    size_t vlen, lens[5];
    char ms[24];
    int rc = tool_json_bytes(obj, "value", &val, &vlen, err, cap);
    if (rc < 0) return -1;
    if (rc == 0) {
        snprintf(err, cap, "a string needs 'value' or 'value_base64'");
        return -1;
    }
    int argc = set_command(k, val, vlen, ms, argv, lens);
    return apply(c, argc, argv, lens, err, cap);
}

/* ---- The table ---- */

static const tool_type types[] = {
    {"string", string_fetch, string_dump, string_to_json, string_from_json, string_members},
};

const tool_type *tool_type_find(const char *name) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i].name, name) == 0) return &types[i];
    return NULL;
}

int tool_type_unknown(const tool_opts *o, const tool_key *k, const char *what) {
    char key[128];
    tool_quote(key, sizeof key, k->key, k->klen);
    return tool_fail(o, "key '%s' in database %d has type '%s', which %s cannot handle yet", key,
                     k->db, k->type, what);
}
