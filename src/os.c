/* os.c -- every system call: open, stat, lock, pread/pwrite, fsync, truncate.
 *
 * Rules kept here so the rest of the engine need not think about them:
 *  (1) EINTR is retried, except on close(), which is never retried: Linux
 *      frees the descriptor even when close reports EINTR (SQLite's
 *      robust_close), so a retry could close another thread's new file.
 *  (2) Short reads and writes are continued until done or an error.
 *  (3) errno is preserved on failure for the caller's message.
 *  (4) The writer lock is an open-file-description lock (F_OFD_SETLK): it
 *      conflicts between two opens in the same process too, and closing some
 *      other descriptor of the file does not drop it, unlike POSIX fcntl
 *      locks ("broken by design", SQLite's os_unix.c). OFD locks report no
 *      pid, so a classic POSIX lock on a second byte is taken too, purely so
 *      another process can ask F_GETLK who holds the file.
 *  (5) Lock bytes lie far past any real file size, so a lock never
 *      covers data. Read-only followers take no lock at all: they judge
 *      the bytes they read (recovery.c, "Following"), not the lock.
 *  (6) A database is a regular file. Opening never waits and never loops:
 *      a directory, FIFO, device or socket is refused at once, and a
 *      dangling symbolic link is created through, as open(2) with O_CREAT
 *      does. A missing file is created with a plain O_CREAT: two processes
 *      creating it at once both open the same file, and the writer lock
 *      decides which of them writes its header. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

#include "os.h"

#define LOCK_BYTE_WRITER ((off_t)1 << 40)   /* OFD lock: the exclusion */
#define LOCK_BYTE_PID (LOCK_BYTE_WRITER + 1) /* POSIX lock: tells the pid */

/* ---- Fault injection (test builds only) ---- */
#ifdef LAYERDB_FAULTS
#include <stdatomic.h>
static struct {
    atomic_long countdown; /* calls left before the fault; 0 = no plan */
    int err;
    size_t short_bytes;
} faults[LDB_FAULT_NOPS];

void ldb_fault_plan(int op, long nth, int err, size_t short_bytes) {
    faults[op].err = err;
    faults[op].short_bytes = short_bytes;
    atomic_store(&faults[op].countdown, nth);
}

/* Returns the errno to fail with, or 0 to go ahead. */
static int fault_hit(int op, size_t *short_bytes) {
    long left = atomic_load(&faults[op].countdown);
    while (left > 0) {
        if (atomic_compare_exchange_weak(&faults[op].countdown, &left, left - 1)) {
            if (left != 1) return 0;
            if (short_bytes) *short_bytes = faults[op].short_bytes;
            return faults[op].err;
        }
    }
    return 0;
}
static struct {
    atomic_long countdown; /* reads left before the call; 0 = none */
    void (*fn)(void *ud);
    void *ud;
} read_hook;

void ldb_fault_before_read(long nth, void (*fn)(void *ud), void *ud) {
    read_hook.fn = fn;
    read_hook.ud = ud;
    atomic_store(&read_hook.countdown, nth);
}

static void before_read(void) {
    long left = atomic_load(&read_hook.countdown);
    while (left > 0) {
        if (atomic_compare_exchange_weak(&read_hook.countdown, &left, left - 1)) {
            if (left == 1) read_hook.fn(read_hook.ud);
            return;
        }
    }
}
#define FAULT(op, shortp) fault_hit(op, shortp)
#define BEFORE_READ() before_read()
#else
#define FAULT(op, shortp) 0
#define BEFORE_READ() ((void)0)
#endif

/* What a path that is not a regular file names, for the caller's message. */
static const char *file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "of an unknown kind";
}

/* open() failed. A directory opened for writing fails with EISDIR and a
 * Unix socket with ENXIO: name what they are, as for the others. */
static int not_openable(const char *path, const char **kind) {
    int saved = errno;
    struct stat st;
    if ((saved == EISDIR || saved == ENXIO) && stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        *kind = file_kind(st.st_mode);
    errno = saved;
    return -1;
}

/* Rule (6). O_NONBLOCK only so that opening a FIFO cannot wait for a
 * writer; it is cleared again, though it means nothing for regular files. */
int ldb_os_open(const char *path, int writable, int create, int *fd, const char **kind) {
    int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK;
    if (create && writable) flags |= O_CREAT;
    int f;
    *fd = -1;
    *kind = NULL;
    do f = open(path, flags, 0644);
    while (f < 0 && errno == EINTR);
    if (f < 0) return not_openable(path, kind);
    struct stat st;
    if (fstat(f, &st) != 0 || fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK) != 0) {
        int saved = errno;
        close(f);
        errno = saved;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        *kind = file_kind(st.st_mode);
        errno = EINVAL;
        return -1;
    }
    *fd = f;
    return 0;
}

void ldb_os_close(int fd) {
    if (fd >= 0) (void)close(fd); /* rule (1): no retry */
}

