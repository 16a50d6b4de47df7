/**
 * The last line of defence for "leave no mounts or processes behind": each test stops what it started, but
 * a test process that dies (a crashed vitest worker) cannot, and its emulator and mount daemon then live on,
 * adopted by init. At the end of the run this finds the daemons that this run's tests started (their paths are
 * in the system temp dir with the harness's prefixes, their environment holds the run's id), kills them,
 * unmounts their mounts, and says so loudly. Nothing else is touched: a mount or demo the developer runs from
 * the same checkout has other paths, and another test or benchmark run going on has another id (or none).
 */
import { readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readMountInfo } from '../../src/fuse/mountinfo.js'
import { forceUnmount } from './mount.js'

/** The prefix of the harness's libraries, mountpoints and work dirs (tempDir, makeTempMountpoint). */
const TEST_PATH_PREFIX = join(tmpdir(), 'ikfs-')

/**
 * Set by the global setup to an id of its own for each `vitest` run, and inherited by every daemon the run
 * spawns: another run going on at the same time (a fuzz run beside a unit run) has other ids, and its
 * daemons and mounts are not this run's leftovers. (Not IKFS_: some tests pass the environment on without
 * ikfs's own variables.)
 */
export const TEST_RUN_ENV = 'VITEST_IKFS_RUN'

interface Leftover {
  pid: number
  args: string[]
}

/**
 * The programs that tests run as daemons: ikfs itself, and the in-memory file system that
 * integration/fuse-adapter.test.ts mounts (its mount is another run's as much as an ikfs mount is).
 */
const DAEMON_SCRIPTS = ['bin/ikfs.js', 'test/fixtures/memfs-daemon.mjs']

/**
 * Test daemons (DAEMON_SCRIPTS) whose arguments name a test's temp folder: `mine` those of run `runId`,
 * `others` the rest (other runs', and any spawned without a run id: better left than killed under a run
 * that is still going on).
 */
export async function testDaemons(runId: string | undefined): Promise<{ mine: Leftover[]; others: Leftover[] }> {
  const mine: Leftover[] = []
  const others: Leftover[] = []
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    const args = await readFile(`/proc/${pid}/cmdline`, 'utf8').then((s) => s.split('\0').filter(Boolean), () => [])
    if (!args.some((a) => DAEMON_SCRIPTS.some((script) => a.endsWith(script))) || !args.some((a) => a.startsWith(TEST_PATH_PREFIX))) continue
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').then((s) => s.split('\0'), () => [])
    const itsRun = environ.find((v) => v.startsWith(`${TEST_RUN_ENV}=`))?.slice(TEST_RUN_ENV.length + 1)
    ;(runId !== undefined && itsRun === runId ? mine : others).push({ pid, args })
  }
  return { mine, others }
}

/** FUSE mounts of type fuse.ikfs on a test's temp mountpoint, except those that `others` (live daemons) serve. */
export async function leftoverMounts(others: readonly Leftover[] = []): Promise<string[]> {
  const served = new Set(others.flatMap((d) => d.args))
  return (await readMountInfo())
    .filter((m) => m.fsType === 'fuse.ikfs' && m.mountPoint.startsWith(TEST_PATH_PREFIX) && !served.has(m.mountPoint))
    .map((m) => m.mountPoint)
}

/**
 * Kills and unmounts what run `runId`'s tests left behind, leaving other runs' daemons and mounts alone;
 * returns a description of each, empty when there was nothing.
 */
export async function clearLeftovers(runId: string | undefined): Promise<string[]> {
  const cleared: string[] = []
  const { mine, others } = await testDaemons(runId)
  for (const d of mine) {
    try {
      process.kill(d.pid, 'SIGKILL')
      cleared.push(`killed pid ${d.pid}: ${d.args.slice(1, 3).join(' ')}`)
    } catch {
      // exited meanwhile
    }
  }
  for (const mountpoint of await leftoverMounts(others)) {
    await forceUnmount(mountpoint)
    cleared.push(`unmounted ${mountpoint}`)
  }
  return cleared
}
