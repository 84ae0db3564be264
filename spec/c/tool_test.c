/* tool_test.c -- the admin tool `layerdb`, run as a program: its output
 * and exit status for every subcommand; check on files damaged at many
 * offsets; export and import round-trips; export loaded into a real
 * redis-server with `redis-cli --pipe`; a file held by a live writer;
 * the progress line on a terminal.
 *
 * The binary is $LAYERDB_TOOL, or else ../layerdb beside this test's own
 * directory (build/test/tool_test runs build/layerdb; the sanitizer
 * builds run their own). Each run's stdout and stderr go to files read
 * back into 'out' and 'err'. Expected offsets of damage are found by
 * walking the file's frames here (log_format.h), not by asking the tool.
 * Databases are made and compared through the C API and layerdb_command.
 * LAYERDB_SEED=n replays the random offsets and bytes. */
#include <fcntl.h>
#include <pty.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "layerdb.h"
#include "log_format.h"
#include "redis_server.h"
#include "test.h"

/* ---- Running the tool ---- */

/* The path of 'name' in the test's directory; the same pointer for the
 * same name, valid to the end (test_path's buffers are reused). */
static const char *tmp(const char *name) {
    static struct { char name[32], path[600]; } files[64];
    int i = 0;
    while (i < 63 && files[i].name[0] && strcmp(files[i].name, name) != 0) i++;
    if (!files[i].name[0]) {
        snprintf(files[i].name, sizeof files[i].name, "%s", name);
        snprintf(files[i].path, sizeof files[i].path, "%s/%s", test_tmpdir(), name);
    }
    return files[i].path;
}

static char tool_bin[1024];
static char out[4 << 20], err[1 << 16]; /* the last run's stdout, stderr */
static size_t out_len;

static void find_tool(void) {
    const char *env = getenv("LAYERDB_TOOL");
    char self[900];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (env) { snprintf(tool_bin, sizeof tool_bin, "%s", env); return; }
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    snprintf(tool_bin, sizeof tool_bin, "%s/../layerdb", self);
}

static size_t slurp_into(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    return n;
}

/* Run the tool with args (NULL-terminated) and stdin from 'in' (NULL:
 * /dev/null); stdout into outfile (NULL: a scratch file read into out).
 * Returns the exit status, or 128 + signal. */
static int run_argv(const char *in, const char *outfile, const char *const *args) {
    const char *o = outfile ? outfile : tmp("stdout"), *e = tmp("stderr");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fi = open(in ? in : "/dev/null", O_RDONLY), fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0644),
            fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fi < 0 || fo < 0 || fe < 0) _exit(120);
        dup2(fi, 0), dup2(fo, 1), dup2(fe, 2);
        const char *argv[32] = {tool_bin};
        for (int i = 0; args[i] && i < 30; i++) argv[i + 1] = args[i];
        execv(tool_bin, (char *const *)argv);
        _exit(121);
    }
    int status;
    waitpid(pid, &status, 0);
    out_len = outfile ? 0 : slurp_into(o, out, sizeof out);
    if (outfile) out[0] = '\0';
    slurp_into(e, err, sizeof err);
    /* Under ASan an error exits 1 too, which a test may expect: look. */
    if (strstr(err, "Sanitizer") || strstr(err, "runtime error:")) {
        printf("# %s: %.2000s\n", args[0] ? args[0] : "(none)", err);
        test_failures_in_case++;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define MAX_ARGS 16
/* tool(in, "check", path, NULL) */
static int tool(const char *in, ...) {
    const char *args[MAX_ARGS + 1];
    va_list ap;
    int n = 0;
    va_start(ap, in);
    while (n < MAX_ARGS && (args[n] = va_arg(ap, const char *)) != NULL) n++;
    va_end(ap);
    args[n] = NULL;
    return run_argv(in, NULL, args);
}

/* CHECK that the last run printed 'text' on stdout (or stderr). */
#define OUT_HAS(text) CHECK_TEXT(out, text)
#define ERR_HAS(text) CHECK_TEXT(err, text)
#define CHECK_TEXT(buf, text)                                                        \
    do {                                                                             \
        if (!strstr(buf, text)) printf("# %s lacks \"%s\"; it says:\n# %.600s\n", #buf, text, buf); \
        CHECK(strstr(buf, text) != NULL);                                            \
    } while (0)

/* CHECK that the last run printed the size of path, as check and stats do. */
static void out_has_size(const char *path) {
    struct stat st;
    char want[64];
    CHECK(stat(path, &st) == 0);
    snprintf(want, sizeof want, "  Size: %lld bytes (", (long long)st.st_size);
    OUT_HAS(want);
}

/* ---- Files ---- */

static unsigned char *slurp(const char *path, size_t *n) {
    struct stat st;
    if (stat(path, &st) != 0) return NULL;
    unsigned char *p = malloc((size_t)st.st_size + 1);
    FILE *f = fopen(path, "rb");
    *n = f ? fread(p, 1, (size_t)st.st_size, f) : 0;
    if (f) fclose(f);
    return p;
}

static void spill(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n) fwrite(p, 1, n, f);
        fclose(f);
    }
}

static void write_text(const char *path, const char *text) {
    spill(path, text, strlen(text));
}

static int64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- A model of keys, written and compared through commands ---- */

