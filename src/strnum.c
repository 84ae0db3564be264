/* strnum.c -- numbers in strings, as Redis reads and writes them. */
#include <limits.h>
#include <stdio.h>

#include "strnum.h"

int ldb_str_to_ll(const void *s, size_t len, long long *v) {
    const unsigned char *p = s;
    size_t i = 0;
    int neg = 0;
    if (len == 0 || len > 20) return -1;
    if (len == 1 && p[0] == '0') { *v = 0; return 0; }
    if (p[0] == '-') { neg = 1; i = 1; }
    if (i >= len || p[i] < '1' || p[i] > '9') return -1;
    unsigned long long u = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (u > (ULLONG_MAX - d) / 10) return -1;
        u = u * 10 + d;
    }
    if (neg) {
        if (u > (unsigned long long)LLONG_MAX + 1) return -1;
        *v = u == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)u;
    } else {
        if (u > (unsigned long long)LLONG_MAX) return -1;
        *v = (long long)u;
    }
    return 0;
}

size_t ldb_ll_to_str(char *buf, long long v) {
    return (size_t)snprintf(buf, 21, "%lld", v);
}
