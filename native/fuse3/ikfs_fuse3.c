/*
 * ikfs's libfuse3 binding: libfuse3's high-level (path-based) API bridged to one JavaScript dispatcher.
 *
 * Why not fuse-native: it is built on libfuse2, which caps requests at 128 KiB and has neither READDIRPLUS
 * nor 1 MiB writes; every request costs a round trip into JavaScript, so those limits set our throughput.
 *
 * Threading: fuse_loop_mt's worker threads run the fuse_operations below. Each one fills a request record
 * on its own stack, hands it to the JavaScript thread through a thread-safe function, and sleeps on the
 * record's semaphore until JavaScript calls reply(). Everything the reply writes (stat, directory entries,
 * xattr bytes) is written on the JavaScript thread while the worker sleeps, and sem_post/sem_wait order
 * those writes before the worker reads them. After reply() the record is gone: the JavaScript side
 * (native/fuse3.ts) guarantees exactly one reply per request.
 *
 * Buffers: no JavaScript Buffer ever points into libfuse's memory. A write's data is copied into pooled
 * JavaScript memory by copyIn(); a read's bytes are copied from the reader's block memory into libfuse's
 * buffer by copyOut(), piece by piece, before reply(). Both run on the JavaScript thread while the worker
 * waits. (A new external Buffer per request made V8 run a full garbage collection every few dozen MiB.)
 */
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

enum op {
  OP_INIT = 0, OP_GETATTR, OP_READDIR, OP_OPEN, OP_READ, OP_WRITE, OP_RELEASE, OP_FLUSH, OP_FSYNC,
  OP_TRUNCATE, OP_FTRUNCATE, OP_CREATE, OP_UNLINK, OP_MKDIR, OP_RMDIR, OP_RENAME, OP_UTIMENS, OP_CHMOD,
  OP_CHOWN, OP_STATFS, OP_GETXATTR, OP_LISTXATTR, OP_SETXATTR, OP_REMOVEXATTR, OP_SYMLINK, OP_LINK,
  OP_MKNOD, OP_READLINK, OP_COPY_FILE_RANGE, OP_FALLOCATE, OP_EXIT,
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

static void dir_handle_clear(dir_handle_t *d) {
  for (uint32_t i = 0; i < d->count; i++) free(d->names[i]);
  free(d->names);
  free(d->stats);
  d->count = 0;
  d->names = NULL;
  d->stats = NULL;
}

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
  int64_t result;      /* 0, a negative errno, or a byte count (read, write, copy_file_range) */
  sem_t done;
} request_t;

static session_t *current_session(void) {
  return (session_t *)fuse_get_context()->private_data;
}

/* Runs on a libfuse worker thread: JavaScript answers through reply(). */
static int64_t call_js(session_t *s, request_t *r) {
  if (sem_init(&r->done, 0, 0) != 0) return -EIO;
  r->result = -EIO;
  if (napi_call_threadsafe_function(s->tsfn, r, napi_tsfn_blocking) != napi_ok) {
    sem_destroy(&r->done);
    return -EIO;
  }
  while (sem_wait(&r->done) != 0 && errno == EINTR) {}
  sem_destroy(&r->done);
  return r->result;
}

#define REQUEST(opcode) request_t r; memset(&r, 0, sizeof r); r.op = (opcode)
#define CALL() call_js(current_session(), &r)

/*
 * libfuse's create is followed, on the same worker thread, by a getattr of the new file with its handle
 * (fuse_lib_create -> lookup_path). JavaScript answers create with the new file's stat as well, kept here for
 * that one getattr: one round trip per created file instead of two.
 */
static __thread struct {
  int valid;
  uint64_t fh;
  struct stat st;
} created_stat;

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  session_t *s = current_session();
  cfg->use_ino = 1;
  cfg->nullpath_ok = 0;
  /* Unlinking (or renaming over) a file that is open removes it at once. Without this libfuse renames it to
     .fuse_hiddenNNNN instead until its last close: a rename and a delete in the library, and a name other
     clients see meanwhile. Ops on such a file's handles then come with no path (native/fuse3.ts). */
  cfg->hard_remove = 1;
  conn->max_write = s->max_write;
  conn->max_read = s->max_read; /* must equal the max_read mount option, or libfuse refuses INIT */
  conn->max_readahead = s->max_readahead;
  if (s->max_background) conn->max_background = s->max_background;
  if (conn->capable & FUSE_CAP_READDIRPLUS) {
    conn->want |= FUSE_CAP_READDIRPLUS;
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  }
  if (s->writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  else conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  REQUEST(OP_INIT);
  r.size = conn->max_write;
  r.flags = conn->want;
  call_js(s, &r);
  return s;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  if (created_stat.valid) {
    created_stat.valid = 0;
    if (fi != NULL && fi->fh == created_stat.fh) {
      *st = created_stat.st;
      return 0;
    }
  }
  REQUEST(OP_GETATTR);
  r.path = path;
  r.st = st;
  r.fi = fi;
  return CALL();
}

static int op_opendir(const char *path, struct fuse_file_info *fi) {
  (void)path;
  dir_handle_t *d = calloc(1, sizeof *d);
  if (d == NULL) return -ENOMEM;
  fi->fh = (uint64_t)(uintptr_t)d;
  return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi) {
  (void)path;
  dir_handle_t *d = (dir_handle_t *)(uintptr_t)fi->fh;
  if (d) {
    dir_handle_clear(d);
    free(d);
  }
  return 0;
}