typedef struct item {
    int db;
    char key[300];
    size_t klen;
    unsigned char *val; /* malloc'd */
    size_t vlen;
    int64_t at;         /* deadline in ms, -1 for none */
} item;

#define MAX_ITEMS 4000
static item items[MAX_ITEMS];
static int nitems;

static void add_item(int db, const void *key, size_t klen, const void *val, size_t vlen, int64_t at) {
    item *it = &items[nitems++];
    it->db = db;
    memcpy(it->key, key, klen);
    it->klen = klen;
    it->val = malloc(vlen + 1);
    if (vlen) memcpy(it->val, val, vlen);
    it->vlen = vlen;
    it->at = at;
}

static void free_items(void) {
    for (int i = 0; i < nitems; i++) free(items[i].val);
    nitems = 0;
}

/* A command's answer, the same from layerdb and from redis-server. */
typedef struct answer {
    char kind;        /* '$' bulk, ':' integer, '-' error, '+' status, 'n' nil */
    long long n;
    char *s;          /* bulk bytes (malloc'd) */
    size_t len;
} answer;

typedef int (*ask_fn)(void *ctx, int argc, const char **argv, const size_t *lens, answer *a);

static int ask_layerdb(void *ctx, int argc, const char **argv, const size_t *lens, answer *a) {
    layerdb_reply *r = NULL;
    memset(a, 0, sizeof *a);
    if (layerdb_command(ctx, argc, argv, lens, &r) != LAYERDB_OK) return -1;
    a->kind = r->type == LAYERDB_REPLY_STRING ? '$' : r->type == LAYERDB_REPLY_INTEGER ? ':'
            : r->type == LAYERDB_REPLY_ERROR ? '-' : r->type == LAYERDB_REPLY_NIL ? 'n' : '+';
    a->n = r->integer;
    if (a->kind == '$') {
        a->s = malloc(r->len + 1);
        memcpy(a->s, r->str, r->len);
        a->len = r->len;
    }
    layerdb_reply_free(r);
    return 0;
}

static int ask_redis(void *ctx, int argc, const char **argv, const size_t *lens, answer *a) {
    struct conn *c = ctx;
    char line[512];
    size_t cap = 32, n;
    for (int i = 0; i < argc; i++) cap += 32 + lens[i];
    char *req = malloc(cap); /* one write: pieces would wait on Nagle's algorithm */
    n = (size_t)snprintf(req, cap, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        n += (size_t)snprintf(req + n, cap - n, "$%zu\r\n", lens[i]);
        memcpy(req + n, argv[i], lens[i]);
        memcpy(req + n + lens[i], "\r\n", 2);
        n += lens[i] + 2;
    }
    memset(a, 0, sizeof *a);
    int rc = send_all(c->fd, req, n);
    free(req);
    if (rc != 0 || read_line(c, line, sizeof line) != 0) return -1;
    a->kind = line[0];
    a->n = atoll(line + 1);
    if (a->kind == '$' && a->n < 0) a->kind = 'n';
    if (a->kind != '$') return 0;
    a->len = (size_t)a->n;
    a->s = malloc(a->len + 2);
    return read_bytes(c, a->s, a->len + 2);
}

/* Run a command of zero-terminated words through ask. */
static int ask_words(ask_fn ask, void *ctx, answer *a, int argc, ...) {
    const char *argv[8];
    size_t lens[8];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i] = va_arg(ap, const char *));
    va_end(ap);
    return ask(ctx, argc, argv, lens, a);
}

/* Does one item read back the same: value, then deadline? */
static int item_matches(ask_fn ask, void *ctx, const item *it) {
    answer a;
    char db[8], at[24];
    const char *argv[2] = {"GET", it->key};
    size_t lens[2] = {3, it->klen};
    snprintf(db, sizeof db, "%d", it->db);
    snprintf(at, sizeof at, "%lld", (long long)it->at);
    if (ask_words(ask, ctx, &a, 2, "SELECT", db) != 0 || a.kind != '+') return 0;
    int ok = ask(ctx, 2, argv, lens, &a) == 0 && a.kind == '$' && a.len == it->vlen &&
             memcmp(a.s, it->val, it->vlen) == 0;
    free(a.s);
    argv[0] = "PEXPIRETIME", lens[0] = 11;
    ok = ok && ask(ctx, 2, argv, lens, &a) == 0 && a.kind == ':' && a.n == it->at;
    if (!ok) printf("# db %d key of %zu bytes: differs (last answer %c %lld)\n", it->db, it->klen, a.kind, a.n);
    return ok;
}

/* Every item reads back the same, and no database holds more keys. */
static int model_matches(ask_fn ask, void *ctx) {
    int bad = 0, counts[16] = {0};
    for (int i = 0; i < nitems; i++) {
        counts[items[i].db]++;
        if (!item_matches(ask, ctx, &items[i]) && ++bad > 5) return 0;
    }
    for (int d = 0; d < 16; d++) {
        answer a;
        char db[8];
        snprintf(db, sizeof db, "%d", d);
        ask_words(ask, ctx, &a, 2, "SELECT", db);
        if (ask_words(ask, ctx, &a, 1, "DBSIZE") != 0 || a.n != counts[d]) {
            printf("# db %d holds %lld keys, want %d\n", d, a.n, counts[d]);
            bad++;
        }
    }
    return bad == 0;
}

