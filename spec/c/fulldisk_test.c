/* fulldisk_test.c -- fills a real disk and checks that ENOSPC reaches the
 * caller, sticks, and costs no acknowledged write.
 *
 * Each test mounts a 1 MiB tmpfs on a fresh directory (we run as root; where
 * mounting is refused the test is skipped with the reason), writes 1 KiB
 * values "k00000000", "k00000001", ... until the disk is full, and checks:
 *  (1) the failure is LAYERDB_FULL (or LAYERDB_IOERR) and layerdb_errmsg
 *      says "No space left on device";
 *  (2) the error is sticky: every later set (even one byte, which may still
 *      fit) and layerdb_close fail too;
 *  (3) under FSYNC_EVERYSEC, the error reaches the caller through a later
 *      set, layerdb_flush or layerdb_close: never OK from all of them;
 *  (4) the file reopens on the still-full disk (a torn tail is truncated)
 *      with every key acknowledged before the error under always, or before
 *      the last successful layerdb_flush under everysec, exact values, as a
 *      prefix 0..k-1 with info.keys == k.
 * The tmpfs is always unmounted (lazily if busy) and its directory removed,
 * whatever the checks found. Values come from (seed, index); LAYERDB_SEED=n
 * replays them. */
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "layerdb.h"
#include "test.h"
#include "workload.h"

#define VALUE_LEN 1024      /* every value: 1 KiB */
#define DISK_OPTIONS "size=1m"
#define MAX_KEYS 4096       /* 4 MiB of values: more than the disk holds */
#define FLUSH_EVERY_MAX 64  /* under everysec, flush every 1..this many sets */
#define STICKY_PROBES 3     /* sets tried after the first error */

/* ---- Keys and values derived from the index ---- */

static int set_key(layerdb *db, uint64_t seed, uint64_t i, size_t vlen) {
    char key[KEY_CAP];
    unsigned char val[VALUE_LEN];
    fill_value(seed, i, val, VALUE_LEN);
    return layerdb_set(db, key, key_for(i, key), val, vlen);
}

/* ---- A tiny disk ---- */

struct tiny_disk {
    char dir[512];     /* the mount point */
    char db_path[600]; /* the database file on it */
};

/* Make a directory and mount a 1 MiB tmpfs on it. Returns 0, or -1 with
 * the reason in 'why' (and nothing left behind). */
static int mount_tiny_disk(struct tiny_disk *d, char *why, size_t why_cap) {
    snprintf(d->dir, sizeof d->dir, "%s", test_path("tiny-XXXXXX"));
    if (!mkdtemp(d->dir)) {
        snprintf(why, why_cap, "cannot make a mount point: %s", strerror(errno));
        return -1;
    }
    if (mount("tmpfs", d->dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, DISK_OPTIONS)) {
        snprintf(why, why_cap, "cannot mount tmpfs: %s", strerror(errno));
        rmdir(d->dir);
        return -1;
    }
    snprintf(d->db_path, sizeof d->db_path, "%s/full.db", d->dir);
    return 0;
}

static void unmount_tiny_disk(struct tiny_disk *d) {
    if (umount2(d->dir, 0) != 0) {
        printf("# umount %s: %s; detaching lazily\n", d->dir, strerror(errno));
        if (umount2(d->dir, MNT_DETACH) != 0)
            printf("# umount -l %s: %s\n", d->dir, strerror(errno));
    }
    if (rmdir(d->dir) != 0) printf("# rmdir %s: %s\n", d->dir, strerror(errno));
}

/* Run 'body' against a database path on a fresh tiny disk, then always
 * unmount it. Skips the calling test if the disk cannot be mounted. */
static void with_tiny_disk(void (*body)(const char *db_path, uint64_t seed)) {
    static char why[256]; /* SKIP keeps the pointer until the test is reported */
    uint64_t seed = start_seed();
    struct tiny_disk disk;
    if (mount_tiny_disk(&disk, why, sizeof why) != 0) SKIP(why);
    body(disk.db_path, seed);
    unmount_tiny_disk(&disk);
}

/* ---- Checks ---- */

static layerdb *open_db(const char *path, int fsync) {
    layerdb_options opts;
    layerdb_options_init(&opts);
    opts.fsync = fsync;
    layerdb *db = NULL;
    int rc = layerdb_open(&db, path, &opts);
    if (rc == LAYERDB_OK) return db;
    printf("# open %s: %d: %s\n", path, rc, layerdb_errmsg(db));
    layerdb_close(db);
    return NULL;
}

/* The code and message of a failure caused by the full disk. */
static void check_full_disk_error(layerdb *db, int rc, const char *where) {
    const char *msg = layerdb_errmsg(db);
    printf("# %s failed: %d: %s\n", where, rc, msg);
    CHECK(rc == LAYERDB_FULL || rc == LAYERDB_IOERR);
    CHECK(strstr(msg, "No space left on device") != NULL);
}

/* After the first error every set fails, even a small one that may fit.
 * The probes use the next keys, so the reopened file may hold them only as
 * part of the prefix. */
static void check_sets_keep_failing(layerdb *db, uint64_t seed, uint64_t next, int first_rc) {
    static const size_t probe_len[STICKY_PROBES] = {VALUE_LEN, 16, 1};
    for (int p = 0; p < STICKY_PROBES; p++) {
        int rc = set_key(db, seed, next + (uint64_t)p, probe_len[p]);
        if (rc != first_rc) printf("# set after the error returned %d\n", rc);
        CHECK(rc != LAYERDB_OK);
    }
}

