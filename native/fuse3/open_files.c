/*
 * fstat, fchmod, fchown, futimens and truncate, and opening again through /proc/PID/fd, of an open file that has lost its name
 * (unlinked, or renamed over while open).
 *
 * The kernel sends fstat's GETATTR without a file handle, and libfuse's path-based API answers a GETATTR
 * without one ESTALE, without asking us, for a node that has no name left (hard_remove). With a handle
 * (FUSE_GETATTR_FH) libfuse calls our getattr all the same, with the path while the node still has a name and
 * NULL once it has none, which JavaScript then answers from the handle (native/fuse3.ts).
 *
 * So the session reads and writes /dev/fuse through these functions (fuse_session_custom_io), which keep,
 * from the OPEN and CREATE replies and the RELEASE requests, which nodes have open handles, and give a GETATTR
 * of such a node one of them before libfuse sees it. A node that still has a name gets the same answer as
 * before: libfuse passes its path, and a getattr with a path is answered by path. The same for SETATTR: the
 * kernel sends fchmod's, fchown's and futimens' without a handle (only ftruncate's has one), which libfuse answers
 * ESTALE for such a node; with one it calls chmod, chown and utimens with NULL for the path, answered by the handle.
 * So too truncate(2) of such a node (through /proc/PID/fd/N), whose handle is marked (BY_NAME_HANDLE) as not the
 * caller's: a truncate by name stays one while the node has a name, and is not taken for an ftruncate. Other
 * requests cost a look at their opcode; replies, a look at a counter while no OPEN or CREATE waits for its reply.
 *
 * Opening such a file again (cat /proc/PID/fd/N) libfuse answers ESTALE as well, with no path to open it by.
 * That answer, to an OPEN of a node with an open handle, is replaced here by a new handle JavaScript opens on
 * what that handle has (reopen; for writing only a file being written, whose spool file takes the writes). libfuse never saw that open succeed (it counts each node's opens
 * and asserts at every RELEASE that one is left, fuse_do_release), so the RELEASE of such a handle is answered here as well.
 *
 * A RENAME of a name onto itself is answered here too (self_rename_answered): libfuse would wait for ever on
 * its own lock of that name.
 *
 * Memory is bounded: past MAX_HANDLES open handles (or MAX_WAITING opens under way) the extra ones are not
 * kept, and their files answer fstat and a reopen as libfuse does (ESTALE once nameless).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "open_files.h"
#include "../self_rename.h"

#define BUCKETS 1024
#define MAX_HANDLES 65536
#define MAX_WAITING 256

typedef struct handle {
  uint64_t node_id;
  uint64_t fh;
  int reopened; /* opened here (reopen), unknown to libfuse: released here too */
  struct handle *next;
} handle_t;

typedef struct waiting_open {
  uint64_t unique;
  uint64_t node_id; /* OPEN: the node opened; CREATE: 0 (its reply names the new node) */
  int create;
  uint32_t flags; /* an OPEN's: a reopen answers it with them */
} waiting_open_t;

struct open_files {
  open_files_calls_t calls;
  pthread_mutex_t lock;
  /* Newest first in each bucket: a GETATTR takes the node's latest handle (a write handle opened after a
     read-only one answers the size being written; a read-only open of a file being written gets a handle
     of the file being written too). */
  handle_t *buckets[BUCKETS];
  uint32_t handles;
  waiting_open_t waiting[MAX_WAITING];
  uint32_t waiting_count; /* read without the lock on every reply: only a hint that a lookup may find one */
};

open_files_t *open_files_new(open_files_calls_t calls) {
  open_files_t *o = calloc(1, sizeof *o);
  if (o == NULL) return NULL;
  o->calls = calls;
  pthread_mutex_init(&o->lock, NULL);
  return o;
}

void open_files_free(open_files_t *o) {
  if (o == NULL) return;
  for (size_t i = 0; i < BUCKETS; i++) {
    for (handle_t *h = o->buckets[i], *next; h; h = next) {
      next = h->next;
      free(h);
    }
  }
  pthread_mutex_destroy(&o->lock);
  free(o);
}

