/* stats.c -- layerdb stats FILE: keys per database and type, live bytes,
 * file bytes, the live ratio, the time of the last write.
 *
 * Live bytes are an estimate of what a compacted file would hold, computed
 * from the log format (log_format.h) rather than by writing one, the way
 * compaction lays it out (src/compact.c): the header, then per database
 * the commands that recreate its keys (keytypes.c's dump: SET key value
 * [PXAT ms]) in COMMANDS records of about RECORD_BYTES, each with its frame
 * and, outside database 0, a SELECT n first (every record starts in
 * database 0). Keys of a type the tool cannot dump yet are counted but not
 * sized, and the report says how many.
 *
 * The last write is the file's mtime. The file is replayed read-only into
 * memory (walk.c's tool_walk_file): a live writer may hold it. */
#include <stdio.h>
#include <time.h>

#include "keyspace.h"

#include "log_format.h"
#include "tool.h"

/* Sums the bytes of a key's commands in a record (tool_sink). */
typedef struct sizer {
    tool_sink sink;      /* first: size_command gets it back as this */
    uint64_t ncmds;
    uint64_t bytes;      /* the commands' encoded arguments */
} sizer;

static int size_command(tool_sink *s, int argc, const char *const *argv, const size_t *lens) {
    sizer *z = (sizer *)s;
    (void)argv;
    z->bytes += ldb_varint_len((uint64_t)argc);
    for (int i = 0; i < argc; i++) z->bytes += ldb_varint_len(lens[i]) + lens[i];
    z->ncmds++;
    return TOOL_OK;
}

#define RECORD_BYTES (256 * 1024) /* compact.c's records hold about this much */

typedef struct stats {
    const tool_opts *o;
    tool_census census;
    uint64_t live_bytes;
    uint64_t unsized;    /* keys of types the tool cannot dump */
    uint64_t db_bytes[LDB_DBS]; /* the encoded commands of each database */
    uint64_t db_cmds[LDB_DBS];
} stats;

/* The commands that would recreate k. */
static int size_key(stats *st, layerdb_client *c, const tool_key *k, const tool_type *t) {
    sizer z = {.sink = {size_command}};
    layerdb_reply *v;
    int rc = t->fetch(st->o, c, k, &v);
    if (rc != TOOL_OK) return rc;
    rc = t->dump(k, v, &z.sink);
    layerdb_reply_free(v);
    st->db_bytes[k->db] += z.bytes;
    st->db_cmds[k->db] += z.ncmds;
    return rc;
}

/* The header, and each database's commands in records of about
 * RECORD_BYTES: a frame, the type byte, the command count and, outside
 * database 0, a SELECT each. */
static uint64_t live_total(const stats *st) {
    uint64_t total = LDB_FILE_HEADER_SIZE;
    for (int d = 0; d < LDB_DBS; d++) {
        if (!st->db_cmds[d]) continue;
        uint64_t records = (st->db_bytes[d] + RECORD_BYTES - 1) / RECORD_BYTES;
        uint64_t per = LDB_FRAME_SIZE + 1 + ldb_varint_len(st->db_cmds[d] / records + (d != 0));
        if (d) per += 1 + 1 + 6 + 1 + (d < 10 ? 1 : 2); /* SELECT n */
        total += st->db_bytes[d] + records * per;
    }
    return total;
}

static int stats_key(void *ud, layerdb_client *c, const tool_key *k) {
    stats *st = ud;
    const tool_type *t = tool_type_find(k->type);
    int rc = t ? size_key(st, c, k, t) : TOOL_OK;
    if (!t) st->unsized++;
    if (rc == TOOL_OK) tool_census_add(&st->census, k);
    return rc;
}

static void print_stats(const tool_opts *o, const tool_file *f, const stats *st) {
    char live[32], when[64];
    struct tm tm;
    tool_print_file(o->file, f);
    tool_human_bytes(live, sizeof live, st->live_bytes);
    printf("  Live bytes: %llu (%s), estimated: what a compacted file would hold\n",
           (unsigned long long)st->live_bytes, live);
    if (st->unsized)
        printf("  (leaving out %llu keys of types it cannot size yet)\n",
               (unsigned long long)st->unsized);
    if (f->size) printf("  Live ratio: %.1f%% of the file is live data\n",
                        100.0 * (double)st->live_bytes / (double)f->size);
    if (localtime_r(&f->mtime, &tm) && strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", &tm))
        printf("  Last write: %s (the file's modification time)\n", when);
    printf("  Keys: %llu\n", (unsigned long long)st->census.keys);
    tool_census_print(stdout, &st->census);
}

int tool_stats(const tool_opts *o) {
    stats st = {.o = o};
    tool_file f;
    int rc = tool_walk_file(o, stats_key, &st, &f);
    st.live_bytes = live_total(&st);
    if (rc == TOOL_OK) print_stats(o, &f, &st);
    return rc;
}
