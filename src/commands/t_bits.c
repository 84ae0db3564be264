/* t_bits.c -- the bit commands on strings: SETBIT, GETBIT, BITCOUNT,
 * BITPOS, with Redis 7.0's replies and error texts.
 *
 * Bit 0 of a string is the most significant bit of its first byte. A key
 * that is absent reads as an endless run of zero bits. SETBIT writes a new
 * entry (entries are immutable once in the table) holding the old value,
 * padded with zero bytes up to the byte it addresses, with the bit
 * changed; it keeps the key's deadline and is logged as itself, and only
 * when it changed something, as Redis 7.0 propagates it.
 *
 * Redis 7.0 looks the key up before it reads BITCOUNT's and BITPOS's range
 * arguments, so an absent key answers 0 (BITPOS: 0 or -1) and another
 * type answers WRONGTYPE whatever follows; the handlers keep that order. */
#include "command.h"
#include "strnum.h"

/* Redis's proto_max_bulk_len: a bit offset must address a byte below
 * 512 MB, so the largest is 2^32 - 1. */
#define MAX_BIT_OFFSET ((1ull << 32) - 1)

/* ---- Counting and searching bits ---- */

static uint64_t load64(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w); /* unaligned and byte-order free: only its
                                popcount, or whether it is 0 or ~0, counts */
    return w;
}

/* The set bits in p[0..n). */
static uint64_t popcount_bytes(const unsigned char *p, size_t n) {
    uint64_t a = 0, b = 0, c = 0, d = 0; /* four sums, so the popcounts overlap */
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a += (uint64_t)__builtin_popcountll(load64(p + i));
        b += (uint64_t)__builtin_popcountll(load64(p + i + 8));
        c += (uint64_t)__builtin_popcountll(load64(p + i + 16));
        d += (uint64_t)__builtin_popcountll(load64(p + i + 24));
    }
    for (; i + 8 <= n; i += 8) a += (uint64_t)__builtin_popcountll(load64(p + i));
    for (; i < n; i++) a += (uint64_t)__builtin_popcount(p[i]);
    return a + b + c + d;
}

/* The bits from..to (0 = most significant) of a byte. */
static unsigned byte_mask(unsigned from, unsigned to) {
    return (0xFFu >> from) & (0xFFu << (7 - to)) & 0xFFu;
}

/* The set bits among bits first..last (inclusive) of p. */
static uint64_t count_bits(const unsigned char *p, uint64_t first, uint64_t last) {
    uint64_t fb = first >> 3, lb = last >> 3;
    unsigned f = (unsigned)(first & 7), l = (unsigned)(last & 7);
    if (fb == lb) return (uint64_t)__builtin_popcount(p[fb] & byte_mask(f, l));
    return (uint64_t)__builtin_popcount(p[fb] & byte_mask(f, 7)) +
           popcount_bytes(p + fb + 1, (size_t)(lb - fb - 1)) +
           (uint64_t)__builtin_popcount(p[lb] & byte_mask(0, l));
}

/* Byte i of p as seen when looking for 'bit': its ones are the bits
 * equal to 'bit'. */
static unsigned wanted(const unsigned char *p, uint64_t i, int bit) {
    return (bit ? p[i] : ~p[i]) & 0xFFu;
}

/* The index (0 = most significant) of the first one in v, v != 0. */
static int first_one(unsigned v) {
    return __builtin_clz(v) - (int)(8 * sizeof(unsigned) - 8);
}

/* The first byte in p[i..end) holding a bit equal to 'bit', or end. Whole
 * words of all the other bit are skipped eight bytes at a time. */
static uint64_t scan_bytes(const unsigned char *p, uint64_t i, uint64_t end, int bit) {
    uint64_t skip = bit ? 0 : ~(uint64_t)0;
    while (i + 8 <= end && load64(p + i) == skip) i += 8;
    while (i < end && !wanted(p, i, bit)) i++;
    return i;
}

/* The position of the first bit equal to 'bit' among bits first..last
 * (inclusive) of p, or -1. */
