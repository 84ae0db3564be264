/* main.c -- `layerdb`, the admin tool: arguments, help texts, dispatch.
 *
 *   layerdb [-q] COMMAND FILE [options]      (see TOOL_HELP below)
 *
 * Each subcommand is a row of 'commands': its name, the function that runs
 * it (check.c, repair.c, ...), the options it takes, and its help. Parsing
 * is the same for all: options may come before or after FILE, "--" ends
 * them, and anything unexpected is a usage error (exit 2) that names the
 * argument and shows the command's usage line.
 *
 * Global state: 'interrupted' alone, set by the SIGINT/SIGTERM handler that
 * import installs so that it can stop between lines and close the file (a
 * signal handler gets no user pointer). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

#define OPT_FORMAT 1 /* --format resp|jsonl */
#define OPT_FORCE 2  /* --force */

typedef struct command {
    const char *name;
    int (*run)(const tool_opts *o);
    int opts;              /* OPT_* it accepts besides -q and --help */
    const char *usage;     /* after "layerdb " */
    const char *help;      /* what it does, for `layerdb help NAME` */
} command;

static const command commands[] = {
    {"check", tool_check, 0, "check FILE [-q]",
     "Verify every record of FILE: frames, checksums, and that every command\n"
     "replays. Prints the file size, the records, the live keys per database\n"
     "and type, and the offset of the first bad record: a torn tail (the file\n"
     "ends inside a record, or nothing fsynced vouches for the bytes, as a\n"
     "crash leaves it) or damage (a bad record before data that was fsynced).\n"
     "Takes no lock and writes nothing, so FILE may be held by a live writer;\n"
     "then a tail still being written is reported but is not damage.\n"
     "\n"
     "Exit status: 0 for a clean file, 1 for a damaged one (damage, a bad\n"
     "header, or a torn tail when no writer holds the file), 2 for a usage\n"
     "error.\n"},
    {"repair", tool_repair, OPT_FORCE, "repair FILE [--force] [-q]",
     "Cut FILE at its first bad record, as layerdb_open with the repair option\n"
     "does, and say how many bytes and whole records were dropped. First copies\n"
     "FILE to FILE.bak (fsynced, through FILE.bak.tmp and a rename). Refuses\n"
     "when FILE.bak exists, unless --force, which replaces it. A clean file is\n"
     "left alone, with no backup. Refuses a file that a writer holds.\n"
     "\n"
     "  --force   replace an existing FILE.bak\n"},
    {"compact", tool_compact, 0, "compact FILE [-q]",
     "Rewrite FILE with only its live data (layerdb_compact) and print its\n"
     "size before and after. Refuses a file that a writer holds: a running\n"
     "application compacts its own file.\n"},
    {"stats", tool_stats, 0, "stats FILE [-q]",
     "Print the keys per database and type, the live bytes, the file bytes,\n"
     "the live ratio, and the time of the last write (the file's mtime).\n"
     "Live bytes estimate what a compacted file holds: the header, plus for\n"
     "each key one record of the commands that recreate it (SET key value\n"
     "[PXAT ms], after SELECT n outside database 0). A compaction that puts\n"
     "several keys in one record writes a little less. Reads as a follower:\n"
     "no lock, nothing written.\n"},
    {"export", tool_export, OPT_FORMAT, "export FILE [--format resp|jsonl] [-q]",
     "Write every key of every database to standard output. Reads as a\n"
     "follower: no lock, nothing written.\n"
     "\n"
     "  --format resp    (the default) Redis commands in RESP, for\n"
     "                   `redis-cli --pipe`: SELECT n before the keys of\n"
     "                   database n > 0, then SET key value [PXAT ms] per\n"
     "                   string. Binary-safe. Existing keys are overwritten.\n"
     "  --format jsonl   one JSON object per line and key:\n"
     "                   {\"db\":0,\"key\":\"k\",\"type\":\"string\",\"value\":\"v\",\n"
     "                    \"expire_at_ms\":1700000000000}\n"
     "                   expire_at_ms is left out for a key without a deadline.\n"
     "                   A key or value that is not valid UTF-8 is written as\n"
     "                   \"key_base64\" or \"value_base64\" instead.\n"
     "\n"
     "A type the tool cannot write yet stops the export with an error.\n"},
    {"import", tool_import, 0, "import FILE [-q] < data.jsonl",
     "Read JSON lines, as `layerdb export --format jsonl` writes them, from\n"
     "standard input into FILE (created if missing), replacing keys that\n"
     "exist. Blank lines are skipped. Each line is checked whole and then\n"
     "applied as one command, so a bad line (malformed JSON, an unknown\n"
     "member, a type or database that does not exist) stops the import with\n"
     "exit status 1 naming the line, and the lines before it stay imported.\n"
     "A key whose expire_at_ms has passed is skipped and counted. Refuses a\n"
     "file that a writer holds.\n"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

#define TOOL_HELP                                                                        \
    "usage: layerdb [-q] COMMAND FILE [options]\n"                                         \
    "\n"                                                                                   \
    "Inspect, repair, compact and move the data of a layerdb database file.\n"            \
    "\n"                                                                                   \
    "commands:\n"                                                                          \
    "  check FILE                    verify every record; report damage or a torn tail\n" \
    "  repair FILE [--force]         cut FILE at its first bad record, keeping FILE.bak\n" \
    "  compact FILE                  rewrite FILE with only its live data\n"               \
    "  stats FILE                    keys per database and type, live and file bytes\n"    \
    "  export FILE [--format resp|jsonl]\n"                                               \
    "                                every key to stdout, as Redis commands or JSON\n"     \
    "  import FILE < data.jsonl      JSON lines from stdin into FILE\n"                   \
    "  help [COMMAND]                this text, or the help of COMMAND\n"                  \
    "\n"                                                                                   \
    "options:\n"                                                                           \
    "  -q, --quiet     no progress line (it is drawn only when stderr is a terminal)\n"   \
    "  -h, --help      help, also after a command: layerdb export --help\n"               \
    "  -V, --version   print the version\n"                                               \
    "\n"                                                                                   \
    "check, stats and export read a file that another process is writing, taking\n"      \
    "no lock; repair, compact and import refuse such a file and name the process.\n"      \
    "Exit status: 0 success (check: a clean file), 1 failure (check: a damaged\n"        \
    "file), 2 a usage error.\n"

static volatile sig_atomic_t interrupted;

int tool_interrupted(void) {
    return interrupted != 0;
}

static void on_signal(int sig) {
    interrupted = sig;
}

/* No SA_RESTART: a read blocked on a terminal returns, and import stops. */
void tool_catch_signals(void) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int tool_fail(const tool_opts *o, const char *fmt, ...) {
    va_list ap;
    fflush(stdout); /* what was said before the error comes first */
    fprintf(stderr, "layerdb: %s%s", o && o->cmd ? o->cmd : "", o && o->cmd ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return TOOL_FAILED;
}

static const command *find_command(const char *name) {
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void print_help(const command *c) {
    printf("usage: layerdb %s\n\n%s", c->usage, c->help);
    printf("\n  -q, --quiet   no progress line on stderr\n");
}

/* A usage error: the message, the usage line, exit status 2. */
static int usage_error(const command *c, const char *fmt, const char *arg) {
    fprintf(stderr, "layerdb: ");
    if (c) fprintf(stderr, "%s: ", c->name);
    fprintf(stderr, fmt, arg);
    if (c)
        fprintf(stderr, "\nusage: layerdb %s\n(see 'layerdb help %s')\n", c->usage, c->name);
    else
        fprintf(stderr, "\n(see 'layerdb --help')\n");
    return TOOL_USAGE;
}

/* --format's value into o; TOOL_OK or a usage error. */
static int set_format(const command *c, tool_opts *o, const char *v) {
    if (!v) return usage_error(c, "%s needs a value: resp or jsonl", "--format");
    if (strcmp(v, "resp") == 0) o->jsonl = 0;
    else if (strcmp(v, "jsonl") == 0) o->jsonl = 1;
    else return usage_error(c, "unknown format '%s' (resp or jsonl)", v);
    return TOOL_OK;
}

/* One option at argv[*i] (which starts with '-'); may take argv[*i + 1].
 * TOOL_OK, -1 for --help, or a usage error. */
static int parse_option(const command *c, tool_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) o->quiet = 1;
    else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return -1;
    else if ((c->opts & OPT_FORCE) && strcmp(a, "--force") == 0) o->force = 1;
    else if ((c->opts & OPT_FORMAT) && strncmp(a, "--format=", 9) == 0)
        return set_format(c, o, a + 9);
    else if ((c->opts & OPT_FORMAT) && strcmp(a, "--format") == 0)
        return set_format(c, o, ++*i < argc ? argv[*i] : NULL);
    else return usage_error(c, "unknown option '%s'", a);
    return TOOL_OK;
}

/* Parse a subcommand's arguments (argv[0] is its name) and run it. */
static int run_command(const command *c, int argc, char **argv, int quiet) {
    tool_opts o = {.cmd = c->name, .quiet = quiet};
    int operands_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!operands_only && strcmp(a, "--") == 0) { operands_only = 1; continue; }
        if (!operands_only && a[0] == '-' && a[1] != '\0') {
            int rc = parse_option(c, &o, argc, argv, &i);
            if (rc == -1) { print_help(c); return TOOL_OK; }
            if (rc != TOOL_OK) return rc;
            continue;
        }
        if (o.file) return usage_error(c, "unexpected argument '%s' (one FILE only)", a);
        o.file = a;
    }
    if (!o.file) return usage_error(c, "%s", "missing the FILE argument");
    if (!o.file[0]) return usage_error(c, "%s", "FILE is an empty string");
    return c->run(&o);
}

/* layerdb help [COMMAND] */
static int help(int argc, char **argv) {
    if (argc < 2) { fputs(TOOL_HELP, stdout); return TOOL_OK; }
    const command *c = find_command(argv[1]);
    if (!c) return usage_error(NULL, "no help for '%s': not a command", argv[1]);
    print_help(c);
    return TOOL_OK;
}

static int finish(int rc) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("layerdb: standard output");
        return TOOL_FAILED;
    }
    return rc;
}

int main(int argc, char **argv) {
    int i = 1, quiet = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) quiet = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return finish(help(1, argv));
        else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("layerdb %s\n", LAYERDB_VERSION);
            return finish(TOOL_OK);
        } else return usage_error(NULL, "unknown option '%s'", a);
    }
    if (i == argc) {
        fputs(TOOL_HELP, stderr);
        return TOOL_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) return finish(help(argc - i, argv + i));
    const command *c = find_command(argv[i]);
    if (!c) return usage_error(NULL, "unknown command '%s'", argv[i]);
    return finish(run_command(c, argc - i, argv + i, quiet));
}
