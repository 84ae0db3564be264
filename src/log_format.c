/* log_format.c -- encode and decode log records; see doc/log-format.md.
 *
 * File header (32 bytes, little-endian):
 *   0  8  magic "LAYERDB\0"
 *   8  4  format version (1)
 *  12  4  flags (0; a reader refuses unknown flags via the version)
 *  16  8  salt: random, chosen when the file is created; seeds every record
 *         checksum, so records copied from another file or stored inside
 *         a value never pass for this file's records
 *  24  8  XXH3-64 of bytes 0..23
 *
 * Record frame (16 bytes) then body:
 *   0  4  body length L (1 .. 2^31-1)
 *   4  4  length check: low 32 bits of XXH3-64(bytes 0..3, seed
 *         LEN_SEED ^ salt).
 *         Lets recovery tell a real frame from garbage without trusting L,
 *         so a damaged length never makes it read past good records.
 *   8  8  XXH3-64 of the L body bytes, seed salt
 *  16  L  body: type byte, then
 *         COMMANDS: varint ncmds (>= 1), per command varint argc (>= 1),
 *                   per argument varint length and the bytes;
 *         SYNCED:   8-byte offset.
 * Varints are LEB128, at most 9 bytes, values below 2^63. */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "log_format.h"

static const unsigned char MAGIC[8] = {'L', 'A', 'Y', 'E', 'R', 'D', 'B', 0};
#define LEN_SEED 0x6c61796572646231ull /* "layerdb1" */

/* ---- Little-endian helpers ---- */

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Decode from untrusted bytes: NULL if it runs past end or over 63 bits. */
static const unsigned char *varint_get(const unsigned char *p, const unsigned char *end,
                                       uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 63; shift += 7) {
        if (p >= end) return NULL;
        unsigned char b = *p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = x; return p; }
    }
    return NULL;
}

/* ---- File header ---- */

void ldb_logfmt_header_encode(unsigned char out[LDB_FILE_HEADER_SIZE], uint64_t salt) {
    memset(out, 0, LDB_FILE_HEADER_SIZE);
    memcpy(out, MAGIC, sizeof MAGIC);
    put_u32(out + 8, LDB_FORMAT_VERSION);
    put_u64(out + 16, salt);
    put_u64(out + 24, XXH3_64bits(out, 24));
}

uint64_t ldb_logfmt_header_salt(const unsigned char *hdr) {
    return get_u64(hdr + 16);
}

int ldb_logfmt_header_check(const unsigned char *hdr, size_t n) {
    if (n < LDB_FILE_HEADER_SIZE || memcmp(hdr, MAGIC, sizeof MAGIC) != 0)
        return LAYERDB_NOTDB;
    if (get_u64(hdr + 24) != XXH3_64bits(hdr, 24)) return LAYERDB_NOTDB;
    if (get_u32(hdr + 8) != LDB_FORMAT_VERSION || get_u32(hdr + 12) != 0)
        return LAYERDB_VERSION_MISMATCH;
    return 0;
}

int ldb_logfmt_header_is_prefix(const unsigned char *hdr, size_t n) {
    unsigned char want[LDB_FILE_HEADER_SIZE];
    ldb_logfmt_header_encode(want, 0);
    if (n >= LDB_FILE_HEADER_SIZE) return n == LDB_FILE_HEADER_SIZE && ldb_logfmt_header_check(hdr, n) == 0;
    /* Cut short: the salt and checksum (bytes 16..31) may be anything. */
    return memcmp(hdr, want, n < 16 ? n : 16) == 0;
}

/* ---- Frames ---- */

static uint32_t len_check(const unsigned char *len_bytes, uint64_t salt) {
    return (uint32_t)XXH3_64bits_withSeed(len_bytes, 4, LEN_SEED ^ salt);
}

/* Write the frame for the body that follows it in place. */
static void frame_seal(unsigned char *frame, uint64_t salt, uint32_t body_len) {
    put_u32(frame, body_len);
    put_u32(frame + 4, len_check(frame, salt));
    put_u64(frame + 8, XXH3_64bits_withSeed(frame + LDB_FRAME_SIZE, body_len, salt));
}

int ldb_logfmt_frame_check(const unsigned char *frame, uint64_t salt, uint32_t *body_len) {
    uint32_t len = get_u32(frame);
    if (len == 0 || len > LDB_MAX_BODY || get_u32(frame + 4) != len_check(frame, salt)) return -1;
    *body_len = len;
    return 0;
}

int ldb_logfmt_body_check(const unsigned char *frame, const unsigned char *body,
                          uint32_t body_len, uint64_t salt) {
    return get_u64(frame + 8) == XXH3_64bits_withSeed(body, body_len, salt) ? 0 : -1;
}

/* ---- Encoding ---- */

static uint64_t commands_body_size(size_t ncmds, const size_t *argcs, const ldb_slice *argv) {
    uint64_t n = 1 + ldb_varint_len(ncmds);
    for (size_t c = 0; c < ncmds; argv += argcs[c++]) n += ldb_logfmt_args_size(argcs[c], argv);
    return n;
}

size_t ldb_logfmt_commands_record_size(size_t ncmds, const size_t *argcs, const ldb_slice *argv) {
    uint64_t body = commands_body_size(ncmds, argcs, argv);
    return body > LDB_MAX_BODY ? SIZE_MAX : (size_t)(LDB_FRAME_SIZE + body);
}

