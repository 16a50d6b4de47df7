/*
 * Shared by the files of ikfs's libfuse3 binding (overview in ikfs_fuse3.c):
 *   operations.c    the kernel side: libfuse's worker threads, one request record per call into JavaScript
 *   ikfs_fuse3.c    the JavaScript side: dispatch, reply, mount and the loop thread, copyIn/copyOut
 *   forget_names.c  notifications that make the kernel forget "no such file" answers (a refresh)
 *   open_files.c    /dev/fuse read and written through it: fstat (fchmod, fchown, futimens) of an open file that has lost its name
 */
#ifndef IKFS_FUSE3_BINDING_H
#define IKFS_FUSE3_BINDING_H

#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "open_files.h"

enum op {
  OP_INIT = 0, OP_GETATTR, OP_READDIR, OP_OPEN, OP_READ, OP_WRITE, OP_RELEASE, OP_FLUSH, OP_FSYNC,
  OP_TRUNCATE, OP_FTRUNCATE, OP_CREATE, OP_UNLINK, OP_MKDIR, OP_RMDIR, OP_RENAME, OP_UTIMENS, OP_CHMOD,
  OP_CHOWN, OP_STATFS, OP_GETXATTR, OP_LISTXATTR, OP_SETXATTR, OP_REMOVEXATTR, OP_SYMLINK, OP_LINK,
  OP_MKNOD, OP_READLINK, OP_COPY_FILE_RANGE, OP_FALLOCATE, OP_REOPEN, OP_EXIT,
};

/* Numbers per stat in getattr and readdir replies (native/fuse3.ts STAT_FIELDS has the same order). */
enum stat_field {
  ST_MODE = 0, ST_UID, ST_GID, ST_SIZE, ST_NLINK, ST_INO, ST_BLKSIZE, ST_BLOCKS, ST_ATIME, ST_MTIME, ST_CTIME,
  STAT_FIELDS,
};
enum statfs_field {
  SF_BSIZE = 0, SF_FRSIZE, SF_BLOCKS, SF_BFREE, SF_BAVAIL, SF_FILES, SF_FFREE, SF_FAVAIL, SF_NAMEMAX,
  STATFS_FIELDS,
};

typedef struct session {
  struct fuse *fuse;
  /* Held for reading while a notification uses `fuse`, for writing while the loop thread destroys it. */
  pthread_rwlock_t fuse_lock;
  char mountpoint[4096];
  napi_threadsafe_function tsfn;
  /*
   * Set once JavaScript no longer listens (unref: the process may exit, and exiting frees `tsfn` under any
   * thread still holding it) or the loop thread has released `tsfn`; from then on no thread touches it. Held
   * for reading around each use of `tsfn` by a libfuse thread, for writing to set `js_gone`.
   */
  pthread_rwlock_t tsfn_lock;
  int js_gone;
  pthread_t thread;
  unsigned max_write;
  unsigned max_read;
  unsigned max_readahead;
  unsigned max_background;
  unsigned max_threads;
  int writeback_cache;
  int loop_result;
  /* Extended attributes exist only under this prefix ("user."): the rest answer ENOTSUP here, without a round
     trip into JavaScript (the kernel asks for security.capability before every write(2)). Empty: ask JS. */
  char xattr_namespace[32];
  /* A second descriptor of /dev/fuse, numbered above every other (keep_device_last), or -1. */
  int device_last_fd;
  /* The open handles of each node, for fstat of a file that has lost its name (open_files.c); NULL if not kept. */
  open_files_t *open_files;
  void *io_owner; /* libfuse's user data for the I/O callbacks (the struct fuse), set once */
} session_t;

/*
 * One open directory: the listing JavaScript gave at offset 0, served from here for every later chunk.
 * libfuse's own whole-listing mode (offset 0 for every entry) drops READDIRPLUS attributes in libfuse 3.14,
 * so entries go out with real offsets; keeping the listing here makes each chunk a C loop, not a JS call.
 */
typedef struct dir_handle {
  uint32_t count;
  char **names;
  struct stat *stats;
} dir_handle_t;

void dir_handle_clear(dir_handle_t *d);

typedef struct request {
  int op;
  const char *path;
  const char *path2;   /* rename target, xattr name, symlink target, link target, copy_file_range target */
  const char *wbuf;    /* write data / setxattr value */
  char *rbuf;          /* read / getxattr / listxattr / readlink destination */
  size_t size;
  int64_t offset;
  int64_t offset2;     /* copy_file_range: the target's offset; fallocate: the length */
  uint32_t mode;
  uint32_t flags;
  uint32_t uid;
  uint32_t gid;
  double t_access;     /* utimens, ms since the epoch; NaN: leave unchanged */
  double t_modify;
  struct fuse_file_info *fi;
  struct fuse_file_info *fi2; /* copy_file_range: the target's open file */
  struct stat *st;
  struct statvfs *stv;
  dir_handle_t *dir;
  int has_stat;        /* create: the reply carried the new file's stat (into st) */
  uint32_t caller;     /* open, create, flush: the calling process (thread group id), 0 when unknown */
  int64_t result;      /* 0, a negative errno, or a byte count (read, write, copy_file_range) */
  sem_t done;
} request_t;

#define NAPI_OK(call)                                                                   \
  do {                                                                                  \
    if ((call) != napi_ok) {                                                            \
      napi_throw_error(env, NULL, "ikfs_fuse3: N-API call failed: " #call);             \
      return NULL;                                                                      \
    }                                                                                   \
  } while (0)

/* operations.c */
extern const struct fuse_operations ikfs_operations;
int reopen_by_handle(void *session, uint64_t fh, uint32_t flags, uint64_t *new_fh, uint32_t *reply_flags);
void release_by_handle(void *session, uint64_t fh);

/* ikfs_fuse3.c */
int start_thread(pthread_t *thread, void *(*run)(void *), void *arg);
char *string_arg(napi_env env, napi_value value);

/* forget_names.c */
napi_value js_forget_names(napi_env env, napi_callback_info info);
napi_value js_expire_attrs(napi_env env, napi_callback_info info);

#endif
