/* reply.h -- the reply interface: how a command handler answers.
 *
 * A handler knows no Lua and no protocol: it calls these to build its
 * reply, and the caller turns the tree into what it needs (the C API hands
 * it over as layerdb_reply, the Lua binding converts it; a RESP server
 * will encode it). An array is opened with its length, and the next that
 * many replies fill it, nested arrays included.
 * Invariants, checked with assert in debug builds:
 *  (1) a reply goes into the innermost open array's next slot, or is the
 *      root when no array is open; there is one root;
 *  (2) an array leaves the open stack as soon as its last slot is filled,
 *      so after a handler returns no array is open (ldb_reply_finish).
 * Out of memory while building sets 'oom'; later calls do nothing and
 * ldb_reply_finish frees the partial tree and returns NULL. */
#ifndef LDB_REPLY_H
#define LDB_REPLY_H

#include <stddef.h>

#include "alloc.h"
#include "layerdb.h"

#define LDB_REPLY_DEPTH 8 /* arrays nested in arrays, at most */

typedef struct ldb_reply_builder {
    layerdb_reply *root; /* the first reply added, NULL until then */
    struct {
        layerdb_reply *array; /* an array with empty slots */
        size_t filled;        /* slots of it filled so far */
    } open[LDB_REPLY_DEPTH];
    int depth; /* arrays open */
    int oom;   /* an allocation failed */
    int sink;  /* keep nothing but the first error's text (replay) */
    char error[256]; /* sink: that text, "" if none */
} ldb_reply_builder;

LDB_INTERNAL void ldb_reply_init(ldb_reply_builder *b);
/* A builder that keeps no reply, only the text of the first error: replay
 * at open runs commands for their effect, not their replies. */
LDB_INTERNAL void ldb_reply_init_sink(ldb_reply_builder *b);
LDB_INTERNAL void ldb_reply_int(ldb_reply_builder *b, long long v);
LDB_INTERNAL void ldb_reply_bulk(ldb_reply_builder *b, const void *p, size_t n);
LDB_INTERNAL void ldb_reply_status(ldb_reply_builder *b, const char *s);
/* The whole text, Redis's prefix included: "ERR syntax error". */
LDB_INTERNAL void ldb_reply_error(ldb_reply_builder *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
LDB_INTERNAL void ldb_reply_nil(ldb_reply_builder *b);
LDB_INTERNAL void ldb_reply_double(ldb_reply_builder *b, double d);
LDB_INTERNAL void ldb_reply_array(ldb_reply_builder *b, size_t n);
/* The finished tree (the caller owns it), or NULL after an allocation
 * failure or when nothing was replied. */
LDB_INTERNAL layerdb_reply *ldb_reply_finish(ldb_reply_builder *b);
/* Free a tree and reset b, for a command that failed in the engine. */
LDB_INTERNAL void ldb_reply_discard(ldb_reply_builder *b);

#endif
