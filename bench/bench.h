/* bench.h -- what the benchmark's files share: the run's keys and values,
 * the clock, the temporary directory and the result table.
 *
 * One struct bench holds a whole run. bench.c's main() fills it and hands it
 * to each measuring file (bench_disk.c, bench_memory.c, bench_redis.c,
 * bench_layerdb.c, bench_latency.c, bench_commands.c, bench_compact.c,
 * bench_lmdb.c, bench_sqlite.c). Each
 * appends rows to its table, and bench_table.c prints the table.
 * Invariants:
 *  (1) Key i is the 16 bytes at b->keys + 16*i: "key:%012u" of ids[i], with
 *      ids a shuffled permutation of [0, nkeys), so inserts land in random
 *      order; every engine writes key i with bench_value(b, i).
 *  (2) get_order is a second, different permutation of [0, nkeys): the
 *      order random gets visit the keys in.
 *  (3) Every database file lives in b->dir and is deleted after its run;
 *      b->dir itself is removed at the end, or by bench_die. */
#ifndef BENCH_H
#define BENCH_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layerdb.h"

#define BENCH_KEY_LEN 16
#define BENCH_VAL_LEN 100
#define BENCH_PAYLOAD (BENCH_KEY_LEN + BENCH_VAL_LEN) /* bytes per key */
#define BENCH_DEFAULT_KEYS 1000000
/* Runs that fsync every write take at most this many keys per writer
 * thread, and stop early after BENCH_SYNC_SECONDS: at ~6K fsyncs/s a full
 * million would take minutes. Any other set run stops after
 * BENCH_MAX_SECONDS (SQLite's one-insert-per-txn loads are the slow ones),
 * so a full run stays within a few minutes. */
#define BENCH_SYNC_KEYS 20000
#define BENCH_SYNC_SECONDS 5.0
#define BENCH_MAX_SECONDS 30.0
#define BENCH_THREADS 4   /* writers sharing one handle under "always" */
#define BENCH_REPS 81     /* runs of each fast layerdb set; median shown */
#define BENCH_MAX_ROWS 64
#define BENCH_MEMORY_TARGET 24.0 /* bytes per key beyond key and value, at most */
/* Table sections, in print order; main() sets b->section before each
 * engine runs, so memory can be measured first yet printed after sets. */
enum bench_section {
    BENCH_SECTION_DISK = 0,
    BENCH_SECTION_LAYERDB = 1,
    BENCH_SECTION_COMMANDS = 2,
    BENCH_SECTION_MEMORY = 3,
    BENCH_SECTION_FILE = 4,   /* compaction and followers (bench_compact.c) */
    BENCH_SECTION_LMDB = 5,
    BENCH_SECTION_SQLITE = 6,
    BENCH_SECTIONS = 6  /* the last one */
};

struct bench_row {
    int section;      /* rows print sorted by section, then as added */
    char engine[16];  /* "layerdb", "Redis", "LMDB", "SQLite" */
    char test[64];    /* what was measured, and under which settings */
    char keys[48];    /* how many keys the figure comes from */
    char result[48];  /* the figure with its unit */
    char notes[512];  /* durability, caveats, secondary figures */
};

struct bench {
    size_t nkeys;         /* keys in a full run (BENCH_KEYS or 1M) */
    char *keys;           /* nkeys * BENCH_KEY_LEN bytes, see (1) */
    uint32_t *ids;        /* ids[i]: the number written in key i */
    uint32_t *get_order;  /* key indices in random-get order, see (2) */
    char pattern[BENCH_VAL_LEN]; /* filler every value starts from */
    char dir[PATH_MAX];   /* temporary directory for database files */
    pid_t owner;          /* the process that made dir (not a fork child) */
    struct bench_row rows[BENCH_MAX_ROWS];
    int nrows;            /* rows used */
    int section;          /* section of the rows added next */
    int failures;         /* checks that failed: wrong value, lost keys */
    char load_start[32];  /* /proc/loadavg's first three fields at start */
    double set_off_ops;      /* layerdb set ops/s, persistence off */
    double set_everysec_ops; /* layerdb set ops/s, fsync everysec */
    double set_paired_ratio; /* median over rounds of everysec / off */
    /* Bytes per key beyond the payload, 0 if not measured: layerdb by its
     * counting allocator and by RSS, Redis by used_memory and by RSS. */
    double mem_counted, mem_rss, redis_used, redis_rss;
};

