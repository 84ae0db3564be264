/* active_expire.c -- active expiry, modelled on Redis's activeExpireCycle.
 *
 * A key whose deadline passed is invisible at once (keyspace.c), but its
 * memory stays until something reclaims it: a write naming it (the
 * executor), or this cycle. After a write command, at most every
 * LDB_EXPIRE_PERIOD_MS, the cycle visits the databases with deadlines in
 * turn; in each it samples LDB_EXPIRE_SAMPLES keys from the expires table
 * and reclaims those past their deadline, and samples again while more
 * than a tenth of a sample was expired. It stops after about
 * LDB_EXPIRE_BUDGET_US, and the next cycle goes on from the database where
 * this one stopped. So a write pays at most a millisecond now and then,
 * and memory does not fill with dead keys as long as writes come. (Redis
 * also runs the cycle from a timer; an embedded handle has no timer of its
 * own, so an idle handle keeps its dead keys until the next write or
 * layerdb_expire().)
 *
 * Each reclaimed key is logged as "DEL key" (after a SELECT outside
 * database 0), one record per key, as Redis propagates it. Making room
 * for a record may release the lock, so the key is copied first and looked
 * up again after. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "active_expire.h"
#include "table.h"

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Delete key from database d if it is still expired, logging it. Returns
 * 1 if it was reclaimed, 0 if not, -1 on an engine error (logged nothing,
 * changed nothing: the cycle stops). */
static int reclaim(ldb_cmd_ctx *c, int d, const unsigned char *key, size_t klen) {
    char num[4];
    snprintf(num, sizeof num, "%d", d);
    ldb_slice sel[2] = {ldb_slice_str("SELECT"), ldb_slice_str(num)};
    ldb_slice del[2] = {ldb_slice_str("DEL"), {key, klen}};
    size_t body = (d ? ldb_logfmt_args_size(2, sel) : 0) + ldb_logfmt_args_size(2, del);
    size_t size = ldb_logfmt_encoded_commands_size(d ? 2 : 1, body);
    int logging = ldb_db_logging(c->db);
    if (ldb_db_reserve(c->db, logging ? size : 0, 1) != LAYERDB_OK) return -1;
    int expired;
    if (!ldb_ks_find_any(c->ks, d, key, klen, c->now, &expired) || !expired) return 0;
    unsigned char *rec = logging ? malloc(body) : NULL;
    if (logging && !rec) return -1;
    ldb_db_drop(c->db, ldb_ks_unlink(c->ks, d, key, klen));
    if (logging) {
        unsigned char *p = rec;
        if (d) p = ldb_logfmt_put_args(p, 2, sel);
        ldb_logfmt_put_args(p, 2, del);
        c->end = ldb_db_log(c->db, d ? 2 : 1, rec, body);
        free(rec);
    }
    return 1;
}

/* One round in database d: sample, reclaim. Returns how many of the
 * sample were expired, or -1 to stop. */
static int round_in(ldb_cmd_ctx *c, int d, size_t *reclaimed) {
    ldb_table *ex = &c->ks->expires[d];
    size_t n = ex->count < LDB_EXPIRE_SAMPLES ? ex->count : LDB_EXPIRE_SAMPLES;
    int expired = 0;
    for (size_t i = 0; i < n; i++) {
        const ldb_entry *x = ldb_table_sample(ex, ldb_ks_random(c->ks));
        if (!x || ldb_ks_deadline_of(x) > c->now) continue;
        ldb_entry_view v;
        ldb_entry_decode(x, &v);
        unsigned char small[64], *key = v.klen <= sizeof small ? small : malloc(v.klen);
        if (!key) return -1;
        memcpy(key, v.key, v.klen);
        int rc = reclaim(c, d, key, v.klen);
        if (key != small) free(key);
        if (rc < 0) return -1;
        *reclaimed += (size_t)rc;
        expired++;
    }
    return (size_t)expired * 10 > n ? expired : 0;
}

size_t ldb_expire_cycle(ldb_cmd_ctx *c) {
    size_t reclaimed = 0;
    int64_t stop = now_us() + LDB_EXPIRE_BUDGET_US;
    for (int visited = 0; visited < LDB_DBS; visited++) {
        int d = c->ks->expire_next_db;
        int more;
        while ((more = round_in(c, d, &reclaimed)) > 0 && now_us() < stop) {}
        if (more < 0 || now_us() >= stop) return reclaimed; /* go on here next time */
        c->ks->expire_next_db = (d + 1) % LDB_DBS;
    }
    return reclaimed;
}

void ldb_expire_active(ldb_cmd_ctx *c) {
    int64_t *next = ldb_db_next_expire(c->db);
    if (c->ks->ttl_keys == 0 || c->now < *next) return;
    *next = c->now + LDB_EXPIRE_PERIOD_MS;
    (void)ldb_expire_cycle(c);
}
