/*
 * What the fuse-native (libfuse2) fallback binding needs answered before libfuse2 sees it: a RENAME of a name
 * onto itself (native/self_rename.h), on which libfuse2's high-level API would wait for ever on its own lock of
 * the name (fuse.c: get_path2 locks the source's node, then finds that node locked as the target's and queues
 * the request behind itself), hanging that rename and every later request in its folder.
 *
 * fuse-native runs fuse_mount, fuse_new and fuse_loop_mt itself, with no hook for raw requests. Its loop reads
 * each request through the channel's receive function, the first member of libfuse2's struct fuse_chan, a
 * struct fuse_chan_ops (public API: fuse_lowlevel.h, the same from libfuse 2.6 to 2.9.9). answerSelfRenames()
 * takes the channel from fuse-native's fuse_thread_t (the Buffer fuse-native gives its mount, layout of the
 * pinned 2.2.6; checked against the mountpoint the Buffer names) and puts a receive in front of libfuse's that
 * answers such a rename itself, through the channel's own send, and reads on.
 *
 * libfuse2 reads with splice only when the filesystem asks for it (FUSE_CAP_SPLICE_READ, which fuse-native
 * never sets), so every request passes through this receive.
 *
 * The same receive notes which process each request comes from, which fuse-native does not pass on: an open, a
 * create and a flush are answered by JavaScript with the caller's process (requestCaller()), as the libfuse3
 * binding does, so a close by a process that inherited the descriptor (a shell's command exiting) is told from
 * the opener's (README W2; vfs.ts flush). fuse_loop_mt's worker thread that receives a request also runs it,
 * and sleeps in fuse-native's handler until JavaScript answers: each worker keeps the caller of the request it
 * read last in a slot of its own, found again from JavaScript by the stack of the worker that waits. fuse-native
 * hands JavaScript that worker's fuse_thread_locals_t (the Buffer its handler gets first), whose `info` points
 * to the request's struct fuse_file_info, which libfuse2's do_open, do_create and do_flush keep on the worker's
 * stack. Exact even while several requests of one file race (no queue by handle to get out of order).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <node_api.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>

#include "../caller_process.h"
#include "../self_rename.h"

struct fuse;
struct fuse_chan;
struct fuse_file_info;

/* libfuse2's struct fuse_chan_ops (fuse_lowlevel.h). */
typedef struct {
  int (*receive)(struct fuse_chan **chp, char *buf, size_t size);
  int (*send)(struct fuse_chan *ch, const struct iovec iov[], size_t count);
  void (*destroy)(struct fuse_chan *ch);
} fuse2_chan_ops_t;

/* The start of fuse-native 2.2.6's fuse_thread_t (fuse-native.c), up to the fields read here. */
typedef struct {
  napi_env env;
  pthread_t thread;
  pthread_attr_t attr;
  napi_ref ctx;
  napi_ref malloc;
  napi_ref handlers[35];
  struct fuse *fuse;
  struct fuse_chan *ch;
  char mnt[1024];
} fuse_native_thread_head_t;

/* The start of fuse-native 2.2.6's fuse_thread_locals_t (fuse-native.c), up to `info`. */
typedef struct {
  napi_ref self;
  uint32_t op; /* fuse-native's op number */
  void *op_fn;
  const char *path;
  const char *dest;
  char *linkname;
  struct fuse_file_info *info;
} fuse_native_locals_head_t;

/* fuse-native 2.2.6's numbers of the ops answered with their caller (fuse-native.c, "Opcodes"). */
#define FUSE_NATIVE_OP_FLUSH 6
#define FUSE_NATIVE_OP_OPEN 21
#define FUSE_NATIVE_OP_CREATE 27

/*
 * A worker thread of fuse_loop_mt: its stack, and the request it read last, with its caller's process (0 when
 * not asked or unknown). The stack is set under `workers_lock`; the request fields by the worker alone, read
 * by JavaScript while that worker waits for its answer (uv_async_send and the semaphore order the two).
 */
