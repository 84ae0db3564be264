/* reply_text.h -- replies as short text, for tests that compare them
 * (command_test.c, redis_diff_test.c): $bytes for a bulk string, +text for
 * a status, -text for an error, :n for an integer, (nil), [a,b] for an
 * array. cmd() runs a command given as space-separated words; EXPECT
 * checks a reply, open_db opens a test handle. Header-only, as test.h is. */
#ifndef LAYERDB_REPLY_TEXT_H
#define LAYERDB_REPLY_TEXT_H

#include <stdio.h>
#include <string.h>

#include "layerdb.h"
#include "test.h"

TEST_UNUSED static void render(const layerdb_reply *r, char *out, size_t cap) {
    size_t n = strlen(out);
    switch (r->type) {
    case LAYERDB_REPLY_STRING: snprintf(out + n, cap - n, "$%.*s", (int)r->len, r->str); break;
    case LAYERDB_REPLY_STATUS: snprintf(out + n, cap - n, "+%s", r->str); break;
    case LAYERDB_REPLY_ERROR: snprintf(out + n, cap - n, "-%s", r->str); break;
    case LAYERDB_REPLY_INTEGER: snprintf(out + n, cap - n, ":%lld", r->integer); break;
    case LAYERDB_REPLY_NIL: snprintf(out + n, cap - n, "(nil)"); break;
    case LAYERDB_REPLY_ARRAY:
        snprintf(out + n, cap - n, "[");
        for (size_t i = 0; i < r->elements; i++) {
            if (i) strncat(out, ",", cap - strlen(out) - 1);
            render(r->element[i], out, cap);
        }
        strncat(out, "]", cap - strlen(out) - 1);
        break;
    default: snprintf(out + n, cap - n, "?%d", r->type);
    }
}

/* Split 'line' into words at spaces, into buf (cap bytes): a word in
 * double quotes may hold spaces or be empty (""). Returns the count. */
TEST_UNUSED static int split_words(const char *line, char *buf, size_t cap, const char **argv,
                                   int max) {
    int argc = 0;
    size_t o = 0;
    const char *p = line;
    while (*p && argc < max && o + 1 < cap) {
        while (*p == ' ') p++;
        if (!*p) break;
        argv[argc++] = buf + o;
        if (*p == '"') {
            for (p++; *p && *p != '"' && o + 1 < cap; p++) buf[o++] = *p;
            if (*p == '"') p++;
        } else {
            for (; *p && *p != ' ' && o + 1 < cap; p++) buf[o++] = *p;
        }
        buf[o++] = '\0';
    }
    return argc;
}

/* Run the words of 'line' (split_words) as a command; the rendered reply,
 * or "rc=N" when the engine failed. */
TEST_UNUSED static const char *cmd(layerdb *db, const char *line) {
    static char out[1 << 16];
    char words[2048];
    const char *argv[64];
    int argc = split_words(line, words, sizeof words, argv, 64);
    layerdb_reply *r = NULL;
    int rc = layerdb_command(db, argc, argv, NULL, &r);
    out[0] = '\0';
    if (rc != LAYERDB_OK) snprintf(out, sizeof out, "rc=%d", rc);
    else render(r, out, sizeof out);
    layerdb_reply_free(r);
    return out;
}

/* Check that 'line' replies 'want' (rendered), saying what came instead. */
#define EXPECT(db, line, want)                                                       \
    do {                                                                             \
        const char *got_ = cmd(db, line);                                            \
        if (strcmp(got_, want) != 0) printf("# %s -> %s, want %s\n", line, got_, want); \
        CHECK(strcmp(got_, want) == 0);                                              \
    } while (0)

/* Each case: a command line and its rendered reply. */
TEST_UNUSED static void expect_all(layerdb *db, const char *const cases[][2], size_t n) {
    for (size_t i = 0; i < n; i++) EXPECT(db, cases[i][0], cases[i][1]);
}

/* A handle on test_path(name), or in memory for NULL; NULL after saying
 * why it could not open. */
TEST_UNUSED static layerdb *open_db(const char *name, const layerdb_options *o) {
    layerdb *db = NULL;
    int rc = layerdb_open(&db, name ? test_path(name) : NULL, o);
    if (rc != LAYERDB_OK) printf("# open: %s\n", layerdb_errmsg(db));
    return rc == LAYERDB_OK ? db : NULL;
}

#endif