static long long find_bit(const unsigned char *p, uint64_t first, uint64_t last, int bit) {
    uint64_t fb = first >> 3, lb = last >> 3;
    unsigned f = (unsigned)(first & 7), l = (unsigned)(last & 7);
    unsigned v = wanted(p, fb, bit) & byte_mask(f, fb == lb ? l : 7);
    if (v) return (long long)(fb * 8) + first_one(v);
    if (fb == lb) return -1;
    uint64_t i = scan_bytes(p, fb + 1, lb, bit);
    if (i < lb) return (long long)(i * 8) + first_one(wanted(p, i, bit));
    v = wanted(p, lb, bit) & byte_mask(0, l);
    return v ? (long long)(lb * 8) + first_one(v) : -1;
}

/* ---- Arguments ---- */

/* A bit offset in argument i, 0..MAX_BIT_OFFSET; otherwise replies the
 * error and returns -1. */
static int arg_bit_offset(ldb_cmd_ctx *c, size_t i, uint64_t *offset) {
    long long v;
    if (ldb_str_to_ll(c->argv[i].p, c->argv[i].len, &v) != 0 || v < 0 ||
        (unsigned long long)v > MAX_BIT_OFFSET) {
        ldb_reply_error(c->reply, "ERR bit offset is not an integer or out of range");
        return -1;
    }
    *offset = (uint64_t)v;
    return 0;
}

/* BYTE or BIT in argument i: 1 for BIT; otherwise replies the syntax
 * error and returns -1. */
static int arg_unit_is_bit(ldb_cmd_ctx *c, size_t i) {
    if (ldb_arg_is(c, i, "BIT")) return 1;
    if (ldb_arg_is(c, i, "BYTE")) return 0;
    ldb_reply_error(c->reply, "ERR syntax error");
    return -1;
}

/* Resolve start..end (bytes, or bits when 'bits') against a string of len
 * bytes as Redis does: a negative index counts from the end, then both
 * are clamped into the string. 1 and the range in bits in *first, *last,
 * or 0 when it is empty. */
static int bit_range(long long start, long long end, size_t len, int bits, uint64_t *first,
                     uint64_t *last) {
    long long total = bits ? (long long)len * 8 : (long long)len;
    if (start < 0) start += total;
    if (end < 0) end += total;
    if (start < 0) start = 0;
    if (end < 0) end = 0;
    if (end >= total) end = total - 1;
    if (start > end) return 0;
    *first = bits ? (uint64_t)start : (uint64_t)start * 8;
    *last = bits ? (uint64_t)end : (uint64_t)end * 8 + 7;
    return 1;
}

/* ---- The commands ---- */

/* SETBIT key offset 0|1: the bit's old value. */
static void setbit(ldb_cmd_ctx *c) {
    const ldb_slice *key = &c->argv[1];
    uint64_t offset;
    long long on;
    if (arg_bit_offset(c, 2, &offset) != 0) return;
    if (ldb_str_to_ll(c->argv[3].p, c->argv[3].len, &on) != 0 || (on != 0 && on != 1)) {
        ldb_reply_error(c->reply, "ERR bit is not an integer or out of range");
        return;
    }
    const unsigned char *old = NULL;
    size_t oldlen = 0;
    int found = ldb_cmd_get_string(c, key, &old, &oldlen);
    if (found < 0) return;
    size_t byte = (size_t)(offset >> 3);
    unsigned mask = 0x80u >> (offset & 7);
    int was = byte < oldlen && (old[byte] & mask);
    /* Unchanged: the key exists, is long enough and has the bit already. */
    if (found && byte < oldlen && was == (int)on) {
        ldb_reply_int(c->reply, was);
        return;
    }
    size_t len = byte < oldlen ? oldlen : byte + 1;
    unsigned char *val;
    ldb_entry *e = ldb_cmd_new_string(c, key, len, &val);
    if (!e) return;
    if (oldlen) memcpy(val, old, oldlen);
    memset(val + oldlen, 0, len - oldlen);
    val[byte] = (unsigned char)(on ? val[byte] | mask : val[byte] & ~mask);
    if (ldb_cmd_put(c, e, 1) != 0) return;
    ldb_cmd_log_self(c);
    ldb_reply_int(c->reply, was);
}