static handle_t **bucket_of(open_files_t *o, uint64_t node_id) {
  return &o->buckets[(node_id ^ (node_id >> 10)) % BUCKETS];
}

/* Under the lock. Returns whether it is kept. */
static int add_handle(open_files_t *o, uint64_t node_id, uint64_t fh, int reopened) {
  if (o->handles >= MAX_HANDLES) return 0;
  handle_t *h = malloc(sizeof *h);
  if (h == NULL) return 0;
  handle_t **bucket = bucket_of(o, node_id);
  *h = (handle_t){.node_id = node_id, .fh = fh, .reopened = reopened, .next = *bucket};
  *bucket = h;
  o->handles++;
  return 1;
}

/* Under the lock. Returns whether the handle was one opened here (reopen); 0 also when it was not kept. */
static int drop_handle(open_files_t *o, uint64_t node_id, uint64_t fh) {
  for (handle_t **at = bucket_of(o, node_id); *at; at = &(*at)->next) {
    handle_t *h = *at;
    if (h->node_id == node_id && h->fh == fh) {
      int reopened = h->reopened;
      *at = h->next;
      free(h);
      o->handles--;
      return reopened;
    }
  }
  return 0;
}

/* Under the lock. */
static int latest_handle(open_files_t *o, uint64_t node_id, uint64_t *fh) {
  for (handle_t *h = *bucket_of(o, node_id); h; h = h->next) {
    if (h->node_id == node_id) {
      *fh = h->fh;
      return 1;
    }
  }
  return 0;
}

/* latest_handle, taking the lock. */
static int node_handle(open_files_t *o, uint64_t node_id, uint64_t *fh) {
  pthread_mutex_lock(&o->lock);
  int found = latest_handle(o, node_id, fh);
  pthread_mutex_unlock(&o->lock);
  return found;
}

/* Takes the waiting open with this unique out of the list; 0 when there is none. Under the lock. */
static int take_waiting(open_files_t *o, uint64_t unique, waiting_open_t *out) {
  for (uint32_t i = 0; i < o->waiting_count; i++) {
    if (o->waiting[i].unique == unique) {
      *out = o->waiting[i];
      o->waiting[i] = o->waiting[o->waiting_count - 1];
      __atomic_store_n(&o->waiting_count, o->waiting_count - 1, __ATOMIC_RELAXED);
      return 1;
    }
  }
  return 0;
}

/*
 * The RELEASE of a handle opened here, answered here: JavaScript releases it, and the kernel gets its (empty)
 * answer. Not cancelled halfway (fuse_loop_mt cancels its workers at exit while they wait for a request, and
 * JavaScript answers into this thread's stack).
 */
static void release_reopened(open_files_t *o, int fd, uint64_t unique, uint64_t fh) {
  int cancel_state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  o->calls.release(o->calls.session, fh);
  struct fuse_out_header out = {.len = sizeof out, .error = 0, .unique = unique};
  if (write(fd, &out, sizeof out) < 0) {} /* the kernel may have gone; nothing waits for this answer */
  pthread_setcancelstate(cancel_state, NULL);
}

/* A RENAME of a name onto itself (native/self_rename.h) is answered ENOENT. Returns whether it was one. */
static int self_rename_answered(int fd, const struct fuse_in_header *in, const char *arg, size_t arg_length) {
  if (!is_self_rename(in, arg, arg_length)) return 0;
  struct fuse_out_header out = {.len = sizeof out, .error = -ENOENT, .unique = in->unique};
  if (write(fd, &out, sizeof out) < 0) {} /* the kernel may have gone; nothing waits for this answer */
  return 1;
}

