/* command_test.c -- layerdb_command: replies, errors, and what the
 * commands leave in the log.
 *
 * cmd() (reply_text.h) runs a command given as words and renders its
 * reply as text, so a case reads as the exchange: "SET k v" -> "+OK",
 * "GET nope" -> "(nil)", "MGET a b" -> "[$1,(nil)]". The replies are the real Redis 7.0's (redis_diff_test.c compares
 * with a live redis-server where one is installed). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "layerdb.h"
#include "reply_text.h"
#include "test.h"




TEST("PING and ECHO answer as Redis does") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    static const char *const cases1[][2] = {
        {"PING", "+PONG"},
        {"ping hello", "$hello"},
        {"PING a b", "-ERR wrong number of arguments for 'ping' command"},
        {"ECHO hi", "$hi"},
        {"echo", "-ERR wrong number of arguments for 'echo' command"},
    };
    expect_all(db, cases1, sizeof cases1 / sizeof cases1[0]);
    layerdb_close(db);
}

TEST("an unknown command and a wrong arity get Redis's error texts") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    static const char *const cases2[][2] = {
        {"FOO a b", "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' "},
        {"nope", "-ERR unknown command 'nope', with args beginning with: "},
        {"GET", "-ERR wrong number of arguments for 'get' command"},
        {"GET a b", "-ERR wrong number of arguments for 'get' command"},
        {"SET k", "-ERR wrong number of arguments for 'set' command"},
        {"DEL", "-ERR wrong number of arguments for 'del' command"},
    };
    expect_all(db, cases2, sizeof cases2 / sizeof cases2[0]);
    layerdb_close(db);
}

TEST("string commands: GET, SET, SETNX, GETSET, GETDEL, STRLEN, MGET") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    static const char *const cases3[][2] = {
        {"GET k", "(nil)"},
        {"SET k v1", "+OK"},
        {"get k", "$v1"},
        {"StrLen k", ":2"},
        {"STRLEN nope", ":0"},
        {"SETNX k other", ":0"},
        {"SETNX n 1", ":1"},
        {"GETSET k v2", "$v1"},
        {"GETSET fresh x", "(nil)"},
        {"MGET k nope n", "[$v2,(nil),$1]"},
        {"GETDEL k", "$v2"},
        {"GETDEL k", "(nil)"},
        {"GET k", "(nil)"},
    };
    expect_all(db, cases3, sizeof cases3 / sizeof cases3[0]);
    layerdb_close(db);
}

TEST("SET's options: NX, XX, GET, EX, PX, EXAT, PXAT, KEEPTTL, and their errors") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    static const char *const cases4[][2] = {
        {"SET k v XX", "(nil)"},
        {"GET k", "(nil)"},
        {"SET k v NX", "+OK"},
        {"SET k w NX", "(nil)"},
        {"SET k w xx", "+OK"},
        {"SET k x GET", "$w"},
        {"SET new y GET", "(nil)"},
        {"SET k z NX GET", "$x"},
        {"GET k", "$x"},
        {"SET k v NX XX", "-ERR syntax error"},
        {"SET k v bogus", "-ERR syntax error"},
        {"SET k v EX 0", "-ERR invalid expire time in 'set' command"},
        {"SET k v EX 10 KEEPTTL", "-ERR syntax error"},
        {"SET k v PX", "-ERR syntax error"},
        {"GET k", "$x"},
        {"SET k v EXAT 4000000000", "+OK"}, /* absolute: TTL would depend on timing */
        {"EXPIRETIME k", ":4000000000"},
        {"SET k w KEEPTTL", "+OK"},
        {"EXPIRETIME k", ":4000000000"},
        {"SET k w", "+OK"},
        {"TTL k", ":-1"},
        {"SET k v PXAT 1", "+OK"},
        {"GET k", "(nil)"},
    };
    expect_all(db, cases4, sizeof cases4 / sizeof cases4[0]);
    layerdb_close(db);
}

TEST("key commands: DEL, UNLINK, EXISTS, TYPE, DBSIZE") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    EXPECT(db, "DBSIZE", ":0");
    cmd(db, "SET a 1");
    cmd(db, "SET b 2");
    cmd(db, "SET c 3");
    static const char *const cases5[][2] = {
        {"EXISTS a a nope", ":2"},
        {"TYPE a", "+string"},
        {"TYPE nope", "+none"},
        {"DBSIZE", ":3"},
        {"DEL a a nope", ":1"},
        {"UNLINK b c", ":2"},
        {"DBSIZE", ":0"},
    };
    expect_all(db, cases5, sizeof cases5 / sizeof cases5[0]);
    layerdb_close(db);
}

