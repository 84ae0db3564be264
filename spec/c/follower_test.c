/* follower_test.c -- read-only handles following a live writer.
 *
 * In one process: a reader sees what was whole when it opened and each
 * later record after a refresh; a file that grows a few bytes at a time, or
 * whose records show as zeros before their content, is applied record by
 * record and never in part; damage that a later SYNCED record proves is
 * LAYERDB_CORRUPT; a file renamed over the path (compaction) is loaded
 * whole on the next refresh and never mixed with the old one; every kind
 * of write is refused and leaves the file's bytes as they were; expired
 * keys are hidden from a reader, which never reclaims or logs them; threads
 * read a reader while another refreshes it through compactions.
 *
 * Across processes: one writer and two readers on one file, the writer
 * compacting now and then by renaming a new file over the path. Each
 * reader's state always equals the writer's at some earlier record
 * boundary, derived from the sequence number that every transaction
 * stores (the writer's operations are a function of that number). And a
 * reader open while its writer is killed inside a record keeps the last
 * whole record, then sees what a new writer appends after cutting the
 * torn tail.
 *
 * No timing is asserted: loops are bounded by counts, and waits poll with
 * a bound of a minute or two. LAYERDB_SEED is not used: the workloads are
 * fixed, only the interleaving varies from run to run. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "layerdb.h"
#include "log_format.h"
#include "os.h"
#include "reply_text.h"
#include "test.h"

#define WAIT_MS (120 * 1000) /* the bound of every wait: far past any need */

/* ---- Helpers ---- */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milliseconds since the Unix epoch, the clock of deadlines. */
static long long wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static layerdb *open_mode(const char *path, int readonly, int repair) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.readonly = readonly;
    o.repair = repair;
    layerdb *db = NULL;
    int rc = layerdb_open(&db, path, &o);
    if (rc != LAYERDB_OK) {
        printf("# open %s (readonly %d): %s\n", path, readonly, layerdb_errmsg(db));
        layerdb_close(db);
        return NULL;
    }
    return db;
}

static layerdb *open_writer(const char *path) { return open_mode(path, 0, 0); }
static layerdb *open_reader(const char *path) { return open_mode(path, 1, 0); }

/* The whole file in a malloc'd buffer; *len its size. */
static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    fclose(f);
    if (p) *len = (size_t)n;
    return p;
}

static int same_file(const char *path, const unsigned char *bytes, size_t len) {
    size_t n;
    unsigned char *now = slurp(path, &n);
    int same = now && n == len && memcmp(now, bytes, len) == 0;
    free(now);
    return same;
}

