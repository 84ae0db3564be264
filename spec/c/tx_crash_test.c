/* tx_crash_test.c -- transactions across SIGKILL: all or nothing.
 *
 * A forked child opens the database under FSYNC_ALWAYS and runs, for
 * i = start, start + 1, ...:
 *     MULTI; SET a<i> <value>; INCR count; SET b<i> <value>; APPEND log x; EXEC
 * writing i to a pipe once EXEC has returned (so the transaction is on
 * disk). The parent kills it with SIGKILL after a random number of acks,
 * reopens the file and checks:
 *  (1) every acknowledged transaction is there whole;
 *  (2) no transaction is there in part: a<i> exists iff b<i> does, and
 *      count and the length of log both equal the number of transactions
 *      present, which form a prefix start..k-1;
 *  (3) at most one transaction beyond the last ack (the one in flight).
 * The rounds continue on the same file. LAYERDB_SEED=n replays the kill
 * points (not the timing). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layerdb.h"
#include "reply_text.h"
#include "test.h"

#define ROUNDS 10

static layerdb *open_always(const char *path) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.fsync = LAYERDB_FSYNC_ALWAYS;
    layerdb *db = NULL;
    if (layerdb_open(&db, path, &o) != LAYERDB_OK) {
        fprintf(stderr, "open: %s\n", layerdb_errmsg(db));
        layerdb_close(db);
        return NULL;
    }
    return db;
}

/* Run a command given as words; 0 if its rendered reply is 'want'. */
static int run(layerdb *db, const char *line, const char *want) {
    const char *got = cmd(db, line);
    if (strcmp(got, want) == 0) return 0;
    fprintf(stderr, "%s -> %s, want %s\n", line, got, want);
    return -1;
}

static _Noreturn void child(const char *path, long start, int fd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    layerdb *db = open_always(path);
    if (!db) _exit(2);
    char line[128], want[64];
    for (long i = start;; i++) {
        if (run(db, "MULTI", "+OK") != 0) _exit(3);
        snprintf(line, sizeof line, "SET a%ld value-of-a-%ld", i, i);
        if (run(db, line, "+QUEUED") != 0) _exit(3);
        if (run(db, "INCR count", "+QUEUED") != 0) _exit(3);
        snprintf(line, sizeof line, "SET b%ld value-of-b-%ld", i, i);
        if (run(db, line, "+QUEUED") != 0) _exit(3);
        if (run(db, "APPEND log x", "+QUEUED") != 0) _exit(3);
        snprintf(want, sizeof want, "[+OK,:%ld,+OK,:%ld]", i + 1, i + 1);
        if (run(db, "EXEC", want) != 0) _exit(4);
        if (write(fd, &i, sizeof i) != (ssize_t)sizeof i) _exit(5);
    }
}

/* Read acks until 'want' of them came or the pipe is empty and closed
 * (the child died); the last one. */
static long read_acks(int fd, long want, long last) {
    for (long got = 0; got < want; got++) {
        long i;
        ssize_t n = read(fd, &i, sizeof i);
        if (n != (ssize_t)sizeof i) break;
        last = i;
    }
    return last;
}

/* Check the reopened file: returns the number of transactions present. */
static long check_file(const char *path, long acked) {
    layerdb *db = open_always(path);
    CHECK(db != NULL);
    if (!db) return -1;
    layerdb_reply *r = NULL;
    const char *get_count[] = {"GET", "count"};
    CHECK_RC(layerdb_command(db, 2, get_count, NULL, &r), LAYERDB_OK);
    long count = r && r->type == LAYERDB_REPLY_STRING ? atol(r->str) : 0;
    layerdb_reply_free(r);
    const char *strlen_log[] = {"STRLEN", "log"};
    CHECK_RC(layerdb_command(db, 2, strlen_log, NULL, &r), LAYERDB_OK);
    CHECK(r && r->type == LAYERDB_REPLY_INTEGER && r->integer == count); /* (2) */
    layerdb_reply_free(r);
    CHECK(count >= acked + 1);     /* (1): transactions 0..acked */
    CHECK(count <= acked + 2);     /* (3) */
    char line[64], want[64];
    for (long i = 0; i < count + 2; i++) { /* (2): a prefix, each whole */
        snprintf(line, sizeof line, "EXISTS a%ld b%ld", i, i);
        snprintf(want, sizeof want, ":%d", i < count ? 2 : 0);
        CHECK(strcmp(cmd(db, line), want) == 0);
    }
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    return count;
}

TEST("a SIGKILL in a stream of transactions under always leaves each whole or absent") {
    const char *path = test_path("tx.db");
    uint64_t seed = test_seed();
    printf("# seed %llu\n", (unsigned long long)seed);
    test_rand_state = seed ? seed : 1;
    long present = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        fflush(stdout);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child(path, present, fds[1]);
        }
        close(fds[1]);
        long want = 20 + (long)(test_rand() % 200);
        long last = read_acks(fds[0], want, present - 1);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        last = read_acks(fds[0], LONG_MAX, last); /* acks sent before the kill */
        close(fds[0]);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        long now = check_file(path, last);
        printf("# round %d: acked through %ld, %ld transactions present\n", round, last, now);
        CHECK(now >= present);
        present = now;
    }
}

int main(void) { return test_main(); }
