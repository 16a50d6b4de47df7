/*
 * A RENAME of a name onto itself, which the kernel sends when its entry for the name is stale (the file went
 * elsewhere: the target's lookup, done afresh for a rename, found nothing, while the source's was still cached).
 * libfuse's path-based API (libfuse3's and libfuse2's alike) locks the source's node, then waits for that same
 * lock as the target's: the request, and after it every request in that folder, would never be answered. Both
 * bindings answer it before libfuse sees it: the source is gone (ENOENT). Shared by native/fuse3/open_files.c
 * and native/fuse2/ikfs_fuse2.c.
 */
#ifndef IKFS_SELF_RENAME_H
#define IKFS_SELF_RENAME_H

#include <linux/fuse.h>
#include <stdint.h>
#include <string.h>

/* Whether the request (its header, and the `arg_length` bytes after it) renames a name onto itself. */
static inline int is_self_rename(const struct fuse_in_header *in, const char *arg, size_t arg_length) {
  if (in->opcode != FUSE_RENAME && in->opcode != FUSE_RENAME2) return 0;
  size_t fixed = in->opcode == FUSE_RENAME2 ? sizeof(struct fuse_rename2_in) : sizeof(struct fuse_rename_in);
  if (arg_length <= fixed) return 0;
  uint64_t newdir;
  memcpy(&newdir, arg, sizeof newdir); /* both layouts start with newdir */
  const char *names = arg + fixed;
  size_t names_length = arg_length - fixed;
  const char *old_end = memchr(names, '\0', names_length);
  if (newdir != in->nodeid || old_end == NULL) return 0;
  const char *new_name = old_end + 1;
  size_t rest = names_length - (size_t)(new_name - names);
  size_t old_length = (size_t)(old_end - names);
  return rest >= old_length + 1 && memcmp(names, new_name, old_length + 1) == 0;
}

#endif
