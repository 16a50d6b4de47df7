/**
 * Whether a path is the FUSE device a mount opens: character device 10,229 (the misc major, FUSE_MINOR) that
 * this process can open read-write. A regular file there (a container image that copied /dev, a `touch`)
 * opens read-write as well, and mounting then fails in libfuse's words, which name neither.
 */
import { closeSync, constants as fsConstants, openSync, statSync, type Stats } from 'node:fs'

export const FUSE_DEVICE = '/dev/fuse'
const FUSE_MAJOR = 10
const FUSE_MINOR = 229
const WANTED = `the FUSE device (character device ${FUSE_MAJOR},${FUSE_MINOR})`
const REPLACE_FIX = `remove it, then modprobe fuse (or mknod -m 666 /dev/fuse c ${FUSE_MAJOR} ${FUSE_MINOR}); ` +
  'in a container pass --device /dev/fuse --cap-add SYS_ADMIN'

export interface FuseDeviceProblem {
  problem: string
  fix: string
}

/** undefined when `device` is the FUSE device and opens read-write, else what is wrong and how to fix it. */
export function fuseDeviceProblem(device: string = FUSE_DEVICE): FuseDeviceProblem | undefined {
  let stats: Stats
  try {
    stats = statSync(device)
  } catch (e) {
    return openProblem(device, e)
  }
  if (!stats.isCharacterDevice()) return { problem: `${device} is ${kindOf(stats)}, not ${WANTED}`, fix: REPLACE_FIX }
  const [major, minor] = deviceNumbers(stats.rdev)
  if (major !== FUSE_MAJOR || minor !== FUSE_MINOR) {
    return { problem: `${device} is character device ${major},${minor}, not ${WANTED}`, fix: REPLACE_FIX }
  }
  try {
    closeSync(openSync(device, fsConstants.O_RDWR))
  } catch (e) {
    return openProblem(device, e)
  }
  return undefined
}

/** What the check says of a FUSE device that passed it. */
export const FUSE_DEVICE_OK = `character device ${FUSE_MAJOR},${FUSE_MINOR}, opens read-write`

function openProblem(device: string, e: unknown): FuseDeviceProblem {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message
  if (code === 'ENOENT') return { problem: `${device} is missing`, fix: 'modprobe fuse; in a container run with --device /dev/fuse --cap-add SYS_ADMIN' }
  return {
    problem: `${device} cannot be opened read-write (${code})`,
    fix: 'check its mode (crw-rw-rw-); in a container add --device /dev/fuse --cap-add SYS_ADMIN',
  }
}

function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'a regular file'
  if (stats.isDirectory()) return 'a directory'
  if (stats.isBlockDevice()) return 'a block device'
  if (stats.isFIFO()) return 'a FIFO'
  if (stats.isSocket()) return 'a socket'
  return 'not a device'
}

/** glibc's major()/minor() of a dev_t. */
function deviceNumbers(rdev: number): [number, number] {
  const high = Math.floor(rdev / 2 ** 32)
  const low = rdev % 2 ** 32
  const major = ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0)
  const minor = (low & 0xff) | ((low >>> 12) & 0xffffff00)
  return [major >>> 0, minor >>> 0]
}
