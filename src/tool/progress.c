/* progress.c -- the progress line on stderr: done, rate, time left.
 *
 *   check: 412.0 MiB of 1.2 GiB (34%), 180.3 MiB/s, 4s left
 *   export: 120000 of 1000000 keys (12%), 51234 keys/s, 17s left
 *
 * Drawn only when stderr is a terminal and -q was not given, so a pipe or
 * a log file never gets carriage returns. The line is drawn at the first
 * update and then at most every REDRAW_S seconds, each time over the last
 * one with '\r' (padded with spaces when it got shorter), and erased by
 * tool_progress_end, so the results that follow on stdout start on a clean
 * line. The rate and the time left appear once half a second has passed. Reading the clock costs little, but an update per key of a
 * million keys still reads it only every CLOCK_EVERY calls. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define REDRAW_S 0.25
#define MIN_RATE_S 0.5 /* before this, a rate (and the time left) means little */
#define CLOCK_EVERY 64

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tool_progress_start(tool_progress *p, const tool_opts *o, const char *unit,
                         uint64_t total) {
    p->on = !o->quiet && isatty(2);
    p->label = o->cmd;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->start_s = p->on ? now_s() : 0;
    p->drawn_s = -1;
    p->calls = 0;
    p->width = 0;
}

/* An amount in the progress's unit: "12.0 MiB" or "1200 keys". */
static void amount(const tool_progress *p, char *buf, size_t cap, double n) {
    if (!p->unit) tool_human_bytes(buf, cap, (uint64_t)n);
    else snprintf(buf, cap, "%.0f %s", n, p->unit);
}

static void draw(tool_progress *p, double t) {
    char line[160], done[32], total[32], rate[32];
    double secs = t - p->start_s, per_s = secs > 0 ? (double)p->done / secs : 0;
    int n;
    amount(p, done, sizeof done, (double)p->done);
    amount(p, rate, sizeof rate, per_s);
    if (p->total) {
        uint64_t left = p->done < p->total ? p->total - p->done : 0;
        amount(p, total, sizeof total, (double)p->total);
        n = snprintf(line, sizeof line, "%s: %s of %s (%d%%)", p->label, done, total,
                     (int)(100.0 * (double)(p->total - left) / (double)p->total));
        if (secs >= MIN_RATE_S && per_s > 0)
            n += snprintf(line + n, sizeof line - (size_t)n, ", %s/s, %.0fs left", rate,
                          (double)left / per_s);
    } else {
        n = snprintf(line, sizeof line, "%s: %s", p->label, done);
        if (secs >= MIN_RATE_S) n += snprintf(line + n, sizeof line - (size_t)n, ", %s/s", rate);
    }
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;
    fprintf(stderr, "\r%s%*s", line, p->width > n ? p->width - n : 0, "");
    fflush(stderr);
    p->width = n;
    p->drawn_s = t;
}

void tool_progress_set(tool_progress *p, uint64_t done) {
    p->done = done;
    if (!p->on || (p->drawn_s >= 0 && ++p->calls < CLOCK_EVERY)) return;
    p->calls = 0;
    double t = now_s();
    if (p->drawn_s < 0 || t - p->drawn_s >= REDRAW_S) draw(p, t);
}

void tool_progress_end(tool_progress *p) {
    if (!p->on || p->width == 0) return;
    fprintf(stderr, "\r%*s\r", p->width, "");
    fflush(stderr);
    p->width = 0;
}
