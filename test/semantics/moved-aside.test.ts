// README Semantics W17: a save that moves the original aside and deletes it (vim's default `backupcopy=auto`,
// mogrify) ends as an overwrite does (W2, W9): the file keeps its id, tags and coordinates and gains a version.
// Driven with the exact syscalls vim makes, and with vim itself; checked through the emulator's API.
import { constants as fsConstants } from 'node:fs'
import { open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, remoteBytesPath, remoteEntries, run, sameBytes, versionsOf, type Library, type Mounted,
} from '../integration/harness.js'
import { useFaultRig } from '../faults/rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping moved-aside semantics: ${skip}`)

const FOLDERS: [string, string[], boolean][] = [
  ['', [], true],
  [' (--write-back, fsync before close, as vim does)', ['--write-back', '1h'], true],
  [' (--write-back, no fsync: the new file still waits in the spool)', ['--write-back', '1h'], false],
  [' (fuse-native fallback)', ['--fuse-binding', 'fuse-native'], true],
]

/** vim's save with `backupcopy=auto`: rename(f, f~); open(f, O_WRONLY|O_CREAT); write; fsync; close; unlink(f~). */
async function saveMovingAside(path: string, bytes: string, opts: { fsync: boolean; deleteBackup?: boolean }): Promise<void> {
  await rename(path, `${path}~`)
  const fh = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT, 0o644)
  try {
    await fh.write(bytes)
    if (opts.fsync) await fh.sync()
  } finally {
    await fh.close()
  }
  if (opts.deleteBackup !== false) await unlink(`${path}~`)
}

