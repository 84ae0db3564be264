/* rwlock.c -- the handle's read-write lock (rwlock.h). */
#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <time.h>

#include "rwlock.h"

/* This thread's slot: threads are given slots in turn as they first read. */
static atomic_uint next_slot;
static _Thread_local unsigned my_slot = ~0u;

static ldb_rw_slot *slot_of_thread(ldb_rwlock *l) {
    if (my_slot == ~0u) my_slot = atomic_fetch_add(&next_slot, 1) % LDB_RW_SLOTS;
    return &l->slots[my_slot];
}

int ldb_rwlock_init(ldb_rwlock *l) {
    for (int i = 0; i < LDB_RW_SLOTS; i++) atomic_init(&l->slots[i].readers, 0);
    atomic_init(&l->writing, 0);
    return pthread_mutex_init(&l->writer, NULL);
}

void ldb_rwlock_destroy(ldb_rwlock *l) {
    pthread_mutex_destroy(&l->writer);
}

void ldb_rwlock_rdlock(ldb_rwlock *l) {
    ldb_rw_slot *s = slot_of_thread(l);
    for (;;) {
        atomic_fetch_add(&s->readers, 1);         /* seq_cst: invariant (1) */
        if (!atomic_load(&l->writing)) return;
        atomic_fetch_sub(&s->readers, 1);         /* invariant (3) */
        pthread_mutex_lock(&l->writer);           /* wait for the writer */
        pthread_mutex_unlock(&l->writer);
    }
}

void ldb_rwlock_rdunlock(ldb_rwlock *l) {
    ldb_rw_slot *s = slot_of_thread(l);
    long was = atomic_fetch_sub_explicit(&s->readers, 1, memory_order_release);
    assert(was > 0);
    (void)was;
}

/* With the mutex held: keep readers out, and wait for those inside. */
static void exclude_readers(ldb_rwlock *l) {
    atomic_store(&l->writing, 1); /* seq_cst: invariant (1) */
    for (int i = 0; i < LDB_RW_SLOTS; i++)
        for (int spins = 0; atomic_load(&l->slots[i].readers) != 0; spins++)
            if (spins > 64) sched_yield();
}

void ldb_rwlock_wrlock(ldb_rwlock *l) {
    pthread_mutex_lock(&l->writer);
    exclude_readers(l);
}

int ldb_rwlock_trywrlock(ldb_rwlock *l) {
    if (pthread_mutex_trylock(&l->writer) != 0) return EBUSY;
    exclude_readers(l);
    return 0;
}

void ldb_rwlock_wrunlock(ldb_rwlock *l) {
    assert(atomic_load_explicit(&l->writing, memory_order_relaxed) == 1); /* (2) */
    atomic_store_explicit(&l->writing, 0, memory_order_release);
    pthread_mutex_unlock(&l->writer);
}

int ldb_rwlock_wrlock_unless(ldb_rwlock *l, atomic_int *flag, int give_up_at,
                             void (*each_try)(void *), void *ud) {
    long pause_ns = 20 * 1000;
    for (;;) {
        if (each_try) each_try(ud);
        if (ldb_rwlock_trywrlock(l) == 0) break;
        if (flag && atomic_load_explicit(flag, memory_order_acquire) == give_up_at) return 0;
        struct timespec pause = {0, pause_ns};
        nanosleep(&pause, NULL);
        if (pause_ns < 1000 * 1000) pause_ns *= 2;
    }
    return 1;
}