/* Finish a record whose body ends at p: its length goes in the frame. */
static unsigned char *end_unsealed(ldb_buf *b, unsigned char *frame, const unsigned char *p) {
    uint32_t body_len = (uint32_t)(p - frame - LDB_FRAME_SIZE);
    put_u32(frame, body_len);
    b->len += LDB_FRAME_SIZE + body_len;
    return frame;
}

/* Append the record with only its length in the frame: the checks are
 * filled in by ldb_logfmt_seal_all. Returns the frame. */
static unsigned char *append_unsealed(ldb_buf *b, size_t ncmds, const size_t *argcs,
                                      const ldb_slice *argv) {
    unsigned char *frame = b->p + b->len;
    unsigned char *p = frame + LDB_FRAME_SIZE;
    *p++ = LDB_REC_COMMANDS;
    p = ldb_varint_put(p, ncmds);
    for (size_t c = 0; c < ncmds; argv += argcs[c++]) p = ldb_logfmt_put_args(p, argcs[c], argv);
    return end_unsealed(b, frame, p);
}

void ldb_logfmt_append_commands(ldb_buf *b, uint64_t salt, size_t ncmds, const size_t *argcs,
                                const ldb_slice *argv) {
    unsigned char *frame = append_unsealed(b, ncmds, argcs, argv);
    frame_seal(frame, salt, get_u32(frame));
}

void ldb_logfmt_append_command(ldb_buf *b, uint64_t salt, size_t argc, const ldb_slice *argv) {
    ldb_logfmt_append_commands(b, salt, 1, &argc, argv);
}

size_t ldb_logfmt_encoded_commands_size(size_t ncmds, size_t len) {
    uint64_t body = 1 + (uint64_t)ldb_varint_len(ncmds) + len;
    return body > LDB_MAX_BODY ? SIZE_MAX : (size_t)(LDB_FRAME_SIZE + body);
}

void ldb_logfmt_put_encoded_commands(unsigned char *frame, size_t size, size_t ncmds,
                                     const unsigned char *body, size_t len) {
    put_u32(frame, (uint32_t)(size - LDB_FRAME_SIZE));
    unsigned char *p = frame + LDB_FRAME_SIZE;
    *p++ = LDB_REC_COMMANDS;
    p = ldb_varint_put(p, ncmds);
    memcpy(p, body, len);
}

void ldb_logfmt_seal_all(unsigned char *p, size_t n, uint64_t salt) {
    for (size_t off = 0; off + LDB_FRAME_SIZE <= n;) {
        uint32_t len = get_u32(p + off);
        frame_seal(p + off, salt, len);
        off += LDB_FRAME_SIZE + len;
    }
}

void ldb_logfmt_synced_rebase(unsigned char *p, size_t n, uint64_t base) {
    if (base == 0 || n < LDB_SYNCED_RECORD_SIZE || get_u32(p) != 1 + 8 ||
        p[LDB_FRAME_SIZE] != LDB_REC_SYNCED)
        return;
    uint64_t pos = get_u64(p + LDB_FRAME_SIZE + 1);
    put_u64(p + LDB_FRAME_SIZE + 1, pos > base ? pos - base : 0);
}

void ldb_logfmt_encode_synced(unsigned char out[LDB_SYNCED_RECORD_SIZE], uint64_t salt,
                              uint64_t synced_end) {
    out[LDB_FRAME_SIZE] = LDB_REC_SYNCED;
    put_u64(out + LDB_FRAME_SIZE + 1, synced_end);
    frame_seal(out, salt, 1 + 8);
}

/* ---- Decoding ---- */

/* Read one command's argc and skip or collect its args; NULL if malformed. */
static const unsigned char *read_command(const unsigned char *p, const unsigned char *end,
                                         ldb_slice *argv, size_t *argc_out) {
    uint64_t argc;
    p = varint_get(p, end, &argc);
    if (!p || argc == 0 || argc > (uint64_t)(end - p)) return NULL; /* >= 1 byte per arg */
    for (uint64_t i = 0; i < argc; i++) {
        uint64_t len;
        p = varint_get(p, end, &len);
        if (!p || len > (uint64_t)(end - p)) return NULL;
        if (argv) { argv[i].p = p; argv[i].len = (size_t)len; }
        p += len;
    }
    *argc_out = (size_t)argc;
    return p;
}

int ldb_logfmt_commands_validate(const unsigned char *body, size_t len, size_t *max_argc) {
    const unsigned char *p = body, *end = body + len;
    uint64_t ncmds;
    if (len < 1 || *p++ != LDB_REC_COMMANDS) return -1;
    p = varint_get(p, end, &ncmds);
    if (!p || ncmds == 0 || ncmds > (uint64_t)(end - p)) return -1;
    *max_argc = 0;
    for (uint64_t i = 0; i < ncmds; i++) {
        size_t argc;
        p = read_command(p, end, NULL, &argc);
        if (!p) return -1;
        if (argc > *max_argc) *max_argc = argc;
    }
    return p == end ? 0 : -1;
}

void ldb_logfmt_commands_begin(ldb_cmd_reader *r, const unsigned char *body, size_t len) {
    r->end = body + len;
    r->p = varint_get(body + 1, r->end, &r->left);
}

int ldb_logfmt_commands_next(ldb_cmd_reader *r, ldb_slice *argv, size_t *argc) {
    if (r->left == 0) return 0;
    r->left--;
    r->p = read_command(r->p, r->end, argv, argc);
    return r->p != NULL;
}

int ldb_logfmt_synced_decode(const unsigned char *body, size_t len, uint64_t *synced_end) {
    if (len != 9 || body[0] != LDB_REC_SYNCED) return -1;
    *synced_end = get_u64(body + 1);
    return 0;
}