/* Append (or, with off, write at) bytes: what a writer does, by hand. */
static void put_bytes(const char *path, size_t off, const void *p, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0 || pwrite(fd, p, n, (off_t)off) != (ssize_t)n) perror("put_bytes");
    if (fd >= 0) close(fd);
}

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Rename tmp over path and make it durable, as compaction does. */
static int rename_over(const char *tmp, const char *path) {
    if (rename(tmp, path) != 0) return -1;
    int fd = open(test_tmpdir(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int refresh(layerdb *db, uint64_t *records) {
    int rc = layerdb_refresh(db, records);
    if (rc != LAYERDB_OK) printf("# refresh: %s\n", layerdb_errmsg(db));
    return rc;
}

static int has(layerdb *db, const char *key, const char *val) {
    const void *v;
    size_t n;
    if (layerdb_get(db, key, strlen(key), &v, &n) != LAYERDB_OK) return val == NULL;
    return val && n == strlen(val) && memcmp(v, val, n) == 0;
}

static uint64_t key_count(layerdb *db) {
    layerdb_info info;
    return layerdb_info_get(db, &info) == LAYERDB_OK ? info.keys : UINT64_MAX;
}

static void set_kv(layerdb *db, const char *k, const char *v) {
    CHECK_RC(layerdb_set(db, k, strlen(k), v, strlen(v)), LAYERDB_OK);
}

/* ---- One process: open, refresh, records ---- */

TEST("a reader sees what was whole when it opened, and each later record after a refresh") {
    const char *path = test_path("basic.db");
    layerdb *w = open_writer(path);
    REQUIRE(w);
    set_kv(w, "a", "1");
    set_kv(w, "b", "2");
    CHECK_RC(layerdb_flush(w), LAYERDB_OK);
    layerdb *r = open_reader(path), *r2 = open_reader(path);
    REQUIRE(r && r2);
    CHECK(has(r, "a", "1") && has(r, "b", "2") && key_count(r) == 2);
    set_kv(w, "c", "3");
    CHECK_RC(layerdb_flush(w), LAYERDB_OK);
    CHECK(has(r, "c", NULL)); /* not before a refresh */
    uint64_t n = 99;
    CHECK_RC(refresh(r, &n), LAYERDB_OK);
    CHECK(n == 1 && has(r, "c", "3"));
    CHECK_RC(refresh(r, &n), LAYERDB_OK);
    CHECK(n == 0);
    EXPECT(w, "MULTI", "+OK");
    EXPECT(w, "SET x 1", "+QUEUED");
    EXPECT(w, "INCR x", "+QUEUED");
    EXPECT(w, "DEL a", "+QUEUED");
    EXPECT(w, "EXEC", "[+OK,:2,:1]");
    CHECK_RC(layerdb_remove(w, "b", 1), LAYERDB_OK);
    CHECK_RC(layerdb_flush(w), LAYERDB_OK);
    CHECK_RC(refresh(r, &n), LAYERDB_OK);
    CHECK(n == 2); /* the transaction is one record, the remove another */
    CHECK(has(r, "x", "2") && has(r, "a", NULL) && has(r, "b", NULL) && key_count(r) == 2);
    CHECK_RC(refresh(r2, NULL), LAYERDB_OK); /* records may be NULL */
    CHECK(has(r2, "x", "2") && key_count(r2) == 2);
    CHECK_RC(layerdb_close(w), LAYERDB_OK);
    w = open_writer(path); /* the readers took no lock */
    CHECK(w != NULL);
    layerdb_close(w);
    layerdb_close(r);
    layerdb_close(r2);
}

TEST("refresh on a handle that is not read-only fails with LAYERDB_INVALID and says why") {
    layerdb *w = open_writer(test_path("notro.db"));
    REQUIRE(w);
    uint64_t n = 7;
    CHECK_RC(layerdb_refresh(w, &n), LAYERDB_INVALID);
    CHECK(n == 7);
    CHECK(strstr(layerdb_errmsg(w), "is not open read-only") != NULL);
    layerdb_close(w);
    layerdb *mem = open_writer(NULL);
    REQUIRE(mem);
    CHECK_RC(layerdb_refresh(mem, &n), LAYERDB_INVALID);
    layerdb_close(mem);
    CHECK_RC(layerdb_refresh(NULL, &n), LAYERDB_INVALID);
}

TEST("a reader of a missing file gets a clear error, not an empty database") {
    const char *path = test_path("never-made.db");
    layerdb_options o;
    layerdb_options_init(&o);
    o.readonly = 1;
    layerdb *db = NULL;
    CHECK_RC(layerdb_open(&db, path, &o), LAYERDB_IOERR);
    CHECK(strstr(layerdb_errmsg(db), "no such database file '") != NULL);
    CHECK(strstr(layerdb_errmsg(db), path) != NULL);
    layerdb_close(db);
    CHECK(access(path, F_OK) != 0); /* not created */
}

/* ---- One process: a file that grows under the reader ---- */

/* A reference file: 'n' records, each "SET k<i> v<i>", with flushes in
 * between so that SYNCED records sit among them. */
static unsigned char *reference_file(const char *path, int n, size_t *len) {
    layerdb *w = open_writer(path);
    if (!w) return NULL;
    for (int i = 0; i < n; i++) {
        char k[16], v[64];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d-%.*s", i, i % 40, "0123456789012345678901234567890123456789");
        set_kv(w, k, v);
        if (i % 3 == 2) layerdb_flush(w);
    }
    layerdb_close(w);
    return slurp(path, len);
}

/* Where each COMMANDS record of a file ends, in order; returns how many. */
static int command_ends(const unsigned char *f, size_t len, size_t *ends, int cap) {
    uint64_t salt = ldb_logfmt_header_salt(f);
    int n = 0;
    for (size_t off = LDB_FILE_HEADER_SIZE; off + LDB_FRAME_SIZE <= len && n < cap;) {
        uint32_t blen;
        if (ldb_logfmt_frame_check(f + off, salt, &blen) != 0) break;
        size_t end = off + LDB_FRAME_SIZE + blen;
        if (f[off + LDB_FRAME_SIZE] == LDB_REC_COMMANDS) ends[n++] = end;
        off = end;
    }
    return n;
}

/* The reader holds exactly k0..k<n-1>. */
static int holds_first(layerdb *r, int n) {
    if (key_count(r) != (uint64_t)n) return 0;
    for (int i = 0; i < n + 1; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        if ((layerdb_get(r, k, strlen(k), NULL, NULL) == LAYERDB_OK) != (i < n)) return 0;
    }
    return 1;
}

static int whole_before(const size_t *ends, int n, size_t len) {
    int k = 0;
    while (k < n && ends[k] <= len) k++;
    return k;
}

TEST("a reader refreshing as the file grows a few bytes at a time applies each record once whole") {
    size_t len, ends[64];
    unsigned char *ref = reference_file(test_path("grow-ref.db"), 40, &len);
    REQUIRE(ref);
    int nrec = command_ends(ref, len, ends, 64);
    REQUIRE(nrec == 40);
    const char *path = test_path("grow.db");
    put_bytes(path, 0, ref, 11); /* a header still being written */
    layerdb *r = open_reader(path);
    REQUIRE(r);
    CHECK(key_count(r) == 0);
    uint64_t total = 0, n;
    int bad = 0;
    for (size_t have = 11, step = 1; have < len; step = step % 13 + 1) {
        size_t add = have + step > len ? len - have : step;
        put_bytes(path, have, ref + have, add);
        have += add;
        if (refresh(r, &n) != LAYERDB_OK) { bad++; break; }
        total += n;
        if (!holds_first(r, whole_before(ends, nrec, have))) bad++;
    }
    CHECK(bad == 0);
    CHECK(total == 40 && holds_first(r, 40));
    layerdb_close(r);
    free(ref);
}

TEST("a record whose bytes are still zeros is not read until its content is there") {
    size_t len, ends[64];
    unsigned char *ref = reference_file(test_path("zero-ref.db"), 30, &len);
    REQUIRE(ref);
    int nrec = command_ends(ref, len, ends, 64);
    REQUIRE(nrec == 30);
    const char *path = test_path("zero.db");
    put_bytes(path, 0, ref, LDB_FILE_HEADER_SIZE);
    layerdb *r = open_reader(path);
    REQUIRE(r);
    int bad = 0;
    size_t have = LDB_FILE_HEADER_SIZE;
    for (int i = 0; i < nrec; i++) {
        /* The file's size reaches the record's end before its bytes: a
         * length-checked frame and a zero body, then zeros throughout. */
        unsigned char *zeros = calloc(1, ends[i] - have);
        memcpy(zeros, ref + have, i % 2 ? 0 : ends[i] - have > 16 ? 16 : 0);
        put_bytes(path, have, zeros, ends[i] - have);
        free(zeros);
        if (refresh(r, NULL) != LAYERDB_OK || !holds_first(r, i)) bad++;
        put_bytes(path, have, ref + have, ends[i] - have);
        have = ends[i];
        if (refresh(r, NULL) != LAYERDB_OK || !holds_first(r, i + 1)) bad++;
    }
    CHECK(bad == 0);
    layerdb_close(r);
    free(ref);
}

/* ---- One process: damage ---- */

/* A file of three records a, b, c with a SYNCED record after each, and
 * the offset of b's body. */
static unsigned char *three_records(const char *path, size_t *len, size_t *b_body) {
    layerdb *w = open_writer(path);
    if (!w) return NULL;
    set_kv(w, "a", "first value");
    layerdb_flush(w);
    size_t at = (size_t)file_size(path);
    set_kv(w, "b", "second value");
    layerdb_flush(w);
    set_kv(w, "c", "third value");
    layerdb_flush(w);
    layerdb_close(w);
    unsigned char *f = slurp(path, len);
    /* b's batch may start with a SYNCED record: find b's own frame. */
    uint64_t salt = ldb_logfmt_header_salt(f);
    uint32_t blen;
    while (ldb_logfmt_frame_check(f + at, salt, &blen) == 0 && f[at + LDB_FRAME_SIZE] != LDB_REC_COMMANDS)
        at += LDB_FRAME_SIZE + blen;
    *b_body = at + LDB_FRAME_SIZE + 4;
    return f;
}

TEST("damage before the tail that a later fsync proves is CORRUPT at open and at refresh") {
    size_t len, b_body;
    unsigned char *f = three_records(test_path("damage-ref.db"), &len, &b_body);
    REQUIRE(f);
    f[b_body] ^= 0x40;
    const char *whole = test_path("damaged.db");
    put_bytes(whole, 0, f, len);
    layerdb_options o;
    layerdb_options_init(&o);
    o.readonly = 1;
    layerdb *db = NULL;
    CHECK_RC(layerdb_open(&db, whole, &o), LAYERDB_CORRUPT);
    CHECK(strstr(layerdb_errmsg(db), "bad checksum in record at offset") != NULL);
    layerdb_close(db);
    /* A reader that opened before the damaged part was there. */
    const char *path = test_path("damaged-later.db");
    put_bytes(path, 0, f, b_body - 8);
    layerdb *r = open_reader(path), *rr = open_mode(path, 1, 1);
    REQUIRE(r && rr);
    CHECK(has(r, "a", "first value") && key_count(r) == 1);
    put_bytes(path, b_body - 8, f + b_body - 8, len - (b_body - 8));
    uint64_t n = 5;
    CHECK_RC(layerdb_refresh(r, &n), LAYERDB_CORRUPT);
    CHECK(strstr(layerdb_errmsg(r), "bad checksum") != NULL);
    CHECK(has(r, "a", "first value") && key_count(r) == 1); /* a whole state */
    CHECK_RC(layerdb_refresh(r, &n), LAYERDB_CORRUPT);      /* and again */
    CHECK_RC(refresh(rr, &n), LAYERDB_OK);                  /* repair: stop there */
    CHECK(n == 0 && key_count(rr) == 1);
    CHECK(same_file(path, f, len)); /* never cut by a reader */
    layerdb_close(r);
    layerdb_close(rr);
    free(f);
}

typedef struct fix_byte {
    const char *path;
    size_t off;
    unsigned char byte;
} fix_byte;

static void write_fix(void *ud) {
    fix_byte *f = ud;
    put_bytes(f->path, f->off, &f->byte, 1);
}

TEST("a bad record that a later fsync vouches for is read again, and applied if whole by then") {
    /* The case of a writer that restarts and writes over a torn tail while
     * a reader is between its first read of the tail and its look at what
     * follows: the bytes change between two reads of one refresh. */
    size_t len, b_body;
    unsigned char *f = three_records(test_path("reread-ref.db"), &len, &b_body);
    REQUIRE(f);
    const char *path = test_path("reread.db");
    put_bytes(path, 0, f, b_body - 8);
    layerdb *r = open_reader(path);
    REQUIRE(r);
    fix_byte fix = {path, b_body, f[b_body]};
    f[b_body] ^= 0x40;
    put_bytes(path, b_body - 8, f + b_body - 8, len - (b_body - 8));
    ldb_fault_before_read(2, write_fix, &fix); /* after the first read of b */
    uint64_t n = 0;
    CHECK_RC(refresh(r, &n), LAYERDB_OK);
    ldb_fault_before_read(0, NULL, NULL);
    CHECK(n == 2 && has(r, "b", "second value") && has(r, "c", "third value"));
    layerdb_close(r);
    free(f);
}

TEST("a torn tail with no writer is no error, and a reader never cuts it") {
    size_t len, b_body;
    unsigned char *f = three_records(test_path("torn-ref.db"), &len, &b_body);
    REQUIRE(f);
    const char *path = test_path("torn.db");
    put_bytes(path, 0, f, b_body + 3); /* cut inside b */
    layerdb *r = open_reader(path);
    REQUIRE(r);
    CHECK(has(r, "a", "first value") && key_count(r) == 1);
    CHECK_RC(refresh(r, NULL), LAYERDB_OK);
    CHECK(file_size(path) == b_body + 3);
    layerdb_close(r);
    free(f);
}

/* ---- One process: compaction renames a new file over the path ---- */

TEST("a file renamed over the path is loaded whole on the next refresh, never mixed with the old") {
    const char *path = test_path("renamed.db"), *tmp = test_path("renamed.db.new");
    layerdb *w = open_writer(path);
    REQUIRE(w);
    set_kv(w, "x", "old");
    set_kv(w, "y", "kept");
    set_kv(w, "gone", "1");
    CHECK_RC(layerdb_flush(w), LAYERDB_OK);
    layerdb *r = open_reader(path);
    REQUIRE(r);
    /* The old file's tail, never applied: the new file holds its effect. */
    CHECK_RC(layerdb_remove(w, "gone", 4), LAYERDB_OK);
    set_kv(w, "only-in-old-tail", "1");
    CHECK_RC(layerdb_close(w), LAYERDB_OK);
    layerdb *w2 = open_writer(tmp);
    REQUIRE(w2);
    set_kv(w2, "y", "kept");
    set_kv(w2, "x", "new");
    set_kv(w2, "z", "more");
    CHECK_RC(layerdb_close(w2), LAYERDB_OK);
    CHECK(has(r, "x", "old"));
    REQUIRE(rename_over(tmp, path) == 0);
    CHECK(has(r, "x", "old") && key_count(r) == 3); /* the old state until the refresh */
    uint64_t n = 0;
    CHECK_RC(refresh(r, &n), LAYERDB_OK);
    CHECK(n == 3); /* the records loaded from the new file */
    CHECK(has(r, "x", "new") && has(r, "y", "kept") && has(r, "z", "more"));
    CHECK(has(r, "only-in-old-tail", NULL) && has(r, "gone", NULL) && key_count(r) == 3);
    w = open_writer(path); /* the writer goes on in the new file */
    REQUIRE(w);
    set_kv(w, "after", "1");
    CHECK_RC(layerdb_flush(w), LAYERDB_OK);
    CHECK_RC(refresh(r, &n), LAYERDB_OK);
    CHECK(n == 1 && has(r, "after", "1") && key_count(r) == 4);
    layerdb_close(w);
    layerdb_close(r);
}

static void count_visit(void *ud, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)val;
    (void)vlen;
    int i = klen > 1 && ((const char *)key)[0] == 'k' ? atoi((const char *)key + 1) : -1;
    if (i >= 0 && i < 300) ((int *)ud)[i]++;
}

TEST("a scan running across a reload visits each key present in both files once") {
    const char *path = test_path("scan.db"), *tmp = test_path("scan.db.new");
    layerdb *w = open_writer(path), *w2 = open_writer(tmp);
    REQUIRE(w && w2);
    char k[16];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "k%d", i);
        set_kv(w, k, "old");
        set_kv(w2, k, "new");
        if (i % 2) set_kv(w2, k + 1, "only in the new file");
    }
    layerdb_close(w);
    layerdb_close(w2);
    layerdb *r = open_reader(path);
    REQUIRE(r);
    static int visits[300];
    uint64_t cursor = 0;
    for (int calls = 0; calls < 5; calls++) CHECK_RC(layerdb_scan(r, &cursor, 16, count_visit, visits), LAYERDB_OK);
    CHECK(cursor != 0);
    REQUIRE(rename_over(tmp, path) == 0);
    CHECK_RC(refresh(r, NULL), LAYERDB_OK);
    CHECK(has(r, "k0", "new"));
    for (int calls = 0; cursor != 0 && calls < 100000; calls++)
        CHECK_RC(layerdb_scan(r, &cursor, 16, count_visit, visits), LAYERDB_OK);
    int bad = 0;
    for (int i = 0; i < 300; i++) bad += visits[i] != 1;
    CHECK(bad == 0);
    layerdb_close(r);
}

