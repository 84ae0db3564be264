/* bench_disk.c -- the disk's own rate: append a small record and
 * fdatasync it, in a loop, with nothing else in between. Every row that
 * fsyncs each write is bounded by this; it changes with whatever else uses
 * the disk, so it is measured before the engines run and again after. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define RECORD_BYTES 128   /* about one layerdb record of this benchmark */
#define DISK_SECONDS 2.0

static void add_row(struct bench *b, const char *test, size_t done,
                    double secs) {
    char count[32], keys[48], rate[32], result[48];
    bench_fmt_count(count, sizeof count, done);
    snprintf(keys, sizeof keys, "%s in %.0f s", count, secs);
    bench_fmt_count(rate, sizeof rate, (uint64_t)((double)done / secs + 0.5));
    snprintf(result, sizeof result, "%s ops/s", rate);
    bench_add_row(b, "disk", test, keys, result, "no engine: the ceiling of "
                  "one writer that fsyncs every write");
}

void bench_disk(struct bench *b, const char *when) {
    char path[PATH_MAX], test[64], record[RECORD_BYTES];
    size_t done = 0;
    memset(record, 'r', sizeof record);
    bench_path(b, "fsync.dat", path);
    snprintf(test, sizeof test, "append %d B + fdatasync, %s", RECORD_BYTES,
             when);
    bench_progress("disk %s", test);
    bench_settle(b);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) bench_die(b, "open '%s': %s", path, strerror(errno));
    double start = bench_now(), secs = 0;
    while (secs < DISK_SECONDS) {
        if (write(fd, record, sizeof record) != (ssize_t)sizeof record ||
            fdatasync(fd) != 0)
            bench_die(b, "write+fdatasync '%s': %s", path, strerror(errno));
        done++;
        secs = bench_now() - start;
    }
    close(fd);
    unlink(path);
    add_row(b, test, done, secs);
}
