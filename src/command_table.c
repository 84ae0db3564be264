/* command_table.c -- every command layerdb knows, gathered from the
 * families' own lists (commands/ *.c: name, arity, flags, key positions and
 * handler, as Redis's command table lists them) into one array sorted by
 * name, so that a lookup is a binary search.
 * Invariants (checked in debug builds when the array is built): no name
 * appears twice; names are lower case; the array is sorted. */
#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "command.h"

#define MAX_COMMANDS 512

static const ldb_command *const families[] = {
    ldb_commands_connection, ldb_commands_string, ldb_commands_bits,
    ldb_commands_keys,       ldb_commands_expire, ldb_commands_multi,
};

static const ldb_command *table[MAX_COMMANDS];
static size_t count;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int by_name(const void *a, const void *b) {
    return strcmp((*(const ldb_command *const *)a)->name, (*(const ldb_command *const *)b)->name);
}

#ifndef NDEBUG
static int lower_case(const char *s) {
    for (; *s; s++)
        if (*s != tolower((unsigned char)*s)) return 0;
    return 1;
}
#endif

static void build(void) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const ldb_command *c = families[f]; c->name; c++) {
            assert(count < MAX_COMMANDS && lower_case(c->name));
            table[count++] = c;
        }
    qsort(table, count, sizeof table[0], by_name);
#ifndef NDEBUG
    for (size_t i = 1; i < count; i++) assert(strcmp(table[i - 1]->name, table[i]->name) < 0);
#endif
}

/* Compare name[0..len), in any case, with a lower-case table name. */
static int compare(const char *name, size_t len, const char *entry) {
    size_t n = strlen(entry);
    int c = strncasecmp(name, entry, len < n ? len : n);
    if (c != 0) return c;
    return len < n ? -1 : len > n;
}

const ldb_command *ldb_command_lookup(const void *name, size_t len) {
    pthread_once(&once, build);
    if (memchr(name, '\0', len)) return NULL; /* no name has a zero byte */
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare(name, len, table[mid]->name);
        if (c == 0) return table[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}
