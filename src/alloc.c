/* alloc.c -- the allocator indirection; the only file that calls malloc.
 *
 * A handle's allocator is the user's {malloc, realloc, free, ud} or the C
 * library's. ldb_alloc counts live bytes (what was asked for, not what the
 * allocator rounded up to) for layerdb_info's memory figure. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static void *libc_malloc(size_t n, void *ud) { (void)ud; return malloc(n); }
static void *libc_realloc(void *p, size_t n, void *ud) { (void)ud; return realloc(p, n); }
static void libc_free(void *p, void *ud) { (void)ud; free(p); }

/* For what outlives any handle (command replies). */
static ldb_alloc libc_alloc = {{libc_malloc, libc_realloc, libc_free, NULL}, 0};

ldb_alloc *ldb_alloc_libc(void) {
    return &libc_alloc;
}

void ldb_alloc_init(ldb_alloc *a, const layerdb_allocator *user) {
    if (user && user->malloc && user->realloc && user->free) {
        a->fn = *user;
    } else {
        a->fn.malloc = libc_malloc;
        a->fn.realloc = libc_realloc;
        a->fn.free = libc_free;
        a->fn.ud = NULL;
    }
    atomic_init(&a->live_bytes, 0);
}

void *ldb_malloc(ldb_alloc *a, size_t n) {
    if (n == 0 || n == SIZE_MAX) return NULL;
    void *p = a->fn.malloc(n, a->fn.ud);
    if (p) atomic_fetch_add_explicit(&a->live_bytes, n, memory_order_relaxed);
    return p;
}

void *ldb_calloc(ldb_alloc *a, size_t n) {
    if (n == 0 || n == SIZE_MAX) return NULL;
    void *p;
    if (ldb_alloc_is_libc(a)) {
        p = calloc(1, n); /* large blocks come from mmap already zeroed */
    } else {
        p = a->fn.malloc(n, a->fn.ud);
        if (p) memset(p, 0, n);
    }
    if (p) atomic_fetch_add_explicit(&a->live_bytes, n, memory_order_relaxed);
    return p;
}

void *ldb_realloc(ldb_alloc *a, void *p, size_t old_n, size_t n) {
    if (n == 0 || n == SIZE_MAX) return NULL;
    void *q = a->fn.realloc(p, n, a->fn.ud);
    if (q) {
        atomic_fetch_add_explicit(&a->live_bytes, n, memory_order_relaxed);
        atomic_fetch_sub_explicit(&a->live_bytes, p ? old_n : 0, memory_order_relaxed);
    }
    return q;
}

void ldb_free(ldb_alloc *a, void *p, size_t n) {
    if (!p) return;
    atomic_fetch_sub_explicit(&a->live_bytes, n, memory_order_relaxed);
    a->fn.free(p, a->fn.ud);
}

int ldb_alloc_is_libc(const ldb_alloc *a) {
    return a->fn.malloc == libc_malloc;
}

size_t ldb_mul_size(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) return SIZE_MAX;
    return n * size;
}

/* ---- Byte buffer ---- */

int ldb_buf_reserve(ldb_alloc *a, ldb_buf *b, size_t extra) {
    if (extra > SIZE_MAX / 2 - b->len) return -1;
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) cap *= 2; /* doubling: O(1) amortised appends */
    unsigned char *p = ldb_realloc(a, b->p, b->cap, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

void ldb_buf_free(ldb_alloc *a, ldb_buf *b) {
    ldb_free(a, b->p, b->cap);
    b->p = NULL;
    b->len = b->cap = 0;
}
