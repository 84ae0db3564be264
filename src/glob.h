/* glob.h -- Redis's glob-style pattern matching (stringmatchlen), as KEYS,
 * SCAN's MATCH and later PSUBSCRIBE use it, binary-safe.
 *
 * The pattern language, as Redis 7.0 reads it:
 *   *        any run of bytes (a run of stars is one star)
 *   ?        any one byte
 *   [abc]    one byte of the set; [^abc] one byte not in it; [a-z] a
 *            range, its ends in either order ([z-a] is [a-z]); \x in a set
 *            is the byte x; a set not closed by ']' ends with the pattern
 *   \x       the byte x itself
 *   other    the byte itself
 * And its edge cases, kept on purpose so that the same pattern selects the
 * same keys as redis-server:
 *  - an empty string matches only the empty pattern ("*" does not match
 *    ""), while a star at the end matches nothing once bytes were matched
 *    ("a*" matches "a");
 *  - in a set, "x-y" is a range whenever two bytes follow x, even when y
 *    is ']' ("[a-]" is the range ']'..'a', and the set stays open);
 *  - a range compares bytes as signed chars, as Redis does where char is
 *    signed (x86-64): a byte >= 0x80 sorts before 0x00, so [a-\xff] is
 *    \xff..'a' and holds 0x00..0x61 and 0xff;
 *  - with nocase, a range's ends are lowered after they are put in order,
 *    and only ASCII letters have a lower case (the C locale).
 * Matching runs in O(pattern * string) time and constant stack, whatever
 * the pattern: no recursion. */
#ifndef LDB_GLOB_H
#define LDB_GLOB_H

#include <stddef.h>

#include "alloc.h"

/* 1 if string[0..slen) matches pattern[0..plen), else 0. */
LDB_INTERNAL int ldb_glob_match(const void *pattern, size_t plen, const void *string, size_t slen,
                                int nocase);

#endif
