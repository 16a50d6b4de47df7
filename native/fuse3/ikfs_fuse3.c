/*
 * ikfs's libfuse3 binding: libfuse3's high-level (path-based) API bridged to one JavaScript dispatcher.
 *
 * Why not fuse-native: it is built on libfuse2, which caps requests at 128 KiB and has neither READDIRPLUS
 * nor 1 MiB writes; every request costs a round trip into JavaScript, so those limits set our throughput.
 *
 * Threading: fuse_loop_mt's worker threads run the fuse_operations (operations.c). Each one fills a request record
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
#include "binding.h"
#include <dirent.h>
#include <math.h>

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
    if (r->op != OP_EXIT) { r->result = -ENOTCONN; sem_post(&r->done); }
    return;
  }
  napi_value argv[10];
  size_t argc = 0;
  argv[argc++] = num(env, r->op);
  argv[argc++] = num(env, (double)(uintptr_t)r);
  argv[argc++] = str(env, r->path);
  uint64_t fh = r->fi ? r->fi->fh & ~BY_NAME_HANDLE : 0;
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
      argv[argc++] = num(env, r->caller);
      break;
    case OP_CREATE:
      argv[argc++] = num(env, r->mode);
      argv[argc++] = num(env, r->flags);
      argv[argc++] = num(env, r->caller);
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
      argv[argc++] = num(env, r->flags);
      break;
    case OP_RELEASE:
      argv[argc++] = num(env, (double)fh);
      break;
    case OP_REOPEN:
      argv[argc++] = num(env, (double)fh);
      argv[argc++] = num(env, r->flags);
      break;
    case OP_FLUSH:
      argv[argc++] = num(env, (double)fh);
      argv[argc++] = num(env, r->caller);
      break;
    case OP_FSYNC:
      argv[argc++] = num(env, (double)fh);
      argv[argc++] = num(env, r->flags);
      break;
    case OP_TRUNCATE: /* the handle (0 for none) answers when the file has no path any more (native/fuse3.ts) */
      argv[argc++] = num(env, (double)r->offset);
      argv[argc++] = num(env, (double)fh);
      break;
    case OP_FTRUNCATE:
      argv[argc++] = num(env, (double)fh);
      argv[argc++] = num(env, (double)r->offset);
      break;
    case OP_MKDIR:
    case OP_MKNOD:
      argv[argc++] = num(env, r->mode);
      break;
    case OP_CHMOD: /* the handle (0 for none) answers when the file has no path any more (native/fuse3.ts) */
      argv[argc++] = num(env, r->mode);
      argv[argc++] = num(env, (double)fh);
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
    case OP_UTIMENS: /* the handle as for OP_CHMOD */
      argv[argc++] = num(env, r->t_access);
      argv[argc++] = num(env, r->t_modify);
      argv[argc++] = num(env, (double)fh);
      break;
    case OP_CHOWN: /* the handle as for OP_CHMOD */
      argv[argc++] = num(env, r->uid == (uint32_t)-1 ? -1.0 : (double)r->uid);
      argv[argc++] = num(env, r->gid == (uint32_t)-1 ? -1.0 : (double)r->gid);
      argv[argc++] = num(env, (double)fh);
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
  int op = r->op;
  napi_status called = napi_call_function(env, undefined, dispatch, argc, argv, NULL);
  if (called == napi_pending_exception) {
    /* native/fuse3.ts never throws out of dispatch; if it did, report it without touching r (it may be gone). */
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    fprintf(stderr, "ikfs_fuse3: the dispatcher threw (op %d)\n", op);
  } else if (called != napi_ok && op != OP_EXIT) {
    /* JavaScript never ran (the environment is shutting down): nobody else will answer this request. */
    r->result = -ENOTCONN;
    sem_post(&r->done);
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
char *string_arg(napi_env env, napi_value value) {
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
#define REPLY_NO_FLUSH 2

/* reply(id, code[, a[, b[, c]]]): code is 0, a negative errno, or a byte count (read/write). Open and create:
   a is the handle, b the new file's stat (create), c REPLY_* bits. */
static napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double id;
  if (argc < 1 || napi_get_value_double(env, argv[0], &id) != napi_ok) {
    napi_throw_type_error(env, NULL, "reply(id, code, ...): no request id");
    return NULL;
  }
  request_t *r = (request_t *)(uintptr_t)id;
  double code_value;
  if (argc < 2 || napi_get_value_double(env, argv[1], &code_value) != napi_ok || !isfinite(code_value)) {
    /* The worker must be woken whatever JavaScript got wrong: a request never answered hangs its caller,
       and the daemon with it (even kill -9 leaves it waiting on its own mount). */
    r->result = -EIO;
    sem_post(&r->done);
    napi_throw_type_error(env, NULL, "reply(id, code, ...): code is not a number; answered EIO");
    return NULL;
  }
  int64_t code = (int64_t)code_value; /* a byte count may exceed 2^31 (copy_file_range) */
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
      case OP_CREATE:
      case OP_REOPEN: {
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
        if (argc >= 5 && napi_get_value_uint32(env, argv[4], &open_flags) == napi_ok) {
          if (open_flags & REPLY_DIRECT_IO) r->fi->direct_io = 1;
          if (open_flags & REPLY_NO_FLUSH) r->fi->noflush = 1;
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
int start_thread(pthread_t *thread, void *(*run)(void *), void *arg) {
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int started = pthread_create(thread, NULL, run, arg);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  return started;
}

/*
 * fusermount3's auto_unmount watcher unmounts when its socket to us closes, but only if its open() of the
 * mountpoint then answers ENOTCONN (connection gone). After a kill -9 the kernel releases a dying process's
 * files in the reverse of the order it closed them, that is from the highest descriptor down (Linux 6.x here),
 * and libfuse leaves the socket numbered above /dev/fuse: the watcher woke while the connection still lived,
 * its open() waited on it and got ECONNABORTED when it went, and it left the mount dead (under load, 4 of 30
 * kill -9 runs; none of 40 with this). A copy of the /dev/fuse descriptor numbered above every other one is released first, so the connection
 * is gone by the time the socket closes. Closed before any unmount of ours: an open /dev/fuse would keep the
 * kernel waiting for the daemon's answer to its unmount message.
 */
static int keep_device_last(int device_fd) {
  int highest = device_fd;
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL) return -1;
  for (struct dirent *e; (e = readdir(dir)) != NULL;) {
    int fd = atoi(e->d_name);
    if (fd > highest) highest = fd;
  }
  closedir(dir);
  return fcntl(device_fd, F_DUPFD_CLOEXEC, highest + 1);
}

/* fuse_session_custom_io came with libfuse 3.14: before it, fstat of a nameless open file stays ESTALE. */
#if FUSE_MAJOR_VERSION > 3 || FUSE_MINOR_VERSION >= 14
/*
 * The mounts whose /dev/fuse I/O goes through open_files.c. libfuse hands the I/O callbacks its own user data
 * (the struct fuse), not the session: each mount's is found here. Slots are set before the loop starts and
 * cleared once it has ended; a session is never freed, so reading another mount's slot meanwhile is safe.
 */
#define MAX_IO_SESSIONS 16
static session_t *io_sessions[MAX_IO_SESSIONS];

static open_files_t *open_files_of(void *owner) {
  for (int i = 0; i < MAX_IO_SESSIONS; i++) {
    session_t *s = __atomic_load_n(&io_sessions[i], __ATOMIC_ACQUIRE);
    if (s != NULL && s->io_owner == owner) return s->open_files;
  }
  return NULL;
}

static ssize_t io_read(int fd, void *buf, size_t length, void *owner) {
  open_files_t *o = open_files_of(owner);
  return o ? open_files_read(o, fd, buf, length) : read(fd, buf, length);
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *owner) {
  open_files_t *o = open_files_of(owner);
  return o ? open_files_writev(o, fd, iov, count) : writev(fd, iov, count);
}

/*
 * Before the loop (after fuse_mount): the session's own descriptor, read and written through open_files.c. Without splice
 * callbacks libfuse reads every request with read(2) (no splice from /dev/fuse) and writes every reply with
 * writev(2), so every request and reply passes here. Not fatal: without it fstat (and a reopen through
 * /proc/PID/fd) of a nameless file is ESTALE.
 */
static void track_open_files(session_t *s) {
  static const struct fuse_custom_io io = {.read = io_read, .writev = io_writev};
  struct fuse_session *se = fuse_get_session(s->fuse);
  s->io_owner = s->fuse;
  s->open_files = open_files_new((open_files_calls_t){.session = s, .reopen = reopen_by_handle, .release = release_by_handle});
  for (int i = 0; s->open_files != NULL && i < MAX_IO_SESSIONS; i++) {
    session_t *empty = NULL;
    if (!__atomic_compare_exchange_n(&io_sessions[i], &empty, s, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
    if (fuse_session_custom_io(se, &io, fuse_session_fd(se)) == 0) return;
    __atomic_store_n(&io_sessions[i], NULL, __ATOMIC_RELEASE);
    break;
  }
  fprintf(stderr, "ikfs_fuse3: open files are not tracked; fstat of an unlinked open file will answer ESTALE\n");
  open_files_free(s->open_files);
  s->open_files = NULL;
}

static void untrack_open_files(session_t *s) {
  for (int i = 0; i < MAX_IO_SESSIONS; i++) {
    session_t *mine = s;
    __atomic_compare_exchange_n(&io_sessions[i], &mine, NULL, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
  open_files_free(s->open_files);
  s->open_files = NULL;
}
#else
static void track_open_files(session_t *s) { (void)s; }
static void untrack_open_files(session_t *s) { (void)s; }
#endif

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
  track_open_files(s);
  struct fuse_loop_config *config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, s->max_threads);
  fuse_loop_cfg_set_idle_threads(config, 16);
  fuse_loop_cfg_set_clone_fd(config, 0);
  s->loop_result = fuse_loop_mt(s->fuse, config);
  fuse_loop_cfg_destroy(config);
  if (s->device_last_fd >= 0) close(s->device_last_fd);
  s->device_last_fd = -1;
  pthread_rwlock_wrlock(&s->fuse_lock);
  /* The workers are gone and notifications (which write through the same I/O) wait for this lock. Before
     fuse_destroy frees the struct fuse whose address names this session's slot, which another mount's could
     otherwise take over. */
  untrack_open_files(s);
  fuse_unmount(s->fuse); /* no-op when the kernel side is already gone (libfuse polls the fd first) */
  fuse_destroy(s->fuse);
  s->fuse = NULL;
  pthread_rwlock_unlock(&s->fuse_lock);
  static request_t exit_request = {.op = OP_EXIT};
  pthread_rwlock_wrlock(&s->tsfn_lock);
  if (!s->js_gone) {
    napi_call_threadsafe_function(s->tsfn, &exit_request, napi_tsfn_blocking);
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
    s->js_gone = 1;
  }
  pthread_rwlock_unlock(&s->tsfn_lock);
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
  pthread_rwlock_init(&s->tsfn_lock, NULL);
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

  s->fuse = fuse_new(&args, &ikfs_operations, sizeof ikfs_operations, s);
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
  s->device_last_fd = keep_device_last(fuse_session_fd(fuse_get_session(s->fuse)));

  if (start_thread(&s->thread, loop_thread, s) != 0) {
    if (s->device_last_fd >= 0) close(s->device_last_fd);
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
  /* The loop thread may be destroying the session right now (it holds the lock for writing meanwhile). */
  pthread_rwlock_rdlock(&s->fuse_lock);
  if (s->fuse) fuse_exit(s->fuse);
  pthread_rwlock_unlock(&s->fuse_lock);
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
 * unref(handle): JavaScript stops listening (the kernel mount is gone and the process may exit). The loop
 * thread no longer keeps the process alive, and no libfuse thread touches the thread-safe function again:
 * an exiting Node frees it under any thread still holding it (a late request is answered ENOTCONN instead).
 */
static napi_value js_unref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  session_t *s;
  NAPI_OK(napi_get_value_external(env, argv[0], (void **)&s));
  pthread_rwlock_wrlock(&s->tsfn_lock);
  if (!s->js_gone) {
    s->js_gone = 1;
    napi_unref_threadsafe_function(env, s->tsfn);
  }
  pthread_rwlock_unlock(&s->tsfn_lock);
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
    {"expireAttrs", NULL, js_expire_attrs, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  napi_value version;
  napi_create_int32(env, fuse_version(), &version);
  napi_set_named_property(env, exports, "libfuseVersion", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