typedef struct {
  uintptr_t stack_low, stack_high; /* 0, 0: free */
  uint32_t opcode;
  uint32_t caller;
} worker_t;

/* libfuse2 starts a thread per request in flight (190 for 200 at once); a worker beyond these goes unnamed,
   and its requests are answered as before this table: with no caller, every close counting as the opener's. */
#define MAX_WORKERS 1024
static worker_t workers[MAX_WORKERS];
static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t worker_key;
static pthread_once_t worker_key_once = PTHREAD_ONCE_INIT;

/* At a worker's exit: its slot is free again (a later thread may get the same stack). */
static void free_worker(void *slot) {
  pthread_mutex_lock(&workers_lock);
  ((worker_t *)slot)->stack_low = ((worker_t *)slot)->stack_high = 0;
  pthread_mutex_unlock(&workers_lock);
}

static void make_worker_key(void) {
  pthread_key_create(&worker_key, free_worker);
}

/* This thread's slot, taken on its first request; NULL when none is free (or its stack is unknown). */
static worker_t *this_worker(void) {
  pthread_once(&worker_key_once, make_worker_key);
  worker_t *w = pthread_getspecific(worker_key);
  if (w != NULL) return w;
  pthread_attr_t attr;
  void *stack = NULL;
  size_t stack_size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return NULL;
  int got = pthread_attr_getstack(&attr, &stack, &stack_size);
  pthread_attr_destroy(&attr);
  if (got != 0 || stack_size == 0) return NULL;
  pthread_mutex_lock(&workers_lock);
  for (size_t i = 0; i < MAX_WORKERS && w == NULL; i++) {
    if (workers[i].stack_high != 0) continue;
    w = &workers[i];
    w->stack_low = (uintptr_t)stack;
    w->stack_high = (uintptr_t)stack + stack_size;
  }
  pthread_mutex_unlock(&workers_lock);
  if (w != NULL) pthread_setspecific(worker_key, w);
  return w;
}

/* Whose request this is, for the requests answered with their caller; an open only when it may write (vfs.ts
   keeps the opener of a handle that writes), as the libfuse3 binding asks. */
static uint32_t caller_of(const struct fuse_in_header *in, const char *arg, size_t arg_length) {
  if (in->opcode == FUSE_OPEN) {
    struct fuse_open_in open_in;
    if (arg_length < sizeof open_in) return 0;
    memcpy(&open_in, arg, sizeof open_in);
    int may_write = (open_in.flags & O_ACCMODE) != O_RDONLY || (open_in.flags & O_TRUNC) != 0;
    return may_write ? process_of_thread((pid_t)in->pid) : 0;
  }
  return in->opcode == FUSE_CREATE || in->opcode == FUSE_FLUSH ? process_of_thread((pid_t)in->pid) : 0;
}

/* Notes the request this worker is about to run. */
static void note_request(const struct fuse_in_header *in, const char *arg, size_t arg_length) {
  worker_t *w = this_worker();
  if (w == NULL) return;
  __atomic_store_n(&w->opcode, in->opcode, __ATOMIC_RELAXED);
  __atomic_store_n(&w->caller, caller_of(in, arg, arg_length), __ATOMIC_RELAXED);
}

/* libfuse's own receive (one function for every channel fuse_mount makes), set once. */
static int (*libfuse_receive)(struct fuse_chan **chp, char *buf, size_t size);

static int receive_answering_self_renames(struct fuse_chan **chp, char *buf, size_t size) {
  for (;;) {
    int length = libfuse_receive(chp, buf, size);
    if (length < (int)sizeof(struct fuse_in_header)) return length;
    struct fuse_in_header in;
    memcpy(&in, buf, sizeof in);
    if (!is_self_rename(&in, buf + sizeof in, (size_t)length - sizeof in)) {
      note_request(&in, buf + sizeof in, (size_t)length - sizeof in);
      return length;
    }
    struct fuse_out_header out = {.len = sizeof out, .error = -ENOENT, .unique = in.unique};
    struct iovec iov = {.iov_base = &out, .iov_len = sizeof out};
    ((fuse2_chan_ops_t *)*chp)->send(*chp, &iov, 1); /* the kernel may have gone; nothing waits for this answer */
  }
}