describe.skipIf(skip !== null)('saves that move the original aside (W17)', () => {
  const rig = useFaultRig('ikfs-moved-aside-sem-')
  let lib: Library
  let work: string
  beforeAll(async () => {
    ;({ lib, work } = rig)
    await lib.setFaults({ rateLimitPerSecond: 0 })
    await lib.api('POST', '/v1/customMetadataFields', { name: 'owner', label: 'Owner', schema: { type: 'Text' } })
  })
  const mount = (args: string[]): Promise<Mounted> => rig.mount(['--cache-dir', join(work, `cache-${Math.random().toString(16).slice(2)}`), ...args])
  /** The file at `remotePath` is still the original `fileId`, with `tags` and its old bytes as a second version; its details. */
  const expectOriginalKept = async (remotePath: string, fileId: string, tags: string[]) => {
    const after = await lib.details(remotePath)
    expect(after.fileId).toBe(fileId)
    expect(after.tags).toEqual(tags)
    expect((await versionsOf(lib, remotePath)).length).toBe(2)
    return after
  }

  it.each(FOLDERS.map((f, i) => [...f, i] as const))('W17: a save that renames the original aside, writes the file anew and deletes the backup keeps its id, tags, metadata, coordinates and versions%s', async (_, args, fsync, i) => {
    const folder = `/w17-${i}`
    const before = await lib.upload(folder, 'notes.txt', Buffer.from('first draft\n'), { tags: 'red,kept', customCoordinates: '1,2,3,4' })
    await lib.api('PATCH', `/v1/files/${before.fileId}/details`, { customMetadata: { owner: `w17-${i}` } })
    const m = await mount(args)
    const path = join(m.path, folder, 'notes.txt')
    expect(await readFile(path, 'utf8')).toBe('first draft\n')
    await saveMovingAside(path, 'second draft, saved\n', { fsync })
    // What the program expects, as soon as its unlink returned: the backup gone, the file with its new bytes.
    expect(await readdir(join(m.path, folder))).toEqual(['notes.txt'])
    expect(await readFile(path, 'utf8')).toBe('second draft, saved\n')
    expect((await stat(path)).size).toBe(20)
    if (args.includes('--write-back')) await run('sync', [path]) // the upload the write-back delay holds
    const expected = join(work, `expected-${i}`)
    await writeFile(expected, 'second draft, saved\n')
    expect(await sameBytes(remoteBytesPath(lib, `${folder}/notes.txt`), expected)).toBe(true)
    const after = await expectOriginalKept(`${folder}/notes.txt`, before.fileId, ['red', 'kept'])
    expect(after.customCoordinates).toBe('1,2,3,4')
    expect(after.customMetadata).toMatchObject({ owner: `w17-${i}` })
    expect((await remoteEntries(lib, folder)).map((e) => e.name)).toEqual(['notes.txt'])
    expect(await m.stop()).toBe(0)
  })

  it('W17: otherwise as before: a backup that is kept, one changed elsewhere meanwhile, or a file renamed into the place', async () => {
    const kept = await lib.upload('/w17-other', 'kept.txt', Buffer.from('original\n'), { tags: 'red' })
    const changed = await lib.upload('/w17-other', 'changed.txt', Buffer.from('original\n'))
    const moved = await lib.upload('/w17-other', 'moved.txt', Buffer.from('original\n'))
    const other = await lib.upload('/w17-other', 'other.txt', Buffer.from('another file\n'))
    const m = await mount([])
    const dir = join(m.path, 'w17-other')
    // (a) The backup is kept (emacs' f~, perl -pi.bak): the original keeps its id under the backup's name.
    await saveMovingAside(join(dir, 'kept.txt'), 'saved\n', { fsync: true, deleteBackup: false })
    expect((await lib.details('/w17-other/kept.txt~')).fileId).toBe(kept.fileId)
    expect((await lib.details('/w17-other/kept.txt')).fileId).not.toBe(kept.fileId)
    // (b) The backup gained a version elsewhere before its unlink: it goes, as any unlink's file does (W8).
    await rename(join(dir, 'changed.txt'), join(dir, 'changed.txt~'))
    await lib.upload('/w17-other', 'changed.txt~', Buffer.from('changed elsewhere\n'))
    await writeFile(join(dir, 'changed.txt'), 'saved\n')
    await unlink(join(dir, 'changed.txt~'))
    expect((await lib.details('/w17-other/changed.txt')).fileId).not.toBe(changed.fileId)
    // (c) The file in the original's place was renamed there, not made anew: the backup goes.
    await rename(join(dir, 'moved.txt'), join(dir, 'moved.txt~'))
    await rename(join(dir, 'other.txt'), join(dir, 'moved.txt'))
    await unlink(join(dir, 'moved.txt~'))
    expect((await lib.details('/w17-other/moved.txt')).fileId).toBe(other.fileId)
    await lib.api('GET', `/v1/files/${other.fileId}/details`) // found by its id; the backup's original is not
    await expect(lib.api('GET', `/v1/files/${moved.fileId}/details`)).rejects.toThrow(/404/)
    expect((await remoteEntries(lib, '/w17-other')).map((e) => e.name).sort()).toEqual(['changed.txt', 'kept.txt', 'kept.txt~', 'moved.txt'])
    expect(m.log()).not.toMatch(/a save moved the original aside/)
    expect(await m.stop()).toBe(0)
  })

  it('W17: an unlink of the backup that fails (the library not answering) keeps the put-back for the unlink repeated', async () => {
    const before = await lib.upload('/w17-retry', 'doc.txt', Buffer.from('first draft\n'), { tags: 'red' })
    const m = await mount(['--retries', '1'])
    const path = join(m.path, 'w17-retry', 'doc.txt')
    expect(await readFile(path, 'utf8')).toBe('first draft\n')
    await saveMovingAside(path, 'second draft, saved\n', { fsync: true, deleteBackup: false })
    await lib.setFaults({ errorRate: 1, scope: ['api'] })
    try {
      await expect(unlink(`${path}~`)).rejects.toThrow(/EIO/)
    } finally {
      await lib.setFaults({ errorRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    // rm repeated once the library answers: the original is put back, not deleted with its versions.
    await unlink(`${path}~`)
    expect(await readFile(path, 'utf8')).toBe('second draft, saved\n')
    await expectOriginalKept('/w17-retry/doc.txt', before.fileId, ['red'])
    expect((await remoteEntries(lib, '/w17-retry')).map((e) => e.name)).toEqual(['doc.txt'])
    expect(await m.stop()).toBe(0)
  })

  it('W17: tags set with setfattr on the new file before the backup\'s unlink are the original\'s afterwards, as W9\'s', async () => {
    const before = await lib.upload('/w17-tags', 'doc.txt', Buffer.from('first draft\n'), { tags: 'red', customCoordinates: '1,2,3,4' })
    const m = await mount([])
    const path = join(m.path, 'w17-tags', 'doc.txt')
    expect(await readFile(path, 'utf8')).toBe('first draft\n')
    await saveMovingAside(path, 'second draft, saved\n', { fsync: true, deleteBackup: false })
    await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'blue,saved', path])
    await unlink(`${path}~`)
    const after = await expectOriginalKept('/w17-tags/doc.txt', before.fileId, ['blue', 'saved'])
    expect(after.customCoordinates).toBe('1,2,3,4')
    expect(await m.stop()).toBe(0)
  })

  it('W17: vim saving with backupcopy=auto keeps the file id, tags and versions (no backup left)', async () => {
    const before = await lib.upload('/w17-vim', 'poem.txt', Buffer.from('a cat sat\n'), { tags: 'poetry' })
    const m = await mount([])
    const path = join(m.path, 'w17-vim', 'poem.txt')
    // backupskip= : vim skips the backup for files under /tmp, where the tests mount.
    await run('vim.tiny', ['-u', 'NONE', '-N', '-i', 'NONE', '-n', '-es', '-c', 'set backupcopy=auto backupskip=', '-c', '%s/a/o/', '-c', 'wq', path])
    expect(await readFile(path, 'utf8')).toBe('o cat sat\n')
    // vim renamed the original aside here (the daemon logs the put-back), and deleted that backup.
    expect(m.log()).toMatch(/"msg":"a save moved the original aside and deleted it: it takes the new bytes as a new version/)
    const expected = join(work, 'expected-vim')
    await writeFile(expected, 'o cat sat\n')
    expect(await sameBytes(remoteBytesPath(lib, '/w17-vim/poem.txt'), expected)).toBe(true)
    await expectOriginalKept('/w17-vim/poem.txt', before.fileId, ['poetry'])
    expect((await remoteEntries(lib, '/w17-vim')).map((e) => e.name)).toEqual(['poem.txt'])
    expect(await m.stop()).toBe(0)
  })
})