TEST("a new file that cannot be read keeps the reader on its old state, and the next refresh retries") {
    const char *path = test_path("badnew.db"), *tmp = test_path("badnew.db.new");
    layerdb *w = open_writer(path);
    REQUIRE(w);
    set_kv(w, "x", "old");
    layerdb_close(w);
    layerdb *r = open_reader(path);
    REQUIRE(r);
    put_bytes(tmp, 0, "this is not a layerdb file at all, no", 37);
    REQUIRE(rename_over(tmp, path) == 0);
    CHECK_RC(layerdb_refresh(r, NULL), LAYERDB_NOTDB);
    CHECK(has(r, "x", "old") && key_count(r) == 1);
    CHECK(unlink(path) == 0);
    w = open_writer(path);
    REQUIRE(w);
    set_kv(w, "x", "fresh");
    layerdb_close(w);
    uint64_t n = 0;
    CHECK_RC(refresh(r, &n), LAYERDB_OK);
    CHECK(n == 1 && has(r, "x", "fresh"));
    layerdb_close(r);
}

/* ---- One process: writes refused, bytes unchanged ---- */

/* Run one write attempt on the reader; 0 if it was refused with
 * LAYERDB_READONLY (or, for EXEC, aborted) and the file is unchanged. */
static int refused(layerdb *r, const char *path, const unsigned char *bytes, size_t len,
                   const char *line, const char *want) {
    const char *got = cmd(r, line);
    int ok = strcmp(got, want) == 0 && same_file(path, bytes, len);
    if (!ok) printf("# %s -> %s (want %s), file %s\n", line, got, want,
                    same_file(path, bytes, len) ? "unchanged" : "CHANGED");
    return ok;
}

