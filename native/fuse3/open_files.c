/*
 * fstat of an open file that has lost its name (unlinked, or renamed over while open).
 *
 * The kernel sends fstat's GETATTR without a file handle, and libfuse's path-based API answers a GETATTR
 * without one ESTALE, without asking us, for a node that has no name left (hard_remove). With a handle
 * (FUSE_GETATTR_FH) libfuse calls our getattr all the same, with the path while the node still has a name and
 * NULL once it has none, which JavaScript then answers from the handle (native/fuse3.ts).
 *
 * So the session reads and writes /dev/fuse through these functions (fuse_session_custom_io), which keep,
 * from the OPEN and CREATE replies and the RELEASE requests, which nodes have open handles, and give a GETATTR
 * of such a node one of them before libfuse sees it. A node that still has a name gets the same answer as
 * before: libfuse passes its path, and a getattr with a path is answered by path. Other requests cost a look
 * at their opcode; replies, a look at a counter while no OPEN or CREATE waits for its reply.
 *
 * Memory is bounded: past MAX_HANDLES open handles (or MAX_WAITING opens under way) the extra ones are not
 * kept, and their files answer fstat as libfuse does (ESTALE once nameless).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "open_files.h"

#define BUCKETS 1024
#define MAX_HANDLES 65536
#define MAX_WAITING 256

typedef struct handle {
  uint64_t node_id;
  uint64_t fh;
  struct handle *next;
} handle_t;

typedef struct waiting_open {
  uint64_t unique;
  uint64_t node_id; /* OPEN: the node opened; CREATE: 0 (its reply names the new node) */
  int create;
} waiting_open_t;

struct open_files {
  pthread_mutex_t lock;
  /* Newest first in each bucket: a GETATTR takes the node's latest handle (a write handle opened after a
     read-only one answers the size being written; a read-only open of a file being written gets a handle
     of the file being written too). */
  handle_t *buckets[BUCKETS];
  uint32_t handles;
  waiting_open_t waiting[MAX_WAITING];
  uint32_t waiting_count; /* read without the lock on every reply: only a hint that a lookup may find one */
};

open_files_t *open_files_new(void) {
  open_files_t *o = calloc(1, sizeof *o);
  if (o) pthread_mutex_init(&o->lock, NULL);
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

/* Under the lock. */
static void add_handle(open_files_t *o, uint64_t node_id, uint64_t fh) {
  if (o->handles >= MAX_HANDLES) return;
  handle_t *h = malloc(sizeof *h);
  if (h == NULL) return;
  handle_t **bucket = bucket_of(o, node_id);
  *h = (handle_t){.node_id = node_id, .fh = fh, .next = *bucket};
  *bucket = h;
  o->handles++;
}

/* Under the lock. */
static void drop_handle(open_files_t *o, uint64_t node_id, uint64_t fh) {
  for (handle_t **at = bucket_of(o, node_id); *at; at = &(*at)->next) {
    handle_t *h = *at;
    if (h->node_id == node_id && h->fh == fh) {
      *at = h->next;
      free(h);
      o->handles--;
      return;
    }
  }
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

static void seen_request(open_files_t *o, char *buf, size_t length) {
  if (length < sizeof(struct fuse_in_header)) return;
  struct fuse_in_header in;
  memcpy(&in, buf, sizeof in);
  char *arg = buf + sizeof in;
  size_t arg_length = length - sizeof in;
  switch (in.opcode) {
    case FUSE_GETATTR: {
      struct fuse_getattr_in getattr;
      if (arg_length < sizeof getattr) return;
      memcpy(&getattr, arg, sizeof getattr);
      if (getattr.getattr_flags & FUSE_GETATTR_FH) return;
      pthread_mutex_lock(&o->lock);
      int found = latest_handle(o, in.nodeid, &getattr.fh);
      pthread_mutex_unlock(&o->lock);
      if (!found) return;
      getattr.getattr_flags |= FUSE_GETATTR_FH;
      memcpy(arg, &getattr, sizeof getattr);
      return;
    }
    case FUSE_OPEN:
    case FUSE_CREATE:
      pthread_mutex_lock(&o->lock);
      if (o->waiting_count < MAX_WAITING) {
        o->waiting[o->waiting_count] = (waiting_open_t){
          .unique = in.unique, .node_id = in.opcode == FUSE_OPEN ? in.nodeid : 0, .create = in.opcode == FUSE_CREATE,
        };
        __atomic_store_n(&o->waiting_count, o->waiting_count + 1, __ATOMIC_RELAXED);
      }
      pthread_mutex_unlock(&o->lock);
      return;
    case FUSE_RELEASE: {
      struct fuse_release_in release;
      if (arg_length < sizeof release) return;
      memcpy(&release, arg, sizeof release);
      pthread_mutex_lock(&o->lock);
      drop_handle(o, in.nodeid, release.fh);
      pthread_mutex_unlock(&o->lock);
      return;
    }
    default:
      return;
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

/*
 * The node and handle a successful OPEN or CREATE reply gives, kept before the reply is written: from then on
 * the kernel may send the handle's RELEASE. Returns whether one was kept.
 */
static int seen_reply(open_files_t *o, const struct iovec *iov, int count, waiting_open_t *opened, uint64_t *fh) {
  if (__atomic_load_n(&o->waiting_count, __ATOMIC_RELAXED) == 0) return 0;
  struct fuse_out_header out;
  if (!message_bytes(iov, count, 0, &out, sizeof out) || out.unique == 0) return 0;
  pthread_mutex_lock(&o->lock);
  int found = take_waiting(o, out.unique, opened);
  pthread_mutex_unlock(&o->lock);
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
  add_handle(o, opened->node_id, *fh);
  pthread_mutex_unlock(&o->lock);
  return 1;
}

ssize_t open_files_read(open_files_t *o, int fd, void *buf, size_t length) {
  ssize_t n = read(fd, buf, length);
  if (n > 0) {
    int saved = errno;
    seen_request(o, buf, (size_t)n);
    errno = saved;
  }
  return n;
}

ssize_t open_files_writev(open_files_t *o, int fd, struct iovec *iov, int count) {
  waiting_open_t opened;
  uint64_t fh;
  int kept = seen_reply(o, iov, count, &opened, &fh);
  ssize_t n = writev(fd, iov, count);
  if (n < 0 && kept) {
    /* The open was interrupted: libfuse releases the handle itself, and the kernel sends no RELEASE. */
    int saved = errno;
    pthread_mutex_lock(&o->lock);
    drop_handle(o, opened.node_id, fh);
    pthread_mutex_unlock(&o->lock);
    errno = saved;
  }
  return n;
}
