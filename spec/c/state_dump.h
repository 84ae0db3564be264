/* state_dump.h -- a handle's whole state as one sorted text, for tests
 * that compare two handles (before and after a compaction or a reopen):
 * one line per key, "db hex(key) type hex(value) deadline", over every
 * database, through the command API (SCAN, TYPE, GET, PEXPIRETIME). */
#ifndef LAYERDB_STATE_DUMP_H
#define LAYERDB_STATE_DUMP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerdb.h"
#include "test.h"

typedef struct dump_lines {
    char **v;
    size_t n, cap;
} dump_lines;

static void dump_push(dump_lines *l, char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = s;
}

static layerdb_reply *dump_call(layerdb_client *cl, int argc, const char **argv,
                                const size_t *lens) {
    layerdb_reply *r = NULL;
    if (layerdb_client_command(cl, argc, argv, lens, &r) != LAYERDB_OK) return NULL;
    return r;
}

static void dump_hex(char *out, const char *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[(unsigned char)p[i] >> 4];
        out[2 * i + 1] = digits[(unsigned char)p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* One key's line, or NULL if it went away meanwhile. */
static char *dump_key(layerdb_client *cl, int d, const char *key, size_t klen) {
    const char *argv[2] = {"TYPE", key};
    size_t lens[2] = {4, klen};
    layerdb_reply *t = dump_call(cl, 2, argv, lens);
    argv[0] = "GET";
    lens[0] = 3;
    layerdb_reply *v = dump_call(cl, 2, argv, lens);
    argv[0] = "PEXPIRETIME";
    lens[0] = 11;
    layerdb_reply *x = dump_call(cl, 2, argv, lens);
    char *line = NULL;
    if (t && v && x && v->type == LAYERDB_REPLY_STRING) {
        size_t cap = 64 + 2 * klen + 2 * v->len + t->len;
        line = malloc(cap);
        int n = snprintf(line, cap, "%02d ", d);
        dump_hex(line + n, key, klen);
        n += (int)(2 * klen);
        n += snprintf(line + n, cap - (size_t)n, " %s ", t->str);
        dump_hex(line + n, v->str, v->len);
        n += (int)(2 * v->len);
        snprintf(line + n, cap - (size_t)n, " %lld", x->integer);
    }
    layerdb_reply_free(t);
    layerdb_reply_free(v);
    layerdb_reply_free(x);
    return line;
}

static int dump_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The state of db as one malloc'ed text (sorted lines); NULL on failure. */
TEST_UNUSED static char *dump_state(layerdb *db) {
    layerdb_client *cl = layerdb_client_new(db);
    if (!cl) return NULL;
    dump_lines l = {0};
    for (int d = 0; d < 16; d++) {
        char num[8], cursor[32] = "0";
        snprintf(num, sizeof num, "%d", d);
        const char *sel[2] = {"SELECT", num};
        layerdb_reply_free(dump_call(cl, 2, sel, NULL));
        do {
            const char *scan[4] = {"SCAN", cursor, "COUNT", "1000"};
            layerdb_reply *r = dump_call(cl, 4, scan, NULL);
            if (!r || r->type != LAYERDB_REPLY_ARRAY) { layerdb_reply_free(r); break; }
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            layerdb_reply *keys = r->element[1];
            for (size_t i = 0; i < keys->elements; i++) {
                char *line = dump_key(cl, d, keys->element[i]->str, keys->element[i]->len);
                if (line) dump_push(&l, line);
            }
            layerdb_reply_free(r);
        } while (strcmp(cursor, "0") != 0);
    }
    layerdb_client_free(cl);
    qsort(l.v, l.n, sizeof *l.v, dump_cmp);
    size_t total = 1;
    for (size_t i = 0; i < l.n; i++) total += strlen(l.v[i]) + 1;
    char *out = malloc(total), *p = out;
    for (size_t i = 0; i < l.n; i++) {
        size_t n = strlen(l.v[i]);
        memcpy(p, l.v[i], n);
        p[n] = '\n';
        p += n + 1;
        free(l.v[i]);
    }
    *p = '\0';
    free(l.v);
    return out;
}

#endif
