/* bench_redis.c -- Redis's memory per key for the same keys and values,
 * beside layerdb's (bench_memory.c).
 *
 * layerdb's memory target is stated against Redis: Redis spends 50-90
 * bytes per small key beyond the key and value. So the bench loads the
 * run's keys and values into a real redis-server (a test and bench
 * dependency, installed by scripts/deps.sh) and reads its own account,
 * INFO's used_memory (bytes its allocator handed out, as layerdb's counting
 * allocator row) and used_memory_rss (as layerdb's RSS row), before and
 * after. The server has no persistence and listens only on a Unix socket
 * in the bench's directory, so no port can clash. Without redis-server
 * the rows say so and the run goes on. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define ENGINE "Redis"
#define PIPELINE 1000      /* SETs sent before their replies are read */
#define START_SECONDS 10.0 /* how long the server may take to listen */
#define RSS_SAMPLE_MS 300  /* past Redis's next RSS sample (every 100 ms) */

struct redis {
    pid_t pid;
    int fd;
    char in[65536];  /* bytes read from the server, not yet taken */
    size_t in_len;
    char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* The running server, for kill_server if the bench dies (bench_die exits). */
static pid_t server_pid;

static void kill_server(void) {
    if (server_pid > 0) kill(server_pid, SIGKILL);
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int try_connect(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    close(fd);
    return -1;
}

/* Start redis-server and connect to it. Returns 0, or -1 with 'why' set
 * (not installed, or it did not start). */
static int redis_start(struct bench *b, struct redis *r, char *why, size_t cap) {
    if (strlen(b->dir) + sizeof "/redis.sock" > sizeof r->sock) {
        snprintf(why, cap, "the bench directory's path is too long for a Unix socket");
        return -1;
    }
    snprintf(r->sock, sizeof r->sock, "%s/redis.sock", b->dir);
    fflush(NULL);
    r->pid = fork();
    if (r->pid < 0) bench_die(b, "fork: %s", strerror(errno));
    if (r->pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", r->sock, "--save",
               "", "--appendonly", "no", "--dir", b->dir, (char *)NULL);
        _exit(127);
    }
    static int registered;
    if (!registered++) atexit(kill_server);
    server_pid = r->pid;
    for (double t0 = bench_now(); bench_now() - t0 < START_SECONDS; sleep_ms(10)) {
        int status;
        if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
            server_pid = 0;
            snprintf(why, cap, WIFEXITED(status) && WEXITSTATUS(status) == 127
                                   ? "redis-server not found (apt-get install redis-server)"
                                   : "redis-server exited at start");
            return -1;
        }
        if ((r->fd = try_connect(r->sock)) >= 0) {
            r->in_len = 0;
            return 0;
        }
    }
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    server_pid = 0;
    snprintf(why, cap, "redis-server did not listen within %.0f s", START_SECONDS);
    return -1;
}

static void send_all(struct bench *b, int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) bench_die(b, "writing to redis-server: %s", strerror(errno));
        p += k;
        n -= (size_t)k;
    }
}

/* Take one reply from r->in (reading more as needed) into out,
 * NUL-terminated: a simple line without its CRLF, or a bulk string's
 * payload. Bytes of the replies after it stay in r->in. */
static void read_reply(struct bench *b, struct redis *r, char *out, size_t cap) {
    for (;;) {
        char *eol = memchr(r->in, '\n', r->in_len);
        if (eol) {
            size_t line = (size_t)(eol - r->in) + 1, skip = line, n = line - 2;
            const char *from = r->in;
            if (r->in[0] == '$') {
                n = strtoul(r->in + 1, NULL, 10);
                skip = line + n + 2;
                from = r->in + line;
                if (skip > sizeof r->in) bench_die(b, "a reply from redis-server over %zu bytes", sizeof r->in);
            }
            if (r->in_len >= skip) {
                if (n >= cap) bench_die(b, "a reply from redis-server over %zu bytes", cap);
                memcpy(out, from, n);
                out[n] = '\0';
                memmove(r->in, r->in + skip, r->in_len - skip);
                r->in_len -= skip;
                return;
            }
        }
        if (r->in_len == sizeof r->in) bench_die(b, "a line from redis-server over %zu bytes", sizeof r->in);
        ssize_t k = read(r->fd, r->in + r->in_len, sizeof r->in - r->in_len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) bench_die(b, "reading from redis-server: %s", k ? strerror(errno) : "closed");
        r->in_len += (size_t)k;
    }
}

/* "INFO memory" field 'name' (e.g. "used_memory:"), as a number. */
static double info_field(struct bench *b, struct redis *r, const char *name) {
    static const char cmd[] = "*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n";
    char buf[16384];
    send_all(b, r->fd, cmd, sizeof cmd - 1);
    read_reply(b, r, buf, sizeof buf);
    const char *p = strstr(buf, name);
    if (!p || (p != buf && p[-1] != '\n')) bench_die(b, "redis-server's INFO has no %s", name);
    return strtod(p + strlen(name), NULL);
}