TEST("every write on a reader fails with LAYERDB_READONLY and leaves the file's bytes as they were") {
    const char *path = test_path("ro-writes.db");
    layerdb *w = open_writer(path);
    REQUIRE(w);
    set_kv(w, "k", "v");
    EXPECT(w, "SET n 5", "+OK");
    CHECK_RC(layerdb_flush(w), LAYERDB_OK);
    layerdb *r = open_reader(path);
    REQUIRE(r);
    size_t len;
    unsigned char *bytes = slurp(path, &len);
    REQUIRE(bytes);
    const void *v;
    size_t vlen;
    CHECK_RC(layerdb_set(r, "k", 1, "w", 1), LAYERDB_READONLY);
    CHECK(strstr(layerdb_errmsg(r), "is open read-only") != NULL);
    CHECK_RC(layerdb_set(r, "new", 3, "w", 1), LAYERDB_READONLY);
    CHECK_RC(layerdb_remove(r, "k", 1), LAYERDB_READONLY);
    CHECK_RC(layerdb_take(r, "k", 1, &v, &vlen), LAYERDB_READONLY);
    CHECK(same_file(path, bytes, len));
    static const char *const lines[][2] = {
        {"SET k w", "rc=10"},      {"DEL k", "rc=10"},       {"EXPIRE k 100", "rc=10"},
        {"INCR n", "rc=10"},       {"APPEND k x", "rc=10"},  {"SETEX k 10 v", "rc=10"},
        {"PERSIST k", "rc=10"},    {"RENAME k k2", "rc=10"}, {"FLUSHDB", "rc=10"},
        {"FLUSHALL", "rc=10"},     {"MULTI", "+OK"},         {"SET k w", "rc=10"},
        {"DEL n", "rc=10"},        {"GET k", "+QUEUED"},
        {"EXEC", "-EXECABORT Transaction discarded because of previous errors."},
        {"MULTI", "+OK"},          {"GET k", "+QUEUED"},     {"EXEC", "[$v]"},
        {"GET k", "$v"},           {"SELECT 3", "+OK"},      {"SET k w", "rc=10"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        bad += !refused(r, path, bytes, len, lines[i][0], lines[i][1]);
    CHECK(bad == 0);
    CHECK_RC(refresh(r, NULL), LAYERDB_OK);
    CHECK(has(r, "k", "v") && same_file(path, bytes, len));
    set_kv(w, "k", "from the writer"); /* the writer is not disturbed */
    CHECK_RC(layerdb_flush(w), LAYERDB_OK);
    CHECK_RC(refresh(r, NULL), LAYERDB_OK);
    CHECK(has(r, "k", "from the writer"));
    layerdb_close(w);
    layerdb_close(r);
    free(bytes);
}

/* ---- One process: expiry ---- */

TEST("expired keys are hidden from a reader, which never reclaims or logs them") {
    const char *path = test_path("expiry.db");
    layerdb *w = open_writer(path);
    REQUIRE(w);
    char line[128];
    long long deadline = wall_ms() + 300;
    snprintf(line, sizeof line, "SET soon v PXAT %lld", deadline);
    EXPECT(w, line, "+OK");
    set_kv(w, "keep", "v");
    CHECK_RC(layerdb_flush(w), LAYERDB_OK);
    layerdb *r = open_reader(path);
    REQUIRE(r);
    size_t len;
    unsigned char *bytes = slurp(path, &len);
    REQUIRE(bytes);
    /* Wait for the deadline to pass (a wait, not a measurement). */
    for (uint64_t t0 = now_ms(); wall_ms() <= deadline + 50 && now_ms() - t0 < WAIT_MS;)
        usleep(20 * 1000);
    CHECK_RC(layerdb_get(r, "soon", 4, NULL, NULL), LAYERDB_NOTFOUND);
    EXPECT(r, "GET soon", "(nil)");
    EXPECT(r, "EXISTS soon", ":0");
    EXPECT(r, "TTL soon", ":-2");
    EXPECT(r, "GET keep", "$v");
    for (int i = 0; i < 5; i++) CHECK_RC(refresh(r, NULL), LAYERDB_OK);
    EXPECT(r, "DBSIZE", ":2"); /* still held: nothing reclaimed it */
    CHECK(same_file(path, bytes, len));
    /* The writer's write of the key logs its removal first; the reader
     * applies that as any record. */
    EXPECT(w, "APPEND soon zz", ":2");
    CHECK_RC(layerdb_flush(w), LAYERDB_OK);
    uint64_t n = 0;
    CHECK_RC(refresh(r, &n), LAYERDB_OK);
    CHECK(n == 1);
    EXPECT(r, "GET soon", "$zz");
    EXPECT(r, "DBSIZE", ":2");
    layerdb_close(w);
    layerdb_close(r);
    free(bytes);
}

/* ---- Across processes: the model of the writer's operations ---- */

/* Step n of the writer: the plain calls P(n), then one transaction T(n).
 *   P(n): if 3 | n, set p<(n/3)%NP>; then if 5 | n, remove p<(n/5)%NP>.
 *   T(n): MULTI; SET k<a> ...; SET k<b> ...; DEL k<c>; SET seq n; EXEC
 * with a, b, c functions of n (a != b always). A value names its key
 * and step; every BIG_EVERY steps k<a> gets a value of BIG_LEN bytes, so
 * some records take long enough to write that readers meet them half
 * written. */
#define NK 32
#define NP 7
#define STEPS 1500
#define COMPACT_EVERY 300
#define COMPACT_EXTRA 3 /* steps written into the new file before the rename */
#define BIG_EVERY 37
#define BIG_LEN (96 * 1024)

typedef struct model {
    long k[NK]; /* the step that last set k<i>; 0: absent */
    long p[NP]; /* the step that last set p<i>; 0: absent */
    long seq;   /* the last transaction; 0: none */
} model;

static int tx_a(long n) { return (int)((7 * n) % NK); }
static int tx_b(long n) { return (int)((13 * n + 5) % NK); }
static int tx_c(long n) { return (int)((3 * n + 11) % NK); }

/* The value of key "<kind><i>" set at step n, into buf (room for
 * BIG_LEN + 64); its length. */
static size_t value_of(char kind, int i, long n, char *buf) {
    size_t len = (size_t)snprintf(buf, 64, "%c%d@%ld:", kind, i, n);
    size_t want = kind == 'k' && i == tx_a(n) && n % BIG_EVERY == 0 ? BIG_LEN
                                                                    : 16 + (size_t)((n * 7 + i) % 50);
    if (want > len) memset(buf + len, 'a' + (int)(n % 26), want - len);
    return want > len ? want : len;
}

/* Apply the first 'ops' (0, 1, 2) plain calls of step n. */
static void model_plain(model *m, long n, int ops) {
    if (ops >= 1 && n % 3 == 0) m->p[(n / 3) % NP] = n;
    if (ops >= 2 && n % 5 == 0) m->p[(n / 5) % NP] = 0;
}

static void model_tx(model *m, long n) {
    m->k[tx_a(n)] = n;
    m->k[tx_b(n)] = n;
    m->k[tx_c(n)] = 0;
    m->seq = n;
}

static void model_step(model *m, long n) {
    model_plain(m, n, 2);
    model_tx(m, n);
}

/* ---- The writer ---- */

static int w_plain(layerdb *db, long n, char *buf) {
    char key[16];
    if (n % 3 == 0) {
        int i = (int)((n / 3) % NP);
        snprintf(key, sizeof key, "p%d", i);
        size_t len = value_of('p', i, n, buf);
        if (layerdb_set(db, key, strlen(key), buf, len) != LAYERDB_OK) return -1;
    }
    if (n % 5 == 0) {
        snprintf(key, sizeof key, "p%d", (int)((n / 5) % NP));
        int rc = layerdb_remove(db, key, strlen(key));
        if (rc != LAYERDB_OK && rc != LAYERDB_NOTFOUND) return -1;
    }
    return 0;
}

/* Run one command of argc words (lengths in lens), expecting a reply
 * that is not an error. */
static int w_cmd(layerdb *db, int argc, const char **argv, const size_t *lens) {
    layerdb_reply *r = NULL;
    int rc = layerdb_command(db, argc, argv, lens, &r);
    int ok = rc == LAYERDB_OK && r && r->type != LAYERDB_REPLY_ERROR;
    if (!ok) fprintf(stderr, "writer: %s failed: %s\n", argv[0], r ? r->str : layerdb_errmsg(db));
    layerdb_reply_free(r);
    return ok ? 0 : -1;
}

/* SET <kind><i> with its value at step n, inside MULTI. */
static int w_set_queued(layerdb *db, char kind, int i, long n, char *buf) {
    char key[16];
    snprintf(key, sizeof key, "%c%d", kind, i);
    size_t len = value_of(kind, i, n, buf);
    const char *argv[] = {"SET", key, buf};
    size_t lens[] = {3, strlen(key), len};
    return w_cmd(db, 3, argv, lens);
}

static int w_seq_and_exec(layerdb *db, long n) {
    char num[24];
    snprintf(num, sizeof num, "%ld", n);
    const char *set_seq[] = {"SET", "seq", num};
    const char *exec[] = {"EXEC"};
    if (w_cmd(db, 3, set_seq, NULL) != 0) return -1;
    return w_cmd(db, 1, exec, NULL);
}

static int w_tx(layerdb *db, long n, char *buf) {
    const char *multi[] = {"MULTI"};
    char key[16];
    snprintf(key, sizeof key, "k%d", tx_c(n));
    const char *del[] = {"DEL", key};
    if (w_cmd(db, 1, multi, NULL) != 0 || w_set_queued(db, 'k', tx_a(n), n, buf) != 0 ||
        w_set_queued(db, 'k', tx_b(n), n, buf) != 0 || w_cmd(db, 2, del, NULL) != 0)
        return -1;
    return w_seq_and_exec(db, n);
}

static int w_step(layerdb *db, model *m, long n, char *buf) {
    if (w_plain(db, n, buf) != 0 || w_tx(db, n, buf) != 0) return -1;
    model_step(m, n);
    return 0;
}

/* The whole state of m in one transaction: what a compaction's snapshot
 * holds, as of one instant. */
static int w_snapshot(layerdb *db, const model *m, char *buf) {
    const char *multi[] = {"MULTI"};
    if (w_cmd(db, 1, multi, NULL) != 0) return -1;
    for (int i = 0; i < NK; i++)
        if (m->k[i] && w_set_queued(db, 'k', i, m->k[i], buf) != 0) return -1;
    for (int i = 0; i < NP; i++)
        if (m->p[i] && w_set_queued(db, 'p', i, m->p[i], buf) != 0) return -1;
    return w_seq_and_exec(db, m->seq);
}

/* Compaction by hand: a new file with the state as of now and the next
 * COMPACT_EXTRA steps, renamed over the path. The old file gets no write
 * after the rename. Returns the handle on the new file. */
static layerdb *w_compact(layerdb *db, const char *path, model *m, long *n, char *buf) {
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.compacting", path);
    if (layerdb_close(db) != LAYERDB_OK) return NULL;
    unlink(tmp);
    layerdb *nw = open_writer(tmp);
    if (!nw || w_snapshot(nw, m, buf) != 0) return NULL;
    for (int i = 0; i < COMPACT_EXTRA; i++)
        if (w_step(nw, m, ++*n, buf) != 0) return NULL;
    if (layerdb_close(nw) != LAYERDB_OK || rename_over(tmp, path) != 0) return NULL;
    return open_writer(path);
}

static _Noreturn void writer_proc(const char *path, int ready_fd, int go_fd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char *buf = malloc(BIG_LEN + 64), c = 1;
    model m;
    memset(&m, 0, sizeof m);
    layerdb *db = open_writer(path);
    if (!db || !buf || write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1) _exit(2);
    for (long n = 1; n <= STEPS;) {
        if (w_step(db, &m, n, buf) != 0) _exit(3);
        /* Every other compaction is the engine's own, started in the
         * background while the steps go on (layerdb_compact), the others
         * by hand. */
        if (n % COMPACT_EVERY == 0 && n < STEPS && (n / COMPACT_EVERY) % 2 &&
            layerdb_compact(db, 0) != LAYERDB_OK)
            _exit(6);
        if (n % COMPACT_EVERY == 0 && n < STEPS && !((n / COMPACT_EVERY) % 2) &&
            !(db = w_compact(db, path, &m, &n, buf)))
            _exit(4);
        n++;
        usleep(300); /* pacing, so readers meet many states */
    }
    _exit(layerdb_close(db) == LAYERDB_OK ? 0 : 5);
}

/* ---- The readers ---- */

/* A reader's state: the step each key's value names, checked whole. */
typedef struct seen {
    long k[NK], p[NP], seq;
    uint64_t keys;
} seen;

/* The step the value of key "<kind><i>" names; 0 if absent, -1 if the
 * value is not exactly what that step wrote. */
static long seen_key(layerdb *r, char kind, int i, char *buf) {
    char key[16];
    snprintf(key, sizeof key, "%c%d", kind, i);
    const void *v;
    size_t len;
    if (layerdb_get(r, key, strlen(key), &v, &len) != LAYERDB_OK) return 0;
    const char *at = memchr(v, '@', len < 32 ? len : 32);
    long n = at ? strtol(at + 1, NULL, 10) : -1;
    if (n <= 0) return -1;
    size_t want = value_of(kind, i, n, buf);
    return want == len && memcmp(buf, v, len) == 0 ? n : -1;
}

static void read_seen(layerdb *r, seen *s, char *buf) {
    for (int i = 0; i < NK; i++) s->k[i] = seen_key(r, 'k', i, buf);
    for (int i = 0; i < NP; i++) s->p[i] = seen_key(r, 'p', i, buf);
    char num[24] = "";
    size_t len = 0;
    s->seq = layerdb_get_copy(r, "seq", 3, num, sizeof num - 1, &len) == LAYERDB_OK ? atol(num) : 0;
    s->keys = key_count(r);
}

static int seen_is(const seen *s, const model *m) {
    uint64_t keys = m->seq > 0;
    for (int i = 0; i < NK; i++) keys += m->k[i] != 0;
    for (int i = 0; i < NP; i++) keys += m->p[i] != 0;
    return s->seq == m->seq && s->keys == keys && memcmp(s->k, m->k, sizeof m->k) == 0 &&
           memcmp(s->p, m->p, sizeof m->p) == 0;
}

/* The states the writer passed through with seq == m->seq: after T(seq),
 * then after each plain call of the next step. */
static int seen_is_boundary(const seen *s, const model *m) {
    model c = *m;
    if (seen_is(s, &c)) return 1;
    model_plain(&c, m->seq + 1, 1);
    if (seen_is(s, &c)) return 1;
    c = *m;
    model_plain(&c, m->seq + 1, 2);
    return seen_is(s, &c);
}

/* Refresh and check until the last step is seen; exit status 0 if every
 * state was a boundary, never going back. */
static _Noreturn void reader_proc(const char *path, int id, int ready_fd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char *buf = malloc(BIG_LEN + 64), c = 1;
    layerdb *r = open_reader(path);
    if (!r || !buf || write(ready_fd, &c, 1) != 1) _exit(2);
    model m;
    memset(&m, 0, sizeof m);
    long checks = 0, states = 0;
    uint64_t records = 0, n, t0 = now_ms();
    seen s;
    for (;; checks++) {
        if (refresh(r, &n) != LAYERDB_OK) _exit(3);
        records += n;
        read_seen(r, &s, buf);
        if (s.seq < m.seq) { printf("# reader %d: seq went back to %ld\n", id, s.seq); _exit(4); }
        states += s.seq > m.seq;
        while (m.seq < s.seq) model_step(&m, m.seq + 1);
        if (!seen_is_boundary(&s, &m)) { printf("# reader %d: bad state at seq %ld\n", id, s.seq); _exit(5); }
        if (s.seq == STEPS) break;
        if (now_ms() - t0 > WAIT_MS) { printf("# reader %d: stuck at %ld\n", id, s.seq); _exit(6); }
        usleep(300);
    }
    printf("# reader %d: %ld checks, %ld new states, %llu records applied\n", id, checks, states,
           (unsigned long long)records);
    _exit(layerdb_close(r) == LAYERDB_OK ? 0 : 7);
}

static int exit_code(pid_t pid) {
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST("two reader processes always hold the writer's state at a record boundary, through compactions") {
    const char *path = test_path("procs.db");
    int ready[2], go[2];
    REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
    fflush(stdout);
    pid_t w = fork();
    REQUIRE(w >= 0);
    if (w == 0) writer_proc(path, ready[1], go[0]);
    char c;
    REQUIRE(read(ready[0], &c, 1) == 1); /* the file exists */
    pid_t r[2];
    for (int i = 0; i < 2; i++) {
        r[i] = fork();
        REQUIRE(r[i] >= 0);
        if (r[i] == 0) reader_proc(path, i, ready[1]);
    }
    /* Both readers opened the first file: to reach the last step they
     * must each load a compacted file. */
    CHECK(read(ready[0], &c, 1) == 1 && read(ready[0], &c, 1) == 1);
    CHECK(write(go[1], &c, 1) == 1);
    CHECK(exit_code(w) == 0);
    CHECK(exit_code(r[0]) == 0);
    CHECK(exit_code(r[1]) == 0);
    close(ready[0]); close(ready[1]); close(go[0]); close(go[1]);
    layerdb *check = open_reader(path); /* the end state, for the record */
    REQUIRE(check);
    model m;
    memset(&m, 0, sizeof m);
    for (long n = 1; n <= STEPS; n++) model_step(&m, n);
    seen s;
    char *buf = malloc(BIG_LEN + 64);
    read_seen(check, &s, buf);
    CHECK(seen_is(&s, &m));
    free(buf);
    layerdb_close(check);
}

/* ---- Across processes: a writer killed inside a record ---- */

#define HUGE_LEN (24u * 1024 * 1024)

/* A writer that sets a and b, says so, waits for the word, then writes a
 * huge value and says so, and waits to be killed. */
static _Noreturn void huge_writer(const char *path, int ready_fd, int go_fd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c = 1;
    layerdb *db = open_writer(path);
    if (!db) _exit(2);
    set_kv(db, "a", "1");
    set_kv(db, "b", "2");
    if (layerdb_flush(db) != LAYERDB_OK || write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1)
        _exit(3);
    char *huge = malloc(HUGE_LEN);
    if (!huge) _exit(4);
    memset(huge, 'h', HUGE_LEN);
    if (layerdb_set(db, "huge", 4, huge, HUGE_LEN) != LAYERDB_OK || layerdb_flush(db) != LAYERDB_OK ||
        write(ready_fd, &c, 1) != 1)
        _exit(5);
    for (;;) pause();
}

/* Start huge_writer, open a reader once a and b are there, let the writer
 * go and kill it -9. With 'tear', once the huge record is written; then
 * the file is cut in the middle of that record, which is what a kill
 * during its write leaves (the write stops part way). Otherwise as soon as
 * the file grew: a SIGKILL stops a write to the page cache part way, so
 * the record is most likely cut, but it may be whole. Returns the reader,
 * which has not refreshed since a and b. */
static layerdb *kill_inside_record(const char *path, int tear, uint64_t *size_before) {
    int ready[2], go[2];
    if (pipe(ready) != 0 || pipe(go) != 0) return NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return NULL;
    if (pid == 0) huge_writer(path, ready[1], go[0]);
    char c = 1;
    layerdb *r = NULL;
    if (read(ready[0], &c, 1) == 1 && (r = open_reader(path)) != NULL) {
        *size_before = file_size(path);
        CHECK(write(go[1], &c, 1) == 1);
        if (tear) CHECK(read(ready[0], &c, 1) == 1);
        for (uint64_t t0 = now_ms(); !tear && file_size(path) == *size_before &&
                                     now_ms() - t0 < WAIT_MS;)
            usleep(100);
    }
    kill(pid, SIGKILL);
    CHECK(exit_code(pid) == 128 + SIGKILL);
    close(ready[0]); close(ready[1]); close(go[0]); close(go[1]);
    uint64_t after = file_size(path);
    if (tear) CHECK(after > *size_before + HUGE_LEN && truncate(path, (off_t)(*size_before + after) / 2) == 0);
    return r;
}

/* After the kill: the reader has a, b and maybe the whole huge value; a
 * new writer cuts any torn tail and appends c, which the reader sees. */
static void after_kill(layerdb *r, const char *path, int torn) {
    uint64_t n = 9;
    CHECK(has(r, "a", "1") && has(r, "b", "2"));
    CHECK_RC(refresh(r, &n), LAYERDB_OK);
    size_t len = 0;
    int whole = layerdb_get(r, "huge", 4, NULL, &len) == LAYERDB_OK;
    CHECK(!whole || len == HUGE_LEN);
    if (torn) CHECK(!whole && n == 0 && key_count(r) == 2);
    CHECK_RC(refresh(r, &n), LAYERDB_OK); /* the torn tail again: no error */
    layerdb *w = open_writer(path);
    REQUIRE(w);
    set_kv(w, "c", "after the kill");
    CHECK_RC(layerdb_flush(w), LAYERDB_OK);
    CHECK_RC(refresh(r, &n), LAYERDB_OK);
    CHECK(has(r, "c", "after the kill") && has(r, "a", "1"));
    CHECK(key_count(r) == (uint64_t)(3 + whole));
    CHECK_RC(layerdb_close(w), LAYERDB_OK);
    printf("# huge record %s when the writer died\n", whole ? "whole" : "cut");
}

TEST("a reader open while its writer is killed, the file ending inside a record, keeps the last whole one and follows a new writer") {
    const char *path = test_path("killed.db");
    uint64_t before = 0;
    layerdb *r = kill_inside_record(path, 1, &before);
    REQUIRE(r);
    after_kill(r, path, 1);
    layerdb_close(r);
}

TEST("a reader open while its writer is killed -9 during a huge write holds a boundary state before or after it") {
    const char *path = test_path("killed-live.db");
    uint64_t before = 0;
    layerdb *r = kill_inside_record(path, 0, &before);
    REQUIRE(r);
    after_kill(r, path, 0);
    layerdb_close(r);
}

/* ---- Threads: reading a reader while it is refreshed ---- */

#define T_STEPS 1200
#define T_COMPACT_EVERY 400

typedef struct threads_ctx {
    const char *path;
    layerdb *reader;
    atomic_int done;     /* the refresher saw the last step */
    atomic_int failures;
} threads_ctx;

/* SET a n, SET b n, SET seq n in one transaction. */
static int t_tx(layerdb *w, long n) {
    char line[96];
    snprintf(line, sizeof line, "SET a %ld", n);
    const char *r1 = cmd(w, "MULTI");
    int ok = strcmp(r1, "+OK") == 0;
    ok = ok && strcmp(cmd(w, line), "+QUEUED") == 0;
    snprintf(line, sizeof line, "SET b %ld", n);
    ok = ok && strcmp(cmd(w, line), "+QUEUED") == 0;
    snprintf(line, sizeof line, "SET seq %ld", n);
    ok = ok && strcmp(cmd(w, line), "+QUEUED") == 0;
    return ok && strcmp(cmd(w, "EXEC"), "[+OK,+OK,+OK]") == 0 ? 0 : -1;
}

/* The writer, in this thread: transactions, and a compaction (a new file
 * with a, b, seq as of now, renamed over the path) every so often. */
static int t_write(const char *path) {
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.compacting", path);
    layerdb *w = open_writer(path);
    for (long n = 1; w && n <= T_STEPS; n++) {
        if (t_tx(w, n) != 0) return -1;
        if (n % T_COMPACT_EVERY != 0) continue;
        layerdb_close(w);
        layerdb *nw = open_writer(tmp);
        if (!nw || t_tx(nw, n) != 0 || layerdb_close(nw) != LAYERDB_OK || rename_over(tmp, path))
            return -1;
        w = open_writer(path);
    }
    return w && layerdb_close(w) == LAYERDB_OK ? 0 : -1;
}

static void *t_refresher(void *arg) {
    threads_ctx *t = arg;
    char num[24];
    size_t len;
    for (uint64_t t0 = now_ms(); now_ms() - t0 < WAIT_MS; usleep(200)) {
        if (layerdb_refresh(t->reader, NULL) != LAYERDB_OK) atomic_fetch_add(&t->failures, 1);
        memset(num, 0, sizeof num);
        if (layerdb_get_copy(t->reader, "seq", 3, num, sizeof num - 1, &len) == LAYERDB_OK &&
            atol(num) == T_STEPS)
            break;
    }
    atomic_store(&t->done, 1);
    return NULL;
}

/* MGET seq a b on a client of its own: one lookup under the handle's
 * lock, so the three always come from one transaction. */
static void *t_getter(void *arg) {
    threads_ctx *t = arg;
    layerdb_client *cl = layerdb_client_new(t->reader);
    const char *argv[] = {"MGET", "seq", "a", "b"};
    while (cl && !atomic_load(&t->done)) {
        layerdb_reply *r = NULL;
        if (layerdb_client_command(cl, 4, argv, NULL, &r) != LAYERDB_OK || r->elements != 3) {
            atomic_fetch_add(&t->failures, 1);
        } else if (r->element[0]->type == LAYERDB_REPLY_STRING) {
            for (int i = 1; i < 3; i++)
                if (r->element[i]->type != LAYERDB_REPLY_STRING || strcmp(r->element[i]->str, r->element[0]->str))
                    atomic_fetch_add(&t->failures, 1);
        }
        layerdb_reply_free(r);
    }
    layerdb_client_free(cl);
    return NULL;
}

TEST("threads reading a reader while another refreshes it through compactions see whole transactions") {
    threads_ctx t = {.path = test_path("threads.db")};
    atomic_init(&t.done, 0);
    atomic_init(&t.failures, 0);
    layerdb *w = open_writer(t.path); /* create it, so the reader can open */
    REQUIRE(w);
    layerdb_close(w);
    t.reader = open_reader(t.path);
    REQUIRE(t.reader);
    pthread_t th[3];
    REQUIRE(pthread_create(&th[0], NULL, t_refresher, &t) == 0);
    REQUIRE(pthread_create(&th[1], NULL, t_getter, &t) == 0);
    REQUIRE(pthread_create(&th[2], NULL, t_getter, &t) == 0);
    CHECK(t_write(t.path) == 0);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    CHECK(atomic_load(&t.failures) == 0);
    CHECK(has(t.reader, "seq", "1200") && has(t.reader, "a", "1200"));
    layerdb_close(t.reader);
}

int main(void) { return test_main(); }