static int file_matches(const char *path) {
    layerdb_options o;
    layerdb *db;
    layerdb_options_init(&o);
    o.readonly = 1;
    if (layerdb_open(&db, path, &o) != LAYERDB_OK) {
        printf("# open %s: %s\n", path, layerdb_errmsg(db));
        layerdb_close(db);
        return 0;
    }
    int ok = model_matches(ask_layerdb, db);
    layerdb_close(db);
    return ok;
}

/* Write the model into a new file at path. */
static void write_model(const char *path) {
    layerdb *db;
    unlink(path);
    if (layerdb_open(&db, path, NULL) != LAYERDB_OK) { printf("# %s\n", layerdb_errmsg(db)); return; }
    for (int i = 0; i < nitems; i++) {
        const item *it = &items[i];
        char dbs[8], at[24];
        const char *argv[5] = {"SET", it->key, (const char *)it->val, "PXAT", at};
        size_t lens[5] = {3, it->klen, it->vlen, 4, 0};
        answer a;
        snprintf(dbs, sizeof dbs, "%d", it->db);
        lens[4] = (size_t)snprintf(at, sizeof at, "%lld", (long long)it->at);
        ask_words(ask_layerdb, db, &a, 2, "SELECT", dbs);
        ask_layerdb(db, it->at >= 0 ? 5 : 3, argv, lens, &a);
        free(a.s);
    }
    layerdb_close(db);
}

/* Keys and values of every awkward kind, in several databases, some with
 * deadlines a day away. */
static void make_awkward_model(void) {
    int64_t day = now_ms() + 86400000;
    unsigned char all[256], rev[256], big[200000];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i, rev[i] = (unsigned char)(255 - i);
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)test_rand();
    free_items();
    add_item(0, "plain", 5, "value", 5, -1);
    add_item(0, "", 0, "", 0, -1);
    add_item(0, all, 256, rev, 256, day);
    static const char utf8_key[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80";
    static const char tricky[] = "quote\" backslash\\ slash/ nl\n cr\r tab\t ctl\x01\x1f del\x7f nul";
    add_item(0, utf8_key, strlen(utf8_key), tricky, sizeof tricky, -1); /* with its NUL */
    static const char *const bad_utf8[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80",
                                           "\xe2\x82", "ok\xff"};
    for (int i = 0; i < 6; i++) add_item(1, bad_utf8[i], strlen(bad_utf8[i]), all + i * 7, 40, i % 2 ? day + i : -1);
    add_item(1, "big", 3, big, sizeof big, day);
    for (int i = 0; i < 2500; i++) { /* several SCAN pages */
        char k[16], v[64];
        size_t vl = test_rand() % sizeof v;
        for (size_t j = 0; j < vl; j++) v[j] = (char)test_rand();
        add_item(2, k, (size_t)snprintf(k, sizeof k, "k:%d", i), v, vl, i % 3 ? -1 : day + i);
    }
    add_item(7, "\0", 1, "\0\0", 2, -1);
    add_item(15, "last", 4, "db", 2, day + 15);
}

/* ---- Records of a file, found by walking its frames ---- */

#define MAX_RECORDS 512

/* The start of each record (and the file's end last); their count. */
static int record_starts(const unsigned char *p, size_t size, uint64_t *starts) {
    uint64_t salt = ldb_logfmt_header_salt(p), off = LDB_FILE_HEADER_SIZE;
    int n = 0;
    while (off + LDB_FRAME_SIZE <= size && n < MAX_RECORDS - 1) {
        uint32_t len;
        if (ldb_logfmt_frame_check(p + off, salt, &len) != 0) break;
        starts[n++] = off;
        off += LDB_FRAME_SIZE + len;
    }
    starts[n] = off;
    return n;
}

/* The start of the record holding byte f. */
static uint64_t record_of(const uint64_t *starts, int n, uint64_t f) {
    uint64_t at = starts[0];
    for (int i = 0; i < n && starts[i] <= f; i++) at = starts[i];
    return at;
}

/* 40 keys with values of 0 to 120 bytes, one record each, closed cleanly
 * (a SYNCED record last). Returns the bytes, *n their count. */
static unsigned char *small_log(const char *path, size_t *n) {
    layerdb *db;
    unlink(path);
    if (layerdb_open(&db, path, NULL) != LAYERDB_OK) return NULL;
    for (int i = 0; i < 40; i++) {
        char k[16], v[128];
        int vl = (int)(test_rand() % 121);
        memset(v, 'a' + i % 26, (size_t)vl);
        layerdb_set(db, k, (size_t)snprintf(k, sizeof k, "key-%d", i), v, (size_t)vl);
    }
    layerdb_close(db);
    return slurp(path, n);
}

/* ---- A writer in another process ---- */

typedef struct holder {
    pid_t pid;
    int release; /* closing it lets the child close its handle and exit */
} holder;

/* Fork a child that opens path writable, sets a few keys, flushes, says
 * so on a pipe and waits until released. */
