/*
 * Which kernel nodes have open handles, learned on /dev/fuse (open_files.c). A header of its own, free of
 * libfuse's: only open_files.c reads the kernel's message layouts (<linux/fuse.h>).
 */
#ifndef IKFS_FUSE3_OPEN_FILES_H
#define IKFS_FUSE3_OPEN_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct open_files open_files_t;

/*
 * Set in a handle open_files.c gives a SETATTR that changes the size and came without one (truncate(2), by a name
 * or by /proc/PID/fd/N): the truncate stays one by name while the node has a name (operations.c op_truncate).
 * JavaScript's handles never reach it; ikfs_fuse3.c clears it before passing a handle on.
 */
#define BY_NAME_HANDLE ((uint64_t)1 << 63)

/* open_files_calls_t.reopen's flags for the kernel. */
#define REOPENED_DIRECT_IO 1
#define REOPENED_NO_FLUSH 2

/* What open_files.c asks of JavaScript (operations.c), for a file reopened while it has no name. */
typedef struct open_files_calls {
  void *session;
  /* Another handle, opened with open(2)'s `flags`, on what handle `fh` has open: 0 with *new_fh and REOPENED_*
     bits, or -errno. */
  int (*reopen)(void *session, uint64_t fh, uint32_t flags, uint64_t *new_fh, uint32_t *reply_flags);
  void (*release)(void *session, uint64_t fh);
} open_files_calls_t;

open_files_t *open_files_new(open_files_calls_t calls);
void open_files_free(open_files_t *o);
/* read(2) and writev(2) of the session's /dev/fuse descriptor (fuse_custom_io's read and writev). */
ssize_t open_files_read(open_files_t *o, int fd, void *buf, size_t length);
ssize_t open_files_writev(open_files_t *o, int fd, struct iovec *iov, int count);

#endif