/* answerSelfRenames(thread: Buffer, mountpoint: string): undefined once in place, else why not (a string). */
static napi_value answer_self_renames(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_value result;
  const char *problem = NULL;
  void *data = NULL;
  size_t data_length = 0;
  char mountpoint[1024];
  size_t mountpoint_length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_buffer_info(env, argv[0], &data, &data_length) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], mountpoint, sizeof mountpoint, &mountpoint_length) != napi_ok) {
    problem = "expected (thread: Buffer, mountpoint: string)";
  } else if (data_length < sizeof(fuse_native_thread_head_t)) {
    problem = "fuse-native's thread state is smaller than fuse-native 2.2.6's";
  } else {
    fuse_native_thread_head_t *thread = data;
    fuse2_chan_ops_t *ops = (fuse2_chan_ops_t *)thread->ch;
    if (strncmp(thread->mnt, mountpoint, sizeof thread->mnt) != 0 || ops == NULL) {
      problem = "fuse-native's thread state does not name this mount (not fuse-native 2.2.6's layout)";
    } else if (ops->receive != receive_answering_self_renames) {
      if (libfuse_receive == NULL) libfuse_receive = ops->receive;
      if (ops->receive != libfuse_receive) problem = "the channel reads through another function than libfuse's";
      else __atomic_store_n(&ops->receive, receive_answering_self_renames, __ATOMIC_SEQ_CST);
    }
  }
  if (problem == NULL) napi_get_undefined(env, &result);
  else napi_create_string_utf8(env, problem, NAPI_AUTO_LENGTH, &result);
  return result;
}

/*
 * requestCaller(locals: Buffer): the process (thread group id) whose open, create or flush the worker with these
 * fuse-native thread locals waits on; 0 when unknown (no slot, another op, or not fuse-native 2.2.6's layout).
 */
static napi_value request_caller(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  void *data = NULL;
  size_t data_length = 0;
  uint32_t caller = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1 &&
      napi_get_buffer_info(env, argv[0], &data, &data_length) == napi_ok && data_length >= sizeof(fuse_native_locals_head_t)) {
    const fuse_native_locals_head_t *locals = data;
    uint32_t opcode = locals->op == FUSE_NATIVE_OP_FLUSH  ? FUSE_FLUSH
                      : locals->op == FUSE_NATIVE_OP_OPEN ? FUSE_OPEN
                      : locals->op == FUSE_NATIVE_OP_CREATE ? FUSE_CREATE
                                                            : 0;
    uintptr_t at = (uintptr_t)locals->info;
    pthread_mutex_lock(&workers_lock);
    for (size_t i = 0; i < MAX_WORKERS && opcode != 0 && at != 0; i++) {
      const worker_t *w = &workers[i];
      if (at < w->stack_low || at >= w->stack_high) continue;
      if (__atomic_load_n(&w->opcode, __ATOMIC_RELAXED) == opcode) caller = __atomic_load_n(&w->caller, __ATOMIC_RELAXED);
      break;
    }
    pthread_mutex_unlock(&workers_lock);
  }
  napi_create_uint32(env, caller, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "answerSelfRenames", NAPI_AUTO_LENGTH, answer_self_renames, NULL, &fn);
  napi_set_named_property(env, exports, "answerSelfRenames", fn);
  napi_create_function(env, "requestCaller", NAPI_AUTO_LENGTH, request_caller, NULL, &fn);
  napi_set_named_property(env, exports, "requestCaller", fn);
  return exports;
}