static holder hold_file(const char *path) {
    int ready[2], wait_fd[2];
    holder h = {-1, -1};
    if (pipe(ready) != 0 || pipe(wait_fd) != 0) return h;
    fflush(stdout);
    h.pid = fork();
    if (h.pid == 0) {
        layerdb *db;
        char c = 'r';
        close(ready[0]), close(wait_fd[1]);
        if (layerdb_open(&db, path, NULL) != LAYERDB_OK) _exit(1);
        for (int i = 0; i < 10; i++) {
            char k[16];
            layerdb_set(db, k, (size_t)snprintf(k, sizeof k, "held-%d", i), "v", 1);
        }
        layerdb_flush(db);
        if (write(ready[1], &c, 1) != 1) _exit(1);
        while (read(wait_fd[0], &c, 1) > 0) {}
        _exit(layerdb_close(db) == LAYERDB_OK ? 0 : 1);
    }
    close(ready[1]), close(wait_fd[0]);
    char c;
    if (read(ready[0], &c, 1) != 1) h.pid = -1;
    close(ready[0]);
    h.release = wait_fd[1];
    return h;
}

static void release(holder *h) {
    close(h->release);
    if (h->pid > 0) waitpid(h->pid, NULL, 0);
}

/* ---- Arguments and help ---- */

TEST("--help, help COMMAND, COMMAND --help and --version print to stdout and exit 0") {
    static const char *const names[] = {"check", "repair", "compact", "stats", "export", "import"};
    CHECK(tool(NULL, "--help", NULL) == 0);
    OUT_HAS("usage: layerdb [-q] COMMAND FILE");
    for (int i = 0; i < 6; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n  %s FILE", names[i]);
        OUT_HAS(want);
    }
    for (int i = 0; i < 6; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: layerdb %s FILE", names[i]);
        CHECK(tool(NULL, "help", names[i], NULL) == 0);
        OUT_HAS(want);
        CHECK(tool(NULL, names[i], "--help", NULL) == 0);
        OUT_HAS(want);
    }
    CHECK(tool(NULL, "export", "-h", NULL) == 0);
    OUT_HAS("--format jsonl");
    CHECK(tool(NULL, "--version", NULL) == 0);
    OUT_HAS("layerdb " LAYERDB_VERSION "\n");
}