/* Offsets: 1 is after ".", 2 after "..", 2 + i after listing entry i. Offset 0 (re)loads the listing. */
static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
  dir_handle_t *d = (dir_handle_t *)(uintptr_t)fi->fh;
  if (d == NULL) return -EBADF;
  if (off == 0) {
    REQUEST(OP_READDIR);
    r.path = path;
    r.dir = d;
    int res = CALL();
    if (res != 0) return res;
  }
  enum fuse_fill_dir_flags plus = (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0;
  for (off_t i = off; i < (off_t)d->count + 2; i++) {
    int full;
    if (i < 2) full = filler(buf, i == 0 ? "." : "..", NULL, i + 1, 0);
    else full = filler(buf, d->names[i - 2], &d->stats[i - 2], i + 1, plus);
    if (full) break;
  }
  return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi) {
  REQUEST(OP_OPEN);
  r.path = path;
  r.flags = (uint32_t)fi->flags;
  r.fi = fi;
  return CALL();
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
  created_stat.valid = 0;
  REQUEST(OP_CREATE);
  r.path = path;
  r.mode = mode;
  r.flags = (uint32_t)fi->flags;
  r.fi = fi;
  r.st = &created_stat.st;
  int res = CALL();
  if (res == 0 && r.has_stat) {
    created_stat.fh = fi->fh;
    created_stat.valid = 1;
  }
  return res;
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  REQUEST(OP_READ);
  r.path = path;
  r.rbuf = buf;
  r.size = size;
  r.offset = off;
  r.fi = fi;
  return CALL();
}

static int op_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  REQUEST(OP_WRITE);
  r.path = path;
  r.wbuf = buf;
  r.size = size;
  r.offset = off;
  r.fi = fi;
  return CALL();
}

static int op_with_fi(int opcode, const char *path, struct fuse_file_info *fi) {
  REQUEST(opcode);
  r.path = path;
  r.fi = fi;
  return CALL();
}
static int op_release(const char *path, struct fuse_file_info *fi) { return op_with_fi(OP_RELEASE, path, fi); }
static int op_flush(const char *path, struct fuse_file_info *fi) { return op_with_fi(OP_FLUSH, path, fi); }

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  REQUEST(OP_FSYNC);
  r.path = path;
  r.flags = (uint32_t)datasync;
  r.fi = fi;
  return CALL();
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  REQUEST(fi ? OP_FTRUNCATE : OP_TRUNCATE);
  r.path = path;
  r.offset = size;
  r.fi = fi;
  return CALL();
}

static int op_path(int opcode, const char *path) {
  REQUEST(opcode);
  r.path = path;
  return CALL();
}
static int op_unlink(const char *path) { return op_path(OP_UNLINK, path); }
static int op_rmdir(const char *path) { return op_path(OP_RMDIR, path); }

static int op_mkdir(const char *path, mode_t mode) {
  REQUEST(OP_MKDIR);
  r.path = path;
  r.mode = mode;
  return CALL();
}

static int op_rename(const char *from, const char *to, unsigned int flags) {
  REQUEST(OP_RENAME);
  r.path = from;
  r.path2 = to;
  r.flags = flags;
  return CALL();
}

/* A whole-file copy inside the mount may be done by ImageKit's copy API; JavaScript answers ENOTSUP (EOPNOTSUPP)
   otherwise, and the kernel then copies through reads and writes itself. */
static ssize_t op_copy_file_range(const char *path_in, struct fuse_file_info *fi_in, off_t off_in, const char *path_out,
                                  struct fuse_file_info *fi_out, off_t off_out, size_t size, int flags) {
  REQUEST(OP_COPY_FILE_RANGE);
  r.path = path_in;
  r.fi = fi_in;
  r.offset = off_in;
  r.path2 = path_out;
  r.fi2 = fi_out;
  r.offset2 = off_out;
  r.size = size;
  r.flags = (uint32_t)flags;
  return (ssize_t)CALL();
}

/* fallocate(2) on an open file: JavaScript grows the file (mode 0), accepts FALLOC_FL_KEEP_SIZE, refuses the rest.
   Without this op the kernel answers EOPNOTSUPP, and glibc's posix_fallocate then writes one byte per 4 KiB. */
static int op_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi) {
  REQUEST(OP_FALLOCATE);
  r.path = path;
  r.mode = (uint32_t)mode;
  r.offset = off;
  r.offset2 = len;
  r.fi = fi;
  return CALL();
}

static double timespec_ms(const struct timespec *t) {
  if (t->tv_nsec == UTIME_OMIT) return __builtin_nan("");
  if (t->tv_nsec == UTIME_NOW) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
  }
  return (double)t->tv_sec * 1000.0 + (double)t->tv_nsec / 1e6;
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
  (void)fi;
  REQUEST(OP_UTIMENS);
  r.path = path;
  struct timespec now_both[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  if (tv == NULL) tv = now_both;
  r.t_access = timespec_ms(&tv[0]);
  r.t_modify = timespec_ms(&tv[1]);
  return CALL();
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
  (void)fi;
  REQUEST(OP_CHMOD);
  r.path = path;
  r.mode = mode;
  return CALL();
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
  (void)fi;
  REQUEST(OP_CHOWN);
  r.path = path;
  r.uid = uid;
  r.gid = gid;
  return CALL();
}

