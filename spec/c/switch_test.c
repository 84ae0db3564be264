/* switch_test.c -- the writer thread moving the log to a new file
 * (ldb_writer_switch), what compaction will do: the records queued before
 * the switch are all in the old file and those after all in the new one,
 * each file replays cleanly on its own (its own salt, SYNCED records that
 * vouch for its own offsets), log positions go on counting across the
 * switch, and a wait for a position before it returns once the old file
 * is fsynced. Records are queued both as bytes and as SET_REF items
 * (references to encoded arguments, which the thread encodes), under each
 * fsync policy. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "layerdb.h"
#include "recovery.h"
#include "test.h"
#include "writer.h"

#define RECORDS 400
#define SWITCH_AT 150

/* The commands a file replays, as text lines. */
struct lines {
    char text[RECORDS * 24];
    size_t len, count;
};

static int collect(void *ud, int dry_run, size_t argc, const ldb_slice *argv, char *msg,
                   size_t cap) {
    (void)msg;
    (void)cap;
    struct lines *l = ud;
    if (dry_run || argc == 0) return LAYERDB_OK;
    for (size_t i = 0; i < argc && l->len + argv[i].len + 2 < sizeof l->text; i++) {
        memcpy(l->text + l->len, argv[i].p, argv[i].len);
        l->len += argv[i].len;
        l->text[l->len++] = i + 1 < argc ? ' ' : '\n';
    }
    l->count++;
    return LAYERDB_OK;
}

/* Replay the file at path into l; its recovery facts into rec. */
static int replay(const char *path, struct lines *l, ldb_recovery *rec) {
    memset(l, 0, sizeof *l);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ldb_alloc a;
    ldb_alloc_init(&a, NULL);
    char msg[256];
    int rc = ldb_recover(fd, path, &a, 0, collect, l, rec, msg, sizeof msg);
    if (rc) printf("# %s\n", msg);
    close(fd);
    return rc;
}

/* A new file holding only a header with this salt, fsynced. */
static int new_file(const char *path, uint64_t salt) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    unsigned char hdr[LDB_FILE_HEADER_SIZE];
    ldb_logfmt_header_encode(hdr, salt);
    if (fd < 0 || pwrite(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || fsync(fd) != 0) return -1;
    return fd;
}

/* The SYNCED records of the file at path, or -1 if one vouches for bytes
 * after itself: its offset must be of this file, not a log position. */
static int synced_marks_in_file(const char *path, uint64_t salt) {
    static unsigned char f[1 << 20];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, f, sizeof f) : -1;
    if (fd >= 0) close(fd);
    if (n < LDB_FILE_HEADER_SIZE) return -1;
    int marks = 0;
    for (size_t off = LDB_FILE_HEADER_SIZE; off + LDB_FRAME_SIZE <= (size_t)n;) {
        uint32_t len;
        if (ldb_logfmt_frame_check(f + off, salt, &len) != 0) return -1;
        uint64_t mark;
        if (ldb_logfmt_synced_decode(f + off + LDB_FRAME_SIZE, len, &mark) == 0) {
            if (mark > off) {
                printf("# SYNCED at %zu vouches for %llu\n", off, (unsigned long long)mark);
                return -1;
            }
            marks++;
        }
        off += LDB_FRAME_SIZE + len;
    }
    return marks;
}

static unsigned char args[RECORDS][32]; /* SET_REF items point here */

/* Queue "SET k<i> v<i>": as bytes for even i, as a SET_REF for odd i.
 * Returns the record's end. (lock held) */
static uint64_t queue_set(ldb_writer *w, int i) {
    char key[16], val[16];
    ldb_slice argv[3] = {{(const unsigned char *)"SET", 3}, {(const unsigned char *)key, 0},
                         {(const unsigned char *)val, 0}};
    argv[1].len = (size_t)snprintf(key, sizeof key, "k%d", i);
    argv[2].len = (size_t)snprintf(val, sizeof val, "v%d", i);
    size_t need = ldb_logfmt_command_record_size(3, argv);
    char msg[128];
    if (ldb_writer_reserve(w, need, msg, sizeof msg) != LAYERDB_OK) return 0;
    uint64_t end;
    if (i % 2 == 0) {
        ldb_writer_encode(w, need, 3, argv);
        end = ldb_writer_commit(w, need);
    } else {
        size_t n = (size_t)(ldb_logfmt_put_args(args[i], 2, argv + 1) - args[i]);
        /* put_args wrote argc first: skip it, a SET_REF holds key and value only */
        ldb_writer_encode_set_ref(w, args[i] + 1, n - 1);
        end = ldb_writer_commit_set_ref(w, need);
    }
    ldb_writer_finish(w);
    return end;
}