/* GETBIT key offset: 0 past the end of the value or for no key. */
static void getbit(ldb_cmd_ctx *c) {
    uint64_t offset;
    if (arg_bit_offset(c, 2, &offset) != 0) return;
    const unsigned char *val;
    size_t len;
    int found = ldb_cmd_get_string(c, &c->argv[1], &val, &len);
    if (found < 0) return;
    size_t byte = (size_t)(offset >> 3);
    int bit = found && byte < len && (val[byte] & (0x80u >> (offset & 7)));
    ldb_reply_int(c->reply, bit);
}

/* BITCOUNT key [start end [BYTE | BIT]] */
static void bitcount(ldb_cmd_ctx *c) {
    const unsigned char *val;
    size_t len;
    int found = ldb_cmd_get_string(c, &c->argv[1], &val, &len);
    if (found <= 0) {
        if (found == 0) ldb_reply_int(c->reply, 0);
        return;
    }
    long long start = 0, end = -1;
    int bits = 0;
    if (c->argc == 4 || c->argc == 5) {
        if (ldb_arg_ll(c, 2, &start) != 0 || ldb_arg_ll(c, 3, &end) != 0) return;
        /* Two negative indexes the wrong way round count nothing, before
         * the unit is even read (clamping could otherwise turn them into
         * a byte or a bit). */
        if (start < 0 && end < 0 && start > end) {
            ldb_reply_int(c->reply, 0);
            return;
        }
        if (c->argc == 5 && (bits = arg_unit_is_bit(c, 4)) < 0) return;
    } else if (c->argc != 2) {
        ldb_reply_error(c->reply, "ERR syntax error");
        return;
    }
    uint64_t first, last;
    int any = bit_range(start, end, len, bits, &first, &last);
    ldb_reply_int(c->reply, any ? (long long)count_bits(val, first, last) : 0);
}

/* BITPOS key bit [start [end [BYTE | BIT]]]: the first bit equal to 'bit'
 * in the range, or -1. Looking for a 0 with no end given, a value of all
 * ones answers the bit just past it, as if padded with zeros. */
static void bitpos(ldb_cmd_ctx *c) {
    long long bit;
    if (ldb_arg_ll(c, 2, &bit) != 0) return;
    if (bit != 0 && bit != 1) {
        ldb_reply_error(c->reply, "ERR The bit argument must be 1 or 0.");
        return;
    }
    const unsigned char *val;
    size_t len;
    int found = ldb_cmd_get_string(c, &c->argv[1], &val, &len);
    if (found <= 0) {
        if (found == 0) ldb_reply_int(c->reply, bit ? -1 : 0);
        return;
    }
    long long start = 0, end = -1;
    int bits = 0, end_given = c->argc >= 5;
    if (c->argc > 6) {
        ldb_reply_error(c->reply, "ERR syntax error");
        return;
    }
    /* Redis reads start, then the unit, then end. */
    if (c->argc >= 4 && ldb_arg_ll(c, 3, &start) != 0) return;
    if (c->argc == 6 && (bits = arg_unit_is_bit(c, 5)) < 0) return;
    if (end_given && ldb_arg_ll(c, 4, &end) != 0) return;
    uint64_t first, last;
    if (!bit_range(start, end, len, bits, &first, &last)) {
        ldb_reply_int(c->reply, -1);
        return;
    }
    long long pos = find_bit(val, first, last, (int)bit);
    if (pos < 0 && bit == 0 && !end_given) pos = (long long)last + 1;
    ldb_reply_int(c->reply, pos);
}

#define W LDB_CMD_WRITE
#define R LDB_CMD_READONLY
#define F LDB_CMD_FAST
const ldb_command ldb_commands_bits[] = {
    /* name      arity flags  keys      handler */
    {"bitcount", -2, R,       1, 1, 1,  bitcount},
    {"bitpos",   -3, R,       1, 1, 1,  bitpos},
    {"getbit",   3,  R | F,   1, 1, 1,  getbit},
    {"setbit",   4,  W,       1, 1, 1,  setbit},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
