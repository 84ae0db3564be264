/* json.c -- the JSON of `export --format jsonl` and `import`: writing
 * strings, and parsing one line's object.
 *
 * Writing: a byte string goes out as a JSON string when it is valid UTF-8
 * (quote, backslash and control characters escaped), otherwise as a
 * base64 member ("key_base64"), so that every byte string round-trips and
 * the output is always valid JSON and valid UTF-8.
 *
 * Parsing takes only what export writes and what a person would write by
 * hand in its place: one object whose members are strings, numbers,
 * true, false or null (RFC 8259 grammar, every string escape including
 * \uXXXX and surrogate pairs). Everything else is refused with the column
 * where it went wrong: nested objects or arrays, duplicate names, lone
 * surrogates, raw control characters, bytes that are not UTF-8, trailing
 * text. Strings are decoded in place: an escape never decodes to more
 * bytes than it takes ("\u00e9" is 6 characters for 2 bytes), so the
 * write position never passes the read position. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

/* ---- UTF-8 ---- */

/* The length of the valid UTF-8 sequence at p[0..n), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    /* No overlong forms, no surrogates (U+D800..DFFF), nothing past U+10FFFF. */
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) ||
        (c == 0xf4 && p[1] > 0x8f))
        return 0;
    return len;
}

int tool_utf8_valid(const unsigned char *p, size_t n) {
    for (size_t i = 0, len; i < n; i += len)
        if ((len = utf8_seq(p + i, n - i)) == 0) return 0;
    return 1;
}

/* The UTF-8 bytes of code point cp (< 0x110000) at out; their count. */
static size_t utf8_put(char *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- Writing ---- */

void tool_json_write_string(FILE *out, const void *bytes, size_t n) {
    const unsigned char *p = bytes;
    size_t plain = 0; /* start of the run not yet written */
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) continue;
        fwrite(p + plain, 1, i - plain, out);
        plain = i + 1;
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default: fprintf(out, "\\u%04x", c);
        }
    }
    fwrite(p + plain, 1, n - plain, out);
    fputc('"', out);
}

void tool_json_bytes_member(FILE *out, const char *name, const void *p, size_t n) {
    if (tool_utf8_valid(p, n)) {
        fprintf(out, ",\"%s\":", name);
        tool_json_write_string(out, p, n);
    } else {
        fprintf(out, ",\"%s_base64\":\"", name);
        tool_base64_write(out, p, n);
        fputc('"', out);
    }
}

/* ---- Parsing ---- */

typedef struct parser {
    char *s;      /* the line, decoded in place */
    size_t len;
    size_t pos;   /* next byte to read */
    char *err;
    size_t cap;
} parser;

static int fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parser *p, const char *fmt, ...) {
    va_list ap;
    int n = snprintf(p->err, p->cap, "column %zu: ", p->pos + 1);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < p->cap) vsnprintf(p->err + n, p->cap - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static void skip_space(parser *p) {
    while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos]) p->pos++;
}

static int hex4(parser *p, uint32_t *v) {
    *v = 0;
    if (p->len - p->pos < 4) return fail(p, "\\u needs four hex digits");
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) { p->pos--; return fail(p, "\\u needs four hex digits"); }
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* A \u escape (p->pos after the 'u'), a surrogate pair taken whole. */
static int unicode_escape(parser *p, uint32_t *cp) {
    uint32_t lo;
    if (hex4(p, cp) != 0) return -1;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) return fail(p, "lone low surrogate \\u%04x", (unsigned)*cp);
    if (*cp < 0xd800 || *cp > 0xdbff) return 0;
    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
        return fail(p, "high surrogate \\u%04x without its low half", (unsigned)*cp);
    p->pos += 2;
    if (hex4(p, &lo) != 0) return -1;
    if (lo < 0xdc00 || lo > 0xdfff)
        return fail(p, "high surrogate \\u%04x followed by \\u%04x", (unsigned)*cp, (unsigned)lo);
    *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    return 0;
}

