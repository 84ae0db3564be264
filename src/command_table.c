/* command_table.c -- every command layerdb knows: its name, arity, flags,
 * key positions and handler, as Redis's command table lists them.
 * Sorted by name, so a lookup is a binary search (checked in debug builds
 * on the first lookup). */
#include <assert.h>
#include <string.h>
#include <strings.h>

#include "command.h"

#define W LDB_CMD_WRITE
#define R LDB_CMD_READONLY
#define F LDB_CMD_FAST

static const ldb_command table[] = {
    /* name      arity flags  keys      handler */
    {"dbsize",   1,  R | F,   0, 0, 0,  ldb_cmd_dbsize},
    {"del",      -2, W,       1, -1, 1, ldb_cmd_del},
    {"echo",     2,  F,       0, 0, 0,  ldb_cmd_echo},
    {"exists",   -2, R | F,   1, -1, 1, ldb_cmd_exists},
    {"get",      2,  R | F,   1, 1, 1,  ldb_cmd_get},
    {"getdel",   2,  W | F,   1, 1, 1,  ldb_cmd_getdel},
    {"getset",   3,  W | F,   1, 1, 1,  ldb_cmd_getset},
    {"mget",     -2, R | F,   1, -1, 1, ldb_cmd_mget},
    {"ping",     -1, F,       0, 0, 0,  ldb_cmd_ping},
    {"set",      -3, W,       1, 1, 1,  ldb_cmd_set},
    {"setnx",    3,  W | F,   1, 1, 1,  ldb_cmd_setnx},
    {"strlen",   2,  R | F,   1, 1, 1,  ldb_cmd_strlen},
    {"type",     2,  R | F,   1, 1, 1,  ldb_cmd_type},
    {"unlink",   -2, W | F,   1, -1, 1, ldb_cmd_del},
};
#define COUNT (sizeof table / sizeof table[0])

#ifndef NDEBUG
static int table_is_sorted(void) {
    for (size_t i = 1; i < COUNT; i++)
        if (strcmp(table[i - 1].name, table[i].name) >= 0) return 0;
    return 1;
}
#endif

/* Compare name[0..len), in any case, with a lower-case table name. */
static int compare(const char *name, size_t len, const char *entry) {
    size_t n = strlen(entry);
    int c = strncasecmp(name, entry, len < n ? len : n);
    if (c != 0) return c;
    return len < n ? -1 : len > n;
}

const ldb_command *ldb_command_lookup(const void *name, size_t len) {
    assert(table_is_sorted());
    if (memchr(name, '\0', len)) return NULL; /* no name has a zero byte */
    size_t lo = 0, hi = COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare(name, len, table[mid].name);
        if (c == 0) return &table[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}