TEST("a usage error exits 2 and says what was wrong on stderr, prefixed layerdb:") {
    static const struct { const char *args[4]; const char *says; } cases[] = {
        {{NULL}, "usage: layerdb"},
        {{"frobnicate", "x.db"}, "layerdb: unknown command 'frobnicate'"},
        {{"check"}, "layerdb: check: missing the FILE argument"},
        {{"check", "a.db", "b.db"}, "layerdb: check: unexpected argument 'b.db'"},
        {{"check", "--force", "a.db"}, "layerdb: check: unknown option '--force'"},
        {{"export", "a.db", "--format", "xml"}, "layerdb: export: unknown format 'xml'"},
        {{"export", "a.db", "--format"}, "layerdb: export: --format needs a value"},
        {{"--bogus"}, "layerdb: unknown option '--bogus'"},
        {{"help", "nope"}, "layerdb: no help for 'nope'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(run_argv(NULL, NULL, cases[i].args) == 2);
        ERR_HAS(cases[i].says);
        CHECK(out_len == 0);
    }
}

TEST("a missing file, a directory and a file that is not a database fail with exit 1") {
    const char *junk = tmp("junk.db");
    write_text(junk, "this is not a layerdb file, only some text that is long enough\n");
    static const char *const cmds[] = {"check", "stats", "export", "repair", "compact"};
    for (int i = 0; i < 5; i++) {
        CHECK(tool(NULL, cmds[i], tmp("missing.db"), NULL) == 1);
        ERR_HAS("No such file or directory");
        CHECK(tool(NULL, cmds[i], test_tmpdir(), NULL) == 1);
        ERR_HAS("is not a regular file (it is a directory)");
        CHECK(tool(NULL, cmds[i], junk, NULL) == 1);
        ERR_HAS("is not a layerdb file");
    }
    CHECK(access(tmp("missing.db"), F_OK) != 0); /* nothing created */
}

/* ---- check ---- */

TEST("check prints the size, records and keys per database and type of a clean file, exit 0") {
    const char *path = tmp("clean.db");
    make_awkward_model();
    write_model(path);
    CHECK(tool(NULL, "check", path, NULL) == 0);
    out_has_size(path);
    OUT_HAS("Records: ");
    OUT_HAS("Keys: 2513\n");
    OUT_HAS("db 0: 4 keys (string 4), 1 with a deadline");
    OUT_HAS("db 1: 7 keys (string 7), 4 with a deadline");
    OUT_HAS("db 2: 2500 keys (string 2500), 834 with a deadline");
    OUT_HAS("db 7: 1 key (string 1), 0 with a deadline");
    OUT_HAS("db 15: 1 key (string 1), 1 with a deadline");
    OUT_HAS("Status: clean\n");
    CHECK(err[0] == '\0');
    CHECK(tool(NULL, "check", tmp("empty.db"), NULL) == 1); /* missing: not created */
    write_text(tmp("empty.db"), "");
    CHECK(tool(NULL, "check", tmp("empty.db"), NULL) == 0);
    OUT_HAS("Status: clean (empty");
    free_items();
}

TEST("check reports a byte flipped at each of 64 offsets as damage or a torn tail at the offset of its record, exit 1") {
    const char *path = tmp("flip.db"), *copy = tmp("flipped.db");
    uint64_t starts[MAX_RECORDS];
    size_t size;
    test_rand_state = test_seed() | 1;
    printf("# seed %llu\n", (unsigned long long)test_rand_state);
    unsigned char *p = small_log(path, &size);
    REQUIRE(p && size > 1000);
    int n = record_starts(p, size, starts);
    REQUIRE(starts[n] == size); /* the walk reached the end */
    for (int k = 0; k < 64; k++) {
        uint64_t f = k == 0 ? 5 : k == 63 ? size - 1 : (uint64_t)k * size / 64 + test_rand() % (size / 64);
        unsigned char mask = (unsigned char)(1u << (test_rand() % 8));
        p[f] ^= mask;
        spill(copy, p, size);
        p[f] ^= mask;
        int rc = tool(NULL, "check", copy, NULL);
        char want[96];
        uint64_t at = record_of(starts, n, f);
        if (f < LDB_FILE_HEADER_SIZE)
            snprintf(want, sizeof want, "is not a layerdb file");
        else if (at == starts[n - 1]) /* the last record: nothing vouches for it */
            snprintf(want, sizeof want, "Status: torn tail at offset %llu:", (unsigned long long)at);
        else
            snprintf(want, sizeof want, "Status: damaged at offset %llu:", (unsigned long long)at);
        if (rc != 1 || (!strstr(out, want) && !strstr(err, want)))
            printf("# byte %llu flipped: exit %d, want 1 and \"%s\"\n# %s%s", (unsigned long long)f,
                   rc, want, out, err);
        CHECK(rc == 1 && (strstr(out, want) || strstr(err, want)));
    }
    free(p);
}

TEST("check reports a file cut at each of 64 offsets as a torn tail at its last whole record (exit 1), or clean at a record boundary (exit 0)") {
    const char *path = tmp("cut.db"), *copy = tmp("cutshort.db");
    uint64_t starts[MAX_RECORDS];
    size_t size;
    test_rand_state = test_seed() | 1;
    unsigned char *p = small_log(path, &size);
    REQUIRE(p && size > 1000);
    int n = record_starts(p, size, starts), boundaries = 0;
    for (int k = 0; k < 64; k++) {
        uint64_t c = k < 4 ? (uint64_t[]){0, 1, 31, 32}[k] : k < 8 ? starts[k * 3]
                   : (uint64_t)k * size / 64 + test_rand() % (size / 64);
        spill(copy, p, c);
        int rc = tool(NULL, "check", copy, NULL), want_rc = 1;
        char want[96];
        uint64_t at = record_of(starts, n, c);
        if (c == 0) want_rc = 0, snprintf(want, sizeof want, "Status: clean (empty");
        else if (c < LDB_FILE_HEADER_SIZE) snprintf(want, sizeof want, "Status: torn tail at offset 0:");
        else if (at == c) want_rc = 0, boundaries++, snprintf(want, sizeof want, "Status: clean\n");
        else snprintf(want, sizeof want, "Status: torn tail at offset %llu:", (unsigned long long)at);
        if (rc != want_rc || !strstr(out, want))
            printf("# cut at %llu: exit %d, want %d and \"%s\"\n# %s%s", (unsigned long long)c, rc,
                   want_rc, want, out, err);
        CHECK(rc == want_rc && strstr(out, want));
    }
    CHECK(boundaries >= 5);
    free(p);
}

/* ---- repair ---- */

TEST("repair keeps FILE.bak, cuts at the first bad record and says what it dropped; a clean file is left alone") {
    const char *path = tmp("rep.db");
    char bak[600];
    uint64_t starts[MAX_RECORDS];
    size_t size, bsize, rsize;
    snprintf(bak, sizeof bak, "%s.bak", path);
    unlink(bak);
    unsigned char *p = small_log(path, &size);
    REQUIRE(p);
    int n = record_starts(p, size, starts);
    CHECK(tool(NULL, "repair", path, NULL) == 0);
    OUT_HAS("Nothing to repair");
    CHECK(access(bak, F_OK) != 0);
    p[starts[10] + LDB_FRAME_SIZE + 3] ^= 0x20; /* record 10's body: 29 whole ones after it */
    spill(path, p, size);
    CHECK(tool(NULL, "repair", path, NULL) == 0);
    char want[160];
    snprintf(want, sizeof want, "cut at offset %llu, dropping %llu bytes: the bad record (bad checksum) and %d whole records after it",
             (unsigned long long)starts[10], (unsigned long long)(size - starts[10]), n - 12);
    OUT_HAS(want);
    OUT_HAS("Kept 10 records");
    unsigned char *b = slurp(bak, &bsize), *r = slurp(path, &rsize);
    CHECK(b && bsize == size && memcmp(b, p, size) == 0); /* the backup is the damaged original */
    CHECK(r && rsize >= starts[10] && memcmp(r, p, starts[10]) == 0);
    CHECK(tool(NULL, "check", path, NULL) == 0);
    OUT_HAS("Keys: 10\n");
    spill(path, p, size); /* damaged again: the backup is in the way */
    CHECK(tool(NULL, "repair", path, NULL) == 1);
    ERR_HAS("exists already: move it away, or use --force");
    CHECK(tool(NULL, "check", path, NULL) == 1); /* untouched */
    CHECK(tool(NULL, "repair", "--force", path, NULL) == 0);
    CHECK(tool(NULL, "check", path, NULL) == 0);
    spill(path, p, 20); /* a header cut short, as a crash while creating leaves it */
    CHECK(tool(NULL, "repair", "--force", path, NULL) == 0);
    OUT_HAS("its header was cut short (20 of 32 bytes); it is now an empty database");
    CHECK(tool(NULL, "check", path, NULL) == 0);
    OUT_HAS("Status: clean\n");
    free(b), free(r), free(p);
}

/* ---- compact ---- */

TEST("compact keeps every key and reports the sizes, or says the engine has no compaction yet") {
    const char *path = tmp("compact.db");
    make_awkward_model();
    write_model(path);
    int rc = tool(NULL, "compact", path, NULL);
    if (rc == 1) {
        ERR_HAS("layerdb: compact: compaction is not built yet");
    } else {
        CHECK(rc == 0);
        OUT_HAS("bytes (");
        OUT_HAS(") before, ");
        OUT_HAS(") after");
    }
    CHECK(file_matches(path));
    free_items();
}

/* ---- stats ---- */

TEST("stats prints keys per database and type, live and file bytes, the ratio and the last write") {
    const char *path = tmp("stats.db");
    layerdb *db;
    unlink(path);
    REQUIRE(layerdb_open(&db, path, NULL) == LAYERDB_OK);
    for (int i = 0; i < 100; i++) layerdb_set(db, "k", 1, "v", 1); /* 99 dead records */
    layerdb_close(db);
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    CHECK(tool(NULL, "stats", path, NULL) == 0);
    out_has_size(path);
    OUT_HAS("Live bytes: 59 (59 B)"); /* header 32 + frame 16 + type, count, SET k v */
    char want[64];
    snprintf(want, sizeof want, "Live ratio: %.1f%%", 100.0 * 59 / (double)st.st_size);
    OUT_HAS(want);
    OUT_HAS("Last write: ");
    OUT_HAS("Keys: 1\n");
    OUT_HAS("db 0: 1 key (string 1), 0 with a deadline");
    make_awkward_model();
    write_model(path);
    CHECK(tool(NULL, "stats", path, NULL) == 0);
    OUT_HAS("Keys: 2513\n");
    OUT_HAS("db 2: 2500 keys (string 2500), 834 with a deadline");
    free_items();
}

/* ---- export and import ---- */

TEST("export --format resp writes binary-safe RESP: SET, PXAT, and SELECT before another database") {
    const char *path = tmp("resp.db");
    free_items();
    add_item(0, "k", 1, "v", 1, -1);
    add_item(2, "a", 1, "\0\r\n", 3, 4102444800000);
    write_model(path);
    CHECK(tool(NULL, "export", path, NULL) == 0);
    static const char want[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
                               "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n"
                               "*5\r\n$3\r\nSET\r\n$1\r\na\r\n$3\r\n\0\r\n\r\n$4\r\nPXAT\r\n$13\r\n4102444800000\r\n";
    CHECK(out_len == sizeof want - 1 && memcmp(out, want, out_len) == 0);
    CHECK(tool(NULL, "export", "--format=jsonl", path, NULL) == 0);
    CHECK(strcmp(out, "{\"db\":0,\"key\":\"k\",\"type\":\"string\",\"value\":\"v\"}\n"
                      "{\"db\":2,\"key\":\"a\",\"type\":\"string\",\"value\":\"\\u0000\\r\\n\","
                      "\"expire_at_ms\":4102444800000}\n") == 0);
    free_items();
}

TEST("export --format jsonl then import round-trips binary keys and values, deadlines, and databases") {
    const char *path = tmp("orig.db"), *jsonl = tmp("dump.jsonl"), *copy = tmp("copy.db");
    const char *args[] = {"export", path, "--format", "jsonl", NULL};
    make_awkward_model();
    write_model(path);
    CHECK(run_argv(NULL, jsonl, args) == 0);
    size_t n;
    char *text = (char *)slurp(jsonl, &n);
    REQUIRE(text);
    CHECK(strstr(text, "\"key_base64\":\"wK8=\"") != NULL); /* an overlong form is not UTF-8 */
    CHECK(strstr(text, "{\"db\":0,\"key\":\"h\xc3\xa9llo w\xc3\xb6rld") != NULL);
    CHECK(strstr(text, "\"value\":\"quote\\\" backslash\\\\ slash/ nl\\n cr\\r tab\\t ctl\\u0001\\u001f del\\u007f nul\\u0000\"") != NULL);
    free(text);
    unlink(copy);
    CHECK(tool(jsonl, "import", copy, NULL) == 0);
    OUT_HAS("Imported 2513 keys");
    OUT_HAS("(840 with a deadline); skipped 0");
    CHECK(file_matches(copy));
    CHECK(tool(jsonl, "import", copy, NULL) == 0); /* again: replaces, adds nothing */
    CHECK(file_matches(copy));
    free_items();
}

TEST("import reads every JSON string escape, surrogate pairs too, and skips keys whose deadline passed") {
    const char *in = tmp("esc.jsonl"), *path = tmp("esc.db");
    write_text(in, "{\"db\":0,\"key\":\"esc\",\"type\":\"string\",\"value\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000"
                   "\\u00e9\\u20AC\\ud83d\\ude00\"}\n"
                   "\n   \t\n"
                   " { \"type\" : \"string\" , \"value\" : \"x\" , \"key_base64\" : \"AP8=\" , \"db\" : 3 ,"
                   " \"expire_at_ms\" : null } \n"
                   "{\"db\":0,\"key\":\"gone\",\"type\":\"string\",\"value\":\"v\",\"expire_at_ms\":1000}");
    unlink(path);
    CHECK(tool(in, "import", path, NULL) == 0);
    OUT_HAS("Imported 2 keys");
    OUT_HAS("skipped 1 whose deadline had passed");
    free_items();
    add_item(0, "esc", 3, "\"\\/\b\f\n\r\t\0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 18, -1);
    add_item(3, "\0\xff", 2, "x", 1, -1);
    CHECK(file_matches(path));
    free_items();
}

TEST("import stops at a bad line with exit 1, naming the line and what is wrong; the lines before it stay") {
    static const struct { const char *line, *says; } bad[] = {
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"v\"", "expected ',' or '}'"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":{\"a\":1}}", "member 'value' holds an object"},
        {"[1,2]", "expected '{'"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"\\ud800\"}", "without its low half"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"\\udc00\"}", "lone low surrogate"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"a\x01" "b\"}", "control character 0x01"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"\xff\"}", "not UTF-8"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"v\",\"value\":\"w\"}", "member 'value' appears twice"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"hash\",\"value\":\"v\"}", "type 'hash' cannot be imported"},
        {"{\"db\":20,\"key\":\"x\",\"type\":\"string\",\"value\":\"v\"}", "database 20 does not exist"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"v\",\"extra\":1}", "unknown member 'extra'"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value_base64\":\"!!!!\"}", "'value_base64' is not valid base64"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"v\",\"expire_at_ms\":1.5}", "'expire_at_ms' must be an integer"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"v\"} x", "text after the object"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"\\q\"}", "unknown escape '\\q'"},
        {"{\"db\":0,\"type\":\"string\",\"value\":\"v\"}", "'key' or 'key_base64' must be there"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":01}", "leading zero"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":tru}", "expected a string, number, true, false or null"},
        {"{\"db\":0,\"key\":\"x\",\"type\":\"string\"}", "a string needs 'value' or 'value_base64'"},
        {"{\"key\":\"x\",\"type\":\"string\",\"value\":\"v\"}", "'db' must be there"},
    };
    const char *in = tmp("bad.jsonl"), *path = tmp("bad.db");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"db\":0,\"key\":\"one\",\"type\":\"string\",\"value\":\"1\"}\n"
                                    "{\"db\":1,\"key\":\"two\",\"type\":\"string\",\"value\":\"2\"}\n"
                                    "%s\n{\"db\":0,\"key\":\"four\",\"type\":\"string\",\"value\":\"4\"}\n",
                 bad[i].line);
        write_text(in, text);
        unlink(path);
        CHECK(tool(in, "import", path, NULL) == 1);
        ERR_HAS("layerdb: import: line 3: ");
        ERR_HAS(bad[i].says);
        free_items();
        add_item(0, "one", 3, "1", 1, -1);
        add_item(1, "two", 3, "2", 1, -1);
        CHECK(file_matches(path)); /* and not "four" */
    }
    free_items();
}

