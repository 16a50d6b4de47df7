// libfuse2 (the fuse-native fallback) renames a file that is open when it is unlinked or renamed over to
// `.fuse_hidden…` and goes on using that name: that was a rename in the library, an upload under the hidden name
// at the close of a file being written, and a save by rename over an open file made the saved file a new one
// (file id, tags and versions gone). withHiddenNames answers the hide itself, as an unlink or nothing.
import { constants as fsConstants } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { describe, expect, it } from 'vitest'
import type { FuseOps, FuseReply } from '../../../native/binding-types.js'
import { withHiddenNames } from '../../../src/fuse/hidden-names.js'
import { captureLogger } from './log-capture.js'

const HIDDEN = '/d/.fuse_hidden0000000500000002'

/** Ops that record each call (name and first argument) and answer 0, open and create with handle 7. */
function recordingOps(): { ops: FuseOps; calls: string[] } {
  const calls: string[] = []
  const ops = new Proxy({}, {
    get: (_, name: string) => (...args: unknown[]) => {
      calls.push(`${name} ${String(args[0])}`)
      const cb = args.find((a): a is FuseReply => typeof a === 'function')
      if (name === 'open' || name === 'create' || name === 'reopen') cb?.(0, 7)
      else cb?.(0)
    },
    ownKeys: () => ['getattr', 'getattrOpen', 'utimens', 'utimensOpen', 'chmod', 'chmodOpen', 'chown', 'chownOpen', 'truncate', 'truncateOpen',
      'open', 'reopen', 'create', 'release', 'unlink', 'rmdir', 'rename', 'read', 'flush', 'fsync'],
    getOwnPropertyDescriptor: () => ({ enumerable: true, configurable: true }),
  }) as FuseOps
  return { ops, calls }
}

const call = <T extends unknown[]>(op: (...args: [...T, FuseReply]) => void, ...args: T): Promise<unknown[]> =>
  new Promise((resolve) => op(...args, (...reply: unknown[]) => resolve(reply)))

const openAs = (ops: FuseOps, path: string, flags: number): Promise<unknown[]> =>
  new Promise((resolve) => ops.open(path, flags, (...reply: unknown[]) => resolve(reply)))

async function hiddenOpenFile(settleMs = 60_000) {
  const { ops, calls } = recordingOps()
  const hidden = withHiddenNames(ops, captureLogger().logger, settleMs)
  await openAs(hidden, '/d/f', fsConstants.O_RDONLY)
  expect(await call(hidden.rename, '/d/f', HIDDEN)).toEqual([0])
  return { hidden, calls }
}

