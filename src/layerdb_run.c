/* layerdb_run.c -- layerdb-run: a Lua 5.4 host with layerdb built in.
 *
 *   layerdb-run [options] [script [args...]]     (see usage() below)
 *
 * main(): arguments, signals, the interactive prompt; nothing else. The
 * binding is lua_layerdb.c, put in package.preload, so require("layerdb")
 * needs no LUA_CPATH. Scripts see 'arg' and '...' as under lua5.4.
 *
 * Every open database is a userdata whose __gc flushes and closes it, so
 * every way out goes through lua_close (finish()):
 *  (1) the script ends, or raises (message and traceback on stderr, exit 1);
 *  (2) os.exit, replaced by host_exit, which closes the state first;
 *  (3) SIGINT or SIGTERM: the handler installs a count hook that raises
 *      "interrupted by SIGINT" at every Lua instruction from then on, so
 *      even a script that catches errors unwinds; the host then closes the
 *      state and re-raises the signal, so the exit status shows it. A second
 *      signal before that kills at once. A C call that never returns to Lua
 *      (os.execute of a long command, say) would keep the hook from ever
 *      running, so the first signal also arms an alarm: if the script is
 *      not back in Lua GRACE_SECONDS later, the process ends with the
 *      signal without closing, as a crash would (the file stays valid; see
 *      the README on what a crash loses). The hook disarms it: once the
 *      script unwinds, closing is not cut short, however slow the disk.
 *      At the interactive prompt Ctrl-C only discards the current input.
 * A warning from the binding ("layerdb: closing a database failed: ...")
 * is always printed and makes the exit status 1; other warnings follow
 * warn("@on") / warn("@off") and are off by default, as in lua5.4.
 *
 * Global state: 'sig' alone, because a signal handler gets no user pointer
 * (lua.c has globalL for the same reason). The handler runs on the main
 * thread only: the engine's writer threads inherit an unblocked mask, so a
 * signal delivered to one of them is forwarded with pthread_kill. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "layerdb.h"

int luaopen_layerdb(lua_State *L); /* lua_layerdb.c */

#define PROGNAME "layerdb-run"
#define LINE_CAP 512 /* bytes read per fgets at the prompt */
#define GRACE_SECONDS 5 /* after SIGINT/SIGTERM, how long a C call may keep the script from stopping */
#define STRINGIFY2(x) #x
#define STRINGIFY(x) STRINGIFY2(x)

typedef struct host {
    int argc;
    char **argv;
    int script;       /* argv index of the script ("-" = stdin), 0 if none */
    int has_e;        /* some -e given */
    int interactive;  /* -i, or no script on a terminal */
    int warn_on;      /* warn("@on") seen */
    int warn_cont;    /* in the middle of a multi-part warning */
    int warn_shown;   /* the current warning is printed */
    int close_failed; /* a database could not be closed cleanly */
} host;

static struct {
    lua_State *volatile L;        /* the state to interrupt; NULL once closed */
    pthread_t main_thread;        /* where the handler does its work */
    volatile sig_atomic_t caught; /* the signal received, 0 if none */
} sig;

/* ---- Signals ---- */

static void stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    alarm(0); /* back in Lua: closing may take as long as the disk needs */
    luaL_error(L, "interrupted by %s", sig.caught == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_signal(int signo) {
    if (!pthread_equal(pthread_self(), sig.main_thread)) {
        pthread_kill(sig.main_thread, signo); /* a writer thread got it */
        return;
    }
    if (sig.caught != 0) { /* the second one: stop now */
        signal(signo, SIG_DFL);
        raise(signo);
        return;
    }
    sig.caught = signo;
    if (sig.L != NULL) lua_sethook(sig.L, stop_hook, LUA_MASKCOUNT, 1);
    alarm(GRACE_SECONDS);
}

/* SIGALRM: the script did not stop within GRACE_SECONDS of the signal.
 * Only async-signal-safe calls here. */
static void on_grace_over(int signo) {
    (void)signo;
    static const char msg[] = PROGNAME ": still running " STRINGIFY(GRACE_SECONDS)
        " s after the signal (in a C call that does not return); exiting without closing\n";
    ssize_t unused = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)unused;
    signal(sig.caught, SIG_DFL);
    raise(sig.caught);
}