/* Reopen on the still-full disk: keys 0..k-1 with their exact values,
 * must_have <= k <= may_have, and nothing else. */
static void check_reopened(const char *path, uint64_t seed, uint64_t must_have,
                           uint64_t may_have) {
    layerdb *db = open_db(path, LAYERDB_FSYNC_ALWAYS);
    CHECK(db != NULL);
    if (!db) return;
    layerdb_info info;
    CHECK_RC(layerdb_info_get(db, &info), LAYERDB_OK);
    uint64_t k = 0, bad_values = 0;
    char key[KEY_CAP];
    unsigned char want[VALUE_LEN];
    for (;; k++) {
        const void *val;
        size_t vlen;
        if (layerdb_get(db, key, key_for(k, key), &val, &vlen) != LAYERDB_OK) break;
        fill_value(seed, k, want, VALUE_LEN);
        bad_values += vlen > VALUE_LEN || memcmp(val, want, vlen) != 0;
    }
    printf("# reopened with %llu keys, want %llu..%llu (dropped %llu bytes)\n",
           (unsigned long long)k, (unsigned long long)must_have,
           (unsigned long long)may_have, (unsigned long long)info.dropped_bytes);
    CHECK(bad_values == 0);
    CHECK(info.keys == k);
    CHECK(k >= must_have && k <= may_have);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
}

/* ---- The tests ---- */

static void fill_under_always(const char *path, uint64_t seed) {
    layerdb *db = open_db(path, LAYERDB_FSYNC_ALWAYS);
    REQUIRE(db != NULL);
    uint64_t acked = 0;
    int rc = LAYERDB_OK;
    while (acked < MAX_KEYS && (rc = set_key(db, seed, acked, VALUE_LEN)) == LAYERDB_OK)
        acked++;
    CHECK(rc != LAYERDB_OK); /* 4 MiB never fits in 1 MiB */
    if (rc != LAYERDB_OK) {
        check_full_disk_error(db, rc, "set");
        check_sets_keep_failing(db, seed, acked + 1, rc);
    }
    int close_rc = layerdb_close(db);
    if (close_rc != rc) printf("# close returned %d\n", close_rc);
    CHECK(close_rc != LAYERDB_OK);
    check_reopened(path, seed, acked, acked + 1 + STICKY_PROBES);
}

TEST("reports ENOSPC under fsync always on the set that fills the disk, and after") {
    with_tiny_disk(fill_under_always);
}

/* What the writer's error looked like to the caller under everysec. */
struct everysec_outcome {
    int first_rc;     /* the first non-OK code from set or flush */
    uint64_t sets;    /* sets attempted, the failed one included */
    uint64_t flushed; /* keys acknowledged before the last good flush */
};

/* Set keys, flushing every 'flush_every' sets (0: only at the end), until
 * set or flush fails or MAX_KEYS are written. */
static struct everysec_outcome fill_lazily(layerdb *db, uint64_t seed, unsigned flush_every) {
    struct everysec_outcome out = {LAYERDB_OK, 0, 0};
    while (out.sets < MAX_KEYS) {
        out.first_rc = set_key(db, seed, out.sets++, VALUE_LEN);
        if (out.first_rc != LAYERDB_OK) { check_full_disk_error(db, out.first_rc, "set"); break; }
        if (flush_every == 0 || out.sets % flush_every != 0) continue;
        out.first_rc = layerdb_flush(db);
        if (out.first_rc != LAYERDB_OK) { check_full_disk_error(db, out.first_rc, "flush"); break; }
        out.flushed = out.sets;
    }
    if (out.first_rc == LAYERDB_OK && flush_every != 0) {
        out.first_rc = layerdb_flush(db);
        if (out.first_rc == LAYERDB_OK) out.flushed = out.sets;
        else check_full_disk_error(db, out.first_rc, "flush");
    }
    return out;
}

static void fill_under_everysec(const char *path, uint64_t seed, unsigned flush_every) {
    layerdb *db = open_db(path, LAYERDB_FSYNC_EVERYSEC);
    REQUIRE(db != NULL);
    struct everysec_outcome out = fill_lazily(db, seed, flush_every);
    uint64_t probes = 0;
    if (out.first_rc != LAYERDB_OK) {
        check_sets_keep_failing(db, seed, out.sets, out.first_rc);
        probes = STICKY_PROBES;
        CHECK(layerdb_flush(db) != LAYERDB_OK);
    }
    int close_rc = layerdb_close(db);
    printf("# %llu sets, first error %d, close %d\n", (unsigned long long)out.sets,
           out.first_rc, close_rc);
    CHECK(close_rc != LAYERDB_OK); /* sticky, or the only place left to say it */
    check_reopened(path, seed, out.flushed, out.sets + probes);
}

static void fill_with_flushes(const char *path, uint64_t seed) {
    unsigned flush_every = 1 + (unsigned)(test_rand() % FLUSH_EVERY_MAX);
    printf("# flush every %u sets\n", flush_every);
    fill_under_everysec(path, seed, flush_every);
}

static void fill_without_flushes(const char *path, uint64_t seed) {
    fill_under_everysec(path, seed, 0);
}

TEST("reports ENOSPC under fsync everysec on a later set or flush, keeping flushed keys") {
    with_tiny_disk(fill_with_flushes);
}

TEST("reports ENOSPC on close when the writes never waited for the disk") {
    with_tiny_disk(fill_without_flushes);
}

int main(void) { return test_main(); }