TEST("import takes 120 random mutations of a line without crashing: each imports or names line 1") {
    static const char seed_line[] = "{\"db\":3,\"key\":\"k\\u00e9\\ud83d\\ude00\",\"type\":\"string\","
                                    "\"value_base64\":\"AP8=\",\"expire_at_ms\":4102444800000}\n";
    const char *in = tmp("fuzz.jsonl"), *path = tmp("fuzz.db");
    test_rand_state = test_seed() | 1;
    printf("# seed %llu\n", (unsigned long long)test_rand_state);
    for (int i = 0; i < 120; i++) { /* each a process: about 0.1 s under ASan */
        char line[256];
        size_t n = sizeof seed_line - 1;
        memcpy(line, seed_line, n);
        for (int k = 0, edits = 1 + (int)(test_rand() % 4); k < edits; k++) {
            size_t at = test_rand() % n;
            switch (test_rand() % 3) {
            case 0: line[at] = (char)test_rand(); break;                             /* replace */
            case 1: memmove(line + at, line + at + 1, n - at - 1); n--; break;      /* delete */
            default: /* insert */
                if (n < sizeof line - 1) { memmove(line + at + 1, line + at, n - at); n++; }
                line[at] = (char)test_rand();
            }
        }
        spill(in, line, n);
        unlink(path);
        int rc = tool(in, "import", path, NULL);
        if (rc == 1) ERR_HAS("layerdb: import: line ");
        if (rc != 0 && rc != 1) printf("# %.*s -> exit %d\n", (int)n, line, rc);
        CHECK(rc == 0 || rc == 1);
    }
}