describe('libfuse2 hiding an open file', () => {
  it('stands for an unlink once the next request comes: no rename reaches the VFS, and its unlink comes first', async () => {
    const { hidden, calls } = await hiddenOpenFile()
    expect(calls).toEqual(['open /d/f'])
    await call(hidden.getattr, '/d/f')
    expect(calls).toEqual(['open /d/f', 'unlink /d/f', 'getattr /d/f'])
  })

  it('a close or fsync of the hidden file itself comes after that unlink: a file being written is not uploaded first (W8)', async () => {
    const { hidden, calls } = await hiddenOpenFile(1)
    await call(hidden.fsync, HIDDEN, 0, 7)
    await new Promise((resolve) => hidden.flush(HIDDEN, 7, resolve))
    await call(hidden.release, HIDDEN, 7)
    expect(calls).toEqual(['open /d/f', 'unlink /d/f', `fsync ${HIDDEN}`, `flush ${HIDDEN}`, `release ${HIDDEN}`])
  })

  it('a close of the hidden file itself between the hide and a rename over it waits for that rename: still a save over it (W9)', async () => {
    const { hidden, calls } = await hiddenOpenFile()
    const flushed = new Promise((resolve) => hidden.flush(HIDDEN, 7, resolve))
    await call(hidden.rename, '/d/f.tmp', '/d/f')
    await flushed
    expect(calls).toEqual(['open /d/f', 'rename /d/f.tmp', `flush ${HIDDEN}`])
  })

  it('a close of another file leaves the hide undecided: a rename over the hidden file still saves over it', async () => {
    const { hidden, calls } = await hiddenOpenFile()
    await new Promise((resolve) => hidden.flush('/d/other', 9, resolve))
    await call(hidden.rename, '/d/f.tmp', '/d/f')
    expect(calls).toEqual(['open /d/f', 'flush /d/other', 'rename /d/f.tmp'])
  })

  it('stands for an unlink after a moment when no request comes', async () => {
    const { calls } = await hiddenOpenFile(1)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(calls).toEqual(['open /d/f', 'unlink /d/f'])
  })

  it('followed by a rename onto that name, is a save over the open file: only that rename reaches the VFS', async () => {
    const { hidden, calls } = await hiddenOpenFile()
    await call(hidden.rename, '/d/f.tmp', '/d/f')
    await call(hidden.getattr, '/d/f')
    expect(calls).toEqual(['open /d/f', 'rename /d/f.tmp', 'getattr /d/f'])
  })

  it('the hidden name answers fstat, fchmod, fchown, futimens, truncate and opens from the handle, and its unlink and folder stay here', async () => {
    const { hidden, calls } = await hiddenOpenFile()
    await call(hidden.getattr, HIDDEN)
    expect(calls.slice(-1)).toEqual(['getattrOpen 7'])
    await call(hidden.utimens, HIDDEN, 1000, 1000)
    await call(hidden.chmod, HIDDEN, 0o600)
    await call(hidden.chmod, '/d/g', 0o600)
    expect(calls.slice(-3)).toEqual(['utimensOpen 7', 'chmodOpen 7', 'chmod /d/g'])
    await call(hidden.chown, HIDDEN, 0, 0)
    await call(hidden.chown, '/d/g', 0, 0)
    await call(hidden.truncate, HIDDEN, 3)
    await call(hidden.truncate, '/d/g', 3)
    expect(calls.slice(-4)).toEqual(['chownOpen 7', 'chown /d/g', 'truncateOpen 7', 'truncate /d/g'])
    expect(await openAs(hidden, HIDDEN, fsConstants.O_RDONLY)).toEqual([0, 7])
    expect(calls.slice(-1)).toEqual(['reopen 7'])
    expect(await openAs(hidden, HIDDEN, fsConstants.O_WRONLY)).toEqual([0, 7]) // the VFS refuses a stored file (ESTALE)
    expect(calls.slice(-1)).toEqual(['reopen 7'])
    expect(await call(hidden.rmdir, '/d')).toEqual([-osConstants.errno.ENOTEMPTY])
    await call(hidden.release, HIDDEN, 7)
    await call(hidden.release, HIDDEN, 7)
    const before = calls.length
    expect(await call(hidden.unlink, HIDDEN)).toEqual([0])
    expect(calls.length).toBe(before)
    await call(hidden.rmdir, '/d')
    expect(calls.slice(-1)).toEqual(['rmdir /d'])
  })

  it('its unlink after what libfuse2 counts as the last release is answered here, also with an open of it still being counted: the folder can be removed after', async () => {
    const { ops, calls } = recordingOps()
    const hidden = withHiddenNames({ ...ops, reopen: (fh, cb) => {
      calls.push(`reopen ${fh}`)
      cb(0, 8)
    } }, captureLogger().logger, 60_000)
    await openAs(hidden, '/d/f', fsConstants.O_RDONLY)
    await call(hidden.rename, '/d/f', HIDDEN)
    await call(hidden.rename, '/d/f.tmp', '/d/f') // saved over while open
    // A reader's open through the old name: libfuse2 counts it once answered, and may unlink the hidden name
    // (its count was 0 after the other handle's release) before it does.
    expect(await openAs(hidden, HIDDEN, fsConstants.O_RDONLY)).toEqual([0, 8])
    await call(hidden.release, HIDDEN, 7)
    expect(await call(hidden.unlink, HIDDEN)).toEqual([0])
    await call(hidden.release, HIDDEN, 8)
    expect(await call(hidden.rmdir, '/d')).toEqual([0])
    expect(calls).toEqual(['open /d/f', 'rename /d/f.tmp', 'reopen 7', `release ${HIDDEN}`, `release ${HIDDEN}`, 'rmdir /d'])
  })

  it('of an old version (R9) is refused with EACCES, as the unlink it stands for: rm said it removed it, and the unlink failed only after', async () => {
    const { ops, calls } = recordingOps()
    const hidden = withHiddenNames(ops, captureLogger().logger, 1, (fh) => fh === 7)
    await openAs(hidden, '/d/f-v2026-12-07-032127-950', fsConstants.O_RDONLY)
    expect(await call(hidden.rename, '/d/f-v2026-12-07-032127-950', HIDDEN)).toEqual([-osConstants.errno.EACCES])
    await new Promise((resolve) => setTimeout(resolve, 20))
    await call(hidden.getattr, '/d/f-v2026-12-07-032127-950')
    expect(calls).toEqual(['open /d/f-v2026-12-07-032127-950', 'getattr /d/f-v2026-12-07-032127-950'])
  })

  it('a rename to such a name of a file nobody has open is an ordinary rename', async () => {
    const { ops, calls } = recordingOps()
    const hidden = withHiddenNames(ops, captureLogger().logger)
    await call(hidden.rename, '/d/f', HIDDEN)
    expect(calls).toEqual(['rename /d/f'])
  })
})