static int op_statfs(const char *path, struct statvfs *stv) {
  REQUEST(OP_STATFS);
  r.path = path;
  r.stv = stv;
  return CALL();
}

static int op_getxattr(const char *path, const char *name, char *value, size_t size) {
  const char *only = current_session()->xattr_namespace;
  if (only[0] != '\0' && strncmp(name, only, strlen(only)) != 0) return -ENOTSUP;
  REQUEST(OP_GETXATTR);
  r.path = path;
  r.path2 = name;
  r.rbuf = value;
  r.size = size;
  return CALL();
}

static int op_listxattr(const char *path, char *list, size_t size) {
  REQUEST(OP_LISTXATTR);
  r.path = path;
  r.rbuf = list;
  r.size = size;
  return CALL();
}

static int op_setxattr(const char *path, const char *name, const char *value, size_t size, int flags) {
  REQUEST(OP_SETXATTR);
  r.path = path;
  r.path2 = name;
  r.wbuf = value;
  r.size = size;
  r.flags = (uint32_t)flags;
  return CALL();
}

static int op_removexattr(const char *path, const char *name) {
  REQUEST(OP_REMOVEXATTR);
  r.path = path;
  r.path2 = name;
  return CALL();
}

static int op_symlink(const char *target, const char *path) {
  REQUEST(OP_SYMLINK);
  r.path = path;
  r.path2 = target;
  return CALL();
}

static int op_link(const char *from, const char *to) {
  REQUEST(OP_LINK);
  r.path = to;
  r.path2 = from;
  return CALL();
}

static int op_mknod(const char *path, mode_t mode, dev_t dev) {
  (void)dev;
  REQUEST(OP_MKNOD);
  r.path = path;
  r.mode = mode;
  return CALL();
}

static int op_readlink(const char *path, char *buf, size_t size) {
  REQUEST(OP_READLINK);
  r.path = path;
  r.rbuf = buf;
  r.size = size;
  return CALL();
}

static const struct fuse_operations operations = {
  .init = op_init,
  .getattr = op_getattr,
  .opendir = op_opendir,
  .readdir = op_readdir,
  .releasedir = op_releasedir,
  .open = op_open,
  .create = op_create,
  .read = op_read,
  .write = op_write,
  .release = op_release,
  .flush = op_flush,
  .fsync = op_fsync,
  .truncate = op_truncate,
  .unlink = op_unlink,
  .mkdir = op_mkdir,
  .rmdir = op_rmdir,
  .rename = op_rename,
  .utimens = op_utimens,
  .chmod = op_chmod,
  .chown = op_chown,
  .statfs = op_statfs,
  .getxattr = op_getxattr,
  .listxattr = op_listxattr,
  .setxattr = op_setxattr,
  .removexattr = op_removexattr,
  .symlink = op_symlink,
  .link = op_link,
  .mknod = op_mknod,
  .readlink = op_readlink,
  .copy_file_range = op_copy_file_range,
  .fallocate = op_fallocate,
};

/* ---------------------------------------------------------------- JavaScript side */

#define NAPI_OK(call)                                                                   \
  do {                                                                                  \
    if ((call) != napi_ok) {                                                            \
      napi_throw_error(env, NULL, "ikfs_fuse3: N-API call failed: " #call);             \
      return NULL;                                                                      \
    }                                                                                   \
  } while (0)

static napi_value num(napi_env env, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  return v;
}

static napi_value str(napi_env env, const char *value) {
  napi_value v;
  if (value == NULL) napi_get_null(env, &v);
  else napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v);
  return v;
}