/* One escape (p->pos at the backslash), its bytes written at *w. */
static int escape(parser *p, size_t *w) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    p->pos++;
    if (p->pos == p->len) return fail(p, "unterminated string");
    char c = p->s[p->pos++];
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit) { p->s[(*w)++] = to[hit - from]; return 0; }
    if (c != 'u') { p->pos--; return fail(p, "unknown escape '\\%c'", c); }
    uint32_t cp;
    if (unicode_escape(p, &cp) != 0) return -1;
    *w += utf8_put(p->s + *w, cp);
    return 0;
}

/* A string (p->pos at its quote), decoded in place: *out, *n. */
static int string(parser *p, char **out, size_t *n) {
    size_t w = ++p->pos;
    *out = p->s + w;
    for (;;) {
        if (p->pos == p->len) return fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') break;
        if (c == '\\') {
            if (escape(p, &w) != 0) return -1;
            continue;
        }
        if (c < 0x20) return fail(p, "control character 0x%02x in a string (escape it)", c);
        size_t len = utf8_seq((const unsigned char *)p->s + p->pos, p->len - p->pos);
        if (len == 0) return fail(p, "bytes that are not UTF-8 in a string (use a _base64 member)");
        memmove(p->s + w, p->s + p->pos, len);
        w += len;
        p->pos += len;
    }
    *n = w - (size_t)(*out - p->s);
    p->pos++; /* the closing quote */
    return 0;
}

static size_t digits(parser *p) {
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    return p->pos - start;
}

/* A number, by RFC 8259's grammar; its text is kept. */
static int number(parser *p, char **out, size_t *n) {
    size_t start = p->pos;
    if (p->s[p->pos] == '-') p->pos++;
    size_t lead = p->pos;
    if (digits(p) == 0) return fail(p, "expected a digit");
    if (p->s[lead] == '0' && p->pos - lead > 1) { p->pos = lead; return fail(p, "leading zero in a number"); }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (digits(p) == 0) return fail(p, "expected a digit after '.'");
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (digits(p) == 0) return fail(p, "expected a digit in the exponent");
    }
    *out = p->s + start;
    *n = p->pos - start;
    return 0;
}

static int literal(parser *p, const char *word, int kind, int *out) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "expected a string, number, true, false or null");
    p->pos += n;
    *out = kind;
    return 0;
}

/* A member's value into m. */
static int value(parser *p, tool_json_object *obj, size_t i) {
    if (p->pos == p->len) return fail(p, "expected a value");
    char c = p->s[p->pos];
    obj->m[i].p = NULL;
    obj->m[i].len = 0;
    if (c == '"') { obj->m[i].kind = TOOL_JSON_STRING; return string(p, &obj->m[i].p, &obj->m[i].len); }
    if (c == '-' || (c >= '0' && c <= '9')) {
        obj->m[i].kind = TOOL_JSON_NUMBER;
        return number(p, &obj->m[i].p, &obj->m[i].len);
    }
    if (c == '{' || c == '[')
        return fail(p, "member '%.*s' holds an %s: only strings, numbers, true, false and null are "
                    "supported", (int)obj->m[i].name_len, obj->m[i].name, c == '{' ? "object" : "array");
    if (c == 't') return literal(p, "true", TOOL_JSON_TRUE, &obj->m[i].kind);
    if (c == 'f') return literal(p, "false", TOOL_JSON_FALSE, &obj->m[i].kind);
    return literal(p, "null", TOOL_JSON_NULL, &obj->m[i].kind);
}

