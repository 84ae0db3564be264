/* rwlock_test.c -- the handle's read-write lock (src/rwlock.c): readers
 * never see a writer's half-done change, writers exclude each other and
 * readers, trywrlock fails while another writer holds the lock, and many
 * readers hold it at once. Run under TSan by make check too. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "rwlock.h"
#include "test.h"

#define WRITES 20000
#define READERS 3

static ldb_rwlock lock;
static long a, b;           /* writers keep a == b under the lock */
static atomic_int stop;
static atomic_long torn;    /* reads that saw a != b */

static void *writer(void *arg) {
    (void)arg;
    for (long i = 0; i < WRITES; i++) {
        ldb_rwlock_wrlock(&lock);
        a++;
        b++;
        ldb_rwlock_wrunlock(&lock);
    }
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        ldb_rwlock_rdlock(&lock);
        if (a != b) atomic_fetch_add(&torn, 1);
        ldb_rwlock_rdunlock(&lock);
    }
    return NULL;
}

TEST("readers never see a writer's change half done; writers exclude each other") {
    REQUIRE(ldb_rwlock_init(&lock) == 0);
    pthread_t w[2], r[READERS];
    for (int i = 0; i < READERS; i++) REQUIRE(pthread_create(&r[i], NULL, reader, NULL) == 0);
    for (int i = 0; i < 2; i++) REQUIRE(pthread_create(&w[i], NULL, writer, NULL) == 0);
    for (int i = 0; i < 2; i++) pthread_join(w[i], NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < READERS; i++) pthread_join(r[i], NULL);
    CHECK(atomic_load(&torn) == 0);
    CHECK(a == 2 * WRITES && b == 2 * WRITES); /* no increment lost */
    ldb_rwlock_destroy(&lock);
}

static atomic_int inside;

static void *hold_read(void *arg) {
    (void)arg;
    ldb_rwlock_rdlock(&lock);
    atomic_fetch_add(&inside, 1);
    while (atomic_load(&inside) < 2) {} /* both readers are in at once */
    ldb_rwlock_rdunlock(&lock);
    return NULL;
}

TEST("two readers hold the lock at once; trywrlock fails while a writer holds it") {
    REQUIRE(ldb_rwlock_init(&lock) == 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) REQUIRE(pthread_create(&t[i], NULL, hold_read, NULL) == 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    CHECK(atomic_load(&inside) == 2);
    ldb_rwlock_wrlock(&lock);
    CHECK(ldb_rwlock_trywrlock(&lock) == EBUSY);
    ldb_rwlock_wrunlock(&lock);
    CHECK(ldb_rwlock_trywrlock(&lock) == 0);
    ldb_rwlock_wrunlock(&lock);
    ldb_rwlock_destroy(&lock);
}

int main(void) { return test_main(); }
