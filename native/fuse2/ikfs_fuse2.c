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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/fuse.h>
#include <node_api.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>

#include "../self_rename.h"

struct fuse;
struct fuse_chan;

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

/* libfuse's own receive (one function for every channel fuse_mount makes), set once. */
static int (*libfuse_receive)(struct fuse_chan **chp, char *buf, size_t size);

static int receive_answering_self_renames(struct fuse_chan **chp, char *buf, size_t size) {
  for (;;) {
    int length = libfuse_receive(chp, buf, size);
    if (length < (int)sizeof(struct fuse_in_header)) return length;
    struct fuse_in_header in;
    memcpy(&in, buf, sizeof in);
    if (!is_self_rename(&in, buf + sizeof in, (size_t)length - sizeof in)) return length;
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

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "answerSelfRenames", NAPI_AUTO_LENGTH, answer_self_renames, NULL, &fn);
  napi_set_named_property(env, exports, "answerSelfRenames", fn);
  return exports;
}