int ldb_os_size(int fd, uint64_t *size) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    *size = (uint64_t)st.st_size;
    return 0;
}

static void file_id(const struct stat *st, ldb_file_id *id) {
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->size = (uint64_t)st->st_size;
}

int ldb_os_fd_id(int fd, ldb_file_id *id) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    file_id(&st, id);
    return 0;
}

int ldb_os_path_id(const char *path, ldb_file_id *id) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    file_id(&st, id);
    return 0;
}

int ldb_os_pread_all(int fd, void *buf, size_t n, uint64_t off, size_t *got) {
    size_t done = 0;
    int err = FAULT(LDB_FAULT_READ, NULL);
    if (err) { errno = err; return -1; }
    BEFORE_READ();
    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break; /* end of file */
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

int ldb_os_pwrite_all(int fd, const void *buf, size_t n, uint64_t off) {
    size_t done = 0, short_bytes = 0;
    int err = FAULT(LDB_FAULT_WRITE, &short_bytes);
    if (err) {
        if (short_bytes > 0 && short_bytes < n)
            (void)ldb_os_pwrite_all(fd, buf, short_bytes, off);
        errno = err;
        return -1;
    }
    while (done < n) {
        ssize_t w = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) { errno = ENOSPC; return -1; }
        done += (size_t)w;
    }
    return 0;
}

int ldb_os_sync(int fd) {
    int err = FAULT(LDB_FAULT_SYNC, NULL);
    if (err) { errno = err; return -1; }
    for (;;) {
#if defined(__linux__)
        int r = fdatasync(fd); /* the size is data here: appends are synced */
#else
        int r = fsync(fd);
#endif
        if (r == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

int ldb_os_truncate(int fd, uint64_t size) {
    for (;;) {
        if (ftruncate(fd, (off_t)size) == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

int ldb_os_rename(const char *from, const char *to) {
    return rename(from, to);
}

int ldb_os_unlink(const char *path) {
    return unlink(path);
}

int ldb_os_names_file(const char *path, int fd) {
    struct stat a, b;
    if (stat(path, &a) != 0 || fstat(fd, &b) != 0) return 0;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int ldb_os_sync_dir(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0) n = 1; /* "/file" lives in "/" */
        if (n >= sizeof dir) { errno = ENAMETOOLONG; return -1; }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

/* ---- The writer lock, rules (4) and (5) ---- */

/* A write lock on one byte, for fcntl. */
static struct flock byte_lock(off_t byte) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    return fl;
}

static long lock_holder_pid(int fd) {
    struct flock fl = byte_lock(LOCK_BYTE_PID);
    if (fcntl(fd, F_GETLK, &fl) != 0) return 0;
    /* POSIX locks never conflict with their own process: an unlocked byte
     * while the OFD lock is held means the holder is this process. */
    return fl.l_type == F_UNLCK ? (long)getpid() : (long)fl.l_pid;
}

static int set_lock(int fd, int cmd, off_t byte) {
    struct flock fl = byte_lock(byte);
    for (;;) {
        if (fcntl(fd, cmd, &fl) == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

int ldb_os_lock_writer(int fd, long *holder_pid) {
    *holder_pid = 0;
#ifdef F_OFD_SETLK
    if (set_lock(fd, F_OFD_SETLK, LOCK_BYTE_WRITER) != 0) {
        int saved = errno;
        if (saved == EAGAIN || saved == EACCES) {
            *holder_pid = lock_holder_pid(fd);
            saved = EWOULDBLOCK;
        }
        errno = saved;
        return -1;
    }
    (void)set_lock(fd, F_SETLK, LOCK_BYTE_PID); /* best effort, pid only */
    return 0;
#else
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) *holder_pid = 0;
        return -1;
    }
    return 0;
#endif
}

int ldb_os_writer_holder(int fd, long *holder_pid) {
    *holder_pid = 0;
#ifdef F_OFD_GETLK
    struct flock fl = byte_lock(LOCK_BYTE_WRITER);
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return -1;
    if (fl.l_type == F_UNLCK) return 0;
    *holder_pid = lock_holder_pid(fd);
    return 1;
#else
    (void)fd;
    errno = ENOSYS;
    return -1;
#endif
}

/* ---- Randomness and time ---- */

void ldb_os_random(void *buf, size_t n) {
    unsigned char *p = buf;
    size_t done = 0;
#if defined(__linux__)
    while (done < n) {
        ssize_t r = getrandom(p + done, n - done, GRND_NONBLOCK);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        done += (size_t)r;
    }
#endif
    /* Fallback: not cryptographic, but different per handle and process. */
    uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)buf;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    x ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull;
    for (; done < n; done++) {
        x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
        p[done] = (unsigned char)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
}

void ldb_os_release_pages(void *p, size_t n) {
#if defined(__linux__)
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(page - 1);
    if (end > start) (void)madvise((void *)start, end - start, MADV_DONTNEED);
#else
    (void)p;
    (void)n;
#endif
}

uint64_t ldb_os_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
