/* bench.c -- main() of the layerdb benchmark: runs every measurement and
 * prints one Markdown table (see README.md for what each row means).
 *
 *   BENCH_KEYS=N  keys per run instead of 1,000,000 (a quick smoke test)
 *   TMPDIR        where the temporary database directory goes (/tmp)
 *   BENCH_ONLY=commands  only the command layer's rows (bench_commands.c);
 *   BENCH_ONLY=sets      only the fast path's (bench_layerdb.c);
 *   BENCH_ONLY=compact   only compaction's and the followers' (bench_compact.c)
 *   BENCH_ONLY=compact10 only set latency with compactions at 10 x BENCH_KEYS
 *
 * Progress goes to stderr, the report to stdout. Exits 1 if any check
 * failed (a wrong or missing value, a lost key, a leak), 0 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--cold") == 0) return bench_cold_main(argc, argv);
    struct bench b;
    bench_init(&b);
    bench_progress("%zu keys, databases in %s", b.nkeys, b.dir);
    const char *only = getenv("BENCH_ONLY");
    if (only && strcmp(only, "sets") == 0) { /* the fast path's rows alone */
        b.section = BENCH_SECTION_LAYERDB;
        bench_layerdb(&b);
        bench_print_report(&b);
        bench_free(&b);
        return b.failures > 0 ? 1 : 0;
    }
    if (only && strcmp(only, "commands") == 0) { /* the command rows alone, while working on them */
        b.section = BENCH_SECTION_COMMANDS;
        bench_commands(&b);
        bench_redis_commands(&b);
        bench_print_report(&b);
        bench_free(&b);
        return b.failures > 0 ? 1 : 0;
    }
    if (only && strcmp(only, "compact10") == 0) { /* the slowest row alone, while working on it */
        b.section = BENCH_SECTION_FILE;
        bench_compact_latency_10x(&b);
        bench_print_report(&b);
        bench_free(&b);
        return b.failures > 0 ? 1 : 0;
    }
    if (only && strcmp(only, "compact") == 0) { /* the file over time alone */
        b.section = BENCH_SECTION_FILE;
        bench_compact(&b);
        bench_print_report(&b);
        bench_free(&b);
        return b.failures > 0 ? 1 : 0;
    }
    /* The disk's baseline, then memory before any other engine run: a
     * clean heap keeps the RSS figure honest. Sections set the print order. */
    b.section = BENCH_SECTION_DISK;
    bench_disk(&b, "before");
    b.section = BENCH_SECTION_MEMORY;
    bench_memory(&b);
    bench_redis_memory(&b);
    b.section = BENCH_SECTION_LAYERDB;
    bench_layerdb(&b);
    bench_latency(&b);
    b.section = BENCH_SECTION_COMMANDS;
    bench_commands(&b);
    bench_redis_commands(&b);
    b.section = BENCH_SECTION_FILE;
    bench_compact(&b);
    b.section = BENCH_SECTION_LMDB;
    bench_lmdb(&b);
    b.section = BENCH_SECTION_SQLITE;
    bench_sqlite(&b);
    b.section = BENCH_SECTION_DISK;
    bench_disk(&b, "after");
    bench_print_report(&b);
    bench_free(&b);
    return b.failures > 0 ? 1 : 0;
}
