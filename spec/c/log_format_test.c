/* log_format_test.c -- unit tests of the log's byte format (log_format.c):
 * COMMANDS records (one command or a batch) round-trip, record sizes,
 * frame and body checks and the per-file salt that seeds them, what the
 * COMMANDS validator refuses, SYNCED records, the file header.
 *
 * Bodies the encoder cannot produce (bad varints, trailing bytes, several
 * commands) are written out byte by byte here, so each refusal is pinned to
 * one rule of the format. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "log_format.h"
#include "test.h"

#define MIB (1024u * 1024)

static ldb_alloc test_alloc;

static ldb_slice str(const char *s) { return (ldb_slice){(const unsigned char *)s, strlen(s)}; }

/* Room for n more bytes in b, or exit: the tests' allocations never fail. */
static void reserve(ldb_buf *b, size_t n) {
    if (!test_alloc.fn.malloc) ldb_alloc_init(&test_alloc, NULL);
    if (ldb_buf_reserve(&test_alloc, b, n) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
}

/* Encode one command record into a fresh buffer (freed by buf_free). */
static ldb_buf encode(size_t argc, const ldb_slice *argv) {
    ldb_buf b = {0};
    reserve(&b, ldb_logfmt_command_record_size(argc, argv));
    ldb_logfmt_append_command(&b, 0, argc, argv);
    return b;
}

static void buf_free(ldb_buf *b) { ldb_buf_free(&test_alloc, b); }

/* Check frame and body of a one-command record and read the command back
 * into got (room for cap); returns its argc, or 0 if anything failed. */
static size_t decode(const ldb_buf *rec, ldb_slice *got, size_t cap) {
    uint32_t len;
    size_t max_argc, argc;
    ldb_cmd_reader r;
    if (rec->len < LDB_FRAME_SIZE || ldb_logfmt_frame_check(rec->p, 0, &len) != 0) return 0;
    const unsigned char *body = rec->p + LDB_FRAME_SIZE;
    if (len != rec->len - LDB_FRAME_SIZE || ldb_logfmt_body_check(rec->p, body, len, 0) != 0)
        return 0;
    if (ldb_logfmt_commands_validate(body, len, &max_argc) != 0 || max_argc > cap) return 0;
    ldb_logfmt_commands_begin(&r, body, len);
    if (!ldb_logfmt_commands_next(&r, got, &argc) || ldb_logfmt_commands_next(&r, got, &argc))
        return 0;
    return argc;
}

/* Encode argv, decode it, compare every argument's bytes. */
static int round_trips(size_t argc, const ldb_slice *argv) {
    ldb_slice got[8];
    ldb_buf rec = encode(argc, argv);
    int ok = decode(&rec, got, 8) == argc;
    for (size_t i = 0; ok && i < argc; i++)
        ok = got[i].len == argv[i].len &&
             (!argv[i].len || !memcmp(got[i].p, argv[i].p, argv[i].len));
    buf_free(&rec);
    return ok;
}

/* ---- COMMANDS records ---- */

TEST("a SET record round-trips its argc and every argument's bytes") {
    ldb_slice argv[3] = {str("SET"), str("player:1"), str("{\"hp\": 100}")};
    CHECK(round_trips(3, argv));
    ldb_slice del[2] = {str("DEL"), str("player:1")};
    CHECK(round_trips(2, del));
}

TEST("binary arguments with zero bytes and empty arguments round-trip") {
    static const unsigned char zeros[5] = {0, 0, 'x', 0, 0};
    unsigned char every_byte[256];
    for (int i = 0; i < 256; i++) every_byte[i] = (unsigned char)i;
    ldb_slice argv[5] = {str("SET"), {zeros, sizeof zeros}, {every_byte, sizeof every_byte},
                         {zeros, 0}, {NULL, 0}};
    CHECK(round_trips(5, argv));
    ldb_slice only_empty[1] = {{zeros, 0}};
    CHECK(round_trips(1, only_empty));
}

TEST("a 1 MiB argument round-trips") {
    unsigned char *big = malloc(MIB);
    REQUIRE(big);
    test_rand_state = 12345;
    for (size_t i = 0; i < MIB; i++) big[i] = (unsigned char)test_rand();
    ldb_slice argv[3] = {str("SET"), str("big"), {big, MIB}};
    CHECK(round_trips(3, argv));
    free(big);
}

TEST("command_record_size is exactly what append_command appends") {
    static const size_t lens[] = {0, 1, 127, 128, 16383, 16384, 2097151, 2097152};
    unsigned char *bytes = calloc(1, 2097152);
    REQUIRE(bytes);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        ldb_slice argv[2] = {str("SET"), {bytes, lens[i]}};
        ldb_buf b = encode(2, argv);
        CHECK(b.len == ldb_logfmt_command_record_size(2, argv));
        buf_free(&b);
    }
    ldb_slice many[200]; /* argc itself past one varint byte */
    for (size_t i = 0; i < 200; i++) many[i] = (ldb_slice){bytes, i % 3};
    ldb_buf b = encode(200, many);
    CHECK(b.len == ldb_logfmt_command_record_size(200, many));
    buf_free(&b);
    free(bytes);
}

