/* bench_table.c -- the result table: rows the engine files add, and the
 * report main() prints: machine and date, one Markdown table, and the line
 * that checks layerdb's promise (everysec set >= 85% of persistence off). */
#include <inttypes.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "layerdb.h"

#define PROMISE_RATIO 0.85

/* ---- Rows ---- */

/* 1234567 -> "1,234,567". */
void bench_fmt_count(char *out, size_t cap, uint64_t n) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%" PRIu64, n);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}


void bench_add_row(struct bench *b, const char *engine, const char *test,
                   const char *keys, const char *result, const char *notes) {
    if (b->nrows == BENCH_MAX_ROWS) bench_die(b, "too many table rows");
    struct bench_row *r = &b->rows[b->nrows++];
    r->section = b->section;
    snprintf(r->engine, sizeof r->engine, "%s", engine);
    snprintf(r->test, sizeof r->test, "%s", test);
    snprintf(r->keys, sizeof r->keys, "%s", keys);
    snprintf(r->result, sizeof r->result, "%s", result);
    snprintf(r->notes, sizeof r->notes, "%s", notes);
}

void bench_add_rate(struct bench *b, const char *engine, const char *test,
                    size_t done, double ops, const char *notes) {
    char count[32], keys[48], ops_text[32], result[48];
    bench_fmt_count(count, sizeof count, done);
    snprintf(keys, sizeof keys, "%s%s", count,
             done < b->nkeys ? " (bounded)" : "");
    bench_fmt_count(ops_text, sizeof ops_text, (uint64_t)(ops + 0.5));
    snprintf(result, sizeof result, "%s ops/s", ops_text);
    bench_add_row(b, engine, test, keys, result, notes);
}

double bench_add_per_key(struct bench *b, const char *engine, const char *test, double total,
                         uint64_t n, const char *notes) {
    char keys[32], result[32], full[320];
    double per_key = n > 0 ? total / (double)n : 0;
    bench_fmt_count(keys, sizeof keys, n);
    snprintf(result, sizeof result, "%.1f B/key", per_key - BENCH_PAYLOAD);
    snprintf(full, sizeof full, "beyond the %d payload bytes (%.1f B/key in all); %s",
             BENCH_PAYLOAD, per_key, notes);
    bench_add_row(b, engine, test, keys, result, full);
    return per_key - BENCH_PAYLOAD;
}

double bench_add_ops(struct bench *b, const char *engine, const char *test,
                     size_t done, double seconds, const char *notes) {
    double ops = seconds > 0 ? (double)done / seconds : 0;
    bench_add_rate(b, engine, test, done, ops, notes);
    return ops;
}

/* ---- The machine ---- */

static void cpu_model(char *out, size_t cap) {
    char line[256];
    snprintf(out, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) return;
    while (fgets(line, sizeof line, f) != NULL) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || colon == NULL) continue;
        snprintf(out, cap, "%s", colon + 2);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    fclose(f);
}

/* fsync figures mean nothing on tmpfs: name the filesystem under the dir. */
static const char *fs_name(const char *dir) {
    struct statfs s;
    if (statfs(dir, &s) != 0) return "unknown filesystem";
    switch ((unsigned long)s.f_type) {
    case 0xef53: return "ext4";
    case 0x01021994: return "tmpfs, fsync is free";
    case 0x58465342: return "xfs";
    case 0x9123683e: return "btrfs";
    case 0x794c7630: return "overlayfs";
    default: return "other filesystem";
    }
}

static void print_machine(const struct bench *b) {
    char model[128], date[64], keys[32], bound[32], load_end[32];
    struct utsname u;
    time_t now = time(NULL);
    cpu_model(model, sizeof model);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M %Z", localtime(&now));
    if (uname(&u) != 0) snprintf(u.release, sizeof u.release, "?");
    bench_fmt_count(keys, sizeof keys, b->nkeys);
    printf("## layerdb benchmark, %s\n\n", date);
    printf("- machine: %s, nproc %ld, Linux %s\n", model,
           sysconf(_SC_NPROCESSORS_ONLN), u.release);
    bench_loadavg(load_end, sizeof load_end);
    printf("- load average %s at the start, %s at the end (other processes"
           " on the machine skew every figure)\n", b->load_start, load_end);
    printf("- databases in %s (%s)\n", b->dir, fs_name(b->dir));
    printf("- layerdb %s, LMDB %d.%d.%d, SQLite %s\n", LAYERDB_VERSION,
           MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH,
           sqlite3_libversion());
    bench_fmt_count(bound, sizeof bound, BENCH_SYNC_KEYS);
    printf("- %s keys of %d bytes, values of %d bytes, written in random "
           "order\n", keys, BENCH_KEY_LEN, BENCH_VAL_LEN);
    printf("- \"bounded\": runs that fsync every write stop after %s keys "
           "per writer or %.0f s; other set runs stop after %.0f s\n\n",
           bound, BENCH_SYNC_SECONDS, BENCH_MAX_SECONDS);
}

/* ---- The report ---- */

static void print_promise(const struct bench *b) {
    if (b->set_off_ops <= 0) return;
    double ratio = b->set_everysec_ops / b->set_off_ops;
    printf("\nPromise (everysec set >= %.0f%% of persistence-off set): %s, "
           "ratio %.1f%% (%.0f vs %.0f ops/s)\n", PROMISE_RATIO * 100,
           ratio >= PROMISE_RATIO ? "MET" : "NOT MET", ratio * 100,
           b->set_everysec_ops, b->set_off_ops);
    printf("Paired by round (both ran in each of %d rounds, seconds apart): "
           "median everysec/off ratio %.1f%%\n", BENCH_REPS, b->set_paired_ratio * 100);
}

/* The memory target counts bytes the way Redis's used_memory does (what
 * the allocator hands out, rounding included, no allocator headers): the
 * counting allocator row. RSS, which adds glibc's 8-byte chunk header per
 * entry, is shown beside it. */
static void print_memory_target(const struct bench *b) {
    if (b->mem_counted <= 0) return;
    printf("Memory target (at most %.0f B/key beyond key and value, counted as Redis counts "
           "used_memory): %s, %.1f B/key",
           BENCH_MEMORY_TARGET, b->mem_counted <= BENCH_MEMORY_TARGET ? "MET" : "NOT MET",
           b->mem_counted);
    if (b->redis_used > 0) printf(" (Redis %.1f)", b->redis_used);
    printf("; by RSS %.1f B/key", b->mem_rss);
    if (b->redis_rss > 0) printf(" (Redis %.1f)", b->redis_rss);
    printf("\n");
}

void bench_print_report(const struct bench *b) {
    print_machine(b);
    printf("| engine | test | keys | result | notes |\n");
    printf("|---|---|--:|--:|---|\n");
    for (int s = 0; s <= BENCH_SECTIONS; s++) {
        for (int i = 0; i < b->nrows; i++) {
            const struct bench_row *r = &b->rows[i];
            if (r->section != s) continue;
            printf("| %s | %s | %s | %s | %s |\n", r->engine, r->test,
                   r->keys, r->result, r->notes);
        }
    }
    print_promise(b);
    print_memory_target(b);
    if (b->failures > 0)
        printf("\n%d CHECK(S) FAILED: see the messages above\n", b->failures);
}