/* dispatch(op, id, path, ...) on the JavaScript thread. */
static void js_dispatch(napi_env env, napi_value dispatch, void *context, void *data) {
  (void)context;
  request_t *r = (request_t *)data;
  if (env == NULL) { /* the thread-safe function is being torn down */
    if (r->op != OP_EXIT) { r->result = -EIO; sem_post(&r->done); }
    return;
  }
  napi_value argv[10];
  size_t argc = 0;
  argv[argc++] = num(env, r->op);
  argv[argc++] = num(env, (double)(uintptr_t)r);
  argv[argc++] = str(env, r->path);
  uint64_t fh = r->fi ? r->fi->fh : 0;
  switch (r->op) {
    case OP_GETATTR: /* by handle (0 for none): it answers when the file has no path any more (native/fuse3.ts) */
      argv[argc++] = num(env, (double)fh);
      break;
    case OP_INIT:
      argv[argc++] = num(env, (double)r->size);
      argv[argc++] = num(env, r->flags);
      break;
    case OP_OPEN:
      argv[argc++] = num(env, r->flags);
      break;
    case OP_CREATE:
      argv[argc++] = num(env, r->mode);
      argv[argc++] = num(env, r->flags);
      break;
    case OP_READ: /* JavaScript reads into memory of its own and hands it to reply() (see js_reply) */
      argv[argc++] = num(env, (double)fh);
      argv[argc++] = num(env, (double)r->size);
      argv[argc++] = num(env, (double)r->offset);
      break;
    case OP_WRITE: /* JavaScript copies the data into memory of its own with copyIn() */
      argv[argc++] = num(env, (double)fh);
      argv[argc++] = num(env, (double)r->size);
      argv[argc++] = num(env, (double)r->offset);
      break;
    case OP_RELEASE:
    case OP_FLUSH:
      argv[argc++] = num(env, (double)fh);
      break;
    case OP_FSYNC:
      argv[argc++] = num(env, (double)fh);
      argv[argc++] = num(env, r->flags);
      break;
    case OP_TRUNCATE:
      argv[argc++] = num(env, (double)r->offset);
      break;
    case OP_FTRUNCATE:
      argv[argc++] = num(env, (double)fh);
      argv[argc++] = num(env, (double)r->offset);
      break;
    case OP_MKDIR:
    case OP_CHMOD:
    case OP_MKNOD:
      argv[argc++] = num(env, r->mode);
      break;
    case OP_RENAME:
      argv[argc++] = str(env, r->path2);
      argv[argc++] = num(env, r->flags);
      break;
    case OP_COPY_FILE_RANGE:
      argv[argc++] = num(env, (double)fh);
      argv[argc++] = num(env, (double)r->offset);
      argv[argc++] = str(env, r->path2);
      argv[argc++] = num(env, (double)(r->fi2 ? r->fi2->fh : 0));
      argv[argc++] = num(env, (double)r->offset2);
      argv[argc++] = num(env, (double)r->size);
      argv[argc++] = num(env, r->flags);
      break;
    case OP_FALLOCATE:
      argv[argc++] = num(env, (double)fh);
      argv[argc++] = num(env, r->mode);
      argv[argc++] = num(env, (double)r->offset);
      argv[argc++] = num(env, (double)r->offset2);
      break;
    case OP_UTIMENS:
      argv[argc++] = num(env, r->t_access);
      argv[argc++] = num(env, r->t_modify);
      break;
    case OP_CHOWN:
      argv[argc++] = num(env, r->uid == (uint32_t)-1 ? -1.0 : (double)r->uid);
      argv[argc++] = num(env, r->gid == (uint32_t)-1 ? -1.0 : (double)r->gid);
      break;
    case OP_GETXATTR:
      argv[argc++] = str(env, r->path2);
      argv[argc++] = num(env, (double)r->size);
      break;
    case OP_LISTXATTR:
      argv[argc++] = num(env, (double)r->size);
      break;
    case OP_SETXATTR: {
      napi_value copy;
      void *unused;
      napi_create_buffer_copy(env, r->size, r->wbuf, &unused, &copy);
      argv[argc++] = str(env, r->path2);
      argv[argc++] = copy;
      argv[argc++] = num(env, r->flags);
      break;
    }
    case OP_REMOVEXATTR:
    case OP_SYMLINK:
    case OP_LINK:
      argv[argc++] = str(env, r->path2);
      break;
    default:
      break;
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  /* native/fuse3.ts never throws out of dispatch; if it did, report it without touching r (it may be gone). */
  if (napi_call_function(env, undefined, dispatch, argc, argv, NULL) == napi_pending_exception) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    fprintf(stderr, "ikfs_fuse3: the dispatcher threw (op %d)\n", r->op);
  }
}

/*
 * Points *out at the numbers of a Float64Array holding at least `need` of them; -1 if it is not one. (An
 * empty array may have no memory at all: *out is then NULL, which is fine for need 0.)
 */
static int float64s(napi_env env, napi_value array, size_t need, const double **out) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, array, &type, &length, &data, NULL, NULL) != napi_ok) return -1;
  if (type != napi_float64_array || length < need) return -1;
  *out = (const double *)data;
  return 0;
}

/* One stat: STAT_FIELDS numbers in the order of enum stat_field. */
static void fill_stat(const double *f, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_mode = (mode_t)f[ST_MODE];
  st->st_uid = (uid_t)f[ST_UID];
  st->st_gid = (gid_t)f[ST_GID];
  st->st_size = (off_t)f[ST_SIZE];
  st->st_nlink = (nlink_t)f[ST_NLINK];
  st->st_ino = (ino_t)f[ST_INO];
  st->st_blksize = (blksize_t)f[ST_BLKSIZE];
  st->st_blocks = (blkcnt_t)f[ST_BLOCKS];
  const double *times[3] = {&f[ST_ATIME], &f[ST_MTIME], &f[ST_CTIME]};
  struct timespec *targets[3] = {&st->st_atim, &st->st_mtim, &st->st_ctim};
  for (int i = 0; i < 3; i++) {
    double ms = *times[i];
    int64_t sec = (int64_t)(ms / 1000.0);
    if ((double)sec * 1000.0 > ms) sec--;
    targets[i]->tv_sec = sec;
    targets[i]->tv_nsec = (long)((ms - (double)sec * 1000.0) * 1e6);
  }
}

/* Copies the listing (names: string[], stats: Float64Array) into the directory handle. */
static int fill_dir(napi_env env, dir_handle_t *d, napi_value names, napi_value stats) {
  uint32_t count;
  if (napi_get_array_length(env, names, &count) != napi_ok) return -EIO;
  const double *f;
  if (float64s(env, stats, (size_t)count * STAT_FIELDS, &f) != 0) return -EIO;
  dir_handle_clear(d);
  d->names = calloc(count ? count : 1, sizeof *d->names);
  d->stats = calloc(count ? count : 1, sizeof *d->stats);
  if (d->names == NULL || d->stats == NULL) {
    dir_handle_clear(d);
    return -ENOMEM;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    size_t length;
    if (napi_get_element(env, names, i, &element) != napi_ok ||
        napi_get_value_string_utf8(env, element, NULL, 0, &length) != napi_ok ||
        (d->names[d->count] = malloc(length + 1)) == NULL) {
      dir_handle_clear(d);
      return -EIO;
    }
    napi_get_value_string_utf8(env, element, d->names[d->count], length + 1, &length);
    fill_stat(f + (size_t)i * STAT_FIELDS, &d->stats[d->count]);
    d->count++;
  }
  return 0;
}