/* The job: switch to a file made beforehand, and note what the thread saw. */
typedef struct test_job {
    ldb_writer_switch_job job;
    int fd;
    int prepared;
    uint64_t old_end;
} test_job;

static int prepare_b(ldb_writer_switch_job *job, int old_fd, uint64_t old_end, int *fd,
                     uint64_t *file_end, uint64_t *salt) {
    test_job *t = (test_job *)job;
    (void)old_fd;
    t->prepared++;
    t->old_end = old_end;
    *fd = t->fd;
    *file_end = LDB_FILE_HEADER_SIZE;
    *salt = 0x2222;
    return 0;
}

/* A writer on a new file a.log (salt 0x1111), or NULL. */
static ldb_writer *start_on_a(char *a_path, int *a_fd, int policy, ldb_alloc *alloc,
                              ldb_rwlock *lock) {
    snprintf(a_path, 512, "%s", test_path("a.log"));
    *a_fd = new_file(a_path, 0x1111);
    if (*a_fd < 0) return NULL;
    ldb_alloc_init(alloc, NULL);
    ldb_rwlock_init(lock);
    ldb_writer_config cfg = {.fd = *a_fd, .path = a_path, .policy = policy,
                             .file_end = LDB_FILE_HEADER_SIZE, .marked_end = LDB_FILE_HEADER_SIZE,
                             .max_pending = 4096, .salt = 0x1111, .lock = lock};
    ldb_writer *w = NULL;
    char msg[256] = "";
    if (ldb_writer_start(&w, alloc, &cfg, msg, sizeof msg) != LAYERDB_OK) printf("# %s\n", msg);
    return w;
}

static void switch_under(int policy) {
    char a_path[512], b_path[512], msg[256] = "";
    snprintf(b_path, sizeof b_path, "%s", test_path("b.log"));
    int a_fd, b_fd = -1;
    ldb_alloc alloc;
    ldb_rwlock lock;
    ldb_writer *w = start_on_a(a_path, &a_fd, policy, &alloc, &lock);
    REQUIRE(w);
    uint64_t last = LDB_FILE_HEADER_SIZE, switch_pos = 0;
    int increasing = 1;
    test_job job = {{prepare_b, 0}, -1, 0, 0};
    for (int i = 0; i < RECORDS; i++) {
        if (i == SWITCH_AT) {
            b_fd = new_file(b_path, 0x2222);
            REQUIRE(b_fd >= 0);
            ldb_rwlock_wrlock(&lock);
            CHECK_RC(ldb_writer_reserve(w, LDB_WRITER_SWITCH_SIZE, msg, sizeof msg), LAYERDB_OK);
            job.fd = b_fd;
            switch_pos = ldb_writer_switch(w, &job.job);
            ldb_writer_finish(w);
            ldb_rwlock_wrunlock(&lock);
            /* after the last record, and maybe a SYNCED record the
             * reserve put first in an empty batch */
            CHECK(switch_pos >= last && switch_pos <= last + LDB_SYNCED_RECORD_SIZE);
        }
        ldb_rwlock_wrlock(&lock);
        uint64_t end = queue_set(w, i);
        ldb_rwlock_wrunlock(&lock);
        increasing &= end > last;
        last = end;
        if (policy == LAYERDB_FSYNC_ALWAYS || i == SWITCH_AT + 5)
            CHECK_RC(ldb_writer_wait_synced(w, end, msg, sizeof msg), LAYERDB_OK);
    }
    CHECK(increasing); /* positions go on counting across the switch */
    CHECK_RC(ldb_writer_wait_synced(w, switch_pos, msg, sizeof msg), LAYERDB_OK);
    CHECK_RC(ldb_writer_wait_switch(w, &job.job, msg, sizeof msg), LAYERDB_OK);
    CHECK(job.prepared == 1);
    CHECK_RC(ldb_writer_stop(w, msg, sizeof msg), LAYERDB_OK);
    close(a_fd);
    close(b_fd);

    struct lines got;
    ldb_recovery rec;
    CHECK_RC(replay(a_path, &got, &rec), LAYERDB_OK);
    CHECK(got.count == SWITCH_AT && rec.good_end == rec.file_size);
    CHECK(rec.file_size == job.old_end); /* prepare saw the old file's end */
    CHECK(strncmp(got.text, "SET k0 v0\nSET k1 v1\n", 20) == 0);
    char want[64];
    snprintf(want, sizeof want, "SET k%d v%d\n", SWITCH_AT - 1, SWITCH_AT - 1);
    CHECK(got.len >= strlen(want) && strcmp(got.text + got.len - strlen(want), want) == 0);
    CHECK(rec.marked_end <= rec.file_size);
    CHECK_RC(replay(b_path, &got, &rec), LAYERDB_OK);
    CHECK(got.count == RECORDS - SWITCH_AT && rec.good_end == rec.file_size);
    snprintf(want, sizeof want, "SET k%d v%d\n", SWITCH_AT, SWITCH_AT);
    CHECK(strncmp(got.text, want, strlen(want)) == 0);
    CHECK(rec.marked_end <= rec.file_size && rec.marked_end > LDB_FILE_HEADER_SIZE);
    printf("# b.log: %llu bytes, SYNCED marks up to %llu\n", (unsigned long long)rec.file_size,
           (unsigned long long)rec.marked_end);
    CHECK(synced_marks_in_file(a_path, 0x1111) >= 0);
    CHECK(synced_marks_in_file(b_path, 0x2222) > 0); /* at least the one close writes */
}