/* No SA_RESTART: a blocking read in the script (or at the prompt) returns
 * EINTR, so the hook runs at the next instruction instead of after it. */
static void set_signals(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_grace_over;
    sigaction(SIGALRM, &sa, NULL);
}

/* Forget a handled SIGINT (at the prompt), with the signals blocked so a new
 * one cannot land between the two steps and look like a second one. */
static void clear_interrupt(lua_State *L) {
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    lua_sethook(L, NULL, 0, 0);
    sig.caught = 0;
    alarm(0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- Leaving: every exit closes the state ---- */

/* Close the state (and so every database), then exit the way a signal
 * asked for, or return the exit status. */
static int finish(host *h, lua_State *L, int status) {
    sig.L = NULL;
    lua_sethook(L, NULL, 0, 0);
    lua_close(L);
    if (sig.caught != 0) {
        signal(sig.caught, SIG_DFL);
        raise(sig.caught);
    }
    return h->close_failed ? EXIT_FAILURE : status;
}

/* os.exit([code [, close]]) in layerdb-run: always closes the state first,
 * so open databases are flushed. */
static int host_exit(lua_State *L) {
    host *h = lua_touserdata(L, lua_upvalueindex(1));
    int status = EXIT_SUCCESS;
    if (lua_isboolean(L, 1)) status = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
    else status = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
    exit(finish(h, L, status));
}

/* lua_WarnFunction: layerdb's warnings always show and fail the exit. */
static void host_warn(void *ud, const char *msg, int tocont) {
    host *h = ud;
    if (!h->warn_cont && !tocont && msg[0] == '@') { /* control message */
        if (strcmp(msg, "@on") == 0) h->warn_on = 1;
        if (strcmp(msg, "@off") == 0) h->warn_on = 0;
        return;
    }
    if (!h->warn_cont) {
        int ours = strncmp(msg, "layerdb: ", 9) == 0;
        h->close_failed |= ours;
        h->warn_shown = ours || h->warn_on;
        if (h->warn_shown) fputs(PROGNAME ": warning: ", stderr);
    }
    if (h->warn_shown) fputs(msg, stderr);
    if (h->warn_shown && !tocont) fputc('\n', stderr);
    h->warn_cont = tocont;
}

/* ---- Running chunks ---- */

/* Message handler: add a traceback to the error message. */
static int msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int report(lua_State *L, int status) {
    if (status != LUA_OK) {
        fprintf(stderr, "%s: %s\n", PROGNAME, lua_tostring(L, -1));
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

/* Call the function below its nargs arguments with a traceback on error;
 * leaves nres results (LUA_MULTRET: all) or the error message. */
static int docall(lua_State *L, int nargs, int nres) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nres, base);
    lua_remove(L, base);
    return status;
}

static int dostring(lua_State *L, const char *code) {
    int status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
    if (status == LUA_OK) status = docall(L, 0, 0);
    return report(L, status);
}

/* Run the script at argv[h->script] ("-": standard input) with the
 * arguments after it as '...'. */
static int doscript(lua_State *L, host *h) {
    const char *name = h->argv[h->script];
    int status = luaL_loadfile(L, strcmp(name, "-") == 0 ? NULL : name);
    if (status == LUA_OK) {
        int n = h->argc - h->script - 1;
        luaL_checkstack(L, n, "too many arguments to script");
        for (int i = h->script + 1; i < h->argc; i++) lua_pushstring(L, h->argv[i]);
        status = docall(L, n, 0);
    }
    return report(L, status);
}

/* ---- The interactive prompt ---- */

/* Read one line (without its newline) onto the stack. Returns 1, 0 at end
 * of input, -1 when a signal interrupted the read. */
static int read_line(lua_State *L, const char *prompt) {
    char part[LINE_CAP];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    fputs(prompt, stdout);
    fflush(stdout);
    for (;;) {
        if (fgets(part, sizeof part, stdin) == NULL) {
            int interrupted = ferror(stdin) && errno == EINTR;
            clearerr(stdin);
            if (interrupted) return -1;
            if (b.n == 0) return 0;
            break; /* a last line without a newline */
        }
        size_t n = strlen(part);
        int eol = n > 0 && part[n - 1] == '\n';
        luaL_addlstring(&b, part, n - (size_t)eol);
        if (eol) break;
    }
    luaL_pushresult(&b);
    return 1;
}

static int incomplete(lua_State *L, int status) {
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    return status == LUA_ERRSYNTAX && len >= 5 && strcmp(msg + len - 5, "<eof>") == 0;
}

/* Compile the line at the top as "return <line>" (an expression), else as
 * statements, reading more lines while it is incomplete. Leaves the
 * function (or the message) in place of the line. Returns the status, or
 * -1 on end of input or an interrupt in mid-statement. */
static int compile_input(lua_State *L) {
    const char *line = lua_tostring(L, -1);
    const char *ret = lua_pushfstring(L, "return %s", line);
    if (luaL_loadbuffer(L, ret, strlen(ret), "=stdin") == LUA_OK) {
        lua_remove(L, -2);
        lua_remove(L, -2);
        return LUA_OK;
    }
    lua_pop(L, 2);
    for (;;) {
        size_t len;
        const char *code = lua_tolstring(L, -1, &len);
        int status = luaL_loadbuffer(L, code, len, "=stdin");
        if (!incomplete(L, status)) { lua_remove(L, -2); return status; }
        lua_pop(L, 1);
        if (read_line(L, ">> ") != 1) { lua_pop(L, 1); return -1; }
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3);
    }
}

/* Run the compiled input at the top and print what it returns. */
static void eval_print(lua_State *L) {
    int base = lua_gettop(L);
    if (report(L, docall(L, 0, LUA_MULTRET)) != LUA_OK) return;
    int n = lua_gettop(L) - base + 1;
    if (n <= 0) return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, base);
    if (lua_pcall(L, n, 0, 0) != LUA_OK) report(L, LUA_ERRRUN);
}