TEST("commands and the plain calls see each other's keys") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    CHECK_RC(layerdb_set(db, "plain", 5, "p", 1), LAYERDB_OK);
    EXPECT(db, "GET plain", "$p");
    cmd(db, "SET cmd c");
    const void *v;
    size_t n;
    CHECK_RC(layerdb_get(db, "cmd", 3, &v, &n), LAYERDB_OK);
    CHECK(n == 1 && memcmp(v, "c", 1) == 0);
    CHECK_RC(layerdb_remove(db, "cmd", 3), LAYERDB_OK);
    EXPECT(db, "EXISTS cmd", ":0");
    layerdb_close(db);
}

TEST("arguments are binary-safe") {
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    const char *argv[] = {"SET", "k\0ey", "v\0al\0"};
    size_t lens[] = {3, 4, 5};
    layerdb_reply *r = NULL;
    CHECK_RC(layerdb_command(db, 3, argv, lens, &r), LAYERDB_OK);
    layerdb_reply_free(r);
    const char *get[] = {"GET", "k\0ey"};
    CHECK_RC(layerdb_command(db, 2, get, lens, &r), LAYERDB_OK);
    REQUIRE(r);
    CHECK(r->type == LAYERDB_REPLY_STRING && r->len == 5 && memcmp(r->str, "v\0al\0", 5) == 0);
    CHECK(r->str[5] == '\0');
    layerdb_reply_free(r);
    layerdb_close(db);
}

TEST("writes survive a reopen; a failed command logs nothing") {
    const char *name = "cmds.db";
    layerdb *db = open_db(name, NULL);
    REQUIRE(db);
    cmd(db, "SET a 1");
    cmd(db, "SET b 2");
    cmd(db, "SET c 3");
    cmd(db, "GETSET a 10");
    cmd(db, "SETNX d 4");
    cmd(db, "GETDEL b");
    cmd(db, "DEL c nope c");
    layerdb_info before, after;
    CHECK_RC(layerdb_info_get(db, &before), LAYERDB_OK);
    static const char *const cases6[][2] = {
        {"SET a v EX 0", "-ERR invalid expire time in 'set' command"},
        {"SET a v PX x", "-ERR value is not an integer or out of range"},
        {"SET a v EX 5 PX 5", "-ERR syntax error"},
        {"SET a v NX", "(nil)"},
        {"SET z v XX", "(nil)"},
        {"DEL nope", ":0"},
        {"GETDEL nope", "(nil)"},
        {"SETNX a 0", ":0"},
        {"BOGUS", "-ERR unknown command 'BOGUS', with args beginning with: "},
    };
    expect_all(db, cases6, sizeof cases6 / sizeof cases6[0]);
    CHECK_RC(layerdb_info_get(db, &after), LAYERDB_OK);
    CHECK(after.log_bytes == before.log_bytes);
    CHECK_RC(layerdb_close(db), LAYERDB_OK);
    db = open_db(name, NULL);
    REQUIRE(db);
    EXPECT(db, "MGET a b c d", "[$10,(nil),(nil),$4]");
    EXPECT(db, "DBSIZE", ":2");
    layerdb_info info;
    CHECK_RC(layerdb_info_get(db, &info), LAYERDB_OK);
    CHECK(info.replayed_records == 7); /* the DEL of c twice is one record */
    layerdb_close(db);
}

TEST("a read-only handle answers reads and refuses writes with LAYERDB_READONLY") {
    layerdb *db = open_db("ro.db", NULL);
    REQUIRE(db);
    cmd(db, "SET k v");
    layerdb_close(db);
    layerdb_options o;
    layerdb_options_init(&o);
    o.readonly = 1;
    db = open_db("ro.db", &o);
    REQUIRE(db);
    EXPECT(db, "GET k", "$v");
    EXPECT(db, "SET k w", "rc=10");
    CHECK(strstr(layerdb_errmsg(db), "is open read-only") != NULL);
    EXPECT(db, "DEL k", "rc=10");
    EXPECT(db, "GET k", "$v");
    layerdb_close(db);
}

TEST("bad calls: no handle, no arguments, no reply pointer") {
    layerdb_reply *r = (layerdb_reply *)&r;
    const char *argv[] = {"PING"};
    CHECK_RC(layerdb_command(NULL, 1, argv, NULL, &r), LAYERDB_INVALID);
    layerdb *db = open_db(NULL, NULL);
    REQUIRE(db);
    CHECK_RC(layerdb_command(db, 0, argv, NULL, &r), LAYERDB_INVALID);
    CHECK(r == NULL);
    CHECK_RC(layerdb_command(db, 1, argv, NULL, NULL), LAYERDB_INVALID);
    layerdb_reply_free(NULL);
    layerdb_close(db);
}

int main(void) { return test_main(); }
