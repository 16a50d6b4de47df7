// The test run's last line of defence (helpers/leftovers.ts, run by the global teardown) clears what this
// run's crashed tests left, never the daemons of another run going on beside it (a fuzz run beside `npm test`).
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { fuseAvailable } from '../../native/load.js'
import { isMounted } from '../../src/fuse/mountinfo.js'
import { clearLeftovers, testDaemons, TEST_RUN_ENV } from '../helpers/leftovers.js'
import { Cleanup, makeTempMountpoint, REPO_ROOT, spawnDaemon, type Daemon } from '../helpers/mount.js'
import { tempDir } from './harness.js'

describe('clearing a run\'s leftovers', () => {
  const started: Daemon[] = []
  let dir: string | undefined
  afterAll(async () => {
    for (const d of started) await d.stop('SIGKILL')
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('kills the daemons of its own run and leaves those of another run alone', async () => {
    dir = await tempDir('ikfs-leftovers-')
    const emulatorOf = async (run: string): Promise<Daemon> => {
      const d = await spawnDaemon(['emulator', '--port', '0', '--data', join(dir!, run), '--public-key', 'pub', '--log-level', 'warn'], {
        env: { ...process.env, IKFS_EMULATOR_PRIVATE_KEY: 'private_leftovers', [TEST_RUN_ENV]: run },
        readyPattern: /listening on http:\/\/127\.0\.0\.1:\d+/,
        timeoutMs: 30_000,
      })
      started.push(d)
      return d
    }
    const mine = await emulatorOf('run-a')
    const theirs = await emulatorOf('run-b')
    const seen = await testDaemons('run-a')
    expect(seen.mine.map((d) => d.pid)).toEqual([mine.child.pid])
    expect(seen.others.map((d) => d.pid)).toContain(theirs.child.pid)

    const cleared = await clearLeftovers('run-a')
    expect(cleared).toEqual([expect.stringContaining(`killed pid ${mine.child.pid}`)])
    expect((await mine.exited).signal).toBe('SIGKILL')
    expect(theirs.hasExited()).toBe(false)
    expect((await testDaemons('run-b')).mine.map((d) => d.pid)).toEqual([theirs.child.pid])
  })

  it.skipIf(!fuseAvailable().ok)('leaves the in-memory fixture mount of another run mounted, and clears its own', async () => {
    const cleanup = new Cleanup()
    try {
      // Without auto_unmount: a crashed test's mount stays until the teardown clears it (with it, fusermount's
      // watcher may or may not have unmounted it by the time the teardown looks).
      const memfsOf = async (run: string): Promise<{ daemon: Daemon; mountpoint: string }> => {
        const mountpoint = cleanup.add(await makeTempMountpoint()).path
        const daemon = cleanup.add(await spawnDaemon([mountpoint, '--no-auto-unmount'], {
          command: [process.execPath, join(REPO_ROOT, 'test/fixtures/memfs-daemon.mjs')],
          env: { ...process.env, [TEST_RUN_ENV]: run },
          readyPattern: /^mounted /m,
          mountpoint,
          timeoutMs: 20_000,
        }))
        return { daemon, mountpoint }
      }
      const mine = await memfsOf('run-a')
      const theirs = await memfsOf('run-b')

      const cleared = await clearLeftovers('run-a')
      expect(cleared).toContain(`unmounted ${mine.mountpoint}`)
      expect(cleared.join('\n')).not.toContain(theirs.mountpoint)
      expect((await mine.daemon.exited).signal).toBe('SIGKILL')
      expect(await isMounted(mine.mountpoint)).toBe(false)
      expect(await isMounted(theirs.mountpoint)).toBe(true)
      expect(theirs.daemon.hasExited()).toBe(false)
    } finally {
      await cleanup.run()
    }
  })
})
