/* strnum.c -- numbers in strings, as Redis reads and writes them.
 * The long double ones run strtold and snprintf under the "C" locale,
 * whatever locale the host program set: Redis never changes LC_NUMERIC,
 * so its numbers always use a '.', and a stored INCRBYFLOAT result must
 * read back the same in any process. */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- Long doubles, under the "C" locale ---- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void) {
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Switch this thread to the "C" locale; returns what to give back to
 * c_locale_end. Without one (newlocale failed) the thread's stays. */
static locale_t c_locale_begin(void) {
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale ? uselocale(c_locale) : (locale_t)0;
}

static void c_locale_end(locale_t old) {
    if (old) uselocale(old);
}

/* isspace() in the "C" locale: what strtold would skip. */
static int c_space(char ch) {
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

int ldb_str_to_ld(const void *s, size_t len, long double *v) {
    char buf[LDB_LD_STR_MAX];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (c_space(buf[0])) return -1;
    char *end;
    int saved = errno;
    errno = 0;
    locale_t old = c_locale_begin();
    long double x = strtold(buf, &end);
    c_locale_end(old);
    int err = errno;
    errno = saved;
    /* All of it (a '\0' inside stops strtold short), and not NaN; an out
     * of range is refused when it overflowed or underflowed to zero, as
     * Redis does (a denormal result is kept). */
    if ((size_t)(end - buf) != len || err == EINVAL || isnan(x)) return -1;
    if (err == ERANGE && (isinf(x) || x == 0)) return -1;
    *v = x;
    return 0;
}

size_t ldb_ld_to_str(char *buf, size_t cap, long double v) {
    size_t n;
    if (isinf(v)) {
        if (cap < 5) return 0;
        n = v > 0 ? 3 : 4;
        memcpy(buf, v > 0 ? "inf" : "-inf", n);
    } else {
        locale_t old = c_locale_begin();
        int w = snprintf(buf, cap, "%.17Lf", v);
        c_locale_end(old);
        if (w < 0 || (size_t)w + 1 > cap) return 0;
        n = (size_t)w;
        /* Drop the zeros that end the fraction, then a bare '.'. */
        if (memchr(buf, '.', n)) {
            while (buf[n - 1] == '0') n--;
            if (buf[n - 1] == '.') n--;
        }
        if (n == 2 && buf[0] == '-' && buf[1] == '0') { /* a tiny negative */
            buf[0] = '0';
            n = 1;
        }
    }
    buf[n] = '\0';
    return n;
}