/* ---- bench_util.c ---- */
void bench_init(struct bench *b);  /* keys, permutations, temp dir */
void bench_free(struct bench *b);  /* arrays and temp dir */
void bench_loadavg(char *out, size_t cap); /* "0.52 0.40 0.31" */
double bench_now(void);            /* CLOCK_MONOTONIC, in seconds */
uint64_t bench_random(uint64_t *state); /* splitmix64: the next number */
static inline const char *bench_key(const struct bench *b, size_t i) {
    return b->keys + i * BENCH_KEY_LEN;
}
void bench_value(const struct bench *b, size_t i, char *val);
size_t bench_min(size_t a, size_t b);
void bench_path(struct bench *b, const char *name, char *out);
void bench_clear_dir(struct bench *b); /* delete every file in b->dir */
void bench_settle(struct bench *b);    /* syncfs before a timed run */
void bench_progress(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void bench_fail(struct bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
_Noreturn void bench_die(struct bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- bench_table.c ---- */
void bench_fmt_count(char *out, size_t cap, uint64_t n);
void bench_add_row(struct bench *b, const char *engine, const char *test,
                   const char *keys, const char *result, const char *notes);
/* Add a throughput row: 'done' operations in 'seconds'. A run that did
 * fewer than b->nkeys says "(bounded)" in its keys column. Returns ops/s. */
double bench_add_ops(struct bench *b, const char *engine, const char *test,
                     size_t done, double seconds, const char *notes);
/* Add a memory row: 'total' bytes over n keys, shown as bytes per key
 * beyond BENCH_PAYLOAD ("12.3 B/key"). Returns that figure. */
double bench_add_per_key(struct bench *b, const char *engine, const char *test, double total,
                         uint64_t n, const char *notes);
/* The same with the rate given (a median of several runs of 'done'). */
void bench_add_rate(struct bench *b, const char *engine, const char *test,
                    size_t done, double ops, const char *notes);
void bench_print_report(const struct bench *b);

/* ---- bench_layerdb.c, also used by bench_memory.c ---- */
/* Write keys [0, count) into db from 'nthreads' writers, each its own
 * slice, stopping after 'seconds' if > 0. Returns the keys written;
 * *elapsed is the time the writes took. Exits on a write error. */
size_t bench_layerdb_load(struct bench *b, layerdb *db, size_t count,
                          int nthreads, double seconds, double *elapsed);

/* ---- one file per engine ---- */
void bench_disk(struct bench *b, const char *when); /* bench_disk.c */
void bench_memory(struct bench *b);   /* bench_memory.c */
void bench_layerdb(struct bench *b);  /* bench_layerdb.c */
void bench_lmdb(struct bench *b);     /* bench_lmdb.c */
void bench_sqlite(struct bench *b);   /* bench_sqlite.c */
void bench_latency(struct bench *b);  /* bench_latency.c */
void bench_redis_memory(struct bench *b); /* bench_redis.c */
void bench_redis_commands(struct bench *b); /* bench_redis.c: redis-benchmark */
void bench_commands(struct bench *b); /* bench_commands.c */
void bench_compact(struct bench *b);  /* bench_compact.c: the file over time */
void bench_compact_latency_10x(struct bench *b); /* its 10 x nkeys latency rows alone */
/* The cold rows' child: "layerdb-bench --cold fill|open PATH [N]". */
int bench_cold_main(int argc, char **argv);

#endif