/* The prompt: ends at end of input or on SIGTERM. */
static void repl(lua_State *L) {
    for (;;) {
        int got = read_line(L, "> ");
        if (got == 1) {
            int status = compile_input(L);
            if (status == LUA_OK) eval_print(L);
            else if (status != -1) report(L, status);
        }
        if (got == 0 || sig.caught == SIGTERM) break;
        if (got == -1) fputc('\n', stdout); /* Ctrl-C at the prompt */
        if (sig.caught == SIGINT) clear_interrupt(L);
        lua_settop(L, 0);
    }
    fputc('\n', stdout);
}

/* ---- Setting up the state ---- */

/* arg[0] is the script, arg[1..] its arguments, arg[-1..] the host and
 * its options, as lua.c does. */
static void create_arg_table(lua_State *L, host *h) {
    int base = h->script != 0 ? h->script : 0;
    lua_createtable(L, h->argc - base, base + 1);
    for (int i = 0; i < h->argc; i++) {
        lua_pushstring(L, h->argv[i]);
        lua_rawseti(L, -2, i - base);
    }
    lua_setglobal(L, "arg");
}

static void open_host_libs(lua_State *L, host *h) {
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_layerdb);
    lua_setfield(L, -2, "layerdb");
    lua_pop(L, 1);
    lua_getglobal(L, "os");
    lua_pushlightuserdata(L, h);
    lua_pushcclosure(L, host_exit, 1);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);
    create_arg_table(L, h);
}

