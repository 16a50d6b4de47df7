// W3 after a crash: the daemon is killed with SIGKILL (or stopped by two Ctrl-Cs) while uploads are in flight (write-back off, so
// every close is waiting for its upload; the emulator is slowed so they stay in flight). A new mount with
// the same --cache-dir must finish every one of them, byte-exact.
import { execFile } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, remoteBytesPath, sameBytes, waitFor, writeRandomFile, type Library, type UploadCounter,
} from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping crash recovery test: ${skip}`)

const FILES = 24
/** Long enough that every upload is still in flight when the daemon is killed. */
const UPLOAD_LATENCY_MS = 5_000
/** More than FILES, so that all closes have their upload on the wire at once (observable at the proxy). */
const TRANSFERS = 32

describe.skipIf(skip !== null)('kill -9 during uploads', () => {
  const rig = useFaultRig('ikfs-faults-crash-', { uploadCounter: true })
  let lib: Library
  let counter: UploadCounter
  let work: string
  beforeAll(() => ({ lib, counter, work } = rig))

  it(`a new mount with the same cache dir completes all ${FILES} interrupted uploads`, async () => {
    const cache = join(work, 'cache')
    const src = join(work, 'src')
    await mkdir(src)
    const names = Array.from({ length: FILES }, (_, i) => `up${i}.bin`)
    for (const [i, n] of names.entries()) await writeRandomFile(join(src, n), 20_000 + i * 3_000)

    const first = await rig.mount(
      ['--cache-dir', cache, '--write-back', '0', '--transfers', String(TRANSFERS), '--upload-url', counter.url, '--log-level', 'info'],
    )
    await mkdir(join(first.path, 'crash'))
    await lib.setFaults({ latencyMs: UPLOAD_LATENCY_MS, scope: ['upload'] })
    // One cp per file, all at once; each stays in close() until its upload is stored (or the daemon dies).
    const copies = names.map((n) => new Promise<void>((resolve) => {
      execFile('cp', [join(src, n), join(first.path, 'crash', n)], { timeout: 60_000 }, () => resolve())
    }))
    try {
      await waitFor(() => counter.inFlight() === FILES, UPLOAD_LATENCY_MS - 500, `all ${FILES} uploads in flight`)
      first.kill9()
      expect(await first.waitExit(10_000)).toBeNull()
      await Promise.all(copies)
    } finally {
      await lib.setFaults({ latencyMs: 0, scope: ['api', 'upload', 'delivery'] })
    }
    await first.stop()
    const storedBeforeRestart = (await Promise.all(names.map((n) => sameBytes(join(src, n), remoteBytesPath(lib, `/crash/${n}`))))).filter(Boolean).length
    // The kill cut the uploads off at the proxy, so the emulator stored none (or a few that slipped through).
    expect(storedBeforeRestart, 'precondition: uploads left unfinished by the kill').toBeLessThan(FILES)

    const second = await rig.mount(['--cache-dir', cache, '--log-level', 'info'])
    const missing = async () => {
      const out: string[] = []
      for (const n of names) if (!(await sameBytes(join(src, n), remoteBytesPath(lib, `/crash/${n}`)))) out.push(n)
      return out
    }
    await waitFor(async () => (await missing()).length === 0, 60_000, `all ${FILES} interrupted uploads completed`)
    expect(await missing()).toEqual([])
    expect(await second.stop()).toBe(0)
  })

  it('two Ctrl-Cs during uploads: exit 130, the log names each upload left in the spool, and the next mount stores them', async () => {
    const cache = join(work, 'cache-ctrl-c')
    const src = join(work, 'src-ctrl-c')
    await mkdir(src)
    const names = ['a.bin', 'b.bin', 'c.bin']
    for (const [i, n] of names.entries()) await writeRandomFile(join(src, n), 10_000 + i * 1_000)

    const first = await rig.mount(['--cache-dir', cache, '--write-back', '0', '--upload-url', counter.url, '--log-level', 'info'])
    await mkdir(join(first.path, 'ctrl-c'))
    await lib.setFaults({ latencyMs: UPLOAD_LATENCY_MS, scope: ['upload'] })
    const copies = names.map((n) => new Promise<void>((resolve) => {
      execFile('cp', [join(src, n), join(first.path, 'ctrl-c', n)], { timeout: 60_000 }, () => resolve())
    }))
    try {
      await waitFor(() => counter.inFlight() === names.length, UPLOAD_LATENCY_MS - 500, 'every upload in flight')
      first.daemon.child.kill('SIGINT')
      await waitFor(() => first.log().includes('"msg":"unmounting"') || undefined, 5_000, 'the first Ctrl-C taken in')
      first.daemon.child.kill('SIGINT')
      expect(await first.waitExit(10_000)).toBe(130)
      await Promise.all(copies)
    } finally {
      await lib.setFaults({ latencyMs: 0, scope: ['api', 'upload', 'delivery'] })
    }
    const left = first.log().split('\n').find((line) => line.includes('stopped by a second signal'))
    expect(left).toContain(`${names.length} files stay in the spool`)
    for (const n of names) expect(left).toContain(`/ctrl-c/${n} (uploading)`)
    await first.stop()

    const second = await rig.mount(['--cache-dir', cache, '--log-level', 'info'])
    const missing = async () => {
      const out: string[] = []
      for (const n of names) if (!(await sameBytes(join(src, n), remoteBytesPath(lib, `/ctrl-c/${n}`)))) out.push(n)
      return out
    }
    await waitFor(async () => (await missing()).length === 0, 60_000, 'the uploads left by the Ctrl-Cs completed')
    expect(await second.stop()).toBe(0)
  })
})
