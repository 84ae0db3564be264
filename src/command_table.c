/* command_table.c -- every command layerdb knows, gathered from the
 * families' own lists (commands/ *.c: name, arity, flags, key positions and
 * handler, as Redis's command table lists them) into one hash table keyed
 * by the name in lower case, so that a lookup (every call, and every
 * command replayed at open) hashes the name once and compares one name.
 * Invariants (checked in debug builds when the table is built): no name
 * appears twice; names are lower case and at most MAX_NAME bytes; the
 * table is at most half full, so every probe chain ends at an empty
 * bucket. */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

#define MAX_COMMANDS 256
#define BUCKETS 512  /* a power of two, at least 2 * MAX_COMMANDS */
#define MAX_NAME 32  /* longer names are not commands */

static const ldb_command *const families[] = {
    ldb_commands_connection, ldb_commands_string, ldb_commands_bits,
    ldb_commands_keys,       ldb_commands_expire, ldb_commands_multi,
    ldb_commands_server,
};

static const ldb_command *buckets[BUCKETS];
static size_t count;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ASCII only: a host's locale must not change what a name means. */
static unsigned char lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* FNV-1a of the name's bytes in lower case. */
static unsigned hash_name(const unsigned char *p, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ lower(p[i])) * 16777619u;
    return h & (BUCKETS - 1);
}

#ifndef NDEBUG
static int lower_case(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s != lower((unsigned char)*s)) return 0;
    return 1;
}
#endif

static void build(void) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const ldb_command *c = families[f]; c->name; c++) {
            size_t len = strlen(c->name);
            assert(count < MAX_COMMANDS && len <= MAX_NAME && lower_case(c->name));
            unsigned i = hash_name((const unsigned char *)c->name, len);
            while (buckets[i]) {
                assert(strcmp(buckets[i]->name, c->name) != 0); /* no name twice */
                i = (i + 1) & (BUCKETS - 1);
            }
            buckets[i] = c;
            count++;
        }
}

/* Does name[0..len), in any case, name the command? */
static int names(const ldb_command *c, const unsigned char *name, size_t len) {
    const unsigned char *want = (const unsigned char *)c->name;
    size_t i = 0;
    while (i < len && want[i] && lower(name[i]) == want[i]) i++;
    return i == len && want[i] == '\0';
}

const ldb_command *ldb_command_lookup(const void *name, size_t len) {
    pthread_once(&once, build);
    if (len == 0 || len > MAX_NAME) return NULL;
    for (unsigned i = hash_name(name, len); buckets[i]; i = (i + 1) & (BUCKETS - 1))
        if (names(buckets[i], name, len)) return buckets[i];
    return NULL;
}
