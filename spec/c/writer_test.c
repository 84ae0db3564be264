/* writer_test.c -- what the writer thread puts in the file, command by
 * command. A small set is queued as a reference to its table entry and
 * encoded by the thread (ITEMS in src/writer.c); these tests drop entries
 * (overwrite, remove, take) while their sets still wait, mix in values too
 * big to be referenced and records bigger than the thread's out buffer,
 * and check that the log replays exactly the commands that succeeded, in
 * order. Under ASan and valgrind an entry freed too early is also a
 * use-after-free report. */
#include <fcntl.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "layerdb.h"
#include "recovery.h"
#include "test.h"

#define MAX_OPS 60000

/* The commands a log should hold, each as a hash of its arguments. */
struct commands {
    uint64_t *hash;
    size_t n;
};

static uint64_t hash_command(size_t argc, const ldb_slice *argv) {
    uint64_t h = argc;
    for (size_t i = 0; i < argc; i++)
        h = XXH3_64bits_withSeed(argv[i].p, argv[i].len, h * 31 + argv[i].len);
    return h;
}

static void add_command(struct commands *c, size_t argc, const ldb_slice *argv) {
    if (c->n < MAX_OPS) c->hash[c->n] = hash_command(argc, argv);
    c->n++;
}

static int collect(void *ud, int dry_run, size_t argc, const ldb_slice *argv, char *msg,
                   size_t cap) {
    (void)msg;
    (void)cap;
    if (!dry_run && argc > 0) add_command(ud, argc, argv); /* argc 0: a record starts */
    return LAYERDB_OK;
}

/* Replay path's records into *got. */
static int read_log(const char *path, struct commands *got) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ldb_alloc a;
    ldb_alloc_init(&a, NULL);
    ldb_recovery rec;
    char msg[256];
    int rc = ldb_recover(fd, path, &a, 0, collect, got, &rec, msg, sizeof msg);
    if (rc) printf("# recover: %s\n", msg);
    close(fd);
    return rc;
}

static ldb_slice slice(const void *p, size_t n) { return (ldb_slice){p, n}; }

static int same_commands(const struct commands *want, const struct commands *got) {
    if (want->n != got->n) {
        printf("# %zu commands logged, want %zu\n", got->n, want->n);
        return 0;
    }
    for (size_t i = 0; i < want->n && i < MAX_OPS; i++)
        if (want->hash[i] != got->hash[i]) {
            printf("# command %zu differs\n", i);
            return 0;
        }
    return 1;
}

/* A value of n bytes that differs from op to op. */
static void fill_value(unsigned char *v, size_t n, uint64_t op) {
    for (size_t i = 0; i < n; i++) v[i] = (unsigned char)(op * 7 + i * 13 + (i >> 8));
}

/* Run 'ops' random sets, overwrites, removes and takes over 'nkeys' keys,
 * recording each one that succeeded in *want. Sizes: mostly small; with
 * 'big', a few past LDB_WRITER_REF_MAX and a few past the thread's out
 * buffer. */
static void run_ops(layerdb *db, int ops, int nkeys, int big, struct commands *want) {
    static unsigned char v[700 * 1024];
    for (int op = 0; op < ops; op++) {
        char k[32];
        snprintf(k, sizeof k, "key-%d", (int)(test_rand() % (uint64_t)nkeys));
        ldb_slice key = slice(k, strlen(k));
        unsigned r = (unsigned)(test_rand() % 100);
        if (r < 60) {
            size_t n = test_rand() % 200;
            if (big && r == 0) n = 600 * 1024 + test_rand() % 1000; /* > the out buffer */
            else if (big && r < 3) n = 65 * 1024 + test_rand() % 1000; /* > REF_MAX */
            fill_value(v, n, (uint64_t)op);
            if (layerdb_set(db, k, key.len, v, n) == LAYERDB_OK) {
                ldb_slice argv[3] = {slice("SET", 3), key, slice(v, n)};
                add_command(want, 3, argv);
            }
        } else {
            const void *got;
            size_t gl;
            int rc = r < 80 ? layerdb_remove(db, k, key.len) : layerdb_take(db, k, key.len, &got, &gl);
            if (rc == LAYERDB_OK) {
                ldb_slice argv[2] = {slice("DEL", 3), key};
                add_command(want, 2, argv);
            }
        }
    }
}

static void check_log(int policy, int ops, int nkeys, int big, const char *name) {
    uint64_t seed = test_seed();
    test_rand_state = seed | 1;
    printf("# seed %llu\n", (unsigned long long)seed);
    const char *path = test_path(name);
    unlink(path);
    struct commands want = {calloc(MAX_OPS, 8), 0}, got = {calloc(MAX_OPS, 8), 0};
    layerdb_options o;
    layerdb_options_init(&o);
    o.fsync = policy;
    layerdb *db = NULL;
    CHECK_RC(layerdb_open(&db, path, &o), LAYERDB_OK);
    run_ops(db, ops, nkeys, big, &want);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    CHECK_RC(read_log(path, &got), LAYERDB_OK);
    CHECK(same_commands(&want, &got));
    free(want.hash);
    free(got.hash);
}

TEST("the log holds every command in order while entries are dropped before their sets are written") {
    check_log(LAYERDB_FSYNC_EVERYSEC, 50000, 300, 0, "dropped.db");
}

TEST("sets too big to reference and records bigger than the out buffer keep their place") {
    check_log(LAYERDB_FSYNC_NO, 3000, 50, 1, "mixed.db");
}

TEST("under always each set is written before the next, in the same order") {
    check_log(LAYERDB_FSYNC_ALWAYS, 300, 20, 0, "always-order.db");
}

TEST("a set then a take of the same key logs the set's value, not freed memory") {
    const char *path = test_path("take.db");
    unlink(path);
    struct commands want = {calloc(MAX_OPS, 8), 0}, got = {calloc(MAX_OPS, 8), 0};
    layerdb *db = NULL;
    CHECK_RC(layerdb_open(&db, path, NULL), LAYERDB_OK);
    for (int i = 0; i < 2000; i++) {
        char k[32], v[64];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "value of %d", i);
        const void *got_v;
        size_t gl;
        CHECK_RC(layerdb_set(db, k, strlen(k), v, strlen(v)), LAYERDB_OK);
        CHECK_RC(layerdb_take(db, k, strlen(k), &got_v, &gl), LAYERDB_OK);
        CHECK(gl == strlen(v) && memcmp(got_v, v, gl) == 0);
        /* The taken entry is dropped by this set; its memory may be reused. */
        CHECK_RC(layerdb_set(db, v, strlen(v), k, strlen(k)), LAYERDB_OK);
        ldb_slice set1[3] = {slice("SET", 3), slice(k, strlen(k)), slice(v, strlen(v))};
        ldb_slice del[2] = {slice("DEL", 3), slice(k, strlen(k))};
        ldb_slice set2[3] = {slice("SET", 3), slice(v, strlen(v)), slice(k, strlen(k))};
        add_command(&want, 3, set1);
        add_command(&want, 2, del);
        add_command(&want, 3, set2);
    }
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    CHECK_RC(read_log(path, &got), LAYERDB_OK);
    CHECK(same_commands(&want, &got));
    free(want.hash);
    free(got.hash);
}

int main(void) { return test_main(); }
