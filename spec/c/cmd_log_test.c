/* cmd_log_test.c -- what the command layer logs, replayed from a file cut
 * at any offset.
 *
 * A script of commands runs on a file-backed handle: sets with deadlines
 * (PXAT, KEEPTTL), EXPIREAT, PERSIST, deletes, commands in database 1
 * (SELECT), and MULTI/EXEC transactions of several writes. After each
 * command the test notes the log's end (layerdb_info.log_bytes) and a
 * snapshot of the data (every key's value and deadline in both databases).
 * Then the file is cut at every record boundary and at offsets inside
 * records, opened with persistence off, and its snapshot must equal the
 * one taken after the last command whose record ends at or before the
 * cut: a record, a transaction's included, applies whole or not at all,
 * and a prefix of the log is a prefix of the history. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerdb.h"
#include "reply_text.h"
#include "test.h"

#define NKEYS 6
#define MAX_STEPS 128

static const char *const script[] = {
    "SET k0 a",
    "SET k1 b PXAT 4000000000000",
    "SET k1 c KEEPTTL",
    "EXPIREAT k0 4100000000",
    "MULTI", "SET k2 x", "DEL k0", "SET k3 y PXAT 4200000000000", "PERSIST k1", "EXEC",
    "SELECT 1", "SET k0 one", "SET k4 four EXAT 4300000000", "SELECT 0",
    "GETSET k2 z",
    "SETNX k5 five",
    "SET gone v",
    "PEXPIREAT gone 1", /* in the past: logged as DEL */
    "MULTI", "SELECT 1", "DEL k0", "SET k1 uno", "SELECT 0", "SET k0 zero", "EXEC",
    "GETDEL k3",
    "DEL k5 k2 nope",
    "SET k5 again PXAT 4400000000000",
    "MULTI", "SET k4 4", "EXPIREAT k4 4500000000", "SET k4 44 KEEPTTL", "EXEC",
};
#define STEPS (sizeof script / sizeof script[0])

/* Every key's value and deadline in databases 0 and 1, as text. */
static void snapshot(layerdb *db, char *out, size_t cap) {
    out[0] = '\0';
    for (int d = 0; d < 2; d++) {
        char line[64];
        snprintf(line, sizeof line, "SELECT %d", d);
        cmd(db, line);
        for (int k = 0; k < NKEYS; k++) {
            snprintf(line, sizeof line, "GET k%d", k);
            strncat(out, cmd(db, line), cap - strlen(out) - 1);
            snprintf(line, sizeof line, "PEXPIRETIME k%d", k);
            strncat(out, cmd(db, line), cap - strlen(out) - 1);
            strncat(out, " ", cap - strlen(out) - 1);
        }
        strncat(out, cmd(db, "EXISTS gone"), cap - strlen(out) - 1);
        strncat(out, "|", cap - strlen(out) - 1);
    }
    cmd(db, "SELECT 0");
}

struct step {
    uint64_t end;     /* log_bytes after the command */
    char snap[1024];  /* the data then */
};

static struct step steps[MAX_STEPS + 1];

/* Open a copy of 'src' cut to 'len' bytes with persistence off; its
 * snapshot into out. */
static int snapshot_of_prefix(const char *src, uint64_t len, char *out, size_t cap) {
    const char *cut = test_path("cut.db");
    int in = open(src, O_RDONLY), fd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || fd < 0) { printf("# cannot copy %s\n", src); return -1; }
    static unsigned char buf[1 << 16];
    for (uint64_t done = 0; done < len;) {
        size_t want = len - done < sizeof buf ? (size_t)(len - done) : sizeof buf;
        ssize_t n = pread(in, buf, want, (off_t)done);
        if (n <= 0 || write(fd, buf, (size_t)n) != n) {
            printf("# cannot copy %llu bytes of %s\n", (unsigned long long)len, src);
            return -1;
        }
        done += (uint64_t)n;
    }
    close(in);
    close(fd);
    layerdb_options o;
    layerdb_options_init(&o);
    o.persistence = LAYERDB_PERSIST_OFF;
    layerdb *db = NULL;
    int rc = layerdb_open(&db, cut, &o);
    if (rc == LAYERDB_OK) snapshot(db, out, cap);
    else printf("# open of %llu bytes: %s\n", (unsigned long long)len, layerdb_errmsg(db));
    layerdb_close(db);
    return rc == LAYERDB_OK ? 0 : -1;
}

TEST("a log cut anywhere replays a prefix of the history, each record whole") {
    char path[512]; /* test_path's buffer is reused by the next call */
    snprintf(path, sizeof path, "%s", test_path("script.db"));
    layerdb_options o;
    layerdb_options_init(&o);
    o.fsync = LAYERDB_FSYNC_NO;
    layerdb *db = NULL;
    REQUIRE(layerdb_open(&db, path, &o) == LAYERDB_OK);
    layerdb_info info;
    layerdb_info_get(db, &info);
    steps[0].end = info.log_bytes;
    snapshot(db, steps[0].snap, sizeof steps[0].snap);
    size_t n = 0;
    for (size_t i = 0; i < STEPS; i++) {
        const char *got = cmd(db, script[i]);
        CHECK(got[0] != '-' && strncmp(got, "rc=", 3) != 0);
        if (got[0] == '-') printf("# %s -> %s\n", script[i], got);
        layerdb_info_get(db, &info);
        if (info.log_bytes == steps[n].end) continue; /* logged nothing */
        n++;
        steps[n].end = info.log_bytes;
        snapshot(db, steps[n].snap, sizeof steps[n].snap);
    }
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    CHECK(n >= 12);
    char got[1024];
    int differ = 0;
    for (size_t s = 0; s <= n; s++) {
        /* At the boundary, one byte past it, and in the middle of the next. */
        uint64_t cuts[3] = {steps[s].end, steps[s].end + 1,
                            s < n ? (steps[s].end + steps[s + 1].end) / 2 : steps[s].end};
        for (int c = 0; c < 3; c++) {
            if (snapshot_of_prefix(path, cuts[c], got, sizeof got) != 0) { differ++; continue; }
            if (strcmp(got, steps[s].snap) != 0) {
                printf("# cut at %llu (step %zu): got %s\n#   want %s\n",
                       (unsigned long long)cuts[c], s, got, steps[s].snap);
                differ++;
            }
        }
    }
    CHECK(differ == 0);
    /* The whole file, closed cleanly, holds the last state. */
    REQUIRE(layerdb_open(&db, path, NULL) == LAYERDB_OK);
    snapshot(db, got, sizeof got);
    CHECK(strcmp(got, steps[n].snap) == 0);
    if (strcmp(got, steps[n].snap) != 0) printf("# reopened: %s\n#   want %s\n", got, steps[n].snap);
    layerdb_close(db);
}

int main(void) { return test_main(); }
