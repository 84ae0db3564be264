/* log_format.h -- the bytes of a layerdb log file (doc/log-format.md).
 *
 * A 32-byte file header, then records. Each record is a 16-byte frame
 * header (body length, a check of the length, an XXH3 checksum of the body)
 * and a body whose first byte is its type:
 *   COMMANDS  one or more write commands, each an argv of byte strings, as
 *             Redis's AOF logs them; replay applies a record all-or-nothing.
 *   SYNCED    "every byte before offset N was fsynced": lets recovery tell
 *             a torn tail (after the last fsync) from damage before it.
 * Encoding writes into room the caller made (an ldb_buf, a writer batch);
 * the one-command encoder is inline, as every write runs it. Decoding
 * never trusts the bytes. */
#ifndef LDB_LOG_FORMAT_H
#define LDB_LOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "varint.h"

#define LDB_FILE_HEADER_SIZE 32
#define LDB_FORMAT_VERSION 1
#define LDB_FRAME_SIZE 16
#define LDB_MAX_BODY 0x7fffffffu /* 2 GiB - 1: two 512 MiB args fit */

enum ldb_record_type { LDB_REC_COMMANDS = 1, LDB_REC_SYNCED = 2 };

typedef struct ldb_slice {
    const unsigned char *p;
    size_t len;
} ldb_slice;

/* ---- File header ---- */
/* Every record checksum is seeded with the file's salt (random at creation). */
LDB_INTERNAL void ldb_logfmt_header_encode(unsigned char out[LDB_FILE_HEADER_SIZE], uint64_t salt);
LDB_INTERNAL uint64_t ldb_logfmt_header_salt(const unsigned char *hdr);
/* 0 = valid; LAYERDB_NOTDB (bad magic or checksum); LAYERDB_VERSION_MISMATCH. */
LDB_INTERNAL int ldb_logfmt_header_check(const unsigned char *hdr, size_t n);
/* 1 if the n bytes are a prefix of what ldb_logfmt_header_encode writes
 * with some salt: what a crash while creating the file leaves behind. */
LDB_INTERNAL int ldb_logfmt_header_is_prefix(const unsigned char *hdr, size_t n);

/* ---- Encoding ---- */
/* Bytes one command's part of a COMMANDS body takes: varint argc, then
 * each argument's varint length and bytes. */
LDB_HOT_INLINE uint64_t ldb_logfmt_args_size(size_t argc, const ldb_slice *argv) {
    uint64_t n = ldb_varint_len(argc);
    LDB_UNROLL
    for (size_t i = 0; i < argc; i++) n += ldb_varint_len(argv[i].len) + argv[i].len;
    return n;
}

/* Write that part at p; returns the byte after it. */
LDB_HOT_INLINE unsigned char *ldb_logfmt_put_args(unsigned char *p, size_t argc,
                                                  const ldb_slice *argv) {
    p = ldb_varint_put(p, argc);
    LDB_UNROLL
    for (size_t i = 0; i < argc; i++) {
        p = ldb_varint_put(p, argv[i].len);
        if (argv[i].len) memcpy(p, argv[i].p, argv[i].len);
        p += argv[i].len;
    }
    return p;
}

/* Bytes one COMMANDS record with a single command takes, frame included;
 * SIZE_MAX if the body would exceed LDB_MAX_BODY. Inline, as the sizing of
 * every write. */
LDB_HOT_INLINE size_t ldb_logfmt_command_record_size(size_t argc, const ldb_slice *argv) {
    uint64_t body = 2 + ldb_logfmt_args_size(argc, argv); /* type, ncmds (1), args */
    return body > LDB_MAX_BODY ? SIZE_MAX : (size_t)(LDB_FRAME_SIZE + body);
}

/* The start of an unsealed one-command COMMANDS record of 'size' bytes at
 * 'frame': the body length (the checks stay for ldb_logfmt_seal_all), the
 * type and the command count. Returns where the command's argc goes. */
LDB_HOT_INLINE unsigned char *ldb_logfmt_put_head_unsealed(unsigned char *frame, size_t size) {
    uint32_t body_len = (uint32_t)(size - LDB_FRAME_SIZE);
    for (int i = 0; i < 4; i++) frame[i] = (unsigned char)(body_len >> (8 * i));
    unsigned char *p = frame + LDB_FRAME_SIZE;
    *p++ = LDB_REC_COMMANDS;
    *p++ = 1; /* the varint of ncmds */
    return p;
}

/* The size of the unsealed record at 'frame', frame included: the body
 * length ldb_logfmt_put_head_unsealed wrote, read back. */
LDB_HOT_INLINE size_t ldb_logfmt_unsealed_record_size(const unsigned char *frame) {
    size_t body_len = 0;
    for (int i = 0; i < 4; i++) body_len |= (size_t)frame[i] << (8 * i);
    return LDB_FRAME_SIZE + body_len;
}

/* Write a COMMANDS record with one command at 'frame', which has room for
 * its 'size' bytes (ldb_logfmt_command_record_size), with only the body
 * length in the frame: the writer thread seals a whole batch with
 * ldb_logfmt_seal_all before writing it, so the caller of a set does no
 * hashing. Inline, as the encoding of every write. */
LDB_HOT_INLINE void ldb_logfmt_put_command_unsealed(unsigned char *frame, size_t size, size_t argc,
                                                    const ldb_slice *argv) {
    (void)ldb_logfmt_put_args(ldb_logfmt_put_head_unsealed(frame, size), argc, argv);
}

/* The name of SET, whose arguments a string entry holds encoded (table.h):
 * its record is sized by the caller and may be encoded by the writer
 * thread (SET_REF in writer.c), from this one definition. */
