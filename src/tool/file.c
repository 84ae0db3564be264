/* file.c -- the tool's dealings with files outside the engine: asking who
 * holds a database file (without taking its lock), copying it for a
 * backup, and the words and numbers messages are made of.
 *
 * Invariant: nothing here writes to a database file. The backup copy is
 * written beside it under another name, whole or not at all: into
 * NAME.tmp, fsynced, renamed, and the directory fsynced, so a crash leaves
 * either no backup or a complete one (and at worst a stray NAME.tmp). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os.h"
#include "tool.h"

#define COPY_CHUNK (1024 * 1024)

int tool_file_probe(const tool_opts *o, const char *path, tool_file *f) {
    int fd;
    const char *kind;
    struct stat st;
    memset(f, 0, sizeof *f);
    if (ldb_os_open(path, 0, 0, &fd, &kind) != 0) {
        if (kind) return tool_fail(o, "'%s' is not a regular file (it is %s)", path, kind);
        return tool_fail(o, "open '%s': %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        int err = errno;
        ldb_os_close(fd);
        return tool_fail(o, "stat '%s': %s", path, strerror(err));
    }
    f->size = (uint64_t)st.st_size;
    f->mtime = st.st_mtime;
    /* A system that cannot tell is taken as "not held": the writable open
     * that follows still fails with LAYERDB_LOCKED if it is. */
    f->held = ldb_os_writer_holder(fd, &f->holder) == 1;
    ldb_os_close(fd);
    return TOOL_OK;
}

int tool_refuse_held(const tool_opts *o, const char *path, const tool_file *f) {
    if (!f->held) return TOOL_OK;
    if (f->holder > 0)
        return tool_fail(o, "'%s' is in use by process %ld: stop it first (it holds the file "
                         "open for writing)", path, f->holder);
    return tool_fail(o, "'%s' is in use by another process: stop it first", path);
}

int tool_db_fail(const tool_opts *o, layerdb *db, int rc) {
    const char *msg = layerdb_errmsg(db);
    return tool_fail(o, "%s", msg && msg[0] ? msg : layerdb_strerror(rc));
}

/* ---- Copying ---- */

static int copy_bytes(const tool_opts *o, int in, int out, const char *from, const char *to,
                      tool_progress *p) {
    char *buf = malloc(COPY_CHUNK);
    uint64_t done = 0;
    int rc = buf ? -1 : tool_fail(o, "out of memory copying '%s'", from);
    while (rc == -1) {
        size_t got = 0;
        if (ldb_os_pread_all(in, buf, COPY_CHUNK, done, &got) != 0)
            rc = tool_fail(o, "read '%s': %s", from, strerror(errno));
        else if (got == 0)
            rc = TOOL_OK;
        else if (ldb_os_pwrite_all(out, buf, got, done) != 0)
            rc = tool_fail(o, "write '%s': %s", to, strerror(errno));
        done += got;
        tool_progress_set(p, done);
    }
    free(buf);
    return rc;
}

int tool_copy_file(const tool_opts *o, const char *from, const char *to, tool_progress *p) {
    char tmp[4096];
    const char *kind;
    int in, out, rc;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", to) >= sizeof tmp)
        return tool_fail(o, "path too long: '%s'", to);
    if (ldb_os_open(from, 0, 0, &in, &kind) != 0)
        return tool_fail(o, "open '%s': %s", from, kind ? kind : strerror(errno));
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = tool_fail(o, "create '%s': %s", tmp, strerror(errno));
        ldb_os_close(in);
        return rc;
    }
    rc = copy_bytes(o, in, out, from, tmp, p);
    if (rc == TOOL_OK && ldb_os_sync(out) != 0) rc = tool_fail(o, "fsync '%s': %s", tmp, strerror(errno));
    ldb_os_close(in);
    ldb_os_close(out);
    if (rc == TOOL_OK && rename(tmp, to) != 0) rc = tool_fail(o, "rename '%s' to '%s': %s", tmp, to, strerror(errno));
    if (rc == TOOL_OK && ldb_os_sync_dir(to) != 0)
        rc = tool_fail(o, "fsync the directory of '%s': %s", to, strerror(errno));
    if (rc != TOOL_OK) unlink(tmp);
    return rc;
}

/* ---- Words and numbers ---- */

void tool_print_file(const char *path, const tool_file *f) {
    char size[32];
    tool_human_bytes(size, sizeof size, f->size);
    printf("File: %s\n", path);
    printf("  Size: %llu bytes (%s)\n", (unsigned long long)f->size, size);
    if (f->held && f->holder > 0)
        printf("  Writer: process %ld holds the file; read as a follower\n", f->holder);
    else if (f->held)
        printf("  Writer: another process holds the file; read as a follower\n");
}

void tool_human_bytes(char *buf, size_t cap, uint64_t n) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 5) { v /= 1024; u++; }
    if (u == 0) snprintf(buf, cap, "%llu B", (unsigned long long)n);
    else snprintf(buf, cap, "%.1f %s", v, units[u]);
}

void tool_quote(char *buf, size_t cap, const void *bytes, size_t n) {
    const unsigned char *p = bytes;
    size_t w = 0;
    if (cap < 8) { if (cap) buf[0] = '\0'; return; }
    for (size_t i = 0; i < n; i++) {
        char one[8];
        int len = p[i] == '\\' || p[i] == '\'' ? snprintf(one, sizeof one, "\\%c", p[i])
                : p[i] >= 0x20 && p[i] < 0x7f ? snprintf(one, sizeof one, "%c", p[i])
                                               : snprintf(one, sizeof one, "\\x%02x", p[i]);
        if (w + (size_t)len + 4 > cap) { memcpy(buf + w, "...", 4); return; }
        memcpy(buf + w, one, (size_t)len);
        w += (size_t)len;
    }
    buf[w] = '\0';
}