/* Returns whether the request was answered here (libfuse is not to see it). */
static int seen_request(open_files_t *o, int fd, char *buf, size_t length) {
  if (length < sizeof(struct fuse_in_header)) return 0;
  struct fuse_in_header in;
  memcpy(&in, buf, sizeof in);
  char *arg = buf + sizeof in;
  size_t arg_length = length - sizeof in;
  switch (in.opcode) {
    case FUSE_GETATTR: {
      struct fuse_getattr_in getattr;
      if (arg_length < sizeof getattr) return 0;
      memcpy(&getattr, arg, sizeof getattr);
      if ((getattr.getattr_flags & FUSE_GETATTR_FH) || !node_handle(o, in.nodeid, &getattr.fh)) return 0;
      getattr.getattr_flags |= FUSE_GETATTR_FH;
      memcpy(arg, &getattr, sizeof getattr);
      return 0;
    }
    case FUSE_SETATTR: {
      struct fuse_setattr_in setattr;
      if (arg_length < sizeof setattr) return 0;
      memcpy(&setattr, arg, sizeof setattr);
      /* A truncate by name gets the handle marked: it stays one by name while the node has a name (ftruncate's
         comes with its own handle). */
      if ((setattr.valid & FATTR_FH) || !node_handle(o, in.nodeid, &setattr.fh)) return 0;
      if (setattr.valid & FATTR_SIZE) setattr.fh |= BY_NAME_HANDLE;
      setattr.valid |= FATTR_FH;
      memcpy(arg, &setattr, sizeof setattr);
      return 0;
    }
    case FUSE_OPEN:
    case FUSE_CREATE: {
      struct fuse_open_in open_in = {0};
      if (in.opcode == FUSE_OPEN && arg_length >= sizeof open_in) memcpy(&open_in, arg, sizeof open_in);
      pthread_mutex_lock(&o->lock);
      if (o->waiting_count < MAX_WAITING) {
        o->waiting[o->waiting_count] = (waiting_open_t){
          .unique = in.unique, .node_id = in.opcode == FUSE_OPEN ? in.nodeid : 0, .create = in.opcode == FUSE_CREATE,
          .flags = open_in.flags,
        };
        __atomic_store_n(&o->waiting_count, o->waiting_count + 1, __ATOMIC_RELAXED);
      }
      pthread_mutex_unlock(&o->lock);
      return 0;
    }
    case FUSE_RELEASE: {
      struct fuse_release_in release;
      if (arg_length < sizeof release) return 0;
      memcpy(&release, arg, sizeof release);
      pthread_mutex_lock(&o->lock);
      int reopened = drop_handle(o, in.nodeid, release.fh);
      pthread_mutex_unlock(&o->lock);
      if (!reopened) return 0;
      release_reopened(o, fd, in.unique, release.fh);
      return 1;
    }
    case FUSE_RENAME:
    case FUSE_RENAME2:
      return self_rename_answered(fd, &in, arg, arg_length);
    default:
      return 0;
  }
}

/* Copies `length` bytes at `offset` of the message out of its pieces; 0 when the message is shorter. */
static int message_bytes(const struct iovec *iov, int count, size_t offset, void *out, size_t length) {
  char *to = out;
  for (int i = 0; i < count && length > 0; i++) {
    if (offset >= iov[i].iov_len) {
      offset -= iov[i].iov_len;
      continue;
    }
    size_t n = iov[i].iov_len - offset < length ? iov[i].iov_len - offset : length;
    memcpy(to, (const char *)iov[i].iov_base + offset, n);
    to += n;
    length -= n;
    offset = 0;
  }
  return length == 0;
}

/* libfuse's ESTALE to an OPEN of a node with an open handle, replaced by a new handle on its file. */
typedef struct reopened_reply {
  struct fuse_out_header out;
  struct fuse_open_out open_out;
} reopened_reply_t;