static void fill_statfs(const double *f, struct statvfs *stv) {
  memset(stv, 0, sizeof *stv);
  stv->f_bsize = (unsigned long)f[SF_BSIZE];
  stv->f_frsize = (unsigned long)f[SF_FRSIZE];
  stv->f_blocks = (fsblkcnt_t)f[SF_BLOCKS];
  stv->f_bfree = (fsblkcnt_t)f[SF_BFREE];
  stv->f_bavail = (fsblkcnt_t)f[SF_BAVAIL];
  stv->f_files = (fsfilcnt_t)f[SF_FILES];
  stv->f_ffree = (fsfilcnt_t)f[SF_FFREE];
  stv->f_favail = (fsfilcnt_t)f[SF_FAVAIL];
  stv->f_namemax = (unsigned long)f[SF_NAMEMAX];
}

/* The Linux xattr size protocol: size 0 asks for the length; too small a buffer is ERANGE. */
static int fit_into(request_t *r, const void *data, size_t length) {
  if (r->size == 0) return (int)length;
  if (length > r->size) return -ERANGE;
  memcpy(r->rbuf, data, length);
  return (int)length;
}

/* A JavaScript string as a new C string (the caller frees it); NULL when it is no string or memory ran out. */
static char *string_arg(napi_env env, napi_value value) {
  size_t n;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &n) != napi_ok) return NULL;
  char *out = malloc(n + 1);
  if (out && napi_get_value_string_utf8(env, value, out, n + 1, &n) != napi_ok) {
    free(out);
    return NULL;
  }
  return out;
}

/* The open flags an open or create reply may ask for (native/fuse3.ts OpenReply has the same values). */
#define REPLY_DIRECT_IO 1

/* reply(id, code[, a[, b[, c]]]): code is 0, a negative errno, or a byte count (read/write). Open and create:
   a is the handle, b the new file's stat (create), c REPLY_* bits. */
static napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "reply(id, code, ...)");
    return NULL;
  }
  double id;
  double code_value;
  NAPI_OK(napi_get_value_double(env, argv[0], &id));
  NAPI_OK(napi_get_value_double(env, argv[1], &code_value));
  int64_t code = (int64_t)code_value; /* a byte count may exceed 2^31 (copy_file_range) */
  request_t *r = (request_t *)(uintptr_t)id;
  if (code >= 0) {
    switch (r->op) {
      case OP_GETATTR: {
        const double *f;
        if (argc < 3 || float64s(env, argv[2], STAT_FIELDS, &f) != 0) code = -EIO;
        else fill_stat(f, r->st);
        break;
      }
      case OP_READDIR:
        code = argc < 4 ? -EIO : fill_dir(env, r->dir, argv[2], argv[3]);
        break;
      case OP_OPEN:
      case OP_CREATE: {
        double fh;
        const double *f;
        if (argc < 3 || napi_get_value_double(env, argv[2], &fh) != napi_ok) {
          code = -EIO;
          break;
        }
        r->fi->fh = (uint64_t)fh;
        if (r->op == OP_CREATE && argc >= 4 && float64s(env, argv[3], STAT_FIELDS, &f) == 0) {
          fill_stat(f, r->st);
          r->has_stat = 1;
        }
        uint32_t open_flags = 0;
        if (argc >= 5 && napi_get_value_uint32(env, argv[4], &open_flags) == napi_ok && (open_flags & REPLY_DIRECT_IO)) {
          r->fi->direct_io = 1;
        }
        break;
      }
      case OP_STATFS: {
        const double *f;
        if (argc < 3 || float64s(env, argv[2], STATFS_FIELDS, &f) != 0) code = -EIO;
        else fill_statfs(f, r->stv);
        break;
      }
      case OP_GETXATTR:
      case OP_LISTXATTR:
      case OP_READLINK: {
        void *data;
        size_t length;
        if (argc < 3 || napi_get_buffer_info(env, argv[2], &data, &length) != napi_ok) {
          code = -EIO;
        } else if (r->op == OP_READLINK) {
          if (r->size == 0) { code = -EINVAL; break; }
          size_t n = length < r->size - 1 ? length : r->size - 1;
          memcpy(r->rbuf, data, n);
          r->rbuf[n] = '\0';
          code = 0;
        } else {
          code = fit_into(r, data, length);
        }
        break;
      }
      case OP_READ:
        /* The bytes are in libfuse's buffer already (copyOut). */
        if ((size_t)code > r->size) code = -EIO;
        break;
      case OP_WRITE:
      case OP_COPY_FILE_RANGE:
        if ((size_t)code > r->size) code = -EIO;
        break;
      default:
        code = 0;
        break;
    }
  }
  r->result = code;
  sem_post(&r->done);
  return NULL;
}

/* Starts a thread that never takes signals (they belong to Node's thread; the loop's workers inherit the mask). */
static int start_thread(pthread_t *thread, void *(*run)(void *), void *arg) {
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int started = pthread_create(thread, NULL, run, arg);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  return started;
}