/* Run -e chunks in order, then the script, then the prompt. */
static int pmain(lua_State *L) {
    host *h = lua_touserdata(L, 1);
    open_host_libs(L, h);
    for (int i = 1; i < h->argc && (h->script == 0 || i < h->script); i++) {
        if (strcmp(h->argv[i], "--") == 0) break;
        if (strncmp(h->argv[i], "-e", 2) != 0) continue;
        const char *code = h->argv[i][2] != '\0' ? h->argv[i] + 2 : h->argv[++i];
        if (dostring(L, code) != LUA_OK) return 0;
    }
    if (h->script != 0 && doscript(L, h) != LUA_OK) return 0;
    if (h->interactive) repl(L);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- Arguments ---- */

static void usage(FILE *out) {
    fputs("usage: " PROGNAME " [options] [script [args...]]\n"
          "Run a Lua 5.4 script with layerdb built in: require(\"layerdb\").\n"
          "  script        run this file; 'arg' and '...' hold the args, as in lua\n"
          "  -             run standard input as the script\n"
          "  -e code       run 'code' first (may be repeated)\n"
          "  -i            enter the interactive prompt after the script\n"
          "  -v, --version print the versions and exit\n"
          "  -h, --help    print this help and exit\n"
          "  --            stop handling options\n"
          "With no script: an interactive prompt on a terminal, else standard\n"
          "input runs as the script. Open databases are flushed and closed when\n"
          "the script ends, fails, calls os.exit, or gets SIGINT/SIGTERM.\n",
          out);
}

/* Fill h from argv. Returns -1 to go on, else the exit status. */
static int parse_args(host *h) {
    int i;
    for (i = 1; i < h->argc && h->argv[i][0] == '-'; i++) {
        const char *a = h->argv[i];
        if (strcmp(a, "--") == 0) { i++; break; }
        if (strcmp(a, "-") == 0) break;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return EXIT_SUCCESS;
        }
        if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            printf("%s %s (%s)\n", PROGNAME, LAYERDB_VERSION, LUA_RELEASE);
            return EXIT_SUCCESS;
        }
        if (strcmp(a, "-i") == 0) { h->interactive = 1; continue; }
        if (strncmp(a, "-e", 2) == 0) {
            h->has_e = 1;
            if (a[2] == '\0' && ++i >= h->argc) {
                fprintf(stderr, "%s: '-e' needs an argument\n", PROGNAME);
                usage(stderr);
                return EXIT_FAILURE;
            }
            continue;
        }
        fprintf(stderr, "%s: unknown option '%s'\n", PROGNAME, a);
        usage(stderr);
        return EXIT_FAILURE;
    }
    h->script = i < h->argc ? i : 0;
    if (h->script == 0 && !h->has_e && !h->interactive) {
        if (isatty(STDIN_FILENO)) h->interactive = 1;
        else h->script = -1; /* standard input, below */
    }
    return -1;
}

int main(int argc, char **argv) {
    char dash[] = "-";
    char *stdin_argv[] = {argv[0], dash, NULL};
    host h = {0};
    h.argc = argc;
    h.argv = argv;
    int status = parse_args(&h);
    if (status != -1) return status;
    if (h.script == -1) { h.argc = 2; h.argv = stdin_argv; h.script = 1; }
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "%s: cannot create a Lua state: not enough memory\n", PROGNAME);
        return EXIT_FAILURE;
    }
    lua_setwarnf(L, host_warn, &h);
    sig.main_thread = pthread_self();
    sig.L = L;
    set_signals(on_signal);
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, &h);
    status = lua_pcall(L, 1, 1, 0);
    int ok = status == LUA_OK && lua_toboolean(L, -1);
    if (status != LUA_OK) report(L, status);
    return finish(&h, L, ok ? EXIT_SUCCESS : EXIT_FAILURE);
}
