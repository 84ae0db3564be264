/* bench_latency.c -- the slowest single set while the table grows to ten
 * times the run's key count (10 million keys in a full run).
 *
 * The table resizes incrementally: a resize moves a bounded batch of
 * entries per set instead of rehashing everything at once, so no call
 * should take more than about a millisecond even at 10M keys. Each set is
 * timed on its own and the worst, the 99.99th percentile and the number of
 * sets over 1 ms are reported. Persistence is off, so the figure is the
 * table's own; a call can still be slowed by the OS (a page fault, the VM
 * being descheduled), which is why sets over 1 ms are counted, not just
 * the maximum shown. To tell the machine's pauses from the table's, the
 * same loop then runs for as long without calling layerdb, and the gaps
 * over 1 ms between its timestamps are counted too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define LAT_BUCKETS 100000 /* 1 us buckets up to 100 ms */

static void grow_and_time(struct bench *b, size_t n, uint32_t *hist, double *worst) {
    layerdb_options o;
    layerdb_options_init(&o);
    o.persistence = LAYERDB_PERSIST_OFF;
    layerdb *db = NULL;
    if (layerdb_open(&db, NULL, &o) != LAYERDB_OK) bench_die(b, "open: %s", layerdb_errmsg(db));
    char key[32], val[BENCH_VAL_LEN];
    memcpy(val, b->pattern, sizeof val);
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "lat:%012zu", (size_t)(((uint64_t)i * 2654435761u) % n));
        double t0 = bench_now();
        if (layerdb_set(db, key, BENCH_KEY_LEN, val, sizeof val) != LAYERDB_OK)
            bench_die(b, "set: %s", layerdb_errmsg(db));
        double us = (bench_now() - t0) * 1e6;
        if (us > *worst) *worst = us;
        size_t bucket = us >= LAT_BUCKETS - 1 ? LAT_BUCKETS - 1 : (size_t)us;
        hist[bucket]++;
    }
    layerdb_info info;
    layerdb_info_get(db, &info);
    if (info.keys != n) bench_fail(b, "latency run: %llu keys, want %zu", (unsigned long long)info.keys, n);
    layerdb_close(db);
}

/* The control run: the set loop's untimed work (formatting a key) for
 * 'seconds', timing each pass: *over_1ms gets the passes over 1 ms, *worst
 * the longest. A pause of the OS or the VM shows up here as in the sets. */
static void time_machine_pauses(double seconds, uint64_t *over_1ms, double *worst) {
    char key[32];
    double start = bench_now(), prev = start;
    *over_1ms = 0;
    *worst = 0;
    for (size_t i = 0; prev - start < seconds; i++) {
        snprintf(key, sizeof key, "lat:%012zu", i);
        double t = bench_now(), us = (t - prev) * 1e6;
        if (us > *worst) *worst = us;
        if (us > 1000) (*over_1ms)++;
        prev = t;
    }
}

/* The bucket (in us) below which 'fraction' of the n samples fall. */
static size_t percentile_us(const uint32_t *hist, size_t n, double fraction) {
    uint64_t want = (uint64_t)((double)n * fraction), seen = 0;
    for (size_t i = 0; i < LAT_BUCKETS; i++) {
        seen += hist[i];
        if (seen >= want) return i + 1;
    }
    return LAT_BUCKETS;
}

void bench_latency(struct bench *b) {
    size_t n = b->nkeys * 10;
    uint32_t *hist = calloc(LAT_BUCKETS, sizeof *hist);
    if (!hist) bench_die(b, "out of memory");
    double worst, machine_worst;
    uint64_t over_1ms = 0, machine_over_1ms;
    bench_progress("latency: growing a table to %zu keys, timing every set", n);
    double t0 = bench_now();
    grow_and_time(b, n, hist, &worst);
    double seconds = bench_now() - t0;
    bench_progress("latency: the machine alone for %.1f s", seconds);
    time_machine_pauses(seconds, &machine_over_1ms, &machine_worst);
    for (size_t i = 1000; i < LAT_BUCKETS; i++) over_1ms += hist[i];
    char keys[48], result[48], notes[320];
    bench_fmt_count(keys, sizeof keys, n);
    snprintf(result, sizeof result, "%.0f us worst", worst);
    snprintf(notes, sizeof notes,
             "every set timed while the table grows from empty (incremental resize); "
             "p99.99 <= %zu us; %llu of %zu sets over 1 ms; persistence off; "
             "the machine alone (the loop without layerdb, %.1f s): "
             "%llu pauses over 1 ms, worst %.0f us",
             percentile_us(hist, n, 0.9999), (unsigned long long)over_1ms, n, seconds,
             (unsigned long long)machine_over_1ms, machine_worst);
    bench_add_row(b, "layerdb", "set latency while growing", keys, result, notes);
    free(hist);
}