static void *loop_thread(void *arg) {
  session_t *s = (session_t *)arg;
  /*
   * The workers (created by fuse_loop_mt from this thread, so of its policy) sleep most of the time, so when
   * reply() wakes one the kernel lets it preempt the JavaScript thread at once; on a machine with few cores
   * that thread then waits while the worker writes the reply into the kernel. SCHED_BATCH threads never
   * preempt on wake-up: they run on another core, or when the JavaScript thread waits (measured on 2 cores:
   * 8 parallel readers +15%, a 1 GiB read +20-40% and a 1 GiB write +10-70%, with less CPU). Not fatal.
   */
  struct sched_param no_priority = {0};
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &no_priority);
  struct fuse_loop_config *config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, s->max_threads);
  fuse_loop_cfg_set_idle_threads(config, 16);
  fuse_loop_cfg_set_clone_fd(config, 0);
  s->loop_result = fuse_loop_mt(s->fuse, config);
  fuse_loop_cfg_destroy(config);
  pthread_rwlock_wrlock(&s->fuse_lock);
  fuse_unmount(s->fuse); /* no-op when the kernel side is already gone (libfuse polls the fd first) */
  fuse_destroy(s->fuse);
  s->fuse = NULL;
  pthread_rwlock_unlock(&s->fuse_lock);
  static request_t exit_request = {.op = OP_EXIT};
  napi_call_threadsafe_function(s->tsfn, &exit_request, napi_tsfn_blocking);
  napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
  return NULL;
}

static int get_uint(napi_env env, napi_value object, const char *key, unsigned *out) {
  napi_value v;
  uint32_t value;
  if (napi_get_named_property(env, object, key, &v) != napi_ok) return -1;
  if (napi_get_value_uint32(env, v, &value) != napi_ok) return -1;
  *out = value;
  return 0;
}

/*
 * mount(mountpoint, args: string[], settings, dispatch): fuse_new + fuse_mount on this thread (errors are
 * thrown with libfuse's reason on stderr), then the loop on its own thread. settings: maxWrite, maxRead,
 * maxReadahead, maxBackground, maxThreads, writebackCache (0/1), xattrNamespace (string).
 */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "mount(mountpoint, args, settings, dispatch)");
    return NULL;
  }
  char mountpoint[4096];
  size_t length;
  NAPI_OK(napi_get_value_string_utf8(env, argv[0], mountpoint, sizeof mountpoint, &length));

  session_t *s = calloc(1, sizeof *s);
  if (!s) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  pthread_rwlock_init(&s->fuse_lock, NULL);
  memcpy(s->mountpoint, mountpoint, length + 1);
  if (get_uint(env, argv[2], "maxWrite", &s->max_write) || get_uint(env, argv[2], "maxRead", &s->max_read) || get_uint(env, argv[2], "maxReadahead", &s->max_readahead) ||
      get_uint(env, argv[2], "maxBackground", &s->max_background) || get_uint(env, argv[2], "maxThreads", &s->max_threads) ||
      get_uint(env, argv[2], "writebackCache", (unsigned *)&s->writeback_cache)) {
    free(s);
    napi_throw_type_error(env, NULL, "settings need maxWrite, maxRead, maxReadahead, maxBackground, maxThreads, writebackCache");
    return NULL;
  }
  napi_value namespace_value;
  size_t namespace_length = 0;
  if (napi_get_named_property(env, argv[2], "xattrNamespace", &namespace_value) != napi_ok ||
      napi_get_value_string_utf8(env, namespace_value, s->xattr_namespace, sizeof s->xattr_namespace, &namespace_length) != napi_ok ||
      namespace_length >= sizeof s->xattr_namespace - 1) {
    free(s);
    napi_throw_type_error(env, NULL, "settings need xattrNamespace (a string of at most 30 bytes; empty: every name goes to JavaScript)");
    return NULL;
  }


  uint32_t count;
  NAPI_OK(napi_get_array_length(env, argv[1], &count));
  char **strings = calloc(count + 1, sizeof *strings);
  struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
  int failed = strings == NULL;
  for (uint32_t i = 0; i < count && !failed; i++) {
    napi_value element;
    failed = napi_get_element(env, argv[1], i, &element) != napi_ok || (strings[i] = string_arg(env, element)) == NULL ||
             fuse_opt_add_arg(&args, strings[i]) != 0;
  }
  for (uint32_t i = 0; strings && i < count; i++) free(strings[i]);
  free(strings);
  if (failed) {
    fuse_opt_free_args(&args);
    free(s);
    napi_throw_error(env, NULL, "could not read the mount arguments");
    return NULL;
  }

  napi_value resource_name;
  napi_create_string_utf8(env, "ikfs_fuse3", NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_threadsafe_function(env, argv[3], NULL, resource_name, 0, 1, NULL, NULL, s, js_dispatch,
                                      &s->tsfn) != napi_ok) {
    fuse_opt_free_args(&args);
    free(s);
    napi_throw_error(env, NULL, "could not create the dispatcher");
    return NULL;
  }

  s->fuse = fuse_new(&args, &operations, sizeof operations, s);
  fuse_opt_free_args(&args);
  if (s->fuse == NULL) {
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    free(s);
    napi_throw_error(env, NULL, "fuse_new failed (libfuse may have printed why)");
    return NULL;
  }
  if (fuse_mount(s->fuse, mountpoint) != 0) {
    fuse_destroy(s->fuse);
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    free(s);
    napi_throw_error(env, NULL, "fuse_mount failed");
    return NULL;
  }

  if (start_thread(&s->thread, loop_thread, s) != 0) {
    fuse_unmount(s->fuse);
    fuse_destroy(s->fuse);
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    free(s);
    napi_throw_error(env, NULL, "could not start the FUSE loop thread");
    return NULL;
  }

  /* The session is never freed: the loop thread may outlive every JavaScript reference to it (one per mount). */
  pthread_detach(s->thread);
  napi_value handle;
  NAPI_OK(napi_create_external(env, s, NULL, NULL, &handle));
  return handle;
}

