#include "binding.h"

/*
 * forgetNames(handle, folder, names): makes the kernel forget what it remembers of `names` in `folder` (a path
 * inside the mount, "/" for its root), above all "no such file" answers it would otherwise keep for
 * negative_timeout. Resolves with how many names it had remembered; rejects with the errno message when the
 * folder cannot be resolved.
 *
 * expireAttrs(handle, folder, names): makes the kernel ask again for the attributes (size, times) of the files
 * it knows among `names` in `folder`, which it would otherwise keep for attr_timeout, so that a refreshed
 * listing's new sizes show at once: reads stop at the size the kernel holds. Only the attributes go (the
 * cached pages stay, and go at the next open if the file changed, auto_cache). Resolves with how many.
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
  int expire_attrs; /* expireAttrs() rather than forgetNames() */
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
 * `path` (from `at`) as the kernel holds it, as an O_PATH descriptor, asked of its cache alone (RESOLVE_CACHED:
 * no LOOKUP, so no listing fetched and no wait for a folder's lock, which a request may hold, and a thread
 * asleep there keeps a killed daemon from exiting). -1 with errno ENOENT when the kernel holds it as missing;
 * EAGAIN when it holds nothing valid for it; EINVAL or ENOSYS on a kernel before 5.12.
 */
static int open_held(int at, const char *path, int flags) {
  struct open_how how = {.flags = O_PATH | O_CLOEXEC | flags, .resolve = RESOLVE_CACHED | RESOLVE_NO_SYMLINKS};
  return (int)syscall(SYS_openat2, at, path, &how, sizeof how);
}

/*
 * Whether the kernel holds `name` in `folder` as missing. Only such names are forgotten: a name that exists
 * by now (made through this mount, or listed since) is left alone, since forgetting a folder the kernel knows
 * would cut off whoever is inside it (a shell's working folder) and whatever is mounted on it.
 */
static int held_as_missing(int folder, const char *name) {
  int fd = open_held(folder, name, O_NOFOLLOW);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  return errno == ENOENT;
}

/* The node id of `name` in `folder` (on this mount) when the kernel holds it; an error otherwise. */
static int held_node_id(int folder, const char *name, int root_mount, uint64_t *node_id) {
  int fd = open_held(folder, name, O_NOFOLLOW);
  if (fd < 0) return errno;
  int mount_id;
  int error = node_id_of(fd, "", AT_EMPTY_PATH, root_mount, &mount_id, node_id);
  close(fd);
  return error;
}

static void forget_names_run(forget_names_t *job) {
  session_t *s = job->s;
  char path[sizeof s->mountpoint * 2];
  int root_mount, folder_mount;
  uint64_t root_id, folder_id;
  if (snprintf(path, sizeof path, "%s%s", s->mountpoint, job->folder) >= (int)sizeof path) { job->error = ENAMETOOLONG; return; }
  /* A folder the kernel does not hold holds no names either. */
  int folder = open_held(AT_FDCWD, path, O_DIRECTORY);
  if (folder < 0) { job->error = errno; return; }
  job->error = node_id_of(AT_FDCWD, s->mountpoint, 0, -1, &root_mount, &root_id);
  if (job->error == 0) job->error = node_id_of(folder, "", AT_EMPTY_PATH, root_mount, &folder_mount, &folder_id);
  /*
   * Every name is looked at before the first notification: forgetting a name makes the kernel drop the folder's
   * attributes too (it changed), and without them it can answer nothing in that folder from its cache alone
   * (EAGAIN), so each name after the first was taken for one it does not hold, and kept as missing.
   * due[i]: the node id to expire, or for forgetting 1; 0 to leave the name alone (node ids start at 1).
   */
  uint64_t *due = job->error == 0 ? calloc(job->count + 1, sizeof *due) : NULL;
  if (job->error == 0 && due == NULL) job->error = ENOMEM;
  for (uint32_t i = 0; i < job->count && job->error == 0; i++) {
    if (job->expire_attrs) {
      if (held_node_id(folder, job->names[i], root_mount, &due[i]) != 0) due[i] = 0;
    } else {
      due[i] = held_as_missing(folder, job->names[i]) ? 1 : 0;
    }
  }
  for (uint32_t i = 0; i < job->count && job->error == 0; i++) {
    const char *name = job->names[i];
    if (due[i] == 0) continue;
    pthread_rwlock_rdlock(&s->fuse_lock);
    if (s->fuse) {
      struct fuse_session *se = fuse_get_session(s->fuse);
      /* Expiring: a negative offset drops the attributes only, no pages (and so waits for no page lock). */
      int notified = job->expire_attrs ? fuse_lowlevel_notify_inval_inode(se, due[i], -1, 0)
                                       : fuse_lowlevel_notify_inval_entry(se, folder_id, name, strlen(name));
      if (notified == 0) job->forgotten++;
    }
    pthread_rwlock_unlock(&s->fuse_lock);
  }
  free(due);
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

static napi_value start_job(napi_env env, napi_callback_info info, int expire_attrs) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "forgetNames/expireAttrs(handle, folder, names)");
    return NULL;
  }
  forget_names_t *job = calloc(1, sizeof *job);
  if (job) job->expire_attrs = expire_attrs;
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
    napi_throw_type_error(env, NULL, "forgetNames/expireAttrs: a session handle, a folder path starting with /, and an array of names");
    return NULL;
  }
  napi_value promise, resource_name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "ikfs_fuse3_forget_names", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, resource_name, 0, 1, NULL, NULL, NULL, forget_names_settle,
                                      &job->settle) != napi_ok) {
    forget_names_free(job);
    napi_throw_error(env, NULL, "forgetNames/expireAttrs: could not set up the notification");
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

napi_value js_forget_names(napi_env env, napi_callback_info info) {
  return start_job(env, info, 0);
}

napi_value js_expire_attrs(napi_env env, napi_callback_info info) {
  return start_job(env, info, 1);
}
