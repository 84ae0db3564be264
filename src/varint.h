/* varint.h -- LEB128 varints: 7 bits a byte, low bits first, the high bit
 * set on every byte but the last. The log format (lengths and counts in a
 * record) and table entries (key and value lengths) both write them; each
 * decodes its own, as only the log's decoder distrusts its input. */
#ifndef LDB_VARINT_H
#define LDB_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

/* Bytes ldb_varint_put writes for v: 1 to 10. */
LDB_HOT_INLINE size_t ldb_varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

/* Write v at p; returns the byte after it. */
LDB_HOT_INLINE unsigned char *ldb_varint_put(unsigned char *p, uint64_t v) {
    while (v >= 0x80) { *p++ = (unsigned char)(v | 0x80); v >>= 7; }
    *p++ = (unsigned char)v;
    return p;
}

#endif