/* exit(handle): ends the loop from our side (it also ends by itself when the kernel side goes away). */
static napi_value js_exit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  session_t *s;
  NAPI_OK(napi_get_value_external(env, argv[0], (void **)&s));
  if (s->fuse) fuse_exit(s->fuse);
  return NULL;
}

/*
 * copyIn(id, dest): copies a pending write's data into dest (at least its size), during dispatch, while the
 * worker waits. A copy into reused memory costs less than a new external Buffer per request (see js_reply).
 */
static napi_value js_copy_in(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double id;
  void *data;
  size_t length;
  NAPI_OK(napi_get_value_double(env, argv[0], &id));
  NAPI_OK(napi_get_buffer_info(env, argv[1], &data, &length));
  request_t *r = (request_t *)(uintptr_t)id;
  if (r->op != OP_WRITE || length < r->size) {
    napi_throw_range_error(env, NULL, "copyIn: not a write, or the destination is too small");
    return NULL;
  }
  memcpy(data, r->wbuf, r->size);
  return NULL;
}

/*
 * copyOut(id, at, bytes): copies bytes into a pending read's buffer at offset `at`, during the request (before
 * its reply), while the worker waits: the reader hands its block memory here, so it is copied once.
 */
static napi_value js_copy_out(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double id;
  double at;
  napi_typedarray_type type;
  size_t length;
  void *data; /* already at the view's byte offset */
  NAPI_OK(napi_get_value_double(env, argv[0], &id));
  NAPI_OK(napi_get_value_double(env, argv[1], &at));
  if (napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "copyOut: bytes must be a Uint8Array");
    return NULL;
  }
  request_t *r = (request_t *)(uintptr_t)id;
  if (r->op != OP_READ || at < 0 || (size_t)at > r->size || length > r->size - (size_t)at) {
    napi_throw_range_error(env, NULL, "copyOut: not a read, or past the end of its buffer");
    return NULL;
  }
  memcpy(r->rbuf + (size_t)at, data, length);
  return NULL;
}

/*
 * forgetNames(handle, folder, names): makes the kernel forget what it remembers of `names` in `folder` (a path
 * inside the mount, "/" for its root), above all "no such file" answers it would otherwise keep for
 * negative_timeout. Resolves with how many names it had remembered; rejects with the errno message when the
 * folder cannot be resolved.
 *
 * The high-level API names files by path, but the kernel's notifications want the folder's node id: the
 * kernel's file handle for the folder carries it (fuse_encode_fh: node id, then generation).
 *
 * Runs on a thread of its own, never on libuv's pool: a notification waits for the folder's lock, which a
 * request in that folder (a create, a rename) holds until JavaScript answers it, and answering may need the
 * pool (the spool's files). Notifications that took the pool's four threads once stopped every answer.
 */
typedef struct forget_names {
  napi_threadsafe_function settle; /* back to the JavaScript thread to settle the promise */
  napi_deferred deferred;
  session_t *s;
  char *folder;
  uint32_t count;
  char **names;
  int error;
  uint32_t forgotten;
} forget_names_t;

/* The fuse kind of file handle with a node id and generation (FILEID_INO64_GEN). */
#define FUSE_HANDLE_TYPE 0x81

static int node_id_of(int dirfd, const char *path, int flags, int want_mount_id, int *mount_id, uint64_t *node_id) {
  struct { struct file_handle handle; unsigned char bytes[MAX_HANDLE_SZ]; } h;
  h.handle.handle_bytes = MAX_HANDLE_SZ;
  if (name_to_handle_at(dirfd, path, &h.handle, mount_id, flags) != 0) return errno;
  if (want_mount_id >= 0 && *mount_id != want_mount_id) return EXDEV; /* another file system mounted there */
  if (h.handle.handle_type != FUSE_HANDLE_TYPE || h.handle.handle_bytes < 12) return EINVAL;
  uint32_t words[2];
  memcpy(words, h.handle.f_handle, sizeof words);
  *node_id = ((uint64_t)words[0] << 32) | words[1];
  return 0;
}

/*
 * Whether the kernel holds `name` in `folder` as missing, asked of its cache alone (RESOLVE_CACHED: no
 * LOOKUP, so no listing fetched and no wait for the folder's lock). Only such names are forgotten: a name
 * that exists by now (made through this mount, or listed since) is left alone, since forgetting a folder the
 * kernel knows would cut off whoever is inside it (a shell's working folder) and whatever is mounted on it.
 * A name the kernel holds nothing valid for (EAGAIN), or a kernel before 5.12 (EINVAL, ENOSYS): left alone.
 */
