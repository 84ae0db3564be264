/* compact_crash_test.c -- SIGKILL while compactions run: the file always
 * opens, nothing acknowledged is lost, nothing is applied twice.
 *
 * The parent fills a file with 20k keys. Then, each round, a forked child
 * opens it under FSYNC_ALWAYS and starts a compaction before every
 * transaction (a no-op while one runs), so that one is nearly always
 * running, at any of its steps, and runs for i = start, start + 1, ...:
 *     MULTI; INCR n<i%100>; APPEND s<i%50> x; SET k<i%1000> i;
 *            DEL k<(i+500)%1000>; SET seq i; EXEC
 * writing i to a pipe once EXEC has returned (it is on disk then). The
 * parent kills it after a random number of acks, reopens the file and
 * checks that seq is the last ack or the one after (in flight), that the
 * whole state equals a model handle in memory that ran transactions
 * 0..seq (so INCR and APPEND were applied exactly once each, across the
 * compactions and the kill), and that no FILE.compact is left. The rounds
 * go on with the same file. LAYERDB_SEED=n replays the kill points. */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layerdb.h"
#include "reply_text.h"
#include "state_dump.h"
#include "test.h"

#define ROUNDS 20
#define PRELOAD 20000

static layerdb *open_with(const char *path, int fsync) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.fsync = fsync;
    o.compact_factor = 0; /* the child starts them itself */
    layerdb *db = NULL;
    if (layerdb_open(&db, path, &o) != LAYERDB_OK) {
        fprintf(stderr, "open: %s\n", layerdb_errmsg(db));
        layerdb_close(db);
        return NULL;
    }
    return db;
}

/* Transaction i on db; 0, or -1 if a reply was not as expected. */
static int transaction(layerdb *db, long i) {
    char line[5][96];
    snprintf(line[0], sizeof line[0], "INCR n%ld", i % 100);
    snprintf(line[1], sizeof line[1], "APPEND s%ld x", i % 50);
    snprintf(line[2], sizeof line[2], "SET k%ld %ld", i % 1000, i);
    snprintf(line[3], sizeof line[3], "DEL k%ld", (i + 500) % 1000);
    snprintf(line[4], sizeof line[4], "SET seq %ld", i);
    if (strcmp(cmd(db, "MULTI"), "+OK") != 0) return -1;
    for (int c = 0; c < 5; c++)
        if (strcmp(cmd(db, line[c]), "+QUEUED") != 0) return -1;
    return cmd(db, "EXEC")[0] == '[' ? 0 : -1;
}

static _Noreturn void child(const char *path, long start, int fd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    layerdb *db = open_with(path, LAYERDB_FSYNC_ALWAYS);
    if (!db) _exit(2);
    for (long i = start;; i++) {
        if (layerdb_compact(db, 0) != LAYERDB_OK) {
            fprintf(stderr, "compact: %s\n", layerdb_errmsg(db));
            _exit(3);
        }
        if (transaction(db, i) != 0) {
            fprintf(stderr, "transaction %ld: %s\n", i, layerdb_errmsg(db));
            _exit(4);
        }
        if (write(fd, &i, sizeof i) != (ssize_t)sizeof i) _exit(5);
    }
}

static long read_acks(int fd, long want, long last) {
    for (long got = 0; got < want; got++) {
        long i;
        if (read(fd, &i, sizeof i) != (ssize_t)sizeof i) break;
        last = i;
    }
    return last;
}

static void preload(layerdb *db) {
    for (int i = 0; i < PRELOAD; i++) {
        char k[32], v[64];
        int kn = snprintf(k, sizeof k, "pre:%d", i);
        int vn = snprintf(v, sizeof v, "preloaded value number %d", i);
        REQUIRE(layerdb_set(db, k, (size_t)kn, v, (size_t)vn) == LAYERDB_OK);
    }
}

TEST("SIGKILL during compactions: the file opens with every acknowledged write, once") {
    const char *path = test_path("cc.db");
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.compact", path);
    uint64_t seed = test_seed();
    printf("# seed %llu\n", (unsigned long long)seed);
    test_rand_state = seed ? seed : 1;
    layerdb *db = open_with(path, LAYERDB_FSYNC_EVERYSEC), *model = open_with(NULL, 0);
    REQUIRE(db && model);
    preload(db);
    preload(model);
    REQUIRE(layerdb_close(db) == LAYERDB_OK);
    long applied = -1; /* transactions 0..applied are in the model */
    int during = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        fflush(stdout);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child(path, applied + 1, fds[1]);
        }
        close(fds[1]);
        long want = 1 + (long)(test_rand() % 300);
        long last = read_acks(fds[0], want, applied);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        last = read_acks(fds[0], LONG_MAX, last);
        close(fds[0]);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        if (!WIFSIGNALED(status)) printf("# the child exited with %d\n", WEXITSTATUS(status));
        during += access(tmp, F_OK) == 0; /* killed with a compaction under way */
        db = open_with(path, LAYERDB_FSYNC_ALWAYS);
        REQUIRE(db);
        CHECK(access(tmp, F_OK) != 0);
        const char *seq = cmd(db, "GET seq");
        long now = seq[0] == '$' ? atol(seq + 1) : -1;
        CHECK(now == last || now == last + 1);
        for (long i = applied + 1; i <= now; i++) REQUIRE(transaction(model, i) == 0);
        applied = now;
        char *got = dump_state(db), *expect = dump_state(model);
        CHECK(strcmp(got, expect) == 0);
        free(got);
        free(expect);
        printf("# round %d: acked through %ld, %ld present\n", round, last, now);
        CHECK_RC(layerdb_close(db), LAYERDB_OK);
    }
    printf("# %d of %d kills found a compaction under way\n", during, ROUNDS);
    layerdb_close(model);
}

int main(void) { return test_main(); }
