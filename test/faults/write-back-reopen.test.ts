// With --write-back, a second open for writing of a file whose upload waits for its delay stops that upload
// (the next close commits again). An open that then fails (here: the daemon out of file descriptors, so its
// spool file cannot be opened) has no handle whose close would queue the upload again: the file must not stay
// unstored until the next mount.
import { mkdir, open, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fuseSkipReason, run, waitForRemoteBytes } from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping the write-back reopen checks: ${skip}`)

describe.skipIf(skip !== null)('--write-back: a second open for writing that fails', () => {
  const rig = useFaultRig('ikfs-wb-reopen-')

  it('queues the upload it stopped again: the file is stored after the delay', async () => {
    const m = await rig.mount(['--cache-dir', join(rig.work, 'cache'), '--write-back', '2s'])
    const pid = String(m.daemon.child.pid)
    await mkdir(join(m.path, 'wb'))
    const path = join(m.path, 'wb', 'notes.txt')
    await writeFile(path, 'first\n') // closed: its upload waits 2 s, and the spool file is closed
    const expected = join(rig.work, 'expected.txt')
    await writeFile(expected, 'first\n')
    // The daemon runs out of file descriptors: its lowest free one becomes its limit, so the next open fails.
    const [soft, hard] = (await run('prlimit', ['--pid', pid, '--nofile', '--raw', '--noheadings', '--output', 'SOFT,HARD'])).stdout.trim().split(/\s+/)
    const used = new Set((await readdir(`/proc/${pid}/fd`)).map(Number))
    let free = 0
    while (used.has(free)) free++
    await run('prlimit', ['--pid', pid, `--nofile=${free}:${hard}`])
    let reopened: string
    try {
      reopened = await open(path, 'r+').then(async (fh) => {
        await fh.close()
        return 'opened'
      }, (e: NodeJS.ErrnoException) => e.code ?? 'error')
    } finally {
      await run('prlimit', ['--pid', pid, `--nofile=${soft}:${hard}`])
    }
    expect(reopened).not.toBe('opened') // the fault hit the open, as meant
    expect(m.log()).toMatch(/EMFILE/)
    await waitForRemoteBytes(rig.lib, '/wb/notes.txt', expected, 30_000) // was never (until the next mount)
    expect(m.log()).toMatch(/"path":"\/wb\/notes\.txt"[^\n]*upload queued again/)
  }, 90_000)
})
