/* keyspace.c -- the write commands (SET, DEL) applied to the table.
 * Used by db.c for live writes and by recovery for replay, so both paths
 * change the table in exactly the same way. */
#include <stdio.h>
#include <string.h>

#include "keyspace.h"

int ldb_ks_set(ldb_table *t, uint64_t h, ldb_entry *e, ldb_entry **replaced) {
    return ldb_table_put_hashed(t, e, h, replaced) == 0 ? LAYERDB_OK : LAYERDB_NOMEM;
}

static int is_command(const ldb_slice *name, const char *want) {
    size_t n = strlen(want);
    return name->len == n && memcmp(name->p, want, n) == 0;
}

int ldb_ks_replay(void *ud, int dry_run, size_t argc, const ldb_slice *argv, char *msg,
                  size_t cap) {
    ldb_table *t = ud;
    if (is_command(&argv[0], "SET") && argc == 3) {
        if (dry_run) return LAYERDB_OK;
        uint64_t h = ldb_table_prepare(t, argv[1].p, argv[1].len);
        ldb_entry *old, *e = ldb_entry_create_string(t->alloc, argv[1].p, argv[1].len,
                                                     argv[2].p, argv[2].len, NULL);
        if (!e) return LAYERDB_NOMEM;
        if (ldb_ks_set(t, h, e, &old) != LAYERDB_OK) {
            ldb_entry_free(t->alloc, e);
            return LAYERDB_NOMEM;
        }
        ldb_entry_free(t->alloc, old);
        return LAYERDB_OK;
    }
    if (is_command(&argv[0], "DEL") && argc >= 2) {
        for (size_t i = 1; !dry_run && i < argc; i++)
            ldb_entry_free(t->alloc, ldb_table_remove(t, argv[i].p, argv[i].len));
        return LAYERDB_OK;
    }
    int n = argv[0].len > 32 ? 32 : (int)argv[0].len;
    snprintf(msg, cap, "unknown command '%.*s' with %zu arguments", n, (const char *)argv[0].p,
             argc - 1);
    return LAYERDB_CORRUPT;
}
