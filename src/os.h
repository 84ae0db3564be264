/* os.h -- every system call layerdb makes, behind one small interface.
 *
 * Functions return 0 on success and -1 on failure with errno set (saved
 * before anything else could change it), so callers can build messages with
 * strerror(errno). Reads and writes loop over short transfers and EINTR.
 *
 * In test builds (LAYERDB_FAULTS) a fault plan can make the Nth write, fsync
 * or read fail with a chosen errno, or write only part of its bytes, the way
 * SQLite's aSyscall[] table serves fault injection. */
#ifndef LDB_OS_H
#define LDB_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "alloc.h"

/* Open a database file, for reading and writing if 'writable', creating a
 * missing one if 'create' too. A path that names something other than a
 * regular file fails with *kind set to what it is ("a directory", ...);
 * otherwise *kind is NULL and errno tells. */
LDB_INTERNAL int ldb_os_open(const char *path, int writable, int create, int *fd,
                             const char **kind);
LDB_INTERNAL void ldb_os_close(int fd);
LDB_INTERNAL int ldb_os_size(int fd, uint64_t *size);

/* Which file a descriptor reads, or a path names now (stat follows
 * symbolic links, as open does): two ids with the same dev and ino are
 * the same file. A follower compares them to notice a new file renamed
 * over its path (compaction). */
typedef struct ldb_file_id {
    uint64_t dev;  /* st_dev */
    uint64_t ino;  /* st_ino */
    uint64_t size; /* st_size, at the time of the call */
} ldb_file_id;
LDB_INTERNAL int ldb_os_fd_id(int fd, ldb_file_id *id);
LDB_INTERNAL int ldb_os_path_id(const char *path, ldb_file_id *id);
LDB_INTERNAL int ldb_os_pread_all(int fd, void *buf, size_t n, uint64_t off,
                                  size_t *got);
LDB_INTERNAL int ldb_os_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
LDB_INTERNAL int ldb_os_sync(int fd);
LDB_INTERNAL int ldb_os_truncate(int fd, uint64_t size);
/* rename(2) and unlink(2). */
LDB_INTERNAL int ldb_os_rename(const char *from, const char *to);
LDB_INTERNAL int ldb_os_unlink(const char *path);
/* 1 if 'path' names the file open as fd now (not one renamed over it). */
LDB_INTERNAL int ldb_os_names_file(const char *path, int fd);
/* fsync the directory holding 'path', so a new file's name is durable. */
LDB_INTERNAL int ldb_os_sync_dir(const char *path);

/* Take the single-writer lock on an open file without waiting. Returns 0,
 * or -1 with errno EWOULDBLOCK when another handle holds it; then *holder_pid
 * is the holder's pid, or 0 if unknown, or getpid() for this process. */
LDB_INTERNAL int ldb_os_lock_writer(int fd, long *holder_pid);
/* Ask, without taking it, whether another handle holds the writer lock
 * (the fd may be read-only). Returns 1 with *holder_pid as above, 0 if
 * nobody does, -1 with errno set if the system cannot tell. */
LDB_INTERNAL int ldb_os_writer_holder(int fd, long *holder_pid);

/* Fill buf with unpredictable bytes (getrandom, falling back to a mix of
 * clock, pid and addresses). Never fails. */
LDB_INTERNAL void ldb_os_random(void *buf, size_t n);

/* Tell the OS the whole pages inside [p, p + n) are no longer needed
 * (madvise MADV_DONTNEED): they read as zeros if touched again. Best effort;
 * a no-op where unsupported. */
LDB_INTERNAL void ldb_os_release_pages(void *p, size_t n);

/* Monotonic clock in milliseconds. */
LDB_INTERNAL uint64_t ldb_os_now_ms(void);

#ifdef LAYERDB_FAULTS
/* ---- Fault injection (test builds only) ---- */
enum ldb_fault_op { LDB_FAULT_WRITE, LDB_FAULT_SYNC, LDB_FAULT_READ, LDB_FAULT_NOPS };
/* The 'nth' call (1 = the next one) of 'op' from now fails with 'err'; with
 * short_bytes > 0 a write instead writes that many bytes and then fails.
 * nth == 0 clears the plan for op. Counts are process-wide, so a test
 * plans faults for one handle at a time. */
LDB_INTERNAL void ldb_fault_plan(int op, long nth, int err, size_t short_bytes);
/* Call fn(ud) just before the 'nth' read from now does its I/O (once; nth
 * == 0 clears it): a test changes the file between two reads of one
 * replay, as a writer in another process may. */
LDB_INTERNAL void ldb_fault_before_read(long nth, void (*fn)(void *ud), void *ud);
#endif

#endif
