/* rwlock.h -- the handle's read-write lock, with readers spread over
 * cache lines so that threads reading one handle do not contend.
 *
 * A reader announces itself in its thread's slot (one of LDB_RW_SLOTS
 * counters, each on its own cache line) and goes ahead unless a writer is
 * there; a writer takes a mutex (writers exclude each other), raises
 * 'writing', and waits until every slot is zero. With pthread's rwlock
 * every reader's lock and unlock changed the same cache line, which two
 * cores then passed back and forth: two threads got 1.4x one thread's
 * gets; a slot per thread keeps a reader's line on its own core.
 *
 * Invariants:
 *  (1) a reader holds the lock iff it counted itself in a slot while
 *      'writing' was 0: the reader's increment and the writer's store of
 *      'writing' are both seq_cst, and each then reads the other's
 *      variable (the Dekker pattern), so at least one of them sees the
 *      other and a reader and a writer never both hold it;
 *  (2) 'writing' is 1 only while the writer mutex is held;
 *  (3) a waiting reader takes its count back before it waits, so a writer
 *      waits only for readers inside the lock, which do not block.
 * Writers are preferred: once 'writing' is set no new reader gets in. */
#ifndef LDB_RWLOCK_H
#define LDB_RWLOCK_H

#include <pthread.h>
#include <stdatomic.h>

#include "alloc.h"

#define LDB_RW_SLOTS 8

typedef struct ldb_rw_slot {
    _Alignas(64) atomic_long readers;
} ldb_rw_slot;

typedef struct ldb_rwlock {
    ldb_rw_slot slots[LDB_RW_SLOTS];
    _Alignas(64) atomic_int writing;
    pthread_mutex_t writer;
} ldb_rwlock;

/* 0, or an error number (pthread_mutex_init's). */
LDB_INTERNAL int ldb_rwlock_init(ldb_rwlock *l);
LDB_INTERNAL void ldb_rwlock_destroy(ldb_rwlock *l);
LDB_INTERNAL void ldb_rwlock_rdlock(ldb_rwlock *l);
LDB_INTERNAL void ldb_rwlock_rdunlock(ldb_rwlock *l);
LDB_INTERNAL void ldb_rwlock_wrlock(ldb_rwlock *l);
/* 0 when locked for writing, else EBUSY (another writer has it). */
LDB_INTERNAL int ldb_rwlock_trywrlock(ldb_rwlock *l);
LDB_INTERNAL void ldb_rwlock_wrunlock(ldb_rwlock *l);
/* Take it for writing without queueing behind the threads that use it
 * (a background thread's way: the writer thread, compaction): try, and
 * sleep between tries, 20 us at first, up to 1 ms while a user keeps it
 * long (a scan, say). Returns 1 when locked, or 0 as soon as *flag equals
 * give_up_at: a user of the lock did what it was wanted for. A thread
 * setting keys in a loop lets the lock go only for an instant between two
 * sets, so without that way out this could try for a long time. flag
 * NULL: never give up. each_try (may be NULL) runs before every try. */
LDB_INTERNAL int ldb_rwlock_wrlock_unless(ldb_rwlock *l, atomic_int *flag, int give_up_at,
                                          void (*each_try)(void *), void *ud);

#endif
