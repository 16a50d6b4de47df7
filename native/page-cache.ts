/**
 * The page-cache addon (native/page-cache/ikfs_page_cache.c), built at `npm install` beside the libfuse3
 * binding. Optional: without it (no C compiler at install) the spool works the same, only its large files
 * stay in the page cache until the kernel evicts them.
 */
import { builtAddon, loadBuiltAddon } from './built-addon.js'

/** Forgets the clean cached pages of a byte range of an open file (posix_fadvise DONTNEED); throws on failure. */
export type DropCachedPages = (fd: number, offset: number, length: number) => void

interface PageCacheAddon {
  /** 0, or the errno value posix_fadvise returned. */
  dropCachedPages(fd: number, offset: number, length: number): number
}

/** The addon's function, or undefined (with the reason) when it is not built or does not load. */
export function loadDropCachedPages(
  path: string | undefined = builtAddon('page-cache', 'ikfs_page_cache.node'),
): { drop: DropCachedPages; reason?: undefined } | { drop?: undefined; reason: string } {
  const { addon, reason } = loadBuiltAddon<PageCacheAddon>(path, 'the page-cache addon')
  if (addon === undefined) return { reason }
  return {
    drop: (fd, offset, length) => {
      const errno = addon.dropCachedPages(fd, offset, length)
      if (errno !== 0) throw Object.assign(new Error(`posix_fadvise(DONTNEED) failed with errno ${errno}`), { errno })
    },
  }
}