static int prepare_fails(ldb_writer_switch_job *job, int old_fd, uint64_t old_end, int *fd,
                         uint64_t *file_end, uint64_t *salt) {
    (void)job; (void)old_fd; (void)old_end; (void)fd; (void)file_end; (void)salt;
    return -1;
}

TEST("a switch whose prepare fails keeps every record in the old file") {
    char a_path[512], msg[256] = "";
    int a_fd;
    ldb_alloc alloc;
    ldb_rwlock lock;
    ldb_writer *w = start_on_a(a_path, &a_fd, LAYERDB_FSYNC_EVERYSEC, &alloc, &lock);
    REQUIRE(w);
    ldb_writer_switch_job job = {prepare_fails, 0};
    uint64_t switch_pos = 0;
    for (int i = 0; i < RECORDS; i++) {
        ldb_rwlock_wrlock(&lock);
        if (i == SWITCH_AT) {
            CHECK_RC(ldb_writer_reserve(w, LDB_WRITER_SWITCH_SIZE, msg, sizeof msg), LAYERDB_OK);
            switch_pos = ldb_writer_switch(w, &job);
            ldb_writer_finish(w);
        }
        CHECK(queue_set(w, i) > 0);
        ldb_rwlock_wrunlock(&lock);
    }
    CHECK_RC(ldb_writer_wait_synced(w, switch_pos, msg, sizeof msg), LAYERDB_OK);
    CHECK_RC(ldb_writer_wait_switch(w, &job, msg, sizeof msg), LAYERDB_OK);
    CHECK_RC(ldb_writer_stop(w, msg, sizeof msg), LAYERDB_OK);
    close(a_fd);
    struct lines got;
    ldb_recovery rec;
    CHECK_RC(replay(a_path, &got, &rec), LAYERDB_OK);
    CHECK(got.count == RECORDS && rec.good_end == rec.file_size);
}

TEST("a switch to a new file under fsync no: each file holds its side, whole") {
    switch_under(LAYERDB_FSYNC_NO);
}

TEST("a switch to a new file under fsync everysec") {
    switch_under(LAYERDB_FSYNC_EVERYSEC);
}

TEST("a switch to a new file under fsync always: every wait returns, across the switch") {
    switch_under(LAYERDB_FSYNC_ALWAYS);
}

int main(void) { return test_main(); }
