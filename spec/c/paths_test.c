/* paths_test.c -- opening a path that is not a plain database file.
 *
 * Each case must end at once with a clear error, in every open mode
 * (writable, read-only, persistence off): a directory, a FIFO, a device and
 * a socket are refused with LAYERDB_NOTDB and say what they are; a path
 * through a file, into a missing directory, or round a symlink loop fails
 * with LAYERDB_IOERR and the system's reason. A dangling symbolic link is
 * followed and the file created at its target, as open(2) with O_CREAT
 * does. A dangling link once made the open loop forever, so main() arms an
 * alarm: a hang kills the suite, which scripts/check.sh counts as a
 * failure, instead of stalling make check. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "layerdb.h"
#include "test.h"

#define MODES 3
static const char *mode_name[MODES] = {"writable", "read-only", "persistence off"};

static void options_for(int mode, layerdb_options *o) {
    layerdb_options_init(o);
    if (mode == 1) o->readonly = 1;
    if (mode == 2) o->persistence = LAYERDB_PERSIST_OFF;
}

/* Opening 'path' in 'mode' fails with 'want' and a message holding 'text'. */
static void expect_refused(const char *path, int mode, int want, const char *text) {
    layerdb_options o;
    options_for(mode, &o);
    layerdb *db = NULL;
    int rc = layerdb_open(&db, path, &o);
    const char *msg = layerdb_errmsg(db);
    if (rc != want || !strstr(msg, text))
        printf("# %s open of %s: rc %d, \"%s\" (want %d, \"%s\")\n", mode_name[mode], path, rc, msg,
               want, text);
    CHECK_RC(rc, want);
    CHECK(strstr(msg, text) != NULL);
    layerdb_close(db);
}

/* The same, in the first 'modes' open modes. */
static void expect_refused_in_modes(const char *path, int modes, int want, const char *text) {
    for (int mode = 0; mode < modes; mode++) expect_refused(path, mode, want, text);
}

TEST("a directory is refused at once as not a regular file") {
    const char *dir = test_path("a-dir.db");
    REQUIRE(mkdir(dir, 0755) == 0);
    expect_refused_in_modes(dir, MODES, LAYERDB_NOTDB, "is not a regular file (it is a directory)");
}

TEST("a symbolic link to a directory is refused as a directory") {
    const char *dir = test_path("target-dir");
    const char *link = test_path("link-to-dir.db");
    REQUIRE(mkdir(dir, 0755) == 0);
    REQUIRE(symlink(dir, link) == 0);
    expect_refused_in_modes(link, MODES, LAYERDB_NOTDB, "(it is a directory)");
}

TEST("a FIFO is refused at once, without waiting for a writer") {
    const char *fifo = test_path("a-fifo.db");
    REQUIRE(mkfifo(fifo, 0644) == 0);
    expect_refused_in_modes(fifo, MODES, LAYERDB_NOTDB, "is not a regular file (it is a FIFO)");
}

TEST("a device is refused and never written") {
    expect_refused_in_modes("/dev/null", MODES, LAYERDB_NOTDB,
                                 "'/dev/null' is not a regular file (it is a character device)");
}

TEST("a Unix socket is refused as a socket") {
    const char *path = test_path("a-socket.db");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(s >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        close(s);
        SKIP("the temporary path is too long for a socket address");
    }
    strcpy(sa.sun_path, path);
    REQUIRE(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
    expect_refused_in_modes(path, MODES, LAYERDB_NOTDB, "is not a regular file (it is a socket)");
    close(s);
}

TEST("a path through a regular file fails with ENOTDIR") {
    const char *file = test_path("plain.txt");
    int fd = open(file, O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    char path[600];
    snprintf(path, sizeof path, "%s/game.db", file);
    /* Persistence off too: the file cannot exist, but that is not ENOENT. */
    expect_refused_in_modes(path, MODES, LAYERDB_IOERR, "Not a directory");
}

TEST("a path into a missing directory fails with ENOENT") {
    char path[600];
    snprintf(path, sizeof path, "%s/no-such-dir/game.db", test_tmpdir());
    /* Not persistence off: a missing file is an empty database there. */
    expect_refused_in_modes(path, 2, LAYERDB_IOERR, "No such file or directory");
}

TEST("a symbolic link loop fails with ELOOP") {
    const char *a = test_path("loop-a.db");
    const char *b = test_path("loop-b.db");
    REQUIRE(symlink(b, a) == 0);
    REQUIRE(symlink(a, b) == 0);
    expect_refused_in_modes(a, MODES, LAYERDB_IOERR, "Too many levels of symbolic links");
}

TEST("a dangling symbolic link is created through, at its target") {
    const char *target = test_path("target.db");
    const char *link = test_path("dangling.db");
    REQUIRE(symlink(target, link) == 0);
    /* Read-only needs the file, persistence off finds nothing to read. */
    expect_refused(link, 1, LAYERDB_IOERR, "No such file or directory");
    layerdb_options o;
    options_for(2, &o);
    layerdb *db = NULL;
    CHECK_RC(layerdb_open(&db, link, &o), LAYERDB_OK);
    layerdb_close(db);
    CHECK(access(target, F_OK) != 0); /* persistence off creates nothing */

    CHECK_RC(layerdb_open(&db, link, NULL), LAYERDB_OK);
    CHECK_RC(layerdb_set(db, "saved", 5, "yes", 3), LAYERDB_OK);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode)); /* still a link */
    CHECK(lstat(target, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0);
    db = NULL;
    CHECK_RC(layerdb_open(&db, target, NULL), LAYERDB_OK);
    CHECK_RC(layerdb_get(db, "saved", 5, NULL, NULL), LAYERDB_OK);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
}

TEST("a dangling link into a missing directory fails at once") {
    char target[600];
    snprintf(target, sizeof target, "%s/missing-dir/target.db", test_tmpdir());
    const char *link = test_path("dangling-deep.db");
    REQUIRE(symlink(target, link) == 0);
    expect_refused(link, 0, LAYERDB_IOERR, "No such file or directory");
}

int main(void) {
    alarm(120); /* each case takes milliseconds; a hang must not stall CI */
    return test_main();
}
