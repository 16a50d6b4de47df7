/**
 * CRC-32 of the first `size` bytes of a spool file, read synchronously: it is used for small files only
 * (a commit's bytes are in the page cache; at start-up, records are few), where a read and a checksum take
 * tens of microseconds.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { crc32 } from 'node:zlib'

const READ_BYTES = 256 * 1024

/** `source`: an open descriptor or a path. A file shorter than `size` has no checksum (undefined). */
export function crc32Of(source: number | string, size: number): number | undefined {
  const fd = typeof source === 'string' ? openSync(source, 'r') : source
  try {
    const buf = Buffer.allocUnsafe(Math.min(READ_BYTES, Math.max(1, size)))
    let crc = 0
    for (let done = 0; done < size;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), done)
      if (n === 0) return undefined
      crc = crc32(buf.subarray(0, n), crc)
      done += n
    }
    return crc
  } finally {
    if (fd !== source) closeSync(fd)
  }
}
