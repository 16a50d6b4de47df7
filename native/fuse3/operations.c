/*
 * The kernel side of ikfs's libfuse3 binding: the fuse_operations, run by fuse_loop_mt's worker threads. Each
 * fills a request record on its own stack and sleeps until JavaScript has answered it (ikfs_fuse3.c).
 */
#include "binding.h"
#include "../caller_process.h"

void dir_handle_clear(dir_handle_t *d) {
  for (uint32_t i = 0; i < d->count; i++) free(d->names[i]);
  free(d->names);
  free(d->stats);
  d->count = 0;
  d->names = NULL;
  d->stats = NULL;
}

static session_t *current_session(void) {
  return (session_t *)fuse_get_context()->private_data;
}

/*
 * Whether a name is valid UTF-8 (NULL is). JavaScript gets names as strings, where invalid bytes all turn into
 * U+FFFD: two different names would reach the same file. Such names are refused instead (invalid_name_errno).
 */
static int valid_utf8(const char *name) {
  if (name == NULL) return 1;
  const unsigned char *p = (const unsigned char *)name;
  while (*p) {
    if (*p < 0x80) { p++; continue; }
    int extra;
    uint32_t cp;
    if ((*p & 0xe0) == 0xc0) { extra = 1; cp = *p & 0x1f; }
    else if ((*p & 0xf0) == 0xe0) { extra = 2; cp = *p & 0x0f; }
    else if ((*p & 0xf8) == 0xf0) { extra = 3; cp = *p & 0x07; }
    else return 0;
    for (int i = 1; i <= extra; i++) {
      if ((p[i] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    static const uint32_t least[] = { 0, 0x80, 0x800, 0x10000 };
    if (cp < least[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    p += extra + 1;
  }
  return 1;
}

/*
 * What a request naming invalid UTF-8 is answered, 0 if it names none. No syscall documents EILSEQ (mv gave up on
 * "cannot stat ...: Invalid or incomplete multibyte character"): such a name is one nothing here can have, so
 * looked up it is not there (ENOENT, ENODATA for an attribute), and as a new name it is one this filesystem
 * cannot store (EINVAL, as open(2) and mkdir(2) say; ENOTSUP for a new attribute, as setxattr(2) does).
 */
static int invalid_name_errno(const request_t *r) {
  int makes = r->op == OP_CREATE || r->op == OP_MKDIR || r->op == OP_MKNOD || r->op == OP_SYMLINK || r->op == OP_LINK;
  if (!valid_utf8(r->path)) return makes ? -EINVAL : -ENOENT;
  if (valid_utf8(r->path2)) return 0;
  switch (r->op) {
    case OP_GETXATTR: case OP_REMOVEXATTR: return -ENODATA;
    case OP_SETXATTR: return -ENOTSUP;
    case OP_LINK: return -ENOENT; /* path2 is the existing file */
    default: return -EINVAL; /* rename's and symlink's new name, copy_file_range's target */
  }
}

/* Runs on a libfuse worker thread: JavaScript answers through reply(). */
static int64_t call_js(session_t *s, request_t *r) {
  int invalid = invalid_name_errno(r);
  if (invalid != 0) return invalid;
  if (sem_init(&r->done, 0, 0) != 0) return -EIO;
  r->result = -EIO;
  pthread_rwlock_rdlock(&s->tsfn_lock);
  napi_status queued = s->js_gone ? napi_closing : napi_call_threadsafe_function(s->tsfn, r, napi_tsfn_blocking);
  pthread_rwlock_unlock(&s->tsfn_lock);
  if (queued != napi_ok) {
    /* JavaScript has let go of the session (the daemon is stopping): the program gets what it gets once
       the daemon has exited, "not connected", rather than an I/O error. */
    sem_destroy(&r->done);
    return queued == napi_closing ? -ENOTCONN : -EIO;
  }
  while (sem_wait(&r->done) != 0 && errno == EINTR) {}
  sem_destroy(&r->done);
  return r->result;
}

#define REQUEST(opcode) request_t r; memset(&r, 0, sizeof r); r.op = (opcode)
/* The longest copy_file_range answered at once: the largest page-aligned count a 32-bit reply can carry. */
#define COPY_MAX_BYTES ((size_t)UINT32_MAX & ~(size_t)4095)
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

/*
 * open_files.c, for a file that has lost its name: another handle on what handle `fh` has open
 * (a reopen through /proc/PID/fd, which libfuse cannot open by path), and the release of such a handle.
 * Called on a libfuse worker thread, from its writing of a reply or its reading of a request.
 */
int reopen_by_handle(void *session, uint64_t fh, uint32_t flags, uint64_t *new_fh, uint32_t *reply_flags) {
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  fi.fh = fh;
  REQUEST(OP_REOPEN);
  r.fi = &fi;
  r.flags = flags;
  int64_t result = call_js((session_t *)session, &r);
  if (result < 0) return (int)result;
  *new_fh = fi.fh;
  *reply_flags = (fi.direct_io ? REOPENED_DIRECT_IO : 0) | (fi.noflush ? REOPENED_NO_FLUSH : 0);
  return 0;
}

void release_by_handle(void *session, uint64_t fh) {
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  fi.fh = fh;
  REQUEST(OP_RELEASE);
  r.fi = &fi;
  call_js((session_t *)session, &r);
}

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

/* The process a request comes from (native/caller_process.h). */
static uint32_t caller_process(void) {
  return process_of_thread(fuse_get_context()->pid);
}

/* Only a handle that may write needs its opener (vfs.ts open and flush): a read-only open is spared the read of
   /proc (a 1 MiB file read through the mount is mostly such opens). */
static int may_write(int flags) {
  return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0;
}

static int op_open(const char *path, struct fuse_file_info *fi) {
  REQUEST(OP_OPEN);
  r.path = path;
  r.caller = may_write(fi->flags) ? caller_process() : 0;
  r.flags = (uint32_t)fi->flags;
  r.fi = fi;
  return CALL();
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
  created_stat.valid = 0;
  REQUEST(OP_CREATE);
  r.path = path;
  r.caller = caller_process();
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
  r.flags = fi->writepage; /* the kernel writing back pages (of a shared memory map) at their offset */
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
static int op_flush(const char *path, struct fuse_file_info *fi) {
  REQUEST(OP_FLUSH);
  r.path = path;
  r.fi = fi;
  r.caller = caller_process();
  return CALL();
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  REQUEST(OP_FSYNC);
  r.path = path;
  r.flags = (uint32_t)datasync;
  r.fi = fi;
  return CALL();
}

/* ftruncate(2) comes with its handle. truncate(2) comes without one, or with one open_files.c gave it (BY_NAME_HANDLE):
   by the path while the node has one, by that handle (with NULL for the path) once it has none (truncate of
   /proc/PID/fd/N of a file unlinked or renamed over while open). */
static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  int by_name = fi == NULL || (fi->fh & BY_NAME_HANDLE) != 0;
  REQUEST(by_name ? OP_TRUNCATE : OP_FTRUNCATE);
  r.path = path;
  r.offset = size;
  r.fi = by_name && path != NULL ? NULL : fi;
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
  /* The reply's byte count is 32 bits wide (fuse_write_out): a longer copy is done in pieces by the caller. */
  r.size = size < COPY_MAX_BYTES ? size : COPY_MAX_BYTES;
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

/* utimens, chmod and chown come with a handle for a file that has lost its name (with NULL for the path): fchmod's,
   futimens' and fchown's SETATTR, which open_files.c gives one when the kernel sends none. */
static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
  REQUEST(OP_UTIMENS);
  r.path = path;
  r.fi = fi;
  struct timespec now_both[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  if (tv == NULL) tv = now_both;
  r.t_access = timespec_ms(&tv[0]);
  r.t_modify = timespec_ms(&tv[1]);
  return CALL();
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
  REQUEST(OP_CHMOD);
  r.path = path;
  r.fi = fi;
  r.mode = mode;
  return CALL();
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
  REQUEST(OP_CHOWN);
  r.path = path;
  r.fi = fi;
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

const struct fuse_operations ikfs_operations = {
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