static const ldb_slice ldb_logfmt_set_name = {(const unsigned char *)"SET", 3};

/* Bytes of the record ldb_logfmt_put_encoded_unsealed writes for a command
 * of argc arguments whose name is followed by args_len bytes of encoded
 * arguments; SIZE_MAX if the body would exceed LDB_MAX_BODY. */
LDB_HOT_INLINE size_t ldb_logfmt_encoded_record_size(size_t argc, const ldb_slice *name,
                                                     size_t args_len) {
    uint64_t body = 2 + ldb_varint_len(argc) + ldb_varint_len(name->len) + name->len +
                    (uint64_t)args_len;
    return body > LDB_MAX_BODY ? SIZE_MAX : (size_t)(LDB_FRAME_SIZE + body);
}

/* ldb_logfmt_put_command_unsealed for a command whose arguments after the
 * name come already encoded, each a varint length and the bytes, in
 * 'args': it must hold what ldb_logfmt_put_args would write for argv[1]
 * to argv[argc - 1] (of which only the size counts here). One copy
 * instead of a length and a copy per argument. */
LDB_HOT_INLINE void ldb_logfmt_put_encoded_unsealed(unsigned char *frame, size_t size,
                                                    size_t argc, const ldb_slice *name,
                                                    const unsigned char *args) {
    unsigned char *p = ldb_varint_put(ldb_logfmt_put_head_unsealed(frame, size), argc);
    p = ldb_varint_put(p, name->len);
    memcpy(p, name->p, name->len);
    p += name->len;
    memcpy(p, args, (size_t)(frame + size - p));
}

/* A COMMANDS record of ncmds commands whose parts (ldb_logfmt_put_args
 * each) are already encoded one after the other in body[0..len): how the
 * command layer logs what a command, or a transaction, did. The size, or
 * SIZE_MAX past LDB_MAX_BODY; and the unsealed record at 'frame'. */
LDB_INTERNAL size_t ldb_logfmt_encoded_commands_size(size_t ncmds, size_t len);
LDB_INTERNAL void ldb_logfmt_put_encoded_commands(unsigned char *frame, size_t size, size_t ncmds,
                                                  const unsigned char *body, size_t len);

/* The same for a record of ncmds commands (a batch, applied all-or-nothing
 * on replay): command c has argcs[c] arguments, taken in turn from argv. */
LDB_INTERNAL size_t ldb_logfmt_commands_record_size(size_t ncmds, const size_t *argcs,
                                                    const ldb_slice *argv);
LDB_INTERNAL void ldb_logfmt_append_commands(ldb_buf *b, uint64_t salt, size_t ncmds,
                                             const size_t *argcs, const ldb_slice *argv);
/* Append a sealed COMMANDS record with one command. The buffer must have
 * room for ldb_logfmt_command_record_size bytes (ldb_buf_reserve). */
LDB_INTERNAL void ldb_logfmt_append_command(ldb_buf *b, uint64_t salt, size_t argc,
                                            const ldb_slice *argv);
/* Fill in the length check and checksum of every record in p[0..n), which
 * holds whole records (sealed ones come out the same). */
LDB_INTERNAL void ldb_logfmt_seal_all(unsigned char *p, size_t n, uint64_t salt);
#define LDB_SYNCED_RECORD_SIZE (LDB_FRAME_SIZE + 1 + 8)
/* If p[0..n) starts with a SYNCED record (unsealed or sealed), make the
 * log position it carries a file offset: minus base, or 0 if the position
 * is before the file (nothing in it to vouch for). */
LDB_INTERNAL void ldb_logfmt_synced_rebase(unsigned char *p, size_t n, uint64_t base);
LDB_INTERNAL void ldb_logfmt_encode_synced(unsigned char out[LDB_SYNCED_RECORD_SIZE],
                                           uint64_t salt, uint64_t synced_end);

/* ---- Decoding ---- */
/* Check a frame header at the start of 'frame' (LDB_FRAME_SIZE bytes): on
 * success returns 0 and sets *body_len; -1 if the length check fails. */
LDB_INTERNAL int ldb_logfmt_frame_check(const unsigned char *frame, uint64_t salt,
                                        uint32_t *body_len);
/* 0 if the body matches the frame's checksum. */
LDB_INTERNAL int ldb_logfmt_body_check(const unsigned char *frame, const unsigned char *body,
                                       uint32_t body_len, uint64_t salt);

/* Walks the commands of a COMMANDS body. */
typedef struct ldb_cmd_reader {
    const unsigned char *p;   /* next byte */
    const unsigned char *end; /* end of the body */
    uint64_t left;            /* commands not yet read */
} ldb_cmd_reader;

/* Validate a whole COMMANDS body (type byte included): every length inside
 * the body, at least one command, no trailing bytes. Returns 0 and sets
 * *max_argc (the largest argc, for sizing an argv array), or -1. */
LDB_INTERNAL int ldb_logfmt_commands_validate(const unsigned char *body, size_t len,
                                              size_t *max_argc);
/* Start reading a body that ldb_logfmt_commands_validate accepted. */
LDB_INTERNAL void ldb_logfmt_commands_begin(ldb_cmd_reader *r, const unsigned char *body,
                                            size_t len);
/* Next command into argv (room for max_argc); returns 1, or 0 at the end. */
LDB_INTERNAL int ldb_logfmt_commands_next(ldb_cmd_reader *r, ldb_slice *argv, size_t *argc);
/* The offset in a valid SYNCED body, or -1 if the body is malformed. */
LDB_INTERNAL int ldb_logfmt_synced_decode(const unsigned char *body, size_t len,
                                          uint64_t *synced_end);

#endif
