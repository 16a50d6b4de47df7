// W3 under fire: injected 5xx/429 answers and dropped connections on the upload and API hosts (seeded, so a
// failing run replays) while `cp` writes 200 files. Some closes may report EIO; the background retrier must
// still deliver every file byte-exact. And a response lost after the server stored the upload is retried
// inside close(2): close succeeds. So is an upload answered with an error after it was stored (a gateway's 504),
// and neither is stored twice: the stored version is found and taken as the upload's result.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { close, openSync, writeSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, remoteBytesPath, run, sameBytes, waitFor, waitForRemoteBytes, type Library, type Mounted,
} from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping upload fault tests: ${skip}`)

const FILES = 200
const FAULT_SEED = 4242
/** The retrier backs off between attempts; this leaves room for several rounds after the copy. */
const RETRIER_DEADLINE_MS = 120_000

describe.skipIf(skip !== null)('uploads through server faults', () => {
  const rig = useFaultRig('ikfs-faults-retry-')
  let lib: Library
  let m: Mounted
  let work: string

  beforeAll(async () => {
    ;({ lib, work } = rig)
    m = await rig.mount(['--cache-dir', join(work, 'cache'), '--log-level', 'info'])
  })

  it(`all ${FILES} files copied during 5xx/429/reset faults arrive byte-exact`, async () => {
    const src = join(work, 'src')
    await mkdir(src)
    const names: string[] = []
    for (let i = 0; i < FILES; i++) {
      names.push(`f${String(i).padStart(3, '0')}.bin`)
      await writeFile(join(src, names[i]!), randomBytes(1000 + ((i * 7919) % 30_000)))
    }
    await lib.setFaults({ errorRate: 0.25, errorStatuses: [429, 500, 502, 503, 504], resetRate: 0.1, scope: ['upload', 'api'], seed: FAULT_SEED })
    let copyError = ''
    try {
      await run('cp', ['-r', src, join(m.path, 'dst')], 300_000).catch((e: { stderr?: string }) => (copyError = e.stderr ?? String(e)))
    } finally {
      await lib.setFaults({ errorRate: 0, resetRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    // A close may fail with EIO while the retrier keeps the file; no other error is acceptable.
    const failures = copyError.split('\n').filter(Boolean)
    for (const line of failures) expect(line).toMatch(/Input\/output error/)
    const missing = async () => {
      const out: string[] = []
      for (const n of names) if (!(await sameBytes(join(src, n), remoteBytesPath(lib, `/dst/${n}`)))) out.push(n)
      return out
    }
    await waitFor(async () => (await missing()).length === 0, RETRIER_DEADLINE_MS, `all ${FILES} files stored (EIO closes: ${failures.length})`)
    expect(await missing()).toEqual([])
  }, 300_000 + RETRIER_DEADLINE_MS)

  it('an upload whose answer was cut short after the server stored it is not sent again: close succeeds, one version each', async () => {
    const src = join(work, 'lost-answers')
    await mkdir(src)
    const count = 30
    for (let i = 0; i < count; i++) await writeFile(join(src, `g${i}.bin`), randomBytes(2000 + i * 100))
    // The emulator stores each upload, then sends half of its answer and drops the connection (server.ts cutMidBody).
    await lib.setFaults({ errorRate: 0, resetRate: 0.2, resetPhase: 'response', scope: ['upload'], seed: FAULT_SEED + 1 })
    try {
      await run('cp', ['-r', src, join(m.path, 'lost')], 120_000)
    } finally {
      await lib.setFaults({ errorRate: 0, resetRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    for (let i = 0; i < count; i++) {
      expect(await sameBytes(join(src, `g${i}.bin`), remoteBytesPath(lib, `/lost/g${i}.bin`))).toBe(true)
      const file = await lib.details(`/lost/g${i}.bin`)
      expect(await lib.api<unknown[]>('GET', `/v1/files/${file.fileId}/versions`), `g${i}.bin`).toHaveLength(1)
    }
    // The faults fired: the daemon found uploads stored whose answers were lost.
    expect(m.log()).toMatch(/"path":"\/lost\/g\d+\.bin"[^\n]*"msg":"the upload was stored, though its answer was an error"/)
  }, 180_000)

  it('an upload answered 504 after the server stored it is not sent again: close succeeds, one version each', async () => {
    const src = join(work, 'stored-then-504')
    await mkdir(src)
    const count = 20
    for (let i = 0; i < count; i++) await writeFile(join(src, `s${i}.bin`), randomBytes(2000 + i * 100))
    const versionsOf = async (path: string) => (await lib.api<unknown[]>('GET', `/v1/files/${(await lib.details(path)).fileId}/versions`)).length
    // The emulator stores each upload, then answers 504 (a gateway timeout after the store).
    await lib.setFaults({ errorAfterWorkRate: 0.3, errorStatuses: [504], scope: ['upload'], seed: FAULT_SEED + 3 })
    try {
      await run('cp', ['-r', src, join(m.path, 'stored504')], 120_000)
      // Every answer an error: the first attempt's version is the upload's result, at once.
      await lib.setFaults({ errorAfterWorkRate: 1, errorStatuses: [504], scope: ['upload'] })
      await writeFile(join(work, 'always.txt'), 'hello\n')
      await run('cp', [join(work, 'always.txt'), join(m.path, 'stored504', 'always.txt')], 60_000)
      expect(await versionsOf('/stored504/always.txt')).toBe(1)
      // A large file goes up while it is written (W12); its streamed request is answered 504 after the store too.
      await writeFile(join(work, 'streamed.bin'), randomBytes(6 * 1024 * 1024))
      await run('cp', [join(work, 'streamed.bin'), join(m.path, 'stored504', 'streamed.bin')], 60_000)
      expect(await versionsOf('/stored504/streamed.bin')).toBe(1)
      expect(m.log()).toMatch(/"path":"\/stored504\/streamed\.bin"[^\n]*"msg":"streamed upload failed; uploading the file again"/)
      expect(await sameBytes(join(work, 'streamed.bin'), remoteBytesPath(lib, '/stored504/streamed.bin'))).toBe(true)
    } finally {
      await lib.setFaults({ errorAfterWorkRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    for (let i = 0; i < count; i++) {
      expect(await sameBytes(join(src, `s${i}.bin`), remoteBytesPath(lib, `/stored504/s${i}.bin`))).toBe(true)
      expect(await versionsOf(`/stored504/s${i}.bin`), `s${i}.bin`).toBe(1)
    }
    expect(await readFile(remoteBytesPath(lib, '/stored504/always.txt'), 'utf8')).toBe('hello\n')
    // The faults fired: the daemon logged uploads found stored after an error answer.
    expect(m.log()).toMatch(/"path":"\/stored504\/s\d+\.bin"[^\n]*"msg":"the upload was stored, though its answer was an error"/)
  }, 180_000)

  it('W3: an upload answered 504 after the store is found by name also when the name holds ", \\ or \': one version each', async () => {
    // DoubleQuote and BackSlash left out of the encoding: these names reach the API's searchQuery as they are.
    const quoted = await rig.mount(['--cache-dir', join(work, 'cache-quoted'), '--log-level', 'info', '--encoding', 'Slash,Ctl,InvalidUtf8,Dot'])
    const names = ['a "q" b.txt', "c \\ 'd'.txt"]
    await mkdir(join(quoted.path, 'quoted'))
    await writeFile(join(work, 'quoted.txt'), 'quoted\n')
    await lib.setFaults({ errorAfterWorkRate: 1, errorStatuses: [504], scope: ['upload'] })
    try {
      for (const name of names) await run('cp', [join(work, 'quoted.txt'), join(quoted.path, 'quoted', name)], 60_000)
    } finally {
      await lib.setFaults({ errorAfterWorkRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    for (const name of names) {
      expect(await readFile(remoteBytesPath(lib, `/quoted/${name}`), 'utf8'), name).toBe('quoted\n')
      expect(await lib.api<unknown[]>('GET', `/v1/files/${(await lib.details(`/quoted/${name}`)).fileId}/versions`), name).toHaveLength(1)
    }
  }, 120_000)

  it('an upload whose connection drops while its body is sent is sent again: close succeeds, one version each', async () => {
    const src = join(work, 'dropped-bodies')
    await mkdir(src)
    const count = 30
    for (let i = 0; i < count; i++) await writeFile(join(src, `h${i}.bin`), randomBytes(2000 + i * 100))
    const debug = await rig.mount(['--cache-dir', join(work, 'cache-debug'), '--log-level', 'debug']) // logs each retry
    await lib.setFaults({ errorRate: 0, resetRate: 0.2, resetPhase: 'request', scope: ['upload'], seed: FAULT_SEED + 2 })
    try {
      await run('cp', ['-r', src, join(debug.path, 'dropped')], 120_000)
    } finally {
      await lib.setFaults({ errorRate: 0, resetRate: 0, resetPhase: 'both', scope: ['api', 'upload', 'delivery'] })
    }
    for (let i = 0; i < count; i++) {
      expect(await sameBytes(join(src, `h${i}.bin`), remoteBytesPath(lib, `/dropped/h${i}.bin`))).toBe(true)
      const file = await lib.details(`/dropped/h${i}.bin`)
      expect(await lib.api<unknown[]>('GET', `/v1/files/${file.fileId}/versions`)).toHaveLength(1)
    }
    // The faults fired: the daemon logged uploads that failed and were tried again.
    expect(debug.log()).toMatch(/"operation":"POST \/api\/v1\/files\/upload"[^\n]*"msg":"retrying"/)
  }, 180_000)

  it('W3: a write through a descriptor still open while its close\'s upload retries goes through between two requests, not after all of them', async () => {
    // 100 retries with backoff: an attempt whose every request fails lasts many minutes.
    const slow = await rig.mount(['--cache-dir', join(work, 'cache-barrier'), '--retries', '100'])
    const first = randomBytes(2 * 1024 * 1024) // over 1 MiB: each request reads the file as it sends it
    const fd = openSync(join(slow.path, 'barrier.bin'), 'w')
    // Its second half first: not streamed while written (W12), so the close sends it.
    const half = first.length / 2
    writeSync(fd, first, half, half, half)
    writeSync(fd, first, 0, half, 0)
    // A child inherits the descriptor (the same open file, at offset 0) and writes once told to.
    const child = spawn('sh', ['-c', 'read go; printf CHANGED >&3; echo written'], { stdio: ['pipe', 'pipe', 'inherit', fd] })
    let childOut = ''
    child.stdout!.on('data', (d: Buffer) => (childOut += d.toString()))
    const childExit = new Promise((resolve) => child.on('exit', resolve))
    // Every upload request's connection drops as its body arrives: the close's attempt retries on and on.
    await lib.setFaults({ errorRate: 0, resetRate: 1, resetPhase: 'request', scope: ['upload'] })
    let closed = false
    const closing = new Promise<void>((resolve, reject) => close(fd, (e) => (e ? reject(e) : resolve()))).finally(() => (closed = true))
    try {
      await waitFor(() => /"path":"\/barrier\.bin"[^\n]*"msg":"upload started"[\s\S]*"operation":"POST \/api\/v1\/files\/upload"[^\n]*"msg":"retrying"/.test(slow.log()), 60_000, 'a retry of the close\'s upload')
      child.stdin!.end('go\n')
      await waitFor(() => childOut.includes('written') || closed, 60_000, 'the child\'s write')
      expect(closed).toBe(false) // the write did not wait for the close's attempt to end
    } finally {
      await lib.setFaults({ resetRate: 0, scope: ['api', 'upload', 'delivery'] })
      child.stdin!.end()
    }
    await closing
    await childExit
    expect(childOut).toContain('written')
    await writeFile(join(work, 'barrier-expected.bin'), Buffer.concat([Buffer.from('CHANGED'), first.subarray(7)]))
    await waitForRemoteBytes(lib, '/barrier.bin', join(work, 'barrier-expected.bin'), 60_000)
  }, 300_000)
})
