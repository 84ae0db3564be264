/* redis_server.h -- Debian's redis-server for the tests that compare with
 * it or load into it (redis_diff_test.c, tool_test.c): start one on a free
 * loopback port with no persistence, stop it by its pid, and the pieces of
 * a minimal RESP2 client over TCP (lines, bytes, sending). start_server
 * returns -1 where none is installed, and the tests skip, saying so.
 * Header-only, as test.h is. */
#ifndef LAYERDB_REDIS_SERVER_H
#define LAYERDB_REDIS_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* ---- A minimal RESP2 client ---- */

struct conn {
    int fd;
    char buf[1 << 16];
    size_t len, pos; /* bytes in buf, and read so far */
};

TEST_UNUSED static int conn_fill(struct conn *c) {
    if (c->pos == c->len) c->pos = c->len = 0;
    ssize_t n;
    do n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return -1;
    c->len += (size_t)n;
    return 0;
}

/* One line without its \r\n into line (cap bytes). */
TEST_UNUSED static int read_line(struct conn *c, char *line, size_t cap) {
    size_t n = 0;
    for (;;) {
        if (c->pos == c->len && conn_fill(c) != 0) return -1;
        char ch = c->buf[c->pos++];
        if (ch == '\n') break;
        if (ch != '\r' && n + 1 < cap) line[n++] = ch;
    }
    line[n] = '\0';
    return 0;
}

TEST_UNUSED static int read_bytes(struct conn *c, char *out, size_t n) {
    for (size_t got = 0; got < n;) {
        if (c->pos == c->len && conn_fill(c) != 0) return -1;
        size_t take = c->len - c->pos < n - got ? c->len - c->pos : n - got;
        memcpy(out + got, c->buf + c->pos, take);
        c->pos += take;
        got += take;
    }
    return 0;
}

TEST_UNUSED static int send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- The server ---- */

static pid_t server_pid = -1;
static int server_port; /* the port it listens on, once started */

TEST_UNUSED static int try_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

/* Start redis-server on a random port and connect; -1 if it cannot run. */
TEST_UNUSED static int start_server(void) {
    if (system("command -v redis-server >/dev/null 2>&1") != 0) return -1;
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = 20000 + (int)(test_rand() % 40000);
        char portstr[16];
        snprintf(portstr, sizeof portstr, "%d", port);
        fflush(stdout);
        server_pid = fork();
        if (server_pid == 0) {
            if (!freopen("/dev/null", "w", stdout)) _exit(127);
            execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", test_tmpdir(), (char *)NULL);
            _exit(127);
        }
        /* Up to a minute for it to listen: a liveness bound, not a speed. */
        for (int waited = 0; waited < 1200; waited++) {
            int fd = try_connect(port);
            if (fd >= 0) { server_port = port; return fd; }
            int status;
            if (waitpid(server_pid, &status, WNOHANG) == server_pid) break; /* port taken */
            usleep(50 * 1000);
        }
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
    return -1;
}

TEST_UNUSED static void stop_server(void) {
    if (server_pid <= 0) return;
    kill(server_pid, SIGTERM);
    waitpid(server_pid, NULL, 0);
    server_pid = -1;
}

#endif