/* ---- Into a real redis-server ---- */

static int pipe_into_redis(const char *resp) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "redis-cli -p %d --pipe < '%s' > '%s' 2>&1", server_port, resp,
             tmp("pipe.out"));
    int rc = system(cmd);
    slurp_into(tmp("pipe.out"), err, sizeof err);
    return rc;
}

TEST("export loads into redis-server through redis-cli --pipe with every key, value and deadline, in every database") {
    struct conn *c = calloc(1, sizeof *c);
    if (system("command -v redis-cli >/dev/null 2>&1") != 0 || (c->fd = start_server()) < 0) {
        free(c);
        SKIP("no redis-server and redis-cli to load into");
    }
    const char *path = tmp("toredis.db"), *resp = tmp("dump.resp");
    const char *args[] = {"export", path, NULL};
    make_awkward_model();
    write_model(path);
    CHECK(run_argv(NULL, resp, args) == 0);
    CHECK(pipe_into_redis(resp) == 0);
    CHECK_TEXT(err, "errors: 0, replies: 2517"); /* 2513 SETs, 4 SELECTs */
    CHECK(model_matches(ask_redis, c));
    close(c->fd);
    free(c);
    stop_server();
    free_items();
}

/* ---- A file held by a live writer ---- */

TEST("on a file a live writer holds, check, stats and export work; repair, compact and import refuse, naming the process") {
    const char *path = tmp("held.db"), *in = tmp("held.jsonl");
    unlink(path);
    holder h = hold_file(path);
    REQUIRE(h.pid > 0);
    char pid[64];
    snprintf(pid, sizeof pid, "in use by process %ld", (long)h.pid);
    CHECK(tool(NULL, "check", path, NULL) == 0);
    snprintf(err, sizeof err, "Writer: process %ld holds the file", (long)h.pid);
    OUT_HAS(err);
    OUT_HAS("Keys: 10\n");
    CHECK(tool(NULL, "stats", path, NULL) == 0);
    OUT_HAS("Keys: 10\n");
    CHECK(tool(NULL, "export", path, "--format", "jsonl", NULL) == 0);
    OUT_HAS("{\"db\":0,\"key\":\"held-3\",\"type\":\"string\",\"value\":\"v\"}\n");
    write_text(in, "{\"db\":0,\"key\":\"x\",\"type\":\"string\",\"value\":\"v\"}\n");
    static const char *const writers[] = {"repair", "compact", "import"};
    for (int i = 0; i < 3; i++) {
        CHECK(tool(in, writers[i], path, NULL) == 1);
        ERR_HAS(pid);
    }
    /* Half a frame appended, as a writer leaves it mid-write: not damage
     * while the writer holds the file, a torn tail once it is gone. */
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "\x10\0\0\0\x01\x02", 6) == 6);
    close(fd);
    CHECK(tool(NULL, "check", path, NULL) == 0);
    OUT_HAS("are not a whole record yet: the writer is appending");
    release(&h);
    /* Gone: the bytes are a torn tail, unless its closing record covered them. */
    int rc = tool(NULL, "check", path, NULL);
    CHECK((rc == 1 && strstr(out, "Status: torn tail at offset")) || (rc == 0 && strstr(out, "Status: clean\n")));
}

