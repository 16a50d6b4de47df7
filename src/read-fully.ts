/**
 * Reads that fill their buffer: read(2) may return fewer bytes than asked (a signal, a file growing or shrinking
 * under the read), so each reads again from where the last one stopped until the range is full or the file ends.
 * Both answer the bytes read: fewer than `length` only at the end of the file.
 */
import { readSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'

/** Fills `into[offset, offset + length)` with the file's bytes from `position`. */
export async function readFully(fh: FileHandle, into: Buffer, offset: number, length: number, position: number): Promise<number> {
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(into, offset + done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}

/** readFully, synchronously, on a descriptor. */
export function readFullySync(fd: number, into: Buffer, offset: number, length: number, position: number): number {
  let done = 0
  while (done < length) {
    const bytesRead = readSync(fd, into, offset + done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}
