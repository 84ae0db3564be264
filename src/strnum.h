/* strnum.h -- numbers in strings, read and written as Redis does, so that
 * INCR, INCRBYFLOAT, SETRANGE's offsets, EXPIRE's times and the rest
 * accept and reply exactly what redis-server does. */
#ifndef LDB_STRNUM_H
#define LDB_STRNUM_H

#include <stddef.h>

#include "alloc.h"

/* Redis's string2ll: optional '-', then digits with no leading zero ("0"
 * alone is fine), no spaces, no '+', within long long. 0 and *v, or -1. */
LDB_INTERNAL int ldb_str_to_ll(const void *s, size_t len, long long *v);
/* The decimal text of v into buf (at least 21 bytes); returns its length. */
LDB_INTERNAL size_t ldb_ll_to_str(char *buf, long long v);

/* Bytes a long double's text may take, its '\0' included (Redis's
 * MAX_LONG_DOUBLE_CHARS): a longer text is not a number, and the longest
 * finite value printed in full ("%.17Lf", about 4950 bytes) fits. */
#define LDB_LD_STR_MAX (5 * 1024)

/* Redis's string2ld, as INCRBYFLOAT reads both the value and the
 * increment: what strtold takes (decimal, hex, "inf"), all of s, not
 * empty, shorter than LDB_LD_STR_MAX, no leading space, not NaN, not out
 * of range (an overflow or an underflow to zero). 0 and *v, or -1. */
LDB_INTERNAL int ldb_str_to_ld(const void *s, size_t len, long double *v);
/* Redis's ld2string in its "human" mode, as INCRBYFLOAT replies and
 * stores a result: "%.17Lf" with the trailing zeros and a trailing '.'
 * dropped, "-0" as "0", and "inf"/"-inf". Writes a '\0'-terminated text
 * into buf (cap bytes; LDB_LD_STR_MAX is always enough) and returns its
 * length, or 0 when it does not fit. */
LDB_INTERNAL size_t ldb_ld_to_str(char *buf, size_t cap, long double v);

#endif