TEST("command_record_size is SIZE_MAX just past LDB_MAX_BODY") {
    /* body = type + ncmds + argc + 5-byte varint + the bytes; never read */
    static const unsigned char dummy[1];
    ldb_slice argv[1] = {{dummy, LDB_MAX_BODY - 3 - 5}};
    CHECK(ldb_logfmt_command_record_size(1, argv) == LDB_FRAME_SIZE + (size_t)LDB_MAX_BODY);
    argv[0].len++;
    CHECK(ldb_logfmt_command_record_size(1, argv) == SIZE_MAX);
}

/* ---- Frame and body checks ---- */

TEST("the frame check refuses a flipped bit in the length or in its check") {
    ldb_slice argv[3] = {str("SET"), str("k"), str("v")};
    ldb_buf rec = encode(3, argv);
    uint32_t len;
    CHECK(ldb_logfmt_frame_check(rec.p, 0, &len) == 0 && len == rec.len - LDB_FRAME_SIZE);
    for (size_t bit = 0; bit < 64; bit++) {
        rec.p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (ldb_logfmt_frame_check(rec.p, 0, &len) == 0) printf("# bit %zu accepted\n", bit);
        CHECK(ldb_logfmt_frame_check(rec.p, 0, &len) != 0);
        rec.p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    buf_free(&rec);
}

TEST("the body check refuses a flipped bit anywhere in the body or in the checksum") {
    ldb_slice argv[3] = {str("SET"), str("key"), str("a value with some length")};
    ldb_buf rec = encode(3, argv);
    uint32_t len = (uint32_t)(rec.len - LDB_FRAME_SIZE);
    unsigned char *body = rec.p + LDB_FRAME_SIZE;
    CHECK(ldb_logfmt_body_check(rec.p, body, len, 0) == 0);
    for (size_t bit = 64; bit < rec.len * 8; bit++) {
        rec.p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (ldb_logfmt_body_check(rec.p, body, len, 0) == 0) printf("# bit %zu accepted\n", bit);
        CHECK(ldb_logfmt_body_check(rec.p, body, len, 0) != 0);
        rec.p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    buf_free(&rec);
}

TEST("a record sealed with one salt fails the frame and body checks of another") {
    static const uint64_t salts[] = {0, 1, 0x8000000000000000ull, 0x5a17ed5a17ed5a17ull};
    ldb_slice argv[3] = {str("SET"), str("k"), str("v")};
    for (size_t i = 0; i < 4; i++) {
        ldb_buf rec = {0};
        uint32_t len;
        reserve(&rec, ldb_logfmt_command_record_size(3, argv));
        ldb_logfmt_append_command(&rec, salts[i], 3, argv);
        const unsigned char *body = rec.p + LDB_FRAME_SIZE;
        CHECK(ldb_logfmt_frame_check(rec.p, salts[i], &len) == 0);
        CHECK(ldb_logfmt_body_check(rec.p, body, len, salts[i]) == 0);
        for (size_t j = 0; j < 4; j++) {
            if (j == i) continue;
            CHECK(ldb_logfmt_frame_check(rec.p, salts[j], &len) != 0);
            CHECK(ldb_logfmt_body_check(rec.p, body, (uint32_t)(rec.len - LDB_FRAME_SIZE),
                                        salts[j]) != 0);
        }
        buf_free(&rec);
    }
}

/* ---- Batches: several commands in one record ---- */

TEST("append_commands writes a batch that reads back command by command") {
    ldb_slice args[7] = {str("SET"), str("a"), {(const unsigned char *)"\0\1", 2},
                         str("DEL"), str(""), str("SET"), str("b")};
    size_t argcs[3] = {3, 2, 2}, max_argc, argc;
    ldb_buf rec = {0};
    uint32_t len;
    reserve(&rec, ldb_logfmt_commands_record_size(3, argcs, args));
    ldb_logfmt_append_commands(&rec, 77, 3, argcs, args);
    CHECK(rec.len == ldb_logfmt_commands_record_size(3, argcs, args));
    REQUIRE(ldb_logfmt_frame_check(rec.p, 77, &len) == 0 && len == rec.len - LDB_FRAME_SIZE);
    const unsigned char *body = rec.p + LDB_FRAME_SIZE;
    CHECK(ldb_logfmt_body_check(rec.p, body, len, 77) == 0);
    REQUIRE(ldb_logfmt_commands_validate(body, len, &max_argc) == 0 && max_argc == 3);
    ldb_slice got[3];
    ldb_cmd_reader r;
    ldb_logfmt_commands_begin(&r, body, len);
    for (size_t c = 0, arg = 0; c < 3; c++) {
        REQUIRE(ldb_logfmt_commands_next(&r, got, &argc) && argc == argcs[c]);
        for (size_t i = 0; i < argc; i++, arg++)
            CHECK(got[i].len == args[arg].len && !memcmp(got[i].p, args[arg].p, got[i].len));
    }
    CHECK(!ldb_logfmt_commands_next(&r, got, &argc));
    buf_free(&rec);
}

TEST("commands_record_size is one command's size for a batch of one") {
    ldb_slice argv[3] = {str("SET"), str("key"), str("value")};
    size_t argc = 3;
    CHECK(ldb_logfmt_commands_record_size(1, &argc, argv) ==
          ldb_logfmt_command_record_size(3, argv));
}

/* ---- What validate refuses ---- */

static int validates(const unsigned char *body, size_t len) {
    size_t max_argc;
    return ldb_logfmt_commands_validate(body, len, &max_argc) == 0;
}
#define VALIDATES(...)                                                   \
    validates((const unsigned char[]){__VA_ARGS__},                      \
              sizeof((const unsigned char[]){__VA_ARGS__}))

TEST("validate accepts a hand-made one-command body") {
    CHECK(VALIDATES(1, 1, 2, 3, 'D', 'E', 'L', 1, 'k'));
    CHECK(VALIDATES(1, 1, 1, 0)); /* one command of one empty argument */
}

TEST("validate refuses a wrong type byte") {
    CHECK(!VALIDATES(0, 1, 2, 3, 'D', 'E', 'L', 1, 'k'));
    CHECK(!VALIDATES(2, 1, 2, 3, 'D', 'E', 'L', 1, 'k'));
    CHECK(!VALIDATES(0xff, 1, 2, 3, 'D', 'E', 'L', 1, 'k'));
    CHECK(!validates((const unsigned char *)"", 0));
    CHECK(!VALIDATES(1));
}

TEST("validate refuses zero commands and a command of zero arguments") {
    CHECK(!VALIDATES(1, 0));
    CHECK(!VALIDATES(1, 1, 0));
    CHECK(!VALIDATES(1, 2, 1, 0, 0)); /* the second command has argc 0 */
}

TEST("validate refuses an argument, an argc or a command count past the end") {
    CHECK(!VALIDATES(1, 1, 1, 5, 'a', 'b'));
    CHECK(!VALIDATES(1, 1, 3, 1, 'a', 1, 'b'));
    CHECK(!VALIDATES(1, 2, 1, 1, 'x'));
    CHECK(!VALIDATES(1, 1, 0x7f, 0));
}

TEST("validate refuses trailing bytes after the last command") {
    CHECK(!VALIDATES(1, 1, 1, 1, 'x', 0));
    CHECK(!VALIDATES(1, 1, 1, 1, 'x', 1, 1, 1, 'y'));
}

TEST("validate refuses an overlong varint of 11 bytes") {
    /* 1 in 11 bytes: ten continuation bytes, then 0x00 */
    CHECK(!VALIDATES(1, 1, 1, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
                     'x'));
    CHECK(!VALIDATES(1, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
                     1, 1, 'x'));
}

TEST("validate refuses a varint cut by the end of the body") {
    CHECK(!VALIDATES(1, 0x80));
    CHECK(!VALIDATES(1, 1, 0x81));
    CHECK(!VALIDATES(1, 1, 1, 0x80));
}

TEST("commands_next walks every command of a multi-command body with max_argc slots") {
    static const unsigned char body[] = {
        1, 3,                                           /* COMMANDS, 3 commands */
        3, 3, 'S', 'E', 'T', 1, 'a', 2, 0, 1,           /* SET a "\0\1" */
        2, 3, 'D', 'E', 'L', 0,                         /* DEL "" */
        4, 3, 'D', 'E', 'L', 1, 'a', 1, 'b', 1, 'c'};   /* DEL a b c */
    size_t max_argc, argc;
    ldb_slice argv[4];
    ldb_cmd_reader r;
    REQUIRE(ldb_logfmt_commands_validate(body, sizeof body, &max_argc) == 0);
    CHECK(max_argc == 4);
    ldb_logfmt_commands_begin(&r, body, sizeof body);
    CHECK(ldb_logfmt_commands_next(&r, argv, &argc) && argc == 3 && argv[2].len == 2 &&
          argv[2].p[0] == 0 && argv[2].p[1] == 1);
    CHECK(ldb_logfmt_commands_next(&r, argv, &argc) && argc == 2 && argv[1].len == 0);
    CHECK(ldb_logfmt_commands_next(&r, argv, &argc) && argc == 4 && argv[3].len == 1 &&
          argv[3].p[0] == 'c');
    CHECK(!ldb_logfmt_commands_next(&r, argv, &argc));
}

/* ---- SYNCED records ---- */

TEST("a SYNCED record round-trips its offset") {
    static const uint64_t marks[] = {0, LDB_FILE_HEADER_SIZE, (1ull << 32) + 5, UINT64_MAX};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        unsigned char rec[LDB_SYNCED_RECORD_SIZE];
        uint32_t len = 0;
        uint64_t got = 1;
        uint64_t salt = marks[i] ^ 0x5a17; /* any salt will do */
        ldb_logfmt_encode_synced(rec, salt, marks[i]);
        CHECK(ldb_logfmt_frame_check(rec, salt, &len) == 0 && len == 9);
        CHECK(ldb_logfmt_body_check(rec, rec + LDB_FRAME_SIZE, len, salt) == 0);
        CHECK(ldb_logfmt_synced_decode(rec + LDB_FRAME_SIZE, len, &got) == 0 && got == marks[i]);
    }
}

TEST("synced_decode refuses a body of the wrong length or type") {
    unsigned char body[17] = {LDB_REC_SYNCED, 1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t got;
    for (size_t len = 0; len <= sizeof body; len++)
        if (len != 9) CHECK(ldb_logfmt_synced_decode(body, len, &got) != 0);
    body[0] = LDB_REC_COMMANDS;
    CHECK(ldb_logfmt_synced_decode(body, 9, &got) != 0);
    body[0] = 0;
    CHECK(ldb_logfmt_synced_decode(body, 9, &got) != 0);
}

/* ---- The file header ---- */

/* Rewrite bytes 24..31 as the XXH3 of bytes 0..23, as a writer would. */
static void reseal_header(unsigned char hdr[LDB_FILE_HEADER_SIZE]) {
    uint64_t sum = XXH3_64bits(hdr, 24);
    for (int i = 0; i < 8; i++) hdr[24 + i] = (unsigned char)(sum >> (8 * i));
}

TEST("an encoded header is the magic, version 1, zero flags, and passes its check") {
    unsigned char hdr[LDB_FILE_HEADER_SIZE];
    static const unsigned char head[16] = {'L', 'A', 'Y', 'E', 'R', 'D', 'B', 0,
                                           1, 0, 0, 0, 0, 0, 0, 0};
    ldb_logfmt_header_encode(hdr, 0);
    CHECK(memcmp(hdr, head, sizeof head) == 0);
    CHECK_RC(ldb_logfmt_header_check(hdr, sizeof hdr), 0);
    for (size_t n = 0; n < LDB_FILE_HEADER_SIZE; n++)
        CHECK_RC(ldb_logfmt_header_check(hdr, n), LAYERDB_NOTDB);
}

TEST("header_salt reads back the salt header_encode wrote") {
    static const uint64_t salts[] = {0, 1, 0xfedcba9876543210ull, UINT64_MAX};
    unsigned char hdr[LDB_FILE_HEADER_SIZE];
    for (size_t i = 0; i < 4; i++) {
        ldb_logfmt_header_encode(hdr, salts[i]);
        CHECK_RC(ldb_logfmt_header_check(hdr, sizeof hdr), 0);
        CHECK(ldb_logfmt_header_salt(hdr) == salts[i]);
    }
}

TEST("a header with a bad magic or checksum is not a layerdb file") {
    unsigned char hdr[LDB_FILE_HEADER_SIZE];
    ldb_logfmt_header_encode(hdr, 0);
    hdr[0] = 'X';
    CHECK_RC(ldb_logfmt_header_check(hdr, sizeof hdr), LAYERDB_NOTDB);
    reseal_header(hdr); /* a right checksum does not make a wrong magic right */
    CHECK_RC(ldb_logfmt_header_check(hdr, sizeof hdr), LAYERDB_NOTDB);
    for (size_t bit = 0; bit < LDB_FILE_HEADER_SIZE * 8; bit++) {
        ldb_logfmt_header_encode(hdr, 0);
        hdr[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        CHECK_RC(ldb_logfmt_header_check(hdr, sizeof hdr), LAYERDB_NOTDB);
    }
}

TEST("a header of version 2 or unknown flags with a right checksum is a version mismatch") {
    unsigned char hdr[LDB_FILE_HEADER_SIZE];
    ldb_logfmt_header_encode(hdr, 0);
    hdr[8] = 2;
    reseal_header(hdr);
    CHECK_RC(ldb_logfmt_header_check(hdr, sizeof hdr), LAYERDB_VERSION_MISMATCH);
    ldb_logfmt_header_encode(hdr, 0);
    hdr[12] = 1;
    reseal_header(hdr);
    CHECK_RC(ldb_logfmt_header_check(hdr, sizeof hdr), LAYERDB_VERSION_MISMATCH);
}

TEST("header_is_prefix accepts every prefix 0..32, any salt, and refuses a differing fixed byte") {
    unsigned char hdr[LDB_FILE_HEADER_SIZE + 1];
    ldb_logfmt_header_encode(hdr, 0x1234567890abcdefull);
    hdr[LDB_FILE_HEADER_SIZE] = 0;
    for (size_t n = 0; n <= LDB_FILE_HEADER_SIZE; n++) {
        CHECK(ldb_logfmt_header_is_prefix(hdr, n));
        for (size_t i = 0; i < n; i++) {
            hdr[i] ^= 0x10;
            /* Magic, version and flags (bytes 0..15) must match; the salt and
             * checksum of a header cut short cannot be checked, a whole
             * header's must be right. */
            int want = i >= 16 && n < LDB_FILE_HEADER_SIZE;
            if (ldb_logfmt_header_is_prefix(hdr, n) != want) printf("# n %zu, byte %zu\n", n, i);
            CHECK(ldb_logfmt_header_is_prefix(hdr, n) == want);
            hdr[i] ^= 0x10;
        }
    }
    CHECK(!ldb_logfmt_header_is_prefix(hdr, LDB_FILE_HEADER_SIZE + 1));
}

TEST("records appended unsealed and sealed in one pass match records sealed one by one") {
    ldb_alloc a;
    ldb_alloc_init(&a, NULL);
    ldb_buf sealed = {0}, later = {0};
    const uint64_t salt = 0x5eed5eed5eedull;
    unsigned char big[3000];
    memset(big, 0x5a, sizeof big);
    ldb_slice argv[3] = {{(const unsigned char *)"SET", 3}, {(const unsigned char *)"k\0", 2},
                         {big, sizeof big}};
    for (size_t i = 1; i <= 3; i++) {
        argv[2].len = i * 1000 - 1;
        size_t need = ldb_logfmt_command_record_size(3, argv);
        REQUIRE(ldb_buf_reserve(&a, &sealed, need) == 0 && ldb_buf_reserve(&a, &later, need) == 0);
        ldb_logfmt_append_command(&sealed, salt, 3, argv);
        ldb_logfmt_put_command_unsealed(later.p + later.len, need, 3, argv);
        later.len += need;
    }
    REQUIRE(sealed.len == later.len);
    /* (The unsealed frames' check bytes are not written yet: not compared.) */
    ldb_logfmt_seal_all(later.p, later.len, salt);
    CHECK(memcmp(sealed.p, later.p, sealed.len) == 0);
    ldb_logfmt_seal_all(later.p, later.len, salt); /* sealing twice changes nothing */
    CHECK(memcmp(sealed.p, later.p, sealed.len) == 0);
    ldb_buf_free(&a, &sealed);
    ldb_buf_free(&a, &later);
}

TEST("a record from pre-encoded arguments is byte for byte the record from argv") {
    static unsigned char bytes[20001]; /* argv[2] starts at bytes + 1 */
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)(i * 7);
    const size_t klens[] = {0, 1, 16, 127, 128, 300}, vlens[] = {0, 100, 127, 128, 20000};
    for (size_t ki = 0; ki < sizeof klens / sizeof *klens; ki++) {
        for (size_t vi = 0; vi < sizeof vlens / sizeof *vlens; vi++) {
            ldb_slice argv[3] = {str("SET"), {bytes, klens[ki]}, {bytes + 1, vlens[vi]}};
            size_t need = ldb_logfmt_command_record_size(3, argv);
            ldb_buf args = {0}, want = {0}, got = {0};
            reserve(&args, need);
            reserve(&want, need);
            reserve(&got, need);
            unsigned char *p = args.p; /* argv[1] and argv[2], as a string entry holds them */
            for (int a = 1; a <= 2; a++) {
                p = ldb_varint_put(p, argv[a].len);
                memcpy(p, argv[a].p, argv[a].len);
                p += argv[a].len;
            }
            memset(want.p, 0xee, need);
            memset(got.p, 0xdd, need);
            ldb_logfmt_put_command_unsealed(want.p, need, 3, argv);
            ldb_logfmt_put_encoded_unsealed(got.p, need, 3, &argv[0], args.p);
            /* Bytes 4..15 (the checks) are left for sealing by both. */
            CHECK(memcmp(want.p, got.p, 4) == 0);
            CHECK(memcmp(want.p + LDB_FRAME_SIZE, got.p + LDB_FRAME_SIZE,
                         need - LDB_FRAME_SIZE) == 0);
            ldb_buf_free(&test_alloc, &args);
            ldb_buf_free(&test_alloc, &want);
            ldb_buf_free(&test_alloc, &got);
        }
    }
}

int main(void) { return test_main(); }
