/* glob.c -- Redis's glob-style matching (glob.h), written anew.
 *
 * Redis matches recursively, one call per star. Here the pattern is read
 * as tokens (a run of stars, '?', a set, a literal byte, "\x"), each of
 * which but the star matches exactly one byte, and the tokens a pattern
 * splits into do not depend on the string. Redis's result is then the
 * usual glob result over those tokens, but for the empty string (it
 * matches only the empty pattern, not "*"): so the classic loop applies,
 * which on a mismatch goes back to the last star and lets it take one
 * byte more. Going back to the last star only is enough because every
 * other token takes exactly one byte. */
#include "glob.h"

/* Bytes compare as signed chars, as Redis's do on x86-64 (glob.h). */
static int sbyte(unsigned char b) {
    return (signed char)b;
}

/* Lower case in the C locale: ASCII letters only. */
static int lower(int c) {
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int same(int a, int b, int nocase) {
    return nocase ? lower(a) == lower(b) : a == b;
}

/* Does byte c belong to the set whose body starts at *pp (just past '[')?
 * *pp moves past the set: past its ']', or to the end of the pattern for
 * a set left open. */
static int in_set(const unsigned char **pp, const unsigned char *end, int c, int nocase) {
    const unsigned char *p = *pp;
    int negate = p < end && *p == '^';
    int match = 0;
    if (negate) p++;
    while (p < end) {
        if (*p == '\\' && end - p >= 2) { /* exact, even with nocase, as Redis */
            match |= sbyte(p[1]) == c;
            p += 2;
        } else if (*p == ']') {
            p++;
            break;
        } else if (end - p >= 3 && p[1] == '-') { /* a range, even "x-]" */
            int lo = sbyte(p[0]), hi = sbyte(p[2]), x = c;
            if (lo > hi) {
                int t = lo;
                lo = hi;
                hi = t;
            }
            if (nocase) {
                lo = lower(lo);
                hi = lower(hi);
                x = lower(x);
            }
            match |= x >= lo && x <= hi;
            p += 3;
        } else {
            match |= same(sbyte(*p), c, nocase);
            p++;
        }
    }
    *pp = p;
    return match != negate;
}

/* Does the token at p (not a star; p < end) match byte c? *next gets
 * where the next token starts. */
static int token_matches(const unsigned char *p, const unsigned char *end, int c, int nocase,
                         const unsigned char **next) {
    switch (*p) {
    case '?':
        *next = p + 1;
        return 1;
    case '[':
        *next = p + 1;
        return in_set(next, end, c, nocase);
    case '\\':
        if (end - p >= 2) p++; /* a backslash at the end is itself */
        /* fall through */
    default:
        *next = p + 1;
        return same(sbyte(*p), c, nocase);
    }
}

int ldb_glob_match(const void *pattern, size_t plen, const void *string, size_t slen,
                   int nocase) {
    if (slen == 0) return plen == 0;
    const unsigned char *p = pattern, *pend = p + plen;
    const unsigned char *s = string, *send = s + slen;
    const unsigned char *star_p = NULL, *star_s = NULL; /* the last star's resume point */
    while (s < send) {
        const unsigned char *next;
        if (p < pend && *p == '*') {
            while (p < pend && *p == '*') p++;
            if (p == pend) return 1; /* a final star takes the rest */
            star_p = p;
            star_s = s;
        } else if (p < pend && token_matches(p, pend, sbyte(*s), nocase, &next)) {
            p = next;
            s++;
        } else if (star_p) {
            p = star_p; /* the star takes one byte more */
            s = ++star_s;
        } else {
            return 0;
        }
    }
    while (p < pend && *p == '*') p++;
    return p == pend;
}
