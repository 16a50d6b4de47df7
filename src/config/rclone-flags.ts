/**
 * rclone mount flags that ikfs does not take, with what to do instead. Someone moving an `rclone mount` line
 * or unit over gets told why a flag is refused and what ikfs does in its place, not just "unknown flag".
 * Flags ikfs does take under rclone's spelling are aliases in options.ts, not here.
 */
export const RCLONE_FLAGS_INSTEAD: Readonly<Record<string, string>> = {
  '--vfs-cache-mode':
    'ikfs always writes through its spool in --cache-dir (like rclone\'s "writes" mode) and streams reads through a block cache (--block-cache-size); drop the flag',
  '--vfs-cache-max-size': 'the spool holds files until they are stored remotely, then keeps a few recent ones briefly (README W9); drop the flag',
  '--vfs-cache-max-age': 'the spool holds files until they are stored remotely, then keeps a few recent ones briefly (README W9); drop the flag',
  '--vfs-cache-poll-interval': 'there is no disk cache to poll; drop the flag',
  '--vfs-read-chunk-size': 'reads use HTTP ranges whose read-ahead grows by itself; use --block-cache-size and --max-buffered to bound memory',
  '--vfs-read-chunk-size-limit': 'reads use HTTP ranges whose read-ahead grows by itself; use --block-cache-size and --max-buffered to bound memory',
  '--vfs-read-ahead': 'read-ahead grows by itself, up to a quarter of --block-cache-size',
  '--buffer-size': 'use --max-buffered (memory for read-ahead and write buffers of all open files)',
  '--poll-interval': 'ikfs does not poll for remote changes: listings refresh after --dir-cache-time, on SIGHUP, or with `ikfs refresh`',
  '--no-modtime': 'modification times cost no requests: ImageKit\'s updatedAt comes with each listing, and times set through the mount are kept on this machine (README W13); drop the flag',
  '--no-checksum': 'ikfs checks sizes and versions, not checksums; drop the flag',
  '--volname': 'the mount is named "ikfs:" and its remote name (or the endpoint\'s last path segment); drop the flag',
  '--vfs-fast-fingerprint': 'drop the flag',
  '--async-read': 'reads are asynchronous already; drop the flag',
  '--max-read-ahead': 'the kernel reads ahead up to 1 MiB per request already; drop the flag',
  '-v': 'use --log-level info (the default)',
  '-vv': 'use --log-level debug',
  '--verbose': 'use --log-level info (the default) or debug',
  '-q': 'use --log-level warn',
  '--quiet': 'use --log-level warn',
}

/** What to say about an rclone mount flag ikfs refuses, or undefined if `flag` is none of them. */
export function rcloneFlagAdvice(flag: string): string | undefined {
  const instead = Object.hasOwn(RCLONE_FLAGS_INSTEAD, flag) ? RCLONE_FLAGS_INSTEAD[flag] : undefined
  return instead === undefined ? undefined : `${flag} is an rclone mount flag ikfs does not take: ${instead}`
}
