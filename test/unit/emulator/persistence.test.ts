/** Persistence (journal + files/ tree): restarts, hand-placed files adopted, crash safety of acknowledged writes. */
import { afterEach, describe, expect, it } from 'vitest'
import { cp, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DataDirInUseError } from '../../../src/emulator/data-lock.js'
import { startEmulator } from '../../../src/emulator/server.js'
import { startTestEmulator, type TestEmulator } from './helpers.js'

type Obj = Record<string, any>

describe('persistence', () => {
  const cleanup: (() => Promise<void>)[] = []
  afterEach(async () => { for (const c of cleanup.splice(0)) await c() })
  const start = async (...args: Parameters<typeof startTestEmulator>) => {
    const t = await startTestEmulator(...args)
    cleanup.push(() => t.stop())
    return t
  }
  const list = async (t: TestEmulator, query: string) => (await (await t.api('GET', '/v1/files?' + query)).json()) as Obj[]

  it('keeps files, versions, tags and folders across a restart', async () => {
    const t = await start()
    const up = await t.put('/p/a.txt', 'one', { tags: 'x,y' })
    await t.put('/p/a.txt', 'two', { tags: 'z' })
    await t.api('POST', '/v1/folder', { folderName: 'empty', parentFolderPath: '/p' })
    const before = await list(t, 'type=all&path=/p')
    await t.restart()
    const after = await list(t, 'type=all&path=/p')
    const stable = (items: Obj[]) => items.map(({ url: _u, thumbnail: _t, ...rest }) => rest)
    expect(stable(after)).toEqual(stable(before))
    const versions = (await (await t.api('GET', `/v1/files/${up.fileId as string}/versions`)).json()) as Obj[]
    expect(versions.map((v) => v.tags)).toEqual([['x', 'y'], ['z']])
    expect(await (await fetch(versions[0]!.url)).text()).toBe('one')
    expect(await (await fetch(t.emu.urlEndpoint + '/p/a.txt')).text()).toBe('two')
  })

  it('adopts hand-placed files, notices edits and removals, keeps empty files listable', async () => {
    const t = await start()
    const kept = await t.put('/h/kept.txt', 'kept')
    await t.put('/h/edited.txt', 'short')
    await t.put('/h/gone.txt', 'gone')
    await t.emu.close()
    await mkdir(join(t.dataDir, 'files/h/new dir'), { recursive: true })
    await writeFile(join(t.dataDir, 'files/h/new dir/placed.txt'), 'placed by hand')
    await writeFile(join(t.dataDir, 'files/h/empty.txt'), '')
    await writeFile(join(t.dataDir, 'files/h/edited.txt'), 'a much longer content')
    await unlink(join(t.dataDir, 'files/h/gone.txt'))
    await t.restart()
    const files = await list(t, 'path=/h&sort=ASC_NAME')
    expect(files.map((f) => [f.name, f.size])).toEqual([['edited.txt', 21], ['empty.txt', 0], ['kept.txt', 4]])
    expect(files.find((f) => f.name === 'kept.txt')!.fileId).toBe(kept.fileId)
    const folders = await list(t, 'type=folder&path=/h')
    expect(folders.map((f) => f.folderPath)).toEqual(['/h/new dir'])
    const placed = await list(t, 'path=' + encodeURIComponent('/h/new dir'))
    expect(placed[0]).toMatchObject({ name: 'placed.txt', size: 14, versionInfo: { name: 'Version 1' } })
    expect(await (await fetch(placed[0]!.url)).text()).toBe('placed by hand')
    expect(await (await fetch(t.emu.urlEndpoint + '/h/edited.txt?tr=orig-true')).text()).toBe('a much longer content')
  })

  it('an acknowledged upload survives a crash (the journal is written before the answer)', async () => {
    const t = await start()
    await t.put('/crash/a.txt', 'v1', { tags: 'keep' })
    await t.put('/crash/a.txt', 'v2')
    // Copy the data dir while the emulator is still running: what a kill -9 would leave behind.
    const copy = await mkdtemp(join(tmpdir(), 'ikemu-crash-'))
    await cp(t.dataDir, copy, { recursive: true })
    cleanup.push(() => rm(copy, { recursive: true, force: true }))
    const journal = await readFile(join(copy, '.ikemu/journal.jsonl'), 'utf8')
    expect(journal).toContain('"keep"')
    const t2 = await start({}, copy)
    const files = await list(t2, 'type=file-version&path=/crash')
    expect(files).toHaveLength(1)
    expect(files[0]!.tags).toEqual(['keep'])
    expect(await (await fetch(t2.emu.urlEndpoint + '/crash/a.txt')).text()).toBe('v2')
  })

  it('refuses a second emulator on a data folder in use, which would rewrite the journal under the first', async () => {
    const t = await start()
    const second = startEmulator(t.options)
    await expect(second).rejects.toThrow(DataDirInUseError)
    await expect(second).rejects.toMatchObject({ pid: process.pid })
    // The first one's changes still reach its journal.
    await t.put('/later/a.txt', 'after the refused start', { tags: 'kept' })
    await t.restart()
    expect((await list(t, 'path=/later')).map((f) => [f.name, f.tags])).toEqual([['a.txt', ['kept']]])
  })

  it('a lock naming another live process is refused; one left by a process that is gone is taken over', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ikemu-lock-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    await mkdir(join(dir, '.ikemu'))
    const stat = await readFile('/proc/1/stat', 'utf8')
    const initStarted = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
    await writeFile(join(dir, '.ikemu/lock'), `1 ${initStarted}\n`)
    await expect(start({}, dir)).rejects.toMatchObject({ pid: 1, message: `the data folder ${dir} is in use by another emulator (pid 1)` })
    // Pid 1 started at another time: the pid was reused, the lock is stale.
    await writeFile(join(dir, '.ikemu/lock'), '1 0\n')
    const t = await start({}, dir)
    await t.put('/x.txt', 'x')
  })
})
