/*
 * The process a FUSE request comes from: the kernel names the calling thread (fuse_in_header.pid), and the
 * process is its thread group (/proc/TID/status). 0 when unknown (a process in another pid namespace, /proc
 * unreadable). A flush is sent for every close(2), also of a copy of the descriptor another process inherited
 * (a shell's children): the process that opened the file tells its own closes from those (vfs.ts flush).
 * Shared by native/fuse3/operations.c and native/fuse2/ikfs_fuse2.c.
 *
 * Most callers are single-threaded (cp, shells, tar): their thread leads its group, which pidfd_open proves
 * (it refuses any other thread) in two cheap syscalls, where the kernel builds the whole status text for the
 * read (about 4 against 12 microseconds, twice per file copied in: its create and its close).
 */
#ifndef IKFS_CALLER_PROCESS_H
#define IKFS_CALLER_PROCESS_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static inline uint32_t process_of_thread(pid_t tid) {
  if (tid <= 0) return 0;
#ifdef SYS_pidfd_open
  int leader = (int)syscall(SYS_pidfd_open, tid, 0);
  if (leader >= 0) {
    close(leader);
    return (uint32_t)tid;
  }
#endif
  char path[48];
  snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  /* Name comes first, with any newline in it escaped: the first line that starts with Tgid: is the field */
  const char *t = strstr(buf, "\nTgid:");
  if (t == NULL) return 0;
  long tgid = strtol(t + 6, NULL, 10);
  return tgid > 0 && tgid <= (long)UINT32_MAX ? (uint32_t)tgid : 0;
}

#endif
