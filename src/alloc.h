/* alloc.h -- the allocator indirection and a growable byte buffer.
 *
 * Every allocation in layerdb goes through an ldb_alloc, which wraps the
 * user's layerdb_allocator (or the C library's) and counts the bytes it hands
 * out, so layerdb_info can report memory without asking the allocator.
 * alloc.c is the only file that may call malloc/realloc/free.
 *
 * LDB_INTERNAL marks functions shared between files but not exported from
 * the shared library (hidden visibility), like Lua's LUAI_FUNC.
 * LDB_HOT_INLINE marks the few header functions of the write path that
 * must be inlined where they are called, with LDB_UNROLL on their loops
 * over a command's arguments: there a command's name is a literal and its
 * argument count a constant, and both fold into the encoding. LDB_COLD
 * keeps a rare slow path out of line, so its fast caller stays small. */
#ifndef LDB_ALLOC_H
#define LDB_ALLOC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "layerdb.h"

#if defined(__GNUC__) || defined(__clang__)
#define LDB_INTERNAL __attribute__((visibility("hidden")))
#define LDB_HOT_INLINE static inline __attribute__((always_inline))
#define LDB_UNROLL _Pragma("GCC unroll 4")
#define LDB_COLD __attribute__((noinline, cold))
#else
#define LDB_INTERNAL
#define LDB_HOT_INLINE static inline
#define LDB_UNROLL
#define LDB_COLD
#endif

typedef struct ldb_alloc {
    layerdb_allocator fn;       /* fixed at open */
    atomic_size_t live_bytes;   /* bytes requested and not freed (relaxed:
                                   a statistic, never used for decisions) */
} ldb_alloc;

LDB_INTERNAL void ldb_alloc_init(ldb_alloc *a, const layerdb_allocator *user);
/* The C library's allocator, shared by the process: for memory that
 * outlives any handle (command replies). */
LDB_INTERNAL ldb_alloc *ldb_alloc_libc(void);
/* Sizes are passed to free/realloc so the counter stays exact; callers
 * always know them (entries, tables and buffers record their sizes). */
LDB_INTERNAL void *ldb_malloc(ldb_alloc *a, size_t n);
/* Zeroed memory. With the C library's allocator this is calloc, which
 * gets large blocks from mmap already zero: no memset pass over them. */
LDB_INTERNAL void *ldb_calloc(ldb_alloc *a, size_t n);
LDB_INTERNAL void *ldb_realloc(ldb_alloc *a, void *p, size_t old_n, size_t n);
LDB_INTERNAL void ldb_free(ldb_alloc *a, void *p, size_t n);
/* 1 if a uses the C library's allocator (not a user's). */
LDB_INTERNAL int ldb_alloc_is_libc(const ldb_alloc *a);
/* n * size, or SIZE_MAX when it overflows (so the allocation fails). */
LDB_INTERNAL size_t ldb_mul_size(size_t n, size_t size);

/* ---- Byte buffer ---- */
typedef struct ldb_buf {
    unsigned char *p; /* data, or NULL when cap == 0 */
    size_t len;       /* bytes used */
    size_t cap;       /* bytes allocated */
} ldb_buf;

/* Make room for 'extra' more bytes. Returns 0, or -1 on allocation failure
 * (the buffer is unchanged). */
LDB_INTERNAL int ldb_buf_reserve(ldb_alloc *a, ldb_buf *b, size_t extra);
LDB_INTERNAL void ldb_buf_free(ldb_alloc *a, ldb_buf *b);

#endif
