/* strnum.h -- numbers in strings, read and written as Redis does, so that
 * INCR, SETRANGE's offsets, EXPIRE's times and the rest accept and reply
 * exactly what redis-server does. */
#ifndef LDB_STRNUM_H
#define LDB_STRNUM_H

#include <stddef.h>

#include "alloc.h"

/* Redis's string2ll: optional '-', then digits with no leading zero ("0"
 * alone is fine), no spaces, no '+', within long long. 0 and *v, or -1. */
LDB_INTERNAL int ldb_str_to_ll(const void *s, size_t len, long long *v);
/* The decimal text of v into buf (at least 21 bytes); returns its length. */
LDB_INTERNAL size_t ldb_ll_to_str(char *buf, long long v);

#endif