static int member(parser *p, tool_json_object *obj) {
    char *name;
    size_t n;
    if (obj->n == TOOL_JSON_MAX_MEMBERS) return fail(p, "more than %d members", TOOL_JSON_MAX_MEMBERS);
    if (p->pos == p->len || p->s[p->pos] != '"') return fail(p, "expected a member name in quotes");
    if (string(p, &name, &n) != 0) return -1;
    for (size_t i = 0; i < obj->n; i++)
        if (obj->m[i].name_len == n && memcmp(obj->m[i].name, name, n) == 0)
            return fail(p, "member '%.*s' appears twice", (int)n, name);
    obj->m[obj->n].name = name;
    obj->m[obj->n].name_len = n;
    skip_space(p);
    if (p->pos == p->len || p->s[p->pos] != ':') return fail(p, "expected ':' after a member name");
    p->pos++;
    skip_space(p);
    if (value(p, obj, obj->n) != 0) return -1;
    obj->n++;
    return 0;
}

int tool_json_parse(char *line, size_t len, tool_json_object *obj, char *err, size_t cap) {
    parser p = {line, len, 0, err, cap};
    obj->n = 0;
    skip_space(&p);
    if (p.pos == len || line[p.pos] != '{') return fail(&p, "expected '{': each line holds one object");
    p.pos++;
    skip_space(&p);
    if (p.pos < len && line[p.pos] == '}') p.pos++;
    else for (;;) {
        if (member(&p, obj) != 0) return -1;
        skip_space(&p);
        if (p.pos < len && line[p.pos] == ',') { p.pos++; skip_space(&p); continue; }
        if (p.pos < len && line[p.pos] == '}') { p.pos++; break; }
        return fail(&p, "expected ',' or '}'");
    }
    skip_space(&p);
    if (p.pos != len) return fail(&p, "text after the object");
    return 0;
}

/* ---- Reading members ---- */

static int member_error(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int member_error(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

int tool_json_find(const tool_json_object *obj, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < obj->n; i++)
        if (obj->m[i].name_len == n && memcmp(obj->m[i].name, name, n) == 0) return (int)i;
    return -1;
}

int tool_json_name_in(const tool_json_object *obj, size_t i, const char *const *names) {
    for (; *names; names++)
        if (obj->m[i].name_len == strlen(*names) && memcmp(obj->m[i].name, *names, obj->m[i].name_len) == 0)
            return 1;
    return 0;
}

int tool_json_bytes(const tool_json_object *obj, const char *name, const char **p, size_t *n,
                    char *err, size_t cap) {
    char b64name[64];
    snprintf(b64name, sizeof b64name, "%s_base64", name);
    int plain = tool_json_find(obj, name), b64 = tool_json_find(obj, b64name);
    if (plain >= 0 && b64 >= 0) return member_error(err, cap, "both '%s' and '%s'", name, b64name);
    int i = plain >= 0 ? plain : b64;
    if (i < 0) return 0;
    if (obj->m[i].kind != TOOL_JSON_STRING)
        return member_error(err, cap, "'%s' must be a string", i == plain ? name : b64name);
    *p = obj->m[i].p;
    *n = obj->m[i].len;
    if (i == plain) return 1;
    long long len = tool_base64_decode(obj->m[i].p, obj->m[i].len);
    if (len < 0) return member_error(err, cap, "'%s' is not valid base64", b64name);
    *n = (size_t)len;
    return 1;
}

int tool_json_int(const tool_json_object *obj, const char *name, int64_t *v, char *err, size_t cap) {
    int i = tool_json_find(obj, name);
    if (i < 0 || obj->m[i].kind == TOOL_JSON_NULL) return 0;
    const char *s = obj->m[i].p;
    size_t n = obj->m[i].kind == TOOL_JSON_NUMBER ? obj->m[i].len : 0, k = s && s[0] == '-';
    uint64_t acc = 0, limit = k ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; k < n && s[k] >= '0' && s[k] <= '9'; k++) {
        unsigned d = (unsigned)(s[k] - '0');
        if (acc > (limit - d) / 10) break; /* out of range */
        acc = acc * 10 + d;
    }
    if (n == 0 || k != n)
        return member_error(err, cap, "'%s' must be an integer from %lld to %lld, or null", name,
                            (long long)INT64_MIN, (long long)INT64_MAX);
    if (s[0] != '-') *v = (int64_t)acc;
    else *v = acc > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)acc;
    return 1;
}