static int held_as_missing(int folder, const char *name) {
  struct open_how how = {.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW, .resolve = RESOLVE_CACHED | RESOLVE_NO_SYMLINKS};
  long fd = syscall(SYS_openat2, folder, name, &how, sizeof how);
  if (fd >= 0) {
    close((int)fd);
    return 0;
  }
  return errno == ENOENT;
}

static void forget_names_run(forget_names_t *job) {
  session_t *s = job->s;
  char path[sizeof s->mountpoint * 2];
  int root_mount, folder_mount;
  uint64_t root_id, folder_id;
  if (snprintf(path, sizeof path, "%s%s", s->mountpoint, job->folder) >= (int)sizeof path) { job->error = ENAMETOOLONG; return; }
  int folder = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (folder < 0) { job->error = errno; return; }
  job->error = node_id_of(AT_FDCWD, s->mountpoint, 0, -1, &root_mount, &root_id);
  if (job->error == 0) job->error = node_id_of(folder, "", AT_EMPTY_PATH, root_mount, &folder_mount, &folder_id);
  for (uint32_t i = 0; i < job->count && job->error == 0; i++) {
    if (!held_as_missing(folder, job->names[i])) continue;
    pthread_rwlock_rdlock(&s->fuse_lock);
    if (s->fuse && fuse_lowlevel_notify_inval_entry(fuse_get_session(s->fuse), folder_id, job->names[i], strlen(job->names[i])) == 0) {
      job->forgotten++;
    }
    pthread_rwlock_unlock(&s->fuse_lock);
  }
  close(folder);
}

static void forget_names_free(forget_names_t *job) {
  for (uint32_t i = 0; i < job->count; i++) free(job->names[i]);
  free(job->names);
  free(job->folder);
  free(job);
}

static void *forget_names_thread(void *arg) {
  forget_names_t *job = arg;
  napi_threadsafe_function settle = job->settle; /* the job is freed on the JavaScript thread once called */
  forget_names_run(job);
  napi_call_threadsafe_function(settle, job, napi_tsfn_blocking);
  napi_release_threadsafe_function(settle, napi_tsfn_release);
  return NULL;
}

/* On the JavaScript thread (env is NULL when Node is shutting down: then only the memory is freed). */
static void forget_names_settle(napi_env env, napi_value js_callback, void *context, void *data) {
  forget_names_t *job = data;
  if (env != NULL) {
    napi_value result;
    if (job->error == 0) {
      napi_create_uint32(env, job->forgotten, &result);
      napi_resolve_deferred(env, job->deferred, result);
    } else {
      napi_value message;
      napi_create_string_utf8(env, strerror(job->error), NAPI_AUTO_LENGTH, &message);
      napi_create_error(env, NULL, message, &result);
      napi_reject_deferred(env, job->deferred, result);
    }
  }
  forget_names_free(job);
}

static napi_value js_forget_names(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "forgetNames(handle, folder, names)");
    return NULL;
  }
  forget_names_t *job = calloc(1, sizeof *job);
  int failed = job == NULL || napi_get_value_external(env, argv[0], (void **)&job->s) != napi_ok ||
               (job->folder = string_arg(env, argv[1])) == NULL || job->folder[0] != '/' ||
               napi_get_array_length(env, argv[2], &job->count) != napi_ok ||
               (job->names = calloc(job->count + 1, sizeof *job->names)) == NULL;
  for (uint32_t i = 0; i < (failed ? 0 : job->count); i++) {
    napi_value element;
    failed = napi_get_element(env, argv[2], i, &element) != napi_ok || (job->names[i] = string_arg(env, element)) == NULL;
    if (failed) job->count = i; /* what forget_names_free frees */
  }
  if (failed) {
    if (job) forget_names_free(job);
    napi_throw_type_error(env, NULL, "forgetNames: a session handle, a folder path starting with /, and an array of names");
    return NULL;
  }
  napi_value promise, resource_name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "ikfs_fuse3_forget_names", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, resource_name, 0, 1, NULL, NULL, NULL, forget_names_settle,
                                      &job->settle) != napi_ok) {
    forget_names_free(job);
    napi_throw_error(env, NULL, "forgetNames: could not set up the notification");
    return NULL;
  }
  pthread_t thread;
  int started = start_thread(&thread, forget_names_thread, job);
  if (started != 0) {
    napi_release_threadsafe_function(job->settle, napi_tsfn_abort);
    job->error = started;
    forget_names_settle(env, NULL, NULL, job);
    return promise;
  }
  pthread_detach(thread);
  return promise;
}

/* unref(handle): the loop thread no longer keeps the process alive. Only before the loop has ended. */
static napi_value js_unref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  session_t *s;
  NAPI_OK(napi_get_value_external(env, argv[0], (void **)&s));
  napi_unref_threadsafe_function(env, s->tsfn);
  return NULL;
}

static napi_value init_module(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
    {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
    {"reply", NULL, js_reply, NULL, NULL, NULL, napi_default, NULL},
    {"exit", NULL, js_exit, NULL, NULL, NULL, napi_default, NULL},
    {"unref", NULL, js_unref, NULL, NULL, NULL, napi_default, NULL},
    {"copyIn", NULL, js_copy_in, NULL, NULL, NULL, napi_default, NULL},
    {"copyOut", NULL, js_copy_out, NULL, NULL, NULL, napi_default, NULL},
    {"forgetNames", NULL, js_forget_names, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  napi_value version;
  napi_create_int32(env, fuse_version(), &version);
  napi_set_named_property(env, exports, "libfuseVersion", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
