/**
 * The last line of defence for "leave no mounts or processes behind": each test stops what it started, but
 * a test process that dies (a crashed vitest worker) cannot, and its emulator and mount daemon then live on,
 * adopted by init. At the end of the run this finds the daemons that tests started (their paths are in the
 * system temp dir with the harness's prefixes), kills them, unmounts their mounts, and says so loudly.
 * Nothing else is touched: a mount or demo the developer runs from the same checkout has other paths.
 */
import { readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readMountInfo } from '../../src/fuse/mountinfo.js'
import { forceUnmount } from './mount.js'

/** The prefix of the harness's libraries, mountpoints and work dirs (tempDir, makeTempMountpoint). */
const TEST_PATH_PREFIX = join(tmpdir(), 'ikfs-')

interface Leftover {
  pid: number
  args: string[]
}

/** ikfs processes (bin/ikfs.js) whose arguments name a test's temp folder. */
export async function leftoverDaemons(): Promise<Leftover[]> {
  const found: Leftover[] = []
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    const args = await readFile(`/proc/${pid}/cmdline`, 'utf8').then((s) => s.split('\0').filter(Boolean), () => [])
    if (!args.some((a) => a.endsWith('bin/ikfs.js'))) continue
    if (args.some((a) => a.startsWith(TEST_PATH_PREFIX))) found.push({ pid, args })
  }
  return found
}

/** FUSE mounts of type fuse.ikfs on a test's temp mountpoint. */
export async function leftoverMounts(): Promise<string[]> {
  return (await readMountInfo()).filter((m) => m.fsType === 'fuse.ikfs' && m.mountPoint.startsWith(TEST_PATH_PREFIX)).map((m) => m.mountPoint)
}

/** Kills and unmounts what tests left behind; returns a description of each, empty when there was nothing. */
export async function clearLeftovers(): Promise<string[]> {
  const cleared: string[] = []
  const daemons = await leftoverDaemons()
  for (const d of daemons) {
    try {
      process.kill(d.pid, 'SIGKILL')
      cleared.push(`killed pid ${d.pid}: ${d.args.slice(1, 3).join(' ')}`)
    } catch {
      // exited meanwhile
    }
  }
  for (const mountpoint of await leftoverMounts()) {
    await forceUnmount(mountpoint)
    cleared.push(`unmounted ${mountpoint}`)
  }
  return cleared
}
