/* base64.c -- standard base64 (RFC 4648, '+' and '/', '=' padding), for
 * the bytes of keys and values that are not valid UTF-8 in JSON lines.
 *
 * Decoding is strict: only the alphabet, length a multiple of 4, padding
 * only at the end, and unused low bits zero, so every byte string has one
 * encoding and a damaged field is refused rather than read as other
 * bytes. It works in place: 4 characters become at most 3 bytes, so the
 * write position never passes the read position. */
#include <stdio.h>
#include <string.h>

#include "tool.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void tool_base64_write(FILE *out, const void *bytes, size_t n) {
    const unsigned char *p = bytes;
    char quad[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        quad[0] = alphabet[v >> 18];
        quad[1] = alphabet[(v >> 12) & 63];
        quad[2] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        quad[3] = i + 2 < n ? alphabet[v & 63] : '=';
        fwrite(quad, 1, 4, out);
    }
}

/* The value of one base64 character, or -1. */
static int digit(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long long tool_base64_decode(char *s, size_t n) {
    size_t w = 0;
    if (n % 4 != 0) return -1;
    for (size_t i = 0; i < n; i += 4) {
        int pad = (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=');
        if (pad && i + 4 != n) return -1; /* padding only at the very end */
        uint32_t v = 0;
        for (int j = 0; j < 4 - pad; j++) {
            int d = digit(s[i + (size_t)j]);
            if (d < 0) return -1;
            v |= (uint32_t)d << (18 - 6 * j);
        }
        if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff))) return -1;
        s[w++] = (char)(v >> 16);
        if (pad < 2) s[w++] = (char)(v >> 8);
        if (pad < 1) s[w++] = (char)v;
    }
    return (long long)w;
}
