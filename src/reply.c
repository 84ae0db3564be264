/* reply.c -- building a command's reply as a layerdb_reply tree (reply.h).
 *
 * Replies outlive the handle that made them (layerdb_reply_free takes no
 * handle), so they come from the C library's allocator (ldb_alloc_libc). */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "reply.h"

#define SYS ldb_alloc_libc()

void ldb_reply_init(ldb_reply_builder *b) {
    memset(b, 0, sizeof *b);
}

void ldb_reply_init_sink(ldb_reply_builder *b) {
    b->root = NULL; /* no memset: replay makes one builder per command */
    b->depth = 0;
    b->oom = 0;
    b->sink = 1;
    b->error[0] = '\0';
}

/* Put r where invariant (1) says, and close the arrays it fills. */
static void place(ldb_reply_builder *b, layerdb_reply *r) {
    if (b->depth == 0) {
        assert(b->root == NULL); /* (1) one root */
        b->root = r;
    } else {
        int top = b->depth - 1;
        b->open[top].array->element[b->open[top].filled++] = r;
    }
    while (b->depth > 0 && b->open[b->depth - 1].filled == b->open[b->depth - 1].array->elements)
        b->depth--; /* (2) */
}

/* A reply with room for 'text' bytes after it (for its str), in one
 * allocation: a status, a bulk string or an error costs one malloc. */
static layerdb_reply *new_reply_sized(ldb_reply_builder *b, int type, size_t text) {
    if (b->oom || b->sink) return NULL;
    layerdb_reply *r = text > SIZE_MAX - sizeof *r ? NULL : ldb_malloc(SYS, sizeof *r + text);
    if (!r) { b->oom = 1; return NULL; }
    memset(r, 0, sizeof *r);
    r->type = type;
    place(b, r);
    return r;
}

static layerdb_reply *new_reply(ldb_reply_builder *b, int type) {
    return new_reply_sized(b, type, 0);
}

/* Where a reply's inline text lives. */
static char *inline_text(layerdb_reply *r) {
    return (char *)(r + 1);
}

/* A reply carrying n bytes of text, copied with a zero byte after them. */
static layerdb_reply *text_reply(ldb_reply_builder *b, int type, const void *p, size_t n) {
    if (b->sink) {
        if (type == LAYERDB_REPLY_ERROR && !b->error[0])
            snprintf(b->error, sizeof b->error, "%.*s", (int)(n < 255 ? n : 255), (const char *)p);
        return NULL;
    }
    layerdb_reply *r = new_reply_sized(b, type, n < SIZE_MAX ? n + 1 : SIZE_MAX);
    if (!r) return NULL;
    char *s = inline_text(r);
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    r->str = s;
    r->len = n;
    return r;
}

void ldb_reply_int(ldb_reply_builder *b, long long v) {
    layerdb_reply *r = new_reply(b, LAYERDB_REPLY_INTEGER);
    if (r) r->integer = v;
}

void ldb_reply_bulk(ldb_reply_builder *b, const void *p, size_t n) {
    text_reply(b, LAYERDB_REPLY_STRING, p, n);
}

void ldb_reply_status(ldb_reply_builder *b, const char *s) {
    text_reply(b, LAYERDB_REPLY_STATUS, s, strlen(s));
}

void ldb_reply_error(ldb_reply_builder *b, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    text_reply(b, LAYERDB_REPLY_ERROR, msg, len);
}

void ldb_reply_nil(ldb_reply_builder *b) {
    new_reply(b, LAYERDB_REPLY_NIL);
}

void ldb_reply_double(ldb_reply_builder *b, double d) {
    char text[64];
    int n = snprintf(text, sizeof text, "%.17g", d);
    layerdb_reply *r = text_reply(b, LAYERDB_REPLY_DOUBLE, text, (size_t)n);
    if (r) r->dval = d;
}

void ldb_reply_array(ldb_reply_builder *b, size_t n) {
    if (b->sink) return;
    layerdb_reply **slots = NULL;
    if (!b->oom && n > 0) {
        assert(b->depth < LDB_REPLY_DEPTH);
        slots = ldb_calloc(SYS, ldb_mul_size(n, sizeof *slots));
        if (!slots) { b->oom = 1; return; }
    }
    layerdb_reply *r = new_reply(b, LAYERDB_REPLY_ARRAY);
    if (!r) { if (slots) ldb_free(SYS, slots, n * sizeof *slots); return; }
    r->element = slots;
    r->elements = n;
    if (n > 0) {
        b->open[b->depth].array = r;
        b->open[b->depth].filled = 0;
        b->depth++;
    }
}

layerdb_reply *ldb_reply_finish(ldb_reply_builder *b) {
    if (b->oom) {
        ldb_reply_discard(b);
        return NULL;
    }
    assert(b->depth == 0); /* (2) */
    layerdb_reply *r = b->root;
    b->root = NULL;
    return r;
}

void ldb_reply_discard(ldb_reply_builder *b) {
    layerdb_reply_free(b->root);
    ldb_reply_init(b);
}

void layerdb_reply_free(layerdb_reply *r) {
    if (!r) return;
    for (size_t i = 0; i < r->elements; i++) layerdb_reply_free(r->element[i]); /* NULL: unfilled */
    if (r->element) ldb_free(SYS, r->element, r->elements * sizeof *r->element);
    ldb_free(SYS, r, sizeof *r + (r->str ? r->len + 1 : 0)); /* str is inline */
}