/* SET every key of the run, PIPELINE at a time, checking each "+OK". */
static void load_keys(struct bench *b, struct redis *r) {
    size_t cap = PIPELINE * (64 + BENCH_KEY_LEN + BENCH_VAL_LEN);
    char *out = malloc(cap), reply[256], val[BENCH_VAL_LEN];
    if (!out) bench_die(b, "out of memory");
    for (size_t first = 0; first < b->nkeys; first += PIPELINE) {
        size_t n = bench_min(PIPELINE, b->nkeys - first), len = 0;
        for (size_t i = first; i < first + n; i++) {
            bench_value(b, i, val);
            len += (size_t)sprintf(out + len, "*3\r\n$3\r\nSET\r\n$%d\r\n", BENCH_KEY_LEN);
            memcpy(out + len, bench_key(b, i), BENCH_KEY_LEN);
            len += BENCH_KEY_LEN;
            len += (size_t)sprintf(out + len, "\r\n$%d\r\n", BENCH_VAL_LEN);
            memcpy(out + len, val, BENCH_VAL_LEN);
            len += BENCH_VAL_LEN;
            memcpy(out + len, "\r\n", 2);
            len += 2;
        }
        send_all(b, r->fd, out, len);
        for (size_t i = 0; i < n; i++) {
            read_reply(b, r, reply, sizeof reply);
            if (strncmp(reply, "+OK", 3) != 0) bench_die(b, "redis-server SET: %s", reply);
        }
    }
    free(out);
}

static void redis_stop(struct redis *r) {
    static const char cmd[] = "*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n";
    if (write(r->fd, cmd, sizeof cmd - 1) < 0) kill(r->pid, SIGKILL);
    close(r->fd);
    waitpid(r->pid, NULL, 0);
    server_pid = 0;
}

void bench_redis_memory(struct bench *b) {
    static struct redis r; /* 64 KiB of input buffer: not on the stack */
    char why[160];
    bench_progress("Redis: memory for %zu keys", b->nkeys);
    if (redis_start(b, &r, why, sizeof why) != 0) {
        bench_add_row(b, ENGINE, "memory", "-", "skipped", why);
        return;
    }
    /* Redis samples its RSS in its cron (10 times a second): let it. */
    sleep_ms(RSS_SAMPLE_MS);
    double used0 = info_field(b, &r, "used_memory:"), rss0 = info_field(b, &r, "used_memory_rss:");
    load_keys(b, &r);
    sleep_ms(RSS_SAMPLE_MS);
    double used1 = info_field(b, &r, "used_memory:"), rss1 = info_field(b, &r, "used_memory_rss:");
    static const char dbsize[] = "*1\r\n$6\r\nDBSIZE\r\n";
    char reply[64];
    send_all(b, r.fd, dbsize, sizeof dbsize - 1);
    read_reply(b, &r, reply, sizeof reply);
    if (strtoull(reply + 1, NULL, 10) != b->nkeys)
        bench_fail(b, "Redis holds %s keys, want %zu", reply + 1, b->nkeys);
    redis_stop(&r);
    b->redis_used = bench_add_per_key(
        b, ENGINE, "memory: used_memory growth", used1 - used0, b->nkeys,
        "INFO used_memory: what its allocator handed out (compare the counting allocator row)");
    b->redis_rss = bench_add_per_key(
        b, ENGINE, "memory: RSS growth", rss1 - rss0, b->nkeys,
        "INFO used_memory_rss around the load, no persistence (compare layerdb's RSS row)");
}

/* ---- redis-benchmark: what a server round trip costs ---- */

/* Run redis-benchmark against r's socket with 'args' and add a row per
 * line of its -q output ("SET: 123456.78 requests per second, ..."). */
static void run_redis_benchmark(struct bench *b, struct redis *r, const char *args,
                                const char *name) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "redis-benchmark -s '%s' -P 16 -c 1 -n %zu -q %s 2>/dev/null", r->sock,
             b->nkeys, args);
    FILE *p = popen(cmd, "r");
    if (!p) bench_die(b, "popen redis-benchmark: %s", strerror(errno));
    char buf[4096];
    while (fgets(buf, sizeof buf, p)) {
        /* -q prints progress lines ended by \r before the last one */
        char *line = strrchr(buf, '\r') ? strrchr(buf, '\r') + 1 : buf;
        char *colon = strchr(line, ':');
        char *rps = strstr(line, " requests per second");
        if (!rps) continue;
        /* the figure is just before " requests per second" */
        char *num = rps;
        while (num > line && (num[-1] == '.' || (num[-1] >= '0' && num[-1] <= '9'))) num--;
        double ops = strtod(num, NULL);
        char test[64];
        int len = name ? (int)strlen(name) : colon ? (int)(strchr(line, ':') - line) : 8;
        if (len > 32) len = 32;
        snprintf(test, sizeof test, "redis-benchmark %.*s, -P 16", len, name ? name : line);
        bench_add_rate(b, ENGINE, test, b->nkeys, ops,
                       "one client on a Unix socket, 16 commands per round trip, no "
                       "persistence: the server's cost next to layerdb's in-process calls");
    }
    pclose(p);
}

void bench_redis_commands(struct bench *b) {
    static struct redis r;
    char why[160];
    bench_progress("Redis: redis-benchmark -P 16");
    if (system("command -v redis-benchmark >/dev/null 2>&1") != 0) {
        bench_add_row(b, ENGINE, "redis-benchmark", "-", "skipped",
                      "redis-benchmark not found (apt-get install redis-tools)");
        return;
    }
    if (redis_start(b, &r, why, sizeof why) != 0) {
        bench_add_row(b, ENGINE, "redis-benchmark", "-", "skipped", why);
        return;
    }
    run_redis_benchmark(b, &r, "-r 1000000 -t set,get,incr,mset", NULL);
    run_redis_benchmark(b, &r,
                        "MGET key:1 key:2 key:3 key:4 key:5 key:6 key:7 key:8 key:9 key:10",
                        "MGET of 10 keys");
    redis_stop(&r);
}