/* ---- Progress ---- */

/* Run the tool with stderr (and stdin) on a pseudo-terminal, stdout on a
 * file; what reached the terminal goes into err. */
static int run_on_pty(const char *const *args) {
    int master;
    fflush(stdout);
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    if (pid == 0) {
        int fo = open(tmp("pty.out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0) _exit(120);
        dup2(fo, 1);
        const char *argv[16] = {tool_bin};
        for (int i = 0; args[i] && i < 14; i++) argv[i + 1] = args[i];
        execv(tool_bin, (char *const *)argv);
        _exit(121);
    }
    size_t n = 0;
    for (;;) {
        ssize_t got = read(master, err + n, sizeof err - 1 - n);
        if (got <= 0) break; /* EIO once the child is gone */
        n += (size_t)got;
    }
    err[n] = '\0';
    close(master);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST("progress is drawn on a terminal (check, stats and export: the replay in bytes, then the keys), erased at the end, and never with -q or off a terminal") {
    const char *path = tmp("progress.db");
    make_awkward_model();
    write_model(path);
    const char *loud[] = {"check", path, NULL}, *quiet[] = {"check", "-q", path, NULL};
    CHECK(run_on_pty(loud) == 0);
    CHECK_TEXT(err, "\rcheck: ");
    CHECK_TEXT(err, "B of ");      /* the replay, in bytes */
    CHECK_TEXT(err, " keys of 2513 keys ("); /* the census, in keys */
    CHECK(err[strlen(err) - 1] == '\r'); /* erased: the cursor back at the start */
    CHECK(run_on_pty(quiet) == 0);
    CHECK(err[0] == '\0');
    CHECK(tool(NULL, "check", path, NULL) == 0); /* stderr a file */
    CHECK(err[0] == '\0');
    /* stats and export show the replay too, then the keys. */
    const char *stats[] = {"stats", path, NULL}, *export[] = {"export", path, NULL};
    CHECK(run_on_pty(stats) == 0);
    CHECK_TEXT(err, "\rstats: ");
    CHECK_TEXT(err, "B of ");
    CHECK_TEXT(err, " keys of 2513 keys (");
    CHECK(run_on_pty(export) == 0);
    CHECK_TEXT(err, "\rexport: ");
    CHECK_TEXT(err, "B of ");
    CHECK_TEXT(err, " keys of 2513 keys (");
    free_items();
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    find_tool();
    if (access(tool_bin, X_OK) != 0) {
        printf("1..0 # SKIP no tool at %s (make builds it)\n", tool_bin);
        return 1;
    }
    return test_main();
}
