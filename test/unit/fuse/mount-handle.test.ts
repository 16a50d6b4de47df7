// A FUSE connection aborted from outside (echo 1 > /sys/fs/fuse/connections/N/abort) ends the libfuse3 session
// but leaves the mount listed, dead: the daemon went on running and `ikfs status` said "mounted". The end of
// the session while the mount is still listed now detaches the mount handle, which shuts the daemon down.
import { describe, expect, it } from 'vitest'
import { OpCounters } from '../../../src/fuse/guard.js'
import { createMountHandle } from '../../../src/fuse/mount.js'
import { readMountInfo } from '../../../src/fuse/mountinfo.js'
import { captureLogger } from './log-capture.js'

/** A path no FUSE file system is mounted at, so clearing the "dead mount" there has nothing to do. */
const TARGET = '/nonexistent-ikfs-mount-handle-test'

function sessionThatEnds(): { ended: Promise<void>; end: () => void } {
  let end!: () => void
  const ended = new Promise<void>((resolve) => (end = resolve))
  return { ended, end }
}

describe('a mount whose session ends', () => {
  it('while it is still listed (its connection aborted): says so, clears it and detaches', async () => {
    const { logger, records } = captureLogger()
    // Stands for the dead mount: an entry that stays in mountinfo whatever happens (the root file system's).
    const listed = (await readMountInfo()).find((m) => m.mountPoint === '/')
    const session = sessionThatEnds()
    const mount = createMountHandle(TARGET, 'fuse3', { options: '', release: () => undefined, ended: session.ended }, listed, new OpCounters(), undefined, logger)
    let detached = false
    void mount.detached.then(() => (detached = true))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(detached).toBe(false)

    session.end()
    await mount.detached
    await mount.sessionEnded
    expect(records.map((r) => r.msg)).toEqual(['the FUSE connection was aborted from outside; clearing the dead mount', 'unmounted'])
    await mount.unmount()
  })

  it('once the mount has left the namespace (an ordinary unmount): detaches without calling it an abort', async () => {
    const { logger, records } = captureLogger()
    const session = sessionThatEnds()
    const mount = createMountHandle(TARGET, 'fuse3', { options: '', release: () => undefined, ended: session.ended }, undefined, new OpCounters(), undefined, logger)
    session.end()
    await mount.detached
    expect(records.map((r) => r.msg)).toEqual(['unmounted'])
    await mount.unmount()
  })
})
