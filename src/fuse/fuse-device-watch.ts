/**
 * When a fuse-native (libfuse2) session has ended. fuse-native says nothing when its loop ends, but libfuse2's
 * fuse_loop_mt returns once the kernel ends the connection (the last file of a detached mount closed, or an
 * abort from outside), and fuse-native's thread then closes the /dev/fuse descriptor fuse_mount opened (its
 * start_fuse_thread → fuse_unmount). So the session has ended once that descriptor is closed, which
 * /proc/self/fd tells: one readlink per poll.
 *
 * Without this, a stop that waited for a file being written (R12) waited forever on the fallback binding: the
 * kernel drops the release of that file's last close when the session ends, so it never stopped being open.
 */
import { readdir, readlink } from 'node:fs/promises'

const FUSE_DEVICE = '/dev/fuse'
/** A stop waits for this at most once more than for its own poll of the files being written (200 ms). */
export const FUSE_DEVICE_POLL_MS = 200

/** Whether this process's descriptor `fd` is open on /dev/fuse. */
async function isFuseDevice(fd: number | string): Promise<boolean> {
  return (await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === FUSE_DEVICE
}

/** The descriptors of this process open on /dev/fuse. */
export async function fuseDescriptors(): Promise<Set<number>> {
  const found = new Set<number>()
  for (const name of await readdir('/proc/self/fd').catch(() => [] as string[])) {
    if (await isFuseDevice(name)) found.add(Number(name))
  }
  return found
}

/** Resolves once none of `fds` is open on /dev/fuse any more; close() stops looking (it never resolves then). */
export class FuseDeviceWatch {
  readonly ended: Promise<void>
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor(fds: readonly number[], pollMs = FUSE_DEVICE_POLL_MS) {
    this.ended = new Promise<void>((resolve) => {
      const look = async (): Promise<void> => {
        const open = await Promise.all(fds.map(isFuseDevice))
        if (this.#closed) return
        if (!open.includes(true)) return resolve()
        this.#timer = setTimeout(() => void look(), pollMs).unref()
      }
      this.#timer = setTimeout(() => void look(), pollMs).unref()
    })
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
  }
}