/* Under no lock (JavaScript answers meanwhile). Returns whether the reply was made, and its handle kept. */
static int reopen(open_files_t *o, uint64_t node_id, uint64_t unique, uint32_t open_flags, reopened_reply_t *reply) {
  uint64_t fh;
  uint32_t flags;
  if (!node_handle(o, node_id, &fh) || o->calls.reopen(o->calls.session, fh, open_flags, &reply->open_out.fh, &flags) != 0) return 0;
  reply->out = (struct fuse_out_header){.len = sizeof *reply, .error = 0, .unique = unique};
  reply->open_out.open_flags = ((flags & REOPENED_DIRECT_IO) ? FOPEN_DIRECT_IO : 0) | ((flags & REOPENED_NO_FLUSH) ? FOPEN_NOFLUSH : 0);
  pthread_mutex_lock(&o->lock);
  int kept = add_handle(o, node_id, reply->open_out.fh, 1);
  pthread_mutex_unlock(&o->lock);
  if (!kept) o->calls.release(o->calls.session, reply->open_out.fh); /* its RELEASE would reach libfuse */
  return kept;
}

/*
 * The node and handle a successful OPEN or CREATE reply gives, kept before the reply is written: from then on
 * the kernel may send the handle's RELEASE. Returns whether one was kept; *reopened when the reply is to be
 * `reopened` instead.
 */
static int seen_reply(open_files_t *o, const struct iovec *iov, int count, waiting_open_t *opened, uint64_t *fh,
                      reopened_reply_t *reopened, int *is_reopened) {
  *is_reopened = 0;
  if (__atomic_load_n(&o->waiting_count, __ATOMIC_RELAXED) == 0) return 0;
  struct fuse_out_header out;
  if (!message_bytes(iov, count, 0, &out, sizeof out) || out.unique == 0) return 0;
  pthread_mutex_lock(&o->lock);
  int found = take_waiting(o, out.unique, opened);
  pthread_mutex_unlock(&o->lock);
  if (found && out.error == -ESTALE && !opened->create && reopen(o, opened->node_id, out.unique, opened->flags, reopened)) {
    *is_reopened = 1;
    *fh = reopened->open_out.fh;
    return 1;
  }
  if (!found || out.error != 0) return 0;
  struct fuse_open_out open_out;
  size_t at = sizeof out;
  if (opened->create) {
    struct fuse_entry_out entry;
    if (!message_bytes(iov, count, at, &entry, sizeof entry)) return 0;
    opened->node_id = entry.nodeid;
    at += sizeof entry;
  }
  if (!message_bytes(iov, count, at, &open_out, sizeof open_out)) return 0;
  *fh = open_out.fh;
  pthread_mutex_lock(&o->lock);
  int kept = add_handle(o, opened->node_id, *fh, 0);
  pthread_mutex_unlock(&o->lock);
  return kept;
}

ssize_t open_files_read(open_files_t *o, int fd, void *buf, size_t length) {
  for (;;) {
    ssize_t n = read(fd, buf, length);
    if (n <= 0) return n;
    int saved = errno;
    int answered = seen_request(o, fd, buf, (size_t)n);
    errno = saved;
    if (!answered) return n;
  }
}

ssize_t open_files_writev(open_files_t *o, int fd, struct iovec *iov, int count) {
  waiting_open_t opened = {0};
  uint64_t fh = 0;
  reopened_reply_t reopened;
  int is_reopened;
  int kept = seen_reply(o, iov, count, &opened, &fh, &reopened, &is_reopened);
  struct iovec reopened_iov = {.iov_base = &reopened, .iov_len = sizeof reopened};
  ssize_t n = is_reopened ? writev(fd, &reopened_iov, 1) : writev(fd, iov, count);
  if (n < 0 && kept) {
    /* The open was interrupted and the kernel sends no RELEASE: libfuse releases its own handle, and one
       opened here is released here. */
    int saved = errno;
    pthread_mutex_lock(&o->lock);
    int reopened_here = drop_handle(o, opened.node_id, fh);
    pthread_mutex_unlock(&o->lock);
    if (reopened_here) o->calls.release(o->calls.session, fh);
    errno = saved;
  }
  return n;
}
