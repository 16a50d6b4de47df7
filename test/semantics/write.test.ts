// README Semantics W1–W15 (writing), on real mounts of the emulator's library. Every test mounts with its
// own cache dir (the spool is part of what is promised) and checks the emulator afterwards: bytes in its
// data dir with `cmp`, names, file ids, versions and tags through the Media API.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { constants as fsConstants } from 'node:fs'
import { chmod, chown, copyFile, link, mkdir, mkdtemp, open, readFile, readdir, rename, rm, rmdir, stat, symlink, truncate, unlink, utimes, writeFile } from 'node:fs/promises'
import { constants as osConstants, release } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  findSameFiles, fuseSkipReason, leftMounted, mountLibrary, remoteBytesPath, remoteEntries, run, runIkfs, sameBytes, startLibrary,
  startUploadCounter, tempDir, versionsOf, waitFor, waitForRemoteBytes, writeRandomFile, writeThroughMount, type Library, type Mounted,
} from '../integration/harness.js'
import { CONFIRM_MS } from '../../src/vfs/folder-presence.js'
import { dropsPagesOnDirectWrite } from '../../native/fuse3.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping write semantics: ${skip}`)

const DIR_CACHE = '2s'
/** Uploads of a few MiB to a local emulator take well under this; only a hang or a lost file hits it. */
const UPLOAD_DEADLINE_MS = 20_000
/** A hung mount gets 30 s of SIGTERM, then SIGKILL and a forced unmount (test/helpers/mount.ts). */
const STOP_DEADLINE_MS = 120_000
/** The default binding, and the fuse-native fallback, which keeps some promises by other means (title suffix, args). */
const BINDINGS: [string, string[]][] = [['', []], [' (fuse-native fallback)', ['--fuse-binding', 'fuse-native']]]

/** What the Python programs of onMount (below) start with: `d` the folder, `p(name)` a path in it, `attempt(call)` "ok" or the errno. */
const PYTHON_PRELUDE = [
  'import json, os, subprocess, sys',
  'd = sys.argv[1]',
  'def p(name):',
  '    return os.path.join(d, name)',
  'def attempt(call):',
  '    try:',
  '        call()',
  '        return "ok"',
  '    except OSError as e:',
  '        return e.errno',
]

/**
 * Python (after PYTHON_PRELUDE), W8's descriptors of files without a name left: `held` keeps open stored.txt
 * read-only ("stored"), plain.txt for writing ("opened for writing"), a new scratch.bin written with 100 bytes
 * ("written") and saved.txt read-only ("saved over": a file written beside it is renamed onto it); then
 * stored.txt, plain.txt and scratch.bin are unlinked.
 */
const HELD_THEN_NAMELESS = [
  'held = {',
  '    "stored": os.open(p("stored.txt"), os.O_RDONLY),',
  '    "opened for writing": os.open(p("plain.txt"), os.O_RDWR),',
  '    "written": os.open(p("scratch.bin"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644),',
  '    "saved over": os.open(p("saved.txt"), os.O_RDONLY),',
  '}',
  'os.write(held["written"], b"x" * 100)',
  'with open(p("saved.txt.tmp"), "w") as f:',
  '    f.write("saved\\n")',
  'os.rename(p("saved.txt.tmp"), p("saved.txt"))',
  'for name in ["stored.txt", "plain.txt", "scratch.bin"]:',
  '    os.unlink(p(name))',
]

/** Runs PYTHON_PRELUDE then `program` in a child process in a folder given; what it printed, parsed as JSON. */
function pythonIn(program: string[]): (dir: string) => Promise<Record<string, unknown>> {
  const source = [...PYTHON_PRELUDE, ...program].join('\n')
  return async (dir) => JSON.parse((await run('python3', ['-c', source, dir])).stdout) as Record<string, unknown>
}

describe.skipIf(skip !== null)('write semantics', () => {
  let lib: Library
  let work: string
  const libraries: Library[] = []
  const live = new Set<Mounted>()
  const mountpoints: string[] = []

  async function mount(opts: { args?: string[]; cacheDir?: string; library?: Library; dirCache?: string } = {}): Promise<{ m: Mounted; cache: string }> {
    const cache = opts.cacheDir ?? (await mkdtemp(join(work, 'cache-')))
    const m = await mountLibrary(opts.library ?? lib, {
      args: ['--cache-dir', cache, '--dir-cache-time', opts.dirCache ?? DIR_CACHE, ...(opts.args ?? [])],
    })
    live.add(m)
    mountpoints.push(m.path)
    return { m, cache }
  }
  async function unmount(m: Mounted): Promise<number | null> {
    live.delete(m)
    return m.stop()
  }
  /** A local file with `size` random bytes, to copy in and `cmp` against. */
  async function localFile(name: string, size: number): Promise<string> {
    const path = join(work, 'src', name)
    await writeRandomFile(path, size)
    return path
  }
  async function localBytes(name: string, bytes: Buffer | string): Promise<string> {
    const path = join(work, 'expect', name)
    await mkdir(join(work, 'expect'), { recursive: true })
    await writeFile(path, bytes)
    return path
  }

  /**
   * Runs a Python program (in a child process: the mount is never touched by synchronous calls from this one) in
   * `folder` of a mount whose library holds `files`; it prints what it saw as JSON. `p(name)` is the path of
   * `name` in the folder, `attempt(call)` gives "ok" or the errno. The mount stays up.
   */
  async function onMount(folder: string, files: Record<string, string>, program: string[], args: string[]) {
    for (const [name, text] of Object.entries(files)) await lib.upload(`/${folder}`, name, Buffer.from(text))
    // --attr-timeout 0: every fstat reaches the daemon, none is answered from what the kernel kept.
    const { m } = await mount({ args: ['--attr-timeout', '0', ...args] })
    const inFolder = pythonIn(program)
    return { m, mounted: await inFolder(join(m.path, folder)), inFolder }
  }

  /** As onMount, and the same in a local folder holding the same files: the reference a local disk gives (the test's work dir). */
  async function onMountAndLocalDisk(folder: string, files: Record<string, string>, program: string[], args: string[]) {
    const local = join(work, `local-${folder}`)
    await mkdir(local, { recursive: true })
    for (const [name, text] of Object.entries(files)) await writeFile(join(local, name), text)
    const { m, mounted, inFolder } = await onMount(folder, files, program, args)
    return { m, mounted, local: await inFolder(local) }
  }

  beforeAll(async () => {
    work = await tempDir('ikfs-write-sem-')
    lib = await startLibrary()
    libraries.push(lib)
    // The checks below call the Media API back to back; its rate limit is not what is tested here.
    await lib.setFaults({ rateLimitPerSecond: 0 })
  })
  // A failed test may leave its mounts running (or hung): show their logs, then stop them before the next test.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      for (const m of live) console.error(`--- last lines of the mount log (${m.path}) ---\n${m.log().split('\n').slice(-40).join('\n')}`)
    }
    await Promise.all([...live].map((m) => unmount(m)))
  }, STOP_DEADLINE_MS)
  afterAll(async () => {
    await Promise.all([...live].map((m) => unmount(m)))
    await Promise.all(libraries.map((l) => l.stop()))
    expect(await leftMounted(mountpoints)).toEqual([])
    await rm(work, { recursive: true, force: true })
  }, STOP_DEADLINE_MS)

  it('W1: cp, overwrite, >>, dd conv=notrunc, truncate, rsync, tar x, unzip and sed -i work; the spool is private', async () => {
    const { m, cache } = await mount()
    const dir = join(m.path, 'w1')
    await mkdir(dir)

    const first = await localFile('w1-first.bin', 300_000)
    await run('cp', [first, join(dir, 'f.bin')])
    await waitForRemoteBytes(lib, '/w1/f.bin', first, UPLOAD_DEADLINE_MS)

    const second = await localFile('w1-second.bin', 100_000)
    await run('cp', [second, join(dir, 'f.bin')])
    await waitForRemoteBytes(lib, '/w1/f.bin', second, UPLOAD_DEADLINE_MS)

    // Append and dd open the file without O_TRUNC: the remote bytes must be there first.
    await run('sh', ['-c', 'printf "appended tail" >> "$1"', 'sh', join(dir, 'f.bin')])
    const appended = Buffer.concat([await readFile(second), Buffer.from('appended tail')])
    await waitForRemoteBytes(lib, '/w1/f.bin', await localBytes('w1-appended', appended), UPLOAD_DEADLINE_MS)

    const seeded = randomBytes(200_000)
    await lib.upload('/w1', 'seeded.bin', seeded)
    m.forget()
    await waitFor(async () => (await readdir(dir)).includes('seeded.bin'), 10_000, 'seeded.bin listed')
    const patch = randomBytes(4096)
    const patchFile = await localBytes('w1-patch', patch)
    await run('dd', [`if=${patchFile}`, `of=${join(dir, 'seeded.bin')}`, 'bs=4096', 'seek=10', 'count=1', 'conv=notrunc', 'status=none'])
    const patched = Buffer.from(seeded)
    patch.copy(patched, 40_960)
    await waitForRemoteBytes(lib, '/w1/seeded.bin', await localBytes('w1-patched', patched), UPLOAD_DEADLINE_MS)

    await run('truncate', ['-s', '5000', join(dir, 'seeded.bin')])
    await waitForRemoteBytes(lib, '/w1/seeded.bin', await localBytes('w1-down', patched.subarray(0, 5000)), UPLOAD_DEADLINE_MS)
    await run('truncate', ['-s', '9000', join(dir, 'seeded.bin')])
    const up = Buffer.concat([patched.subarray(0, 5000), Buffer.alloc(4000)])
    await waitForRemoteBytes(lib, '/w1/seeded.bin', await localBytes('w1-up', up), UPLOAD_DEADLINE_MS)
    expect((await stat(join(dir, 'seeded.bin'))).size).toBe(9000)

    // A small tree through rsync -a, tar x and unzip.
    const tree = join(work, 'w1-tree')
    await writeRandomFile(join(tree, 'a', 'one.bin'), 70_000)
    await writeRandomFile(join(tree, 'a', 'b', 'two.bin'), 1_000)
    await writeFile(join(tree, 'three.txt'), 'three\n')
    const treeFiles = ['a/one.bin', 'a/b/two.bin', 'three.txt']
    await run('rsync', ['-a', `${tree}/`, join(dir, 'rsynced')])
    await run('tar', ['-C', tree, '-cf', join(work, 'w1.tar'), '.'])
    await mkdir(join(dir, 'untarred'))
    await run('tar', ['-C', join(dir, 'untarred'), '-xf', join(work, 'w1.tar')])
    await run('sh', ['-c', 'cd "$1" && zip -qr "$2" .', 'sh', tree, join(work, 'w1.zip')])
    await run('unzip', ['-q', join(work, 'w1.zip'), '-d', join(dir, 'unzipped')])
    for (const target of ['rsynced', 'untarred', 'unzipped']) {
      for (const f of treeFiles) await waitForRemoteBytes(lib, `/w1/${target}/${f}`, join(tree, f), UPLOAD_DEADLINE_MS)
    }

    // An editor-style in-place edit (sed -i writes a temporary file and renames it over the original).
    await writeFile(join(dir, 'edit.txt'), 'colour: red\n')
    await run('sed', ['-i', 's/red/blue/', join(dir, 'edit.txt')])
    await waitForRemoteBytes(lib, '/w1/edit.txt', await localBytes('w1-edit', 'colour: blue\n'), UPLOAD_DEADLINE_MS)
    expect(await readFile(join(dir, 'edit.txt'), 'utf8')).toBe('colour: blue\n')

    // While a file is open for writing its bytes sit in the spool, readable by nobody else.
    const fh = await open(join(dir, 'open.bin'), 'w')
    try {
      await fh.write(randomBytes(65_536))
      expect((await stat(cache)).mode & 0o777).toBe(0o700)
      const modes: { path: string; mode: number }[] = []
      const walk = async (d: string): Promise<void> => {
        for (const e of await readdir(d, { withFileTypes: true })) {
          const p = join(d, e.name)
          modes.push({ path: p, mode: (await stat(p)).mode & 0o777 })
          if (e.isDirectory()) await walk(p)
        }
      }
      await walk(cache)
      expect(modes.length).toBeGreaterThan(0)
      expect(modes.filter((x) => x.mode & 0o077), 'spool entries readable by group/other').toEqual([])
      for (const x of modes) {
        const isDir = (await stat(x.path)).isDirectory()
        expect(x.mode, x.path).toBe(isDir ? 0o700 : 0o600)
      }
    } finally {
      await fh.close()
    }
    await unmount(m)
  })

  it.each(BINDINGS)('W1: >> appends while another program holds the file open and has read it to its end (tail -f): no append is lost%s', async (_, args) => {
    const { m } = await mount({ args })
    const name = `tailed${args.length}.log`
    const log = join(m.path, name)
    await writeFile(log, 'first\n')
    // The reader's handle keeps the version it opened: its read at the old end comes back short, and the
    // kernel takes that for the file's size (kept for --attr-timeout). Appends still go to the end of the
    // file, as on a local disk.
    await run('python3', ['-c', [
      'import subprocess, sys',
      'r = open(sys.argv[1], "rb")',
      'r.read()',
      'for i in range(3):',
      '    subprocess.run(["sh", "-c", \'echo "append $1" >> "$2"\', "sh", str(i), sys.argv[1]], check=True)',
      '    r.read()',
      'r.close()',
    ].join('\n'), log])
    const want = await localBytes(name, 'first\nappend 0\nappend 1\nappend 2\n')
    expect(await sameBytes(remoteBytesPath(lib, `/${name}`), want)).toBe(true)
    expect(await sameBytes(log, want)).toBe(true)
    await unmount(m)
  })

  it.each(BINDINGS)('W1: >> after another machine stored a new version (the mount listed the old one) appends to the new one, not over it%s', async (_, args) => {
    const folder = `/w1late${args.length}`
    await lib.upload(folder, 'log.txt', Buffer.from('one\n'))
    const { m } = await mount({ dirCache: '5m', args })
    const log = join(m.path, folder, 'log.txt')
    expect(await readFile(log, 'utf8')).toBe('one\n')
    await lib.upload(folder, 'log.txt', Buffer.from('one\ntwo\n'))
    await run('sh', ['-c', 'printf "three\\n" >> "$1"', 'sh', log])
    // Lost: two (written over at the old end, the fuse-native fallback's "one\nthree\n"), or the whole new version.
    expect(await readFile(remoteBytesPath(lib, `${folder}/log.txt`), 'utf8')).toBe('one\ntwo\nthree\n')
    expect(await readFile(log, 'utf8')).toBe('one\ntwo\nthree\n')
  })

  it('W1: an open for writing fills the file at its first change, so touch downloads nothing (it works while the CDN refuses reads)', async () => {
    await lib.upload('/w1touch', 'big.bin', randomBytes(2 * 1024 * 1024))
    const { m } = await mount()
    const path = join(m.path, 'w1touch', 'big.bin')
    const t = new Date('2005-06-07T08:09:10Z')
    await lib.setFaults({ errorRate: 1, errorStatuses: [403], scope: ['delivery'] })
    try {
      await run('touch', ['-m', '-d', t.toISOString(), path]) // open(O_WRONLY | O_CREAT), futimens, close
      expect((await stat(path)).mtimeMs).toBe(t.getTime())
      expect(m.log(), 'a download the CDN refused').not.toContain('IK_FORBIDDEN') // touch would pass over a failed open
      // A change needs the stored bytes: the CDN refuses them, so it fails, and nothing is stored.
      await expect(run('sh', ['-c', 'printf x >> "$1"', 'sh', path])).rejects.toThrow(/I\/O error/) // dash's printf for EIO
    } finally {
      await lib.setFaults({ errorRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    expect((await versionsOf(lib, '/w1touch/big.bin')).length).toBe(1)
  })

  it('W1: >>, touch, dd conv=notrunc and open(f, "a") of a file another machine stored after the mount listed its folder keep its bytes; cp replaces them', async () => {
    const folder = '/w1unlisted'
    await lib.upload(folder, 'seen.txt', Buffer.from('seen\n'))
    const { m } = await mount({ dirCache: '5m' })
    const dir = join(m.path, folder)
    expect(await readdir(dir)).toEqual(['seen.txt'])
    const listedAt = Date.now()
    const theirs = (name: string) => Buffer.from(`theirs: ${name}\n`)
    const names = ['app.log', 'touched.txt', 'dd.bin', 'py.log', 'copied.txt']
    const ids = new Map<string, string>()
    for (const name of names) ids.set(name, (await lib.upload(folder, name, theirs(name))).fileId)
    // A listing younger than CONFIRM_MS vouches for the names it lacks (unlisted-file.ts): past that, they are asked for.
    await new Promise((r) => setTimeout(r, Math.max(0, listedAt + CONFIRM_MS + 500 - Date.now())))
    // The kernel was told these names are not there (the cached listing): each open below is a FUSE create.
    await run('sh', ['-c', 'printf "mine\\n" >> "$1/app.log"; touch "$1/touched.txt"; printf XY | dd of="$1/dd.bin" bs=1 seek=2 conv=notrunc status=none', 'sh', dir])
    await run('python3', ['-c', 'import sys; open(sys.argv[1], "a").write("py\\n")', join(dir, 'py.log')])
    await run('cp', [await localBytes('copied.txt', 'copied\n'), join(dir, 'copied.txt')]) // O_EXCL: a copy replaces
    const want: Record<string, string> = {
      'app.log': 'theirs: app.log\nmine\n', // was mine\n: their bytes only in an old version
      'touched.txt': 'theirs: touched.txt\n', // was shown empty here
      'dd.bin': 'thXYrs: dd.bin\n', // was \0\0XY
      'py.log': 'theirs: py.log\npy\n',
      'copied.txt': 'copied\n',
    }
    for (const name of names) {
      expect(await readFile(remoteBytesPath(lib, `${folder}/${name}`), 'utf8')).toBe(want[name])
      expect(await readFile(join(dir, name), 'utf8')).toBe(want[name])
      expect((await lib.details(`${folder}/${name}`)).fileId).toBe(ids.get(name))
    }
    expect((await versionsOf(lib, `${folder}/touched.txt`)).length).toBe(1)
  })

  it('W1: a create with O_EXCL (cp, git\'s lock files) of a name stored elsewhere that the kernel was told is missing fails with EEXIST and stores nothing; a retry sees the file', async () => {
    const { m } = await mount({ dirCache: '5m' })
    const dir = join(m.path, 'w1excl')
    await mkdir(dir)
    // The kernel keeps these answers for --negative-timeout (a minute).
    for (const name of ['x.bin', 'index.lock']) await expect(stat(join(dir, name))).rejects.toMatchObject({ code: 'ENOENT' })
    const theirs = randomBytes(1024 * 1024)
    await lib.upload('/w1excl', 'x.bin', theirs)
    await lib.upload('/w1excl', 'index.lock', Buffer.from('theirs\n'))
    // rmdir lists the folder again (W7): the mount knows both files now, the kernel still holds them as missing.
    await expect(rmdir(dir)).rejects.toMatchObject({ code: 'ENOTEMPTY' })
    const mine = await localBytes('w1excl-mine', 'mine\n')
    // cp stats x.bin (missing: the kernel's cached answer), then opens it O_EXCL, for which the kernel asks ikfs
    // for the name again (fuse_dentry_revalidate): it is there, and is neither filled nor written over.
    await expect(run('cp', [mine, join(dir, 'x.bin')])).rejects.toThrow(/File exists/)
    await expect(run('python3', ['-c', 'import os, sys; os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL)', join(dir, 'index.lock')]))
      .rejects.toThrow(/FileExistsError/)
    expect(await sameBytes(remoteBytesPath(lib, '/w1excl/x.bin'), await localBytes('w1excl-theirs', theirs))).toBe(true)
    expect((await versionsOf(lib, '/w1excl/x.bin')).length).toBe(1)
    expect(await readFile(remoteBytesPath(lib, '/w1excl/index.lock'), 'utf8')).toBe('theirs\n')
    // That answer replaced the kernel's "missing": a retry sees the files.
    expect((await stat(join(dir, 'x.bin'))).size).toBe(theirs.length)
    expect((await stat(join(dir, 'index.lock'))).size).toBe(7)
    await run('cp', [mine, join(dir, 'x.bin')])
    expect(await readFile(remoteBytesPath(lib, '/w1excl/x.bin'), 'utf8')).toBe('mine\n')
    expect((await versionsOf(lib, '/w1excl/x.bin')).length).toBe(2)
    await unmount(m)
  })

  it.each(BINDINGS)('W1: >, >> and open(f, "w") of a file the kernel still knows but another machine deleted or moved start a new file; an open without O_CREAT fails with ENOENT%s', async (title, args) => {
    const folder = `/w1gone${title ? '-native' : ''}`
    const names = ['saved.txt', 'app.log', 'py.txt', 'moved.txt', 'patched.bin']
    for (const name of names) await lib.upload(folder, name, Buffer.from(`theirs: ${name}\n`))
    // The kernel keeps what it was told of these names for --attr-timeout: each open below is a FUSE open.
    const { m } = await mount({ dirCache: '5m', args: ['--attr-timeout', '1m', ...args] })
    const dir = join(m.path, folder)
    for (const name of names) expect((await stat(join(dir, name))).isFile()).toBe(true)
    for (const name of names.filter((n) => n !== 'moved.txt')) await lib.deleteFile(`${folder}/${name}`)
    await lib.api('PUT', '/v1/files/rename', { filePath: `${folder}/moved.txt`, newFileName: 'elsewhere.txt' })
    // > truncates: the cached listing still shows the files, so only a refreshed one knows they went.
    await runIkfs(['refresh', m.path, folder], { timeoutMs: 30_000 })
    await run('sh', ['-c', 'printf "mine\\n" > "$1/saved.txt"; printf "mine\\n" >> "$1/app.log"; printf "mine\\n" > "$1/moved.txt"', 'sh', dir])
    await run('python3', ['-c', 'import sys; open(sys.argv[1], "w").write("mine\\n")', join(dir, 'py.txt')])
    for (const name of ['saved.txt', 'app.log', 'py.txt', 'moved.txt']) {
      expect(await readFile(remoteBytesPath(lib, `${folder}/${name}`), 'utf8'), name).toBe('mine\n')
      expect(await readFile(join(dir, name), 'utf8'), name).toBe('mine\n')
    }
    expect(await readFile(remoteBytesPath(lib, `${folder}/elsewhere.txt`), 'utf8')).toBe('theirs: moved.txt\n')
    // Without O_CREAT nothing is created: dd conv=nocreat (as a local disk answers).
    await expect(run('dd', ['if=/dev/zero', `of=${join(dir, 'patched.bin')}`, 'bs=1', 'count=1', 'conv=notrunc,nocreat', 'status=none']))
      .rejects.toThrow(/No such file or directory/)
    await expect(stat(join(dir, 'patched.bin'))).rejects.toMatchObject({ code: 'ENOENT' })
    await unmount(m)
  })

  it('W2: close and fsync return after the upload is stored; an overwrite keeps file id, tags, metadata, privacy', async () => {
    await lib.upload('/w2', 'doc.txt', Buffer.from('version one\n'), { tags: 'red,blue', isPrivateFile: 'true', customCoordinates: '10,20,30,40' })
    const before = await lib.details('/w2/doc.txt')
    await lib.api('POST', '/v1/customMetadataFields', { name: 'owner', label: 'Owner', schema: { type: 'Text' } })
    await lib.api('PATCH', `/v1/files/${before.fileId}/details`, { customMetadata: { owner: 'w2' } })
    const { m } = await mount()
    const path = join(m.path, 'w2', 'doc.txt')
    expect(await readFile(path, 'utf8')).toBe('version one\n')

    const next = 'version two, which is longer\n'
    await writeFile(path, next)
    // No polling: close() has returned, so the upload is stored and the mount shows it.
    expect(await sameBytes(remoteBytesPath(lib, '/w2/doc.txt'), await localBytes('w2-next', next))).toBe(true)
    expect((await stat(path)).size).toBe(next.length)
    expect(await readFile(path, 'utf8')).toBe(next)
    const after = await lib.details('/w2/doc.txt')
    expect(after.fileId).toBe(before.fileId)
    expect(after.tags).toEqual(['red', 'blue'])
    expect(after.isPrivateFile).toBe(true)
    expect(after.customMetadata).toMatchObject({ owner: 'w2' })
    // The Upload API resets custom coordinates on overwrite unless they are resent: ikfs resends them.
    expect(after.customCoordinates).toBe('10,20,30,40')
    expect((await versionsOf(lib, '/w2/doc.txt')).length).toBe(2)

    // fsync on an open handle: stored before the handle is closed.
    const fh = await open(join(m.path, 'w2', 'synced.bin'), 'w')
    const body = randomBytes(123_456)
    try {
      await fh.write(body)
      await fh.sync()
      expect(await sameBytes(remoteBytesPath(lib, '/w2/synced.bin'), await localBytes('w2-synced', body))).toBe(true)
    } finally {
      await fh.close()
    }
    expect((await stat(join(m.path, 'w2', 'synced.bin'))).size).toBe(body.length)
    await unmount(m)
  })

  it('W2: an fsync or close with nothing changed since the last upload uploads nothing (editors and databases sync often)', async () => {
    const counter = await startUploadCounter(lib.url)
    try {
      const { m } = await mount({ args: ['--upload-url', counter.url] })
      await mkdir(join(m.path, 'w2sync'))
      const path = join(m.path, 'w2sync', 'f.txt')
      const uploadsOf = async (steps: (fh: Awaited<ReturnType<typeof open>>) => Promise<unknown>, flags = 'r+'): Promise<number> => {
        const before = counter.uploads()
        const fh = await open(path, flags)
        try {
          await steps(fh)
        } finally {
          await fh.close()
        }
        return counter.uploads() - before
      }
      expect(await uploadsOf(async (fh) => { await fh.write('one\n'); await fh.sync(); await fh.sync() }, 'w')).toBe(1)
      expect(await uploadsOf(async (fh) => { await fh.write('two\n'); await fh.datasync() }, 'w')).toBe(1)
      // An ftruncate to the length the file has (truncate -s, rsync --inplace) changes no byte: was 1 each,
      // an identical version, while the file's copy was still in the spool after its upload.
      expect(await uploadsOf(async (fh) => { await fh.truncate(4); await fh.sync() })).toBe(0)
      expect(await uploadsOf((fh) => fh.truncate(4))).toBe(0)
      expect(await uploadsOf((fh) => fh.sync())).toBe(0)
      expect(await uploadsOf((fh) => fh.datasync(), 'a')).toBe(0)
      expect(await uploadsOf(async (fh) => { await fh.write('x', 0); await fh.sync(); await fh.truncate(4); await fh.sync() })).toBe(1)
      expect(await readFile(path, 'utf8')).toBe('xwo\n')
      expect(await sameBytes(remoteBytesPath(lib, '/w2sync/f.txt'), await localBytes('w2sync', 'xwo\n'))).toBe(true)
      expect(await versionsOf(lib, '/w2sync/f.txt')).toHaveLength(3)
      await unmount(m)

      // With --write-back an fsync still stores the bytes before it returns, and leaves nothing for later.
      const later = await mount({ args: ['--upload-url', counter.url, '--write-back', '1s'] })
      const before = counter.uploads()
      const fh = await open(join(later.m.path, 'w2sync', 'f.txt'), 'r+')
      try {
        await fh.write('y', 0)
        await fh.sync()
        expect(await sameBytes(remoteBytesPath(lib, '/w2sync/f.txt'), await localBytes('w2sync-wb', 'ywo\n'))).toBe(true)
        await fh.sync()
        await fh.truncate(4)
      } finally {
        await fh.close()
      }
      expect(await unmount(later.m)).toBe(0) // waits for any upload still to come
      expect(counter.uploads() - before).toBe(1)
    } finally {
      await counter.stop()
    }
  })

  it('W2: a close while its process still maps the file shared and writable (numpy.memmap) uploads nothing; the last close after the unmap stores what the map wrote, once', async () => {
    const counter = await startUploadCounter(lib.url)
    try {
      const { m } = await mount({ args: ['--upload-url', counter.url] })
      await mkdir(join(m.path, 'w2map'))
      const size = 3 * 1024 * 1024
      const body = randomBytes(size)
      const expected = await localBytes('w2map', body)
      // What numpy.memmap(mode='w+') does: make the file, size it, map it, close the file, then write through
      // the map. Python's mmap keeps a copy of the descriptor, which it closes before it unmaps.
      const mapWrite = (path: string, msync: boolean) => run('python3', ['-c', [
        'import mmap, os, sys',
        'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)',
        `os.ftruncate(fd, ${size})`,
        `m = mmap.mmap(fd, ${size})`,
        'os.close(fd)',
        'm[:] = open(sys.argv[2], "rb").read()',
        ...(msync ? ['m.flush()'] : []),
        'm.close()',
      ].join('\n'), path, expected], UPLOAD_DEADLINE_MS)

      // msync is an fsync: stored when it returns; the closes around it store nothing more.
      let before = counter.uploads()
      await mapWrite(join(m.path, 'w2map', 'synced.bin'), true)
      expect(await sameBytes(remoteBytesPath(lib, '/w2map/synced.bin'), expected)).toBe(true)
      expect(counter.uploads() - before, 'uploads of synced.bin').toBe(1)
      expect(await versionsOf(lib, '/w2map/synced.bin')).toHaveLength(1) // was 2: 3 MiB of zeros, then the bytes

      // Without msync the pages reach the mount at the closes and the unmap, and the release after it uploads.
      before = counter.uploads()
      await mapWrite(join(m.path, 'w2map', 'unsynced.bin'), false)
      await waitForRemoteBytes(lib, '/w2map/unsynced.bin', expected, UPLOAD_DEADLINE_MS)
      expect(await unmount(m)).toBe(0) // waits for any upload still to come
      expect(counter.uploads() - before, 'uploads of unsynced.bin').toBe(1)
      expect(await versionsOf(lib, '/w2map/unsynced.bin')).toHaveLength(1)
    } finally {
      await counter.stop()
    }
  })

  it.each(BINDINGS)("W2: the exits of a shell's commands, closes of descriptors they inherited, upload nothing: the shell's close stores the file once%s", async (_, args) => {
    const { m } = await mount({ args })
    const folder = args.length > 0 ? 'w2inherit-native' : 'w2inherit'
    await mkdir(join(m.path, folder))
    // The shell opens the file; each /bin/true inherits the descriptor and closes it at its exit, after a line
    // the shell wrote: a flush with something new to store, sent like any close(2).
    const commands = 6
    const rounds = Array.from({ length: commands }, (_, i) => i + 1)
    await run('sh', ['-c', `{ for i in ${rounds.join(' ')}; do echo "line $i"; /bin/true; done; echo end; } > "$1"`, 'sh', join(m.path, folder, 'out.log')])
    const lines = `${rounds.map((i) => `line ${i}\n`).join('')}end\n`
    // No polling: the shell's close has returned, so the upload is stored.
    expect(await sameBytes(remoteBytesPath(lib, `/${folder}/out.log`), await localBytes(`${folder}.log`, lines))).toBe(true)
    expect(await versionsOf(lib, `/${folder}/out.log`)).toHaveLength(1) // was 7 on fuse-native: one more at each command's exit
    await unmount(m)
  })

  it('W3: uploads retry through 429/5xx/resets, a failed close leaves the file to the retrier, kill -9 and unmount lose nothing', async () => {
    // (a) faults on the upload and API hosts: every file arrives byte-exact (closes may report EIO meanwhile).
    const { m } = await mount()
    await mkdir(join(m.path, 'w3'))
    const sources: string[] = []
    for (let i = 0; i < 12; i++) sources.push(await localFile(`w3-${i}.bin`, 20_000 + i * 1000))
    await lib.setFaults({ errorRate: 0.35, errorStatuses: [429, 500, 502, 503], resetRate: 0.15, scope: ['upload', 'api'], seed: 33 })
    const closeErrors: string[] = []
    try {
      for (const [i, src] of sources.entries()) {
        await run('cp', [src, join(m.path, 'w3', `f${i}.bin`)]).catch((e: { stderr?: string }) => closeErrors.push(e.stderr ?? String(e)))
      }
      for (const e of closeErrors) expect(e).toMatch(/Input\/output error/)
      for (const [i, src] of sources.entries()) await waitForRemoteBytes(lib, `/w3/f${i}.bin`, src, 60_000)
    } finally {
      await lib.setFaults({ errorRate: 0, resetRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    await unmount(m)

    // (b) kill -9 with uploads still pending: the next mount with the same cache dir finishes them.
    const held = await mount({ args: ['--write-back', '1h'] })
    const pending: string[] = []
    for (let i = 0; i < 3; i++) {
      pending.push(await localFile(`w3-pending-${i}.bin`, 50_000))
      await run('cp', [pending[i]!, join(held.m.path, `w3-pending-${i}.bin`)])
    }
    held.m.kill9()
    await held.m.waitExit(10_000)
    await unmount(held.m)
    for (let i = 0; i < 3; i++) expect(await sameBytes(remoteBytesPath(lib, `/w3-pending-${i}.bin`), pending[i]!)).toBe(false)
    const again = await mount({ cacheDir: held.cache })
    for (let i = 0; i < 3; i++) await waitForRemoteBytes(lib, `/w3-pending-${i}.bin`, pending[i]!, UPLOAD_DEADLINE_MS)
    await unmount(again.m)

    // (c) unmount (SIGTERM) waits for uploads in flight.
    await lib.setFaults({ latencyMs: 1500, scope: ['upload'] })
    try {
      const slow = await mount({ args: ['--write-back', '10ms'] })
      const inFlight: string[] = []
      for (let i = 0; i < 3; i++) {
        inFlight.push(await localFile(`w3-flight-${i}.bin`, 30_000))
        await run('cp', [inFlight[i]!, join(slow.m.path, `w3-flight-${i}.bin`)])
      }
      expect(await unmount(slow.m)).toBe(0)
      for (let i = 0; i < 3; i++) expect(await sameBytes(remoteBytesPath(lib, `/w3-flight-${i}.bin`), inFlight[i]!), `w3-flight-${i}.bin stored at unmount`).toBe(true)
      // The log names each file the unmount waits for, before and after.
      const log = slow.m.log()
      for (let i = 0; i < 3; i++) {
        expect(log).toMatch(new RegExp(`"path":"/w3-flight-${i}\\.bin"[^\\n]*"msg":"waiting for this upload before unmounting"`))
        expect(log).toMatch(new RegExp(`"path":"/w3-flight-${i}\\.bin"[^\\n]*"msg":"upload done before unmount"`))
      }

      // (d) `ikfs unmount` says that the daemon goes on until its uploads are stored; with --wait it stays until then.
      // The upload must still be in flight when `ikfs unmount` (a new node process, slow to start on a loaded
      // machine) asks the daemon: it takes 5 s here.
      await lib.setFaults({ latencyMs: 5000, scope: ['upload'] })
      for (const wait of [false, true]) {
        const name = `w3-cli-${wait ? 'wait' : 'nowait'}.bin`
        const other = await mount({ args: ['--write-back', '10ms'] })
        const src = await localFile(name, 30_000)
        await run('cp', [src, join(other.m.path, name)])
        await waitFor(() => /"msg":"upload started"/.test(other.m.log()), 10_000, 'the upload started')
        const un = await runIkfs(['unmount', other.m.path, ...(wait ? ['--wait'] : [])], { timeoutMs: 30_000 })
        expect(un.code, un.stderr).toBe(0)
        if (wait) {
          expect(un.stdout).toMatch(/has exited\n$/)
          expect(await sameBytes(remoteBytesPath(lib, `/${name}`), src), `${name} stored when unmount --wait returns`).toBe(true)
        } else {
          expect(un.stdout).toContain('goes on until 1 upload in flight is stored, then exits')
          await waitForRemoteBytes(lib, `/${name}`, src, UPLOAD_DEADLINE_MS)
        }
        expect(await other.m.waitExit(20_000)).toBe(0)
        expect(await unmount(other.m)).toBe(0) // an exited daemon: only its mountpoint folder is left to remove
      }
    } finally {
      await lib.setFaults({ latencyMs: 0, scope: ['api', 'upload', 'delivery'] })
    }
  })

  it('W3: an upload answered 5xx after the server stored it is not stored again: close succeeds, one version, read back exact', async () => {
    const { m } = await mount()
    await mkdir(join(m.path, 'w3-stored'))
    const src = await localFile('w3-stored.bin', 300_000)
    const versionsOf = async (path: string) => (await lib.api<unknown[]>('GET', `/v1/files/${(await lib.details(path)).fileId}/versions`)).length
    // Every upload is stored, then answered 504: a gateway timeout after the store.
    await lib.setFaults({ errorAfterWorkRate: 1, errorStatuses: [504], scope: ['upload'] })
    try {
      await run('cp', [src, join(m.path, 'w3-stored', 'copied.bin')]) // cp fails when its close does (was: EIO after 5 repeats)
      await run('sh', ['-c', `echo hello > '${join(m.path, 'w3-stored', 'echoed.txt')}'`])
    } finally {
      await lib.setFaults({ errorAfterWorkRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    expect(await versionsOf('/w3-stored/copied.bin')).toBe(1) // was 6: the first attempt and each of the 5 repeats
    expect(await versionsOf('/w3-stored/echoed.txt')).toBe(1)
    // The mount shows the version found (its bytes, read through the mount), and no retry is left to add more.
    expect(await sameBytes(join(m.path, 'w3-stored', 'copied.bin'), src)).toBe(true)
    expect(await readFile(join(m.path, 'w3-stored', 'echoed.txt'), 'utf8')).toBe('hello\n')
    expect(m.log()).not.toMatch(/"msg":"upload failed/)
    expect(await versionsOf('/w3-stored/echoed.txt')).toBe(1)
    await unmount(m)
  })

  it('W3: kill -9 after the library stored an upload, before its answer came: the next mount takes that version, no second one', async () => {
    const counter = await startUploadCounter(lib.url)
    try {
      const first = await mount({ args: ['--write-back', '0', '--upload-url', counter.url] })
      const src = await localFile('w3-killed.bin', 200_000)
      counter.holdAnswers(true) // the library stores the upload; its answer stays on the way
      const copy = run('cp', [src, join(first.m.path, 'w3-killed.bin')]).catch(() => undefined) // its close dies with the daemon
      try {
        await waitFor(() => counter.answersHeld() === 1, UPLOAD_DEADLINE_MS, 'the upload stored, its answer held')
        first.m.kill9()
        await first.m.waitExit(10_000)
        await copy
      } finally {
        counter.holdAnswers(false)
      }
      await unmount(first.m)
      expect(await versionsOf(lib, '/w3-killed.bin')).toHaveLength(1)
      const again = await mount({ cacheDir: first.cache, args: ['--upload-url', counter.url] })
      await waitFor(() => /"path":"\/w3-killed\.bin"[^\n]*"msg":"upload finished"/.test(again.m.log()), UPLOAD_DEADLINE_MS, 'the interrupted upload settled')
      expect(await versionsOf(lib, '/w3-killed.bin')).toHaveLength(1) // was 2: the next mount sent it again
      expect(counter.uploads()).toBe(1)
      expect(await sameBytes(join(again.m.path, 'w3-killed.bin'), src)).toBe(true)
      expect(await unmount(again.m)).toBe(0)
    } finally {
      await counter.stop()
    }
  })

  it('W3: kill -9 before the file\'s last close: what a writer\'s close left while a reader had the file open (W2) is stored by the next mount', async () => {
    const first = await mount()
    await mkdir(join(first.m.path, 'w3-held'))
    const held = join(first.m.path, 'w3-held', 'log.txt')
    const writer = await open(held, 'w')
    await writer.write('written, then closed\n')
    const reader = await open(held, 'r') // tail -f, an indexer: its close is the file's last
    await writer.close()
    first.m.kill9()
    await first.m.waitExit(10_000)
    await reader.close().catch(() => undefined) // the mount is gone
    await unmount(first.m)
    const again = await mount({ cacheDir: first.cache })
    await waitForRemoteBytes(lib, '/w3-held/log.txt', await localBytes('w3-held.txt', 'written, then closed\n'), UPLOAD_DEADLINE_MS) // was lost: no record
    expect(await readFile(join(again.m.path, 'w3-held', 'log.txt'), 'utf8')).toBe('written, then closed\n')
    expect(await unmount(again.m)).toBe(0)
  })

  it('W3: kill -9 right after O_SYNC and O_DSYNC writes returned: the next mount stores what they wrote; the writes upload nothing', async () => {
    const first = await mount()
    const { O_WRONLY, O_CREAT, O_TRUNC, O_SYNC, O_DSYNC } = fsConstants
    const logged = await open(join(first.m.path, 'w3-osync.log'), O_WRONLY | O_CREAT | O_TRUNC | O_SYNC)
    await logged.write('first line\n')
    await logged.write('second line\n')
    // A database log's O_DSYNC writes, one of them in place over bytes an earlier write made durable.
    const journal = await open(join(first.m.path, 'w3-odsync.db'), O_WRONLY | O_CREAT | O_TRUNC | O_DSYNC)
    await journal.write('header v1|', 0)
    await journal.write('page one|', 10)
    await journal.write('header v2|', 0)
    const stored = (await remoteEntries(lib, '/')).map((e) => e.name)
    expect(stored).not.toContain('w3-osync.log') // stored at the last close, not at each write
    expect(stored).not.toContain('w3-odsync.db')
    first.m.kill9()
    await first.m.waitExit(10_000)
    await Promise.all([logged, journal].map((fh) => fh.close().catch(() => undefined))) // the mount is gone
    await unmount(first.m)
    const again = await mount({ cacheDir: first.cache })
    await waitForRemoteBytes(lib, '/w3-osync.log', await localBytes('w3-osync.log', 'first line\nsecond line\n'), UPLOAD_DEADLINE_MS) // was lost: no record
    await waitForRemoteBytes(lib, '/w3-odsync.db', await localBytes('w3-odsync.db', 'header v2|page one|'), UPLOAD_DEADLINE_MS)
    expect(await versionsOf(lib, '/w3-osync.log')).toHaveLength(1)
    expect(await unmount(again.m)).toBe(0)
  })

  // Before Linux 6.6 such a descriptor keeps the page cache, and each of its writes uploads (README W3).
  it.skipIf(!dropsPagesOnDirectWrite(release()))('W3: O_DSYNC writes through a descriptor that may read (a database opening its log O_RDWR|O_DSYNC) upload nothing; an fsync on it uploads once', async () => {
    const { m } = await mount()
    const { O_RDWR, O_CREAT, O_TRUNC, O_DSYNC } = fsConstants
    const original = await localFile('w3-dsync.db', 256 * 1024)
    await run('cp', [original, join(m.path, 'w3-dsync.db')])
    const expected = await readFile(original)
    const db = await open(join(m.path, 'w3-dsync.db'), O_RDWR | O_DSYNC)
    const made = await open(join(m.path, 'w3-dsync-new.db'), O_RDWR | O_CREAT | O_TRUNC | O_DSYNC)
    try {
      for (let i = 0; i < 5; i++) {
        const page = Buffer.alloc(8192, 65 + i)
        await db.write(page, 0, page.length, i * 40_000)
        page.copy(expected, i * 40_000)
        await made.write(page, 0, page.length, i * 8192)
      }
      const back = Buffer.alloc(8192)
      await db.read(back, 0, back.length, 4 * 40_000)
      expect(back.equals(Buffer.alloc(8192, 69))).toBe(true) // the descriptor reads what it wrote
      expect(await versionsOf(lib, '/w3-dsync.db')).toHaveLength(1) // the writes uploaded nothing
      expect((await remoteEntries(lib, '/')).map((e) => e.name)).not.toContain('w3-dsync-new.db')
      await db.sync() // W2: an fsync(2) stores what was written
      expect(await versionsOf(lib, '/w3-dsync.db')).toHaveLength(2)
      expect(await sameBytes(remoteBytesPath(lib, '/w3-dsync.db'), await localBytes('w3-dsync.db', expected))).toBe(true)
    } finally {
      await Promise.all([db.close(), made.close()])
    }
    expect(await versionsOf(lib, '/w3-dsync.db')).toHaveLength(2) // nothing written since the fsync
    expect(await versionsOf(lib, '/w3-dsync-new.db')).toHaveLength(1)
    expect(await unmount(m)).toBe(0)
  })

  it.each([...BINDINGS, [' (--write-back)', ['--write-back', '1s']]] as [string, string[]][])('W3: an O_DSYNC descriptor and the other descriptors and shared maps of the file see each other\'s writes at once%s', async (_, args) => {
    const { m } = await mount({ args })
    const original = await localFile('w3-dsync-seen.db', 1024 * 1024)
    await run('cp', [original, join(m.path, 'w3-dsync-seen.db')])
    const expected = join(work, 'expect', 'w3-dsync-seen.db')
    await mkdir(join(work, 'expect'), { recursive: true })
    // One process plays the programs: B, a database with its file open O_RDWR|O_DSYNC (bypassing the page cache,
    // libfuse3); A, a reader with the file open and mapped shared (through the page cache); C, a writer that
    // writes through its descriptor and its shared writable map. Each check prints its name and ok or stale.
    const checked = await run('python3', ['-c', [
      'import mmap, os, sys',
      'path, expected = sys.argv[1], sys.argv[2]',
      'want = bytearray(open(path, "rb").read())',
      'n = len(want)',
      'def check(name, got, at):',
      '    print(name, "ok" if bytes(got) == bytes(want[at:at + len(got)]) else "stale")',
      'b = os.open(path, os.O_RDWR | os.O_DSYNC)',
      'def b_write(data, at):',
      '    os.pwrite(b, data, at)',
      '    want[at:at + len(data)] = data',
      'b_write(b"0", 0)',
      'a = os.open(path, os.O_RDONLY)',
      'os.pread(a, n, 0)',
      'a_map = mmap.mmap(a, n, mmap.MAP_SHARED, mmap.PROT_READ)',
      'a_map[:]',
      'b_write(b"P" * 4096, 409600)',
      'b_write(b"X" * 100, 300000)',
      'check("A reads a page B wrote", os.pread(a, 4096, 409600), 409600)',
      'check("A reads part of a page B wrote", os.pread(a, 100, 300000), 300000)',
      'check("A\'s map shows a page B wrote", a_map[409600:409600 + 4096], 409600)',
      'check("A\'s map shows part of a page B wrote", a_map[300000:300100], 300000)',
      'c = os.open(path, os.O_RDWR)',
      'os.pread(c, n, 0)',
      'c_map = mmap.mmap(c, n, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)',
      'os.pwrite(c, b"Z" * 100, 600000)',
      'want[600000:600100] = b"Z" * 100',
      'check("B reads what C wrote", os.pread(b, 100, 600000), 600000)',
      'c_map[700000:700100] = b"V" * 100',
      'want[700000:700100] = b"V" * 100',
      'check("B reads what C stored in its map", os.pread(b, 100, 700000), 700000)',
      'b_write(b"W" * 100, 700050)',
      'check("C\'s map shows what B wrote over it", c_map[700000:700200], 700000)',
      'check("A reads what C and B wrote", os.pread(a, 200, 700000), 700000)',
      'c_map.close(); a_map.close()',
      'for fd in (c, a, b): os.close(fd)',
      'open(expected, "wb").write(want)',
    ].join('\n'), join(m.path, 'w3-dsync-seen.db'), expected])
    const lines = checked.stdout.trim().split('\n')
    expect(lines).toHaveLength(8)
    expect(lines.filter((line) => !line.endsWith(' ok'))).toEqual([])
    await waitForRemoteBytes(lib, '/w3-dsync-seen.db', expected, UPLOAD_DEADLINE_MS)
    expect(await unmount(m)).toBe(0)
  })

  it('W3: kill -9 while a process maps a file shared and writable after closing it: what its close left is stored by the next mount', async () => {
    const first = await mount()
    await mkdir(join(first.m.path, 'w3-mapped'))
    const path = join(first.m.path, 'w3-mapped', 'data.bin')
    // Written with write(2), then mapped and closed (numpy.memmap's order): close(2) returned, the map stays.
    const holder = spawn('python3', ['-c', [
      'import mmap, os, sys',
      'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)',
      'os.write(fd, b"written, then closed\\n")',
      'm = mmap.mmap(fd, 0)',
      'os.close(fd)',
      'print("closed", flush=True)',
      'sys.stdin.read()',
    ].join('\n'), path], { stdio: ['pipe', 'pipe', 'inherit'] })
    try {
      let out = ''
      holder.stdout.on('data', (d: Buffer) => { out += d.toString() })
      await waitFor(() => out.includes('closed'), UPLOAD_DEADLINE_MS, 'the mapping process closed the file')
      first.m.kill9()
      await first.m.waitExit(10_000)
    } finally {
      holder.kill('SIGKILL')
    }
    await unmount(first.m)
    const again = await mount({ cacheDir: first.cache })
    await waitForRemoteBytes(lib, '/w3-mapped/data.bin', await localBytes('w3-mapped.txt', 'written, then closed\n'), UPLOAD_DEADLINE_MS) // was lost: no record
    expect(await unmount(again.m)).toBe(0)
  })

  it('W3: kill -9 after a file waiting for its write-back upload was edited and renamed while open (a log rotation): the new name gets what its close committed', async () => {
    const wb = await mount({ args: ['--write-back', '1h'] })
    const rotated = await localFile('w3-rotated.bin', 40_000)
    await run('cp', [rotated, join(wb.m.path, 'w3-app.log')])
    const edit = await open(join(wb.m.path, 'w3-app.log'), 'r+')
    await edit.write('NOT CLOSED', 0)
    await rename(join(wb.m.path, 'w3-app.log'), join(wb.m.path, 'w3-app.log.1'))
    wb.m.kill9()
    await wb.m.waitExit(10_000)
    await edit.close().catch(() => undefined) // the mount is gone
    await unmount(wb.m)
    const again = await mount({ cacheDir: wb.cache })
    await waitForRemoteBytes(lib, '/w3-app.log.1', rotated, UPLOAD_DEADLINE_MS) // was the half-edited bytes
    expect((await remoteEntries(lib, '/')).map((e) => e.name)).not.toContain('w3-app.log')
    expect(await unmount(again.m)).toBe(0)
  })

  it('W4: with --write-back close returns at once; uploads start after the delay, several at a time', async () => {
    const counter = await startUploadCounter(lib.url)
    try {
      await lib.setFaults({ latencyMs: 800, scope: ['upload'] })
      const { m } = await mount({ args: ['--write-back', '3s', '--transfers', '4', '--upload-url', counter.url] })
      const sources: string[] = []
      // More files than an AbortSignal's default listener limit wait together (no Node warning: harness stop()).
      for (let i = 0; i < 12; i++) sources.push(await localFile(`w4-${i}.bin`, 40_000))
      for (const [i, src] of sources.entries()) await run('cp', [src, join(m.path, `w4-${i}.bin`)])
      // close() has returned for all twelve, with the 3 s delay not over: nothing is uploaded yet.
      expect(counter.uploads()).toBe(0)
      expect((await stat(join(m.path, 'w4-0.bin'))).size).toBe(40_000)
      expect(await sameBytes(join(m.path, 'w4-5.bin'), sources[5]!)).toBe(true)
      for (const [i, src] of sources.entries()) await waitForRemoteBytes(lib, `/w4-${i}.bin`, src, UPLOAD_DEADLINE_MS)
      expect(counter.maxInFlight()).toBeGreaterThanOrEqual(2)
      expect(counter.maxInFlight()).toBeLessThanOrEqual(4)
      // Renamed while waiting, with a reader holding it open (a thumbnailer, `tail`): uploaded under its new name.
      const late = await localFile('w4-late.bin', 30_000)
      await run('cp', [late, join(m.path, 'w4-late.bin')])
      const reader = await open(join(m.path, 'w4-late.bin'), 'r')
      try {
        await rename(join(m.path, 'w4-late.bin'), join(m.path, 'w4-moved.bin'))
      } finally {
        await reader.close()
      }
      await waitForRemoteBytes(lib, '/w4-moved.bin', late, UPLOAD_DEADLINE_MS)
      await unmount(m)
    } finally {
      await lib.setFaults({ latencyMs: 0, scope: ['api', 'upload', 'delivery'] })
      await counter.stop()
    }
  })

  it('W5: a new empty file lives in the spool, lists, survives a remount, and is uploaded once it has content', async () => {
    const { m, cache } = await mount()
    await mkdir(join(m.path, 'w5'))
    await run('touch', [join(m.path, 'w5', 'touched')])
    await run('sh', ['-c', ': > "$1"', 'sh', join(m.path, 'w5', 'colon')])
    for (const name of ['touched', 'colon']) {
      expect((await stat(join(m.path, 'w5', name))).size).toBe(0)
      expect(await readdir(join(m.path, 'w5'))).toContain(name)
      await expect(stat(remoteBytesPath(lib, `/w5/${name}`))).rejects.toMatchObject({ code: 'ENOENT' })
    }
    await unmount(m)

    const again = await mount({ cacheDir: cache })
    expect(await readdir(join(again.m.path, 'w5'))).toEqual(expect.arrayContaining(['touched', 'colon']))
    expect((await stat(join(again.m.path, 'w5', 'touched'))).size).toBe(0)
    await writeFile(join(again.m.path, 'w5', 'touched'), 'now with content\n')
    await waitForRemoteBytes(lib, '/w5/touched', await localBytes('w5-touched', 'now with content\n'), UPLOAD_DEADLINE_MS)

    // An existing file truncated to empty shows empty (also after a remount); the library keeps its last content.
    await run('sh', ['-c', ': > "$1"', 'sh', join(again.m.path, 'w5', 'touched')])
    expect((await stat(join(again.m.path, 'w5', 'touched'))).size).toBe(0)
    await unmount(again.m)
    const third = await mount({ cacheDir: cache })
    expect((await stat(join(third.m.path, 'w5', 'touched'))).size).toBe(0)
    expect(await readFile(remoteBytesPath(lib, '/w5/touched'), 'utf8')).toBe('now with content\n')
    await unmount(third.m)
  })

  it('W6: a file over the upload limit fails to close with EFBIG and stays in the spool; the next mount does not send it again, a rename does', async () => {
    const small = await startLibrary({ emulatorArgs: ['--max-upload-bytes', String(1024 * 1024)] })
    libraries.push(small)
    const counter = await startUploadCounter(small.url)
    try {
      const { m, cache } = await mount({ library: small, args: ['--upload-url', counter.url] })
      const src = await localFile('w6-big.bin', 2 * 1024 * 1024)
      const fh = await open(join(m.path, 'big.bin'), 'w')
      await fh.writeFile(await readFile(src))
      await expect(fh.close()).rejects.toMatchObject({ code: 'EFBIG' })
      expect((await findSameFiles(cache, src)).length, 'the 2 MiB file in the spool').toBeGreaterThanOrEqual(1)
      await expect(stat(remoteBytesPath(small, '/big.bin'))).rejects.toMatchObject({ code: 'ENOENT' })
      expect((await remoteEntries(small, '/')).map((e) => e.name)).not.toContain('big.bin')
      await unmount(m)
      const sent = counter.uploads()
      // The next mount: not sent again (it was, once per mount: a whole upload refused alike), still shown.
      const { m: again } = await mount({ library: small, cacheDir: cache, args: ['--upload-url', counter.url] })
      const rejected = async () => {
        const out = await runIkfs(['status', again.path, '--json'], { timeoutMs: 30_000 })
        const uploads = (JSON.parse(out.stdout) as { uploads: { localPath: string; state: string }[] }).uploads
        return uploads.some((u) => u.localPath === '/big.bin' && u.state === 'rejected')
      }
      await waitFor(rejected, UPLOAD_DEADLINE_MS, 'the refused file listed as rejected')
      expect(counter.uploads()).toBe(sent)
      expect(again.log()).toContain('not sent again at this mount')
      expect((await stat(join(again.path, 'big.bin'))).size).toBe(2 * 1024 * 1024)
      // A rename tries it again (refused again here: the limit was not raised).
      await rename(join(again.path, 'big.bin'), join(again.path, 'big2.bin'))
      await waitFor(() => counter.uploads() > sent, UPLOAD_DEADLINE_MS, 'the renamed file sent again')
      expect((await remoteEntries(small, '/')).map((e) => e.name)).not.toContain('big2.bin')
      await unmount(again)
    } finally {
      await counter.stop()
    }
  })

  it('W7: mkdir creates a folder; rmdir of a non-empty folder is ENOTEMPTY and deletes nothing; of an empty one deletes it', async () => {
    const { m } = await mount()
    await mkdir(join(m.path, 'w7'))
    await mkdir(join(m.path, 'w7', 'full'))
    await mkdir(join(m.path, 'w7', 'empty'))
    await writeFile(join(m.path, 'w7', 'full', 'keep.txt'), 'keep me\n')
    const folders = async () => (await remoteEntries(lib, '/w7')).filter((e) => e.type === 'folder').map((e) => e.name).sort()
    expect(await folders()).toEqual(['empty', 'full'])

    await expect(rmdir(join(m.path, 'w7', 'full'))).rejects.toMatchObject({ code: 'ENOTEMPTY' })
    expect(await readFile(remoteBytesPath(lib, '/w7/full/keep.txt'), 'utf8')).toBe('keep me\n')
    expect(await folders()).toEqual(['empty', 'full'])
    expect(await readdir(join(m.path, 'w7', 'full'))).toEqual(['keep.txt'])

    await rmdir(join(m.path, 'w7', 'empty'))
    expect(await folders()).toEqual(['full'])
    await expect(stat(join(m.path, 'w7', 'empty'))).rejects.toMatchObject({ code: 'ENOENT' })
    await unmount(m)
  })

  it('W7: mkdir of a folder another machine made after the mount listed its parent succeeds, and ls shows what is in it at once', async () => {
    const { m } = await mount({ dirCache: '5m' })
    const dir = join(m.path, 'w7late')
    await mkdir(dir)
    expect(await readdir(dir)).toEqual([])
    await lib.upload('/w7late/byp', 'theirs.txt', Buffer.from('theirs\n'))
    await lib.upload('/w7late/plain', 'also.txt', Buffer.from('also\n'))
    await run('mkdir', ['-p', join(dir, 'byp')])
    expect(await readdir(join(dir, 'byp'))).toEqual(['theirs.txt']) // was [] for the dir cache time
    expect(await readFile(join(dir, 'byp', 'theirs.txt'), 'utf8')).toBe('theirs\n')
    await mkdir(join(dir, 'plain')) // ImageKit's create-folder succeeds on an existing folder: so does mkdir
    expect(await readdir(join(dir, 'plain'))).toEqual(['also.txt'])
    await expect(rmdir(join(dir, 'plain'))).rejects.toMatchObject({ code: 'ENOTEMPTY' })
    expect((await remoteEntries(lib, '/w7late/plain')).map((e) => e.name)).toEqual(['also.txt'])
  })

  it('W7: mkdir and rmdir whose work was done but whose every answer was a 504 (a gateway giving up) succeed', async () => {
    const { m } = await mount()
    await mkdir(join(m.path, 'w7lost'))
    await mkdir(join(m.path, 'w7lost', 'empty'))
    await lib.setFaults({ errorAfterWorkRate: 1, errorStatuses: [504], scope: ['api'] })
    try {
      await mkdir(join(m.path, 'w7lost', 'made')) // was EIO once the retries were spent
      await rmdir(join(m.path, 'w7lost', 'empty')) // the repeat's 404 says the delete was done
    } finally {
      await lib.setFaults({ errorAfterWorkRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    expect((await remoteEntries(lib, '/w7lost')).map((e) => e.name)).toEqual(['made'])
    expect(await readdir(join(m.path, 'w7lost'))).toEqual(['made'])
  })

  it('W7: a file or folder created in a folder deleted elsewhere fails with ENOENT and does not bring it back; a file open there is stored', async () => {
    await lib.upload('/w7gone', 'theirs.txt', Buffer.from('theirs\n'))
    const { m } = await mount({ dirCache: '5m' })
    const dir = join(m.path, 'w7gone')
    expect(await readdir(dir)).toEqual(['theirs.txt'])
    const editor = await open(join(dir, 'saved.txt'), 'w') // created before the delete: its bytes must not be lost
    await lib.api('DELETE', '/v1/folder', { folderPath: '/w7gone' })
    // Past the few seconds in which the listing that showed the folder vouches for it.
    await new Promise((r) => setTimeout(r, CONFIRM_MS + 500))
    const shell = await run('sh', ['-c', 'cd "$1" && { echo new > new.txt; echo "file $?"; mkdir sub; echo "mkdir $?"; ls -A; }', 'sh', dir])
    expect(shell.stdout).toBe('file 2\nmkdir 1\n') // "Directory nonexistent", "No such file or directory", and ls shows nothing
    expect((await remoteEntries(lib, '/')).map((e) => e.name)).not.toContain('w7gone')
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' })

    await editor.write('written before the delete\n')
    await editor.close()
    expect(await readFile(remoteBytesPath(lib, '/w7gone/saved.txt'), 'utf8')).toBe('written before the delete\n')
    expect(m.log()).toMatch(/"path":"\/w7gone\/saved.txt","folder":"\/w7gone".*storing the file brings the folder back/)
    await unmount(m)
  })

  it('W7: a file or folder renamed into a folder deleted elsewhere fails with ENOENT, stays where it was, and does not bring it back', async () => {
    await lib.upload('/w7mvgone/for-file', 'theirs.txt', Buffer.from('theirs\n'))
    await lib.upload('/w7mvgone/for-folder', 'theirs.txt', Buffer.from('theirs\n'))
    await lib.upload('/w7mvgone/src/sub', 'in.txt', Buffer.from('inside\n'))
    await lib.upload('/w7mvgone/src', 'f.txt', Buffer.from('mine\n'))
    const { m } = await mount({ dirCache: '5m' })
    const dir = join(m.path, 'w7mvgone')
    expect((await readdir(dir)).sort()).toEqual(['for-file', 'for-folder', 'src'])
    expect((await readdir(join(dir, 'src'))).sort()).toEqual(['f.txt', 'sub'])
    await lib.api('DELETE', '/v1/folder', { folderPath: '/w7mvgone/for-file' })
    await lib.api('DELETE', '/v1/folder', { folderPath: '/w7mvgone/for-folder' })
    await new Promise((r) => setTimeout(r, CONFIRM_MS + 500))
    const shell = await run('sh', ['-c', 'cd "$1" && { mv src/f.txt for-file/ 2>/dev/null; echo "file $?"; mv src/sub for-folder/ 2>/dev/null; echo "folder $?"; ls -A; }', 'sh', dir])
    expect(shell.stdout).toBe('file 1\nfolder 1\nsrc\n') // ImageKit's moves made the folders again: both succeeded
    expect((await remoteEntries(lib, '/w7mvgone')).map((e) => e.name)).toEqual(['src'])
    expect((await remoteEntries(lib, '/w7mvgone/src')).map((e) => e.name).sort()).toEqual(['f.txt', 'sub'])
    expect(await readFile(join(dir, 'src', 'f.txt'), 'utf8')).toBe('mine\n')
    expect(await readFile(join(dir, 'src', 'sub', 'in.txt'), 'utf8')).toBe('inside\n')
    await unmount(m)
  })

  it.each(BINDINGS)('W8: unlink deletes the file with all its versions, also one that is open%s', async (_, args) => {
    const w8 = `w8${args.length}`
    await lib.upload(`/${w8}`, 'old.txt', Buffer.from('one\n'))
    await lib.upload(`/${w8}`, 'old.txt', Buffer.from('two\n'))
    const file = await lib.details(`/${w8}/old.txt`)
    expect((await versionsOf(lib, `/${w8}/old.txt`)).length).toBe(2)
    const { m } = await mount({ args })
    await unlink(join(m.path, w8, 'old.txt'))
    await expect(stat(join(m.path, w8, 'old.txt'))).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(lib.details(`/${w8}/old.txt`)).rejects.toThrow(/no file/)
    await expect(lib.api('GET', `/v1/files/${file.fileId}/versions`)).rejects.toThrow(/404/)
    await expect(stat(remoteBytesPath(lib, `/${w8}/old.txt`))).rejects.toMatchObject({ code: 'ENOENT' })

    // Unlinked while open, as on a local disk: gone from the folder and the library at once, no stand-in name
    // (libfuse's .fuse_hidden files), and the descriptor still reads and writes: the anonymous temporary file.
    await writeFile(join(m.path, w8, 'viewed.txt'), 'being viewed\n')
    const viewer = await open(join(m.path, w8, 'viewed.txt'), 'r')
    const scratch = await open(join(m.path, w8, 'scratch.tmp'), 'w+')
    try {
      await unlink(join(m.path, w8, 'viewed.txt'))
      await unlink(join(m.path, w8, 'scratch.tmp'))
      expect(await readdir(join(m.path, w8))).toEqual([])
      // libfuse2 would take the folder from under the open files, whose requests would then all fail.
      if (args.length > 0) await expect(rmdir(join(m.path, w8))).rejects.toMatchObject({ code: 'ENOTEMPTY' })
      await scratch.write('kept only while open\n', 0)
      const back = Buffer.alloc(64)
      const { bytesRead } = await scratch.read(back, 0, 64, 0)
      expect(back.subarray(0, bytesRead).toString()).toBe('kept only while open\n')
    } finally {
      await viewer.close()
      await scratch.close()
    }
    // Closed right after its unlink (in a child process: no synchronous call on the mount from this one): its
    // close uploaded it on the fuse-native fallback, before the delete the unlink stood for.
    await run('python3', ['-c', [
      'import os, sys',
      'fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)',
      'os.write(fd, b"written, unlinked, closed\\n")',
      'os.unlink(sys.argv[1])',
      'os.close(fd)',
    ].join('\n'), join(m.path, w8, 'closed-at-once.txt')])
    expect(await readdir(join(m.path, w8))).toEqual([])
    // Nothing is stored under libfuse2's stand-in name (the file being written was, at its close), nor uploaded.
    expect(m.log().split('\n').filter((line) => line.includes('"component":"vfs.upload"') &&
      (line.includes('.fuse_hidden') || line.includes('closed-at-once')))).toEqual([])
    await unmount(m)
    expect((await remoteEntries(lib, `/${w8}`)).map((e) => e.name)).toEqual([])
  })

  it.each(BINDINGS)('W8: a file just stored, open for reading and unlinked before it read anything, reads on what it opened%s', async (_, args) => {
    // Its reader had the spool's copy of its upload (R4), which goes with the unlink: the bytes must not go too.
    const folder = `w8read${args.length}`
    const bytes = randomBytes(300_000)
    const { m, cache } = await mount({ args })
    await mkdir(join(m.path, folder))
    await writeFile(join(m.path, folder, 'viewed.bin'), bytes)
    expect(await sameBytes(remoteBytesPath(lib, `/${folder}/viewed.bin`), await localBytes(`${folder}.bin`, bytes))).toBe(true)
    const viewer = await open(join(m.path, folder, 'viewed.bin'), 'r')
    try {
      await unlink(join(m.path, folder, 'viewed.bin'))
      expect(await readdir(join(m.path, folder))).toEqual([])
      await waitForDelete(`/${folder}/viewed.bin`)
      const back = Buffer.alloc(bytes.length + 1)
      const { bytesRead } = await viewer.read(back, 0, back.length, 0)
      expect(bytesRead).toBe(bytes.length)
      expect(back.subarray(0, bytesRead).equals(bytes)).toBe(true)
    } finally {
      await viewer.close()
    }
    // The copy it read from goes at its last release (which the kernel sends after close returned).
    const copies = async () => (await readdir(cache, { recursive: true })).filter((f) => f.includes('unlinked-'))
    await waitFor(async () => (await copies()).length === 0 || undefined, 10_000, 'the copy of the unlinked file removed')
    await unmount(m)
  })

  /** The library's delete of a file unlinked while open for reading follows its fetch (W8). */
  async function waitForDelete(remotePath: string, library: Library = lib): Promise<void> {
    await waitFor(() => library.details(remotePath).then(() => undefined, (e: unknown) => /no file/.test(String(e)) || undefined), 30_000, `${remotePath} deleted from the library`)
  }

  it('W8: an unlink of a file open for reading answers before its bytes are fetched and its delete: the folder is usable meanwhile, re-listed it leaves the file out, and a file made at the name is a file of its own, whose close answers before that delete', async () => {
    // The kernel holds the folder locked until the unlink answers: a lookup, create or listing there would wait
    // for the whole download. The CDN answers 30 s late here: the unlink, a create and listings in the folder
    // (one fetched anew after a SIGHUP, while the library still holds the file) are done in that time.
    const folder = 'w8slow'
    const bytes = randomBytes(400_000)
    await lib.upload(`/${folder}`, 'film.bin', bytes)
    await lib.upload(`/${folder}`, 'kept.txt', Buffer.from('kept\n'))
    const old = await lib.details(`/${folder}/film.bin`)
    const { m } = await mount()
    const viewer = await open(join(m.path, folder, 'film.bin'), 'r')
    try {
      await lib.setFaults({ latencyMs: 30_000, scope: ['delivery'] })
      try {
        await unlink(join(m.path, folder, 'film.bin'))
        await writeFile(join(m.path, folder, 'other.txt'), 'made meanwhile\n')
        m.forget() // every listing fetched anew: the library still answers with film.bin
        expect((await readdir(join(m.path, folder))).sort()).toEqual(['kept.txt', 'other.txt'])
        await expect(stat(join(m.path, folder, 'film.bin'))).rejects.toThrow(/ENOENT/)
        // Not deleted yet: its bytes are still on their way to the reader's copy.
        expect((await lib.details(`/${folder}/film.bin`)).fileId).toBe(old.fileId)
        // A file made at the name (an editor's save: unlink, create, write, fsync, close): stored once that delete
        // is done (before it, it would be a version of the file the delete takes). Its fsync and close answer
        // once its bytes are durable in the spool, not after the download for the reader: `ikfs status` lists
        // it as waiting, and the mount shows and reads it.
        const saved = await open(join(m.path, folder, 'film.bin'), 'w')
        await saved.writeFile('a new film\n')
        await saved.sync()
        await saved.close()
        expect((await lib.details(`/${folder}/film.bin`)).fileId).toBe(old.fileId) // the delete has not come yet
        expect(await readFile(join(m.path, folder, 'film.bin'), 'utf8')).toBe('a new film\n')
        expect((await readdir(join(m.path, folder))).sort()).toEqual(['film.bin', 'kept.txt', 'other.txt'])
        const status = await runIkfs(['status', m.path, '--json'], { timeoutMs: 30_000 })
        const uploads = (JSON.parse(status.stdout) as { uploads: { localPath: string; state: string; waitsFor?: string }[] }).uploads
        expect(uploads).toEqual([expect.objectContaining({ localPath: `/${folder}/film.bin`, state: 'waiting', waitsFor: 'delete' })])
      } finally {
        await lib.setFaults({ latencyMs: 0, scope: ['api', 'upload', 'delivery'] })
      }
      await waitFor(() => lib.api('GET', `/v1/files/${old.fileId}/details`).then(() => undefined, (e: unknown) => /404/.test(String(e)) || undefined),
        60_000, 'the unlinked file deleted from the library')
      // Then the new file's upload, a file of its own.
      await waitFor(() => lib.details(`/${folder}/film.bin`).then((f) => f.fileId !== old.fileId || undefined, () => undefined), 30_000, 'the new film.bin stored')
      const back = Buffer.alloc(bytes.length + 1)
      const { bytesRead } = await viewer.read(back, 0, back.length, 0)
      expect(back.subarray(0, bytesRead).equals(bytes)).toBe(true)
    } finally {
      await viewer.close()
    }
    await unmount(m)
    expect((await remoteEntries(lib, `/${folder}`)).map((e) => e.name).sort()).toEqual(['film.bin', 'kept.txt', 'other.txt'])
    expect(await readFile(remoteBytesPath(lib, `/${folder}/film.bin`), 'utf8')).toBe('a new film\n')
    expect((await lib.details(`/${folder}/film.bin`)).fileId).not.toBe(old.fileId)
  })

  it('W8: the background delete of a file unlinked while open for reading leaves it when another machine uploaded to its path meanwhile (a new version of it), so their upload is not lost', async () => {
    const folder = 'w8theirs'
    const bytes = randomBytes(200_000)
    await lib.upload(`/${folder}`, 'shared.bin', bytes)
    const old = await lib.details(`/${folder}/shared.bin`)
    const { m } = await mount()
    const viewer = await open(join(m.path, folder, 'shared.bin'), 'r')
    try {
      await lib.setFaults({ latencyMs: 5_000, scope: ['delivery'] })
      try {
        await unlink(join(m.path, folder, 'shared.bin'))
        // Another machine (a second API client) stores the file anew while the bytes are fetched for the reader.
        await lib.upload(`/${folder}`, 'shared.bin', Buffer.from('theirs\n'))
      } finally {
        await lib.setFaults({ latencyMs: 0, scope: ['api', 'upload', 'delivery'] })
      }
      // Once the background delete has looked, the name shows again here (listed afresh): the file was left.
      await waitFor(async () => {
        m.forget()
        return (await readdir(join(m.path, folder))).includes('shared.bin') || undefined
      }, 60_000, 'shared.bin listed again')
      // (The reader's copy could not be fetched: the path's URL serves their version now, and a fill takes no
      // other version's bytes, so the reader gets errors past what the block cache holds.)
    } finally {
      await viewer.close()
    }
    await unmount(m)
    const now = await lib.details(`/${folder}/shared.bin`)
    expect(now.fileId).toBe(old.fileId)
    expect(await readFile(remoteBytesPath(lib, `/${folder}/shared.bin`), 'utf8')).toBe('theirs\n')
    expect((await versionsOf(lib, `/${folder}/shared.bin`)).map((v) => v.versionInfo.id)).toEqual([old.versionInfo.id, now.versionInfo.id])
  })

  it.each(BINDINGS)('W8: fstat of a descriptor whose file was unlinked, and cat /proc/PID/fd/N of it, answer what the descriptor has%s', async (_, args) => {
    const w8fstat = `w8fstat${args.length}`
    await lib.upload(`/${w8fstat}`, 'stored.txt', Buffer.from('stored before the mount\n'))
    // --attr-timeout 0: every fstat reaches the daemon, none is answered from what the kernel kept.
    const { m } = await mount({ args: ['--attr-timeout', '0', ...args] })
    const dir = join(m.path, w8fstat)
    // In a child process: the mount is never touched by synchronous calls from this one.
    const { stdout } = await run('python3', ['-c', [
      'import json, os, subprocess, sys',
      'd = sys.argv[1]',
      'def cat(fd):',
      '    return subprocess.run(["cat", f"/proc/self/fd/{fd}"], pass_fds=[fd], capture_output=True, check=True).stdout.decode()',
      'def reopen_for_writing(fd):',
      '    try:',
      '        os.close(os.open(f"/proc/self/fd/{fd}", os.O_WRONLY))',
      '        return "opened"',
      '    except OSError as e:',
      '        return e.errno',
      'def seen(fd):',
      '    s = os.fstat(fd)',
      '    return {"size": s.st_size, "mode": oct(s.st_mode), "ino": s.st_ino, "mtime": s.st_mtime_ns}',
      'w = os.open(os.path.join(d, "scratch.bin"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)',
      'os.write(w, b"x" * 100)',
      'r = os.open(os.path.join(d, "stored.txt"), os.O_RDONLY)',
      'named = seen(r)',
      'os.unlink(os.path.join(d, "scratch.bin"))',
      'os.unlink(os.path.join(d, "stored.txt"))',
      'out = {"named": named, "stored": seen(r), "written": [seen(w)["size"]]}',
      'os.write(w, b"y" * 50)',
      'out["written"].append(seen(w)["size"])',
      'os.ftruncate(w, 7)',
      'out["written"].append(seen(w)["size"])',
      'out["mode"] = seen(w)["mode"]',
      'out["bytes"] = os.pread(r, 100, 0).decode()',
      'out["cat"] = [cat(r), cat(w)]',
      'out["reopened for writing"] = reopen_for_writing(r)',
      'os.close(w)',
      'os.close(r)',
      'print(json.dumps(out))',
    ].join('\n'), dir])
    const seen = JSON.parse(stdout) as Record<string, unknown>
    expect(seen.written).toEqual([100, 150, 7])
    expect(seen.mode).toBe('0o100644')
    // The stored file, unlinked while open read-only, looks as it did while it had its name (size, ino, mtime).
    expect(seen.stored).toEqual(seen.named)
    expect(seen.bytes).toBe('stored before the mount\n')
    // Opened again through /proc (cat of it, a copy to recover it): read-only, what the descriptor has.
    expect(seen.cat).toEqual(['stored before the mount\n', 'xxxxxxx'])
    expect(seen['reopened for writing']).toBe(osConstants.errno.ESTALE)
    expect(await readdir(dir)).toEqual([])
    await unmount(m)
  })

  it.each(BINDINGS)('W8: futimens, fchmod and ftruncate through a descriptor whose file was unlinked or saved over succeed, as on a local disk, and fstat shows the time set%s', async (_, args) => {
    const w8attr = `w8attr${args.length}`
    const files = Object.fromEntries(['stored.txt', 'plain.txt', 'saved.txt'].map((name) => [name, `${name} before the mount\n`]))
    const { m, mounted: seen } = await onMount(w8attr, files, [
      'T = 1577880000 * 10**9',
      ...HELD_THEN_NAMELESS,
      'out = {}',
      'for what, fd in held.items():',
      '    before = os.fstat(fd).st_mtime_ns',
      '    done = {"utime": attempt(lambda: os.utime(fd, ns=(T, T))), "chmod": attempt(lambda: os.fchmod(fd, 0o600))}',
      '    s = os.fstat(fd)',
      '    out[what] = {**done, "mtime": "set" if s.st_mtime_ns == T else "kept" if s.st_mtime_ns == before else s.st_mtime_ns, "mode": oct(s.st_mode)}',
      'os.ftruncate(held["opened for writing"], 3)',
      'out["truncated"] = [os.fstat(held["opened for writing"]).st_size, os.pread(held["opened for writing"], 100, 0).decode()]',
      'out["saved"] = os.stat(p("saved.txt")).st_mtime_ns != T',
      'for fd in held.values():',
      '    os.close(fd)',
      'print(json.dumps(out))',
    ], args)
    const dir = join(m.path, w8attr)
    // The time lives on the open file (fstat shows it); the mode is the mount's, as for a chmod by name (W10).
    // fuse-native delivers no modification time (W13 keeps none there, also by name): the file's stays.
    const set = { utime: 'ok', chmod: 'ok', mtime: args.length === 0 ? 'set' : 'kept', mode: '0o100644' }
    expect(seen).toMatchObject({ stored: set, 'opened for writing': set, written: set, 'saved over': set })
    expect(seen.truncated).toEqual([3, 'pla'])
    // The file saved over the held one keeps its own time, and nothing is uploaded for the files without a name.
    expect(seen.saved).toBe(true)
    expect(await readdir(dir)).toEqual(['saved.txt'])
    await unmount(m)
    expect((await remoteEntries(lib, `/${w8attr}`)).map((e) => e.name)).toEqual(['saved.txt'])
    expect((await readFile(remoteBytesPath(lib, `/${w8attr}/saved.txt`))).toString()).toBe('saved\n')
  })

  it.each(BINDINGS)('W8: fchown through a descriptor whose file was unlinked or saved over, and chown of its /proc/PID/fd/N, succeed for the owner, as on a local disk%s', async (_, args) => {
    const w8chown = `w8chown${args.length}`
    const files = { 'stored.txt': 'stored\n', 'plain.txt': 'plain\n', 'saved.txt': 'saved before\n' }
    const { m, mounted, local } = await onMountAndLocalDisk(w8chown, files, [
      ...HELD_THEN_NAMELESS,
      'out = {}',
      'for what, fd in held.items():',
      '    s = os.fstat(fd)',
      '    out[what] = {',
      '        "fchown": attempt(lambda: os.fchown(fd, s.st_uid, s.st_gid)),',
      '        "fchown -1": attempt(lambda: os.fchown(fd, -1, -1)),',
      '        "chown /proc": attempt(lambda: os.chown(f"/proc/self/fd/{fd}", s.st_uid, s.st_gid)),',
      '    }',
      'out["another owner"] = attempt(lambda: os.fchown(held["stored"], os.fstat(held["stored"]).st_uid + 1000, -1))',
      'for fd in held.values():',
      '    os.close(fd)',
      'print(json.dumps(out))',
    ], args)
    const owner = { fchown: 'ok', 'fchown -1': 'ok', 'chown /proc': 'ok' }
    expect(local).toMatchObject({ stored: owner, 'opened for writing': owner, written: owner, 'saved over': owner })
    // The same, but for another owner: files belong to the mount's owner (W10; root on a local disk may).
    expect({ ...mounted, 'another owner': 'ok' }).toEqual(local)
    expect(mounted['another owner']).toBe(osConstants.errno.EPERM)
    expect(await readdir(join(m.path, w8chown))).toEqual(['saved.txt'])
    await unmount(m)
    expect((await remoteEntries(lib, `/${w8chown}`)).map((e) => e.name)).toEqual(['saved.txt'])
  })

  it.each(BINDINGS)('W8: truncate (and truncate -s, an open for writing) of /proc/PID/fd/N of a descriptor whose file being written was unlinked succeeds, as on a local disk; of a stored file opened for reading, ESTALE%s', async (_, args) => {
    const w8trunc = `w8trunc${args.length}`
    const files = { 'stored.txt': 'stored\n', 'plain.txt': 'plain\n', 'named.txt': 'named\n' }
    const { m, mounted, local } = await onMountAndLocalDisk(w8trunc, files, [
      'held = {',
      '    "stored": os.open(p("stored.txt"), os.O_RDONLY),',
      '    "opened for writing": os.open(p("plain.txt"), os.O_RDWR),',
      '    "written": os.open(p("scratch.bin"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644),',
      '}',
      'os.write(held["written"], b"x" * 100)',
      // The kernel sends a truncate of the written file through the newest handle of it: this one, read-only.
      'reader = os.open(p("scratch.bin"), os.O_RDONLY)',
      'for name in ["stored.txt", "plain.txt", "scratch.bin"]:',
      '    os.unlink(p(name))',
      'def seen(fd):',
      '    return [os.fstat(fd).st_size, os.pread(fd, 100, 0).decode()]',
      'def truncated(fd, size):',
      '    return [attempt(lambda: os.truncate(f"/proc/self/fd/{fd}", size)), *seen(fd)]',
      'out = {what: truncated(fd, 4) for what, fd in held.items()}',
      'out["grown"] = truncated(held["written"], 6)',
      'out["reader"] = seen(reader)',
      // A file that still has its name is truncated by it, though it is open.
      'named = os.open(p("named.txt"), os.O_RDONLY)',
      'out["named"] = [attempt(lambda: os.truncate(f"/proc/self/fd/{named}", 3)), os.stat(p("named.txt")).st_size]',
      // truncate(1) opens the path for writing first; a program may write on through it too.
      'def truncate_1(fd, size):',
      '    done = subprocess.run(["truncate", "-s", str(size), f"/proc/{os.getpid()}/fd/{fd}"], capture_output=True)',
      '    return [done.returncode, *seen(fd)]',
      'out["truncate(1)"] = {what: truncate_1(held[what], 2) for what in ["stored", "opened for writing", "written"]}',
      'appending = os.open("/proc/self/fd/%d" % held["written"], os.O_WRONLY | os.O_APPEND)',
      'os.write(appending, b"zz")',
      'os.close(appending)',
      'out["appended"] = seen(reader)',
      'for fd in [*held.values(), reader, named]:',
      '    os.close(fd)',
      'print(json.dumps(out))',
    ], args)
    expect(local).toEqual({
      stored: ['ok', 4, 'stor'], 'opened for writing': ['ok', 4, 'plai'], written: ['ok', 4, 'xxxx'],
      grown: ['ok', 6, 'xxxx\0\0'], reader: [6, 'xxxx\0\0'], named: ['ok', 3],
      'truncate(1)': { stored: [0, 2, 'st'], 'opened for writing': [0, 2, 'pl'], written: [0, 2, 'xx'] }, appended: [4, 'xxzz'],
    })
    // A stored file opened only for reading has no spool file to truncate or open for writing.
    const truncate1 = local['truncate(1)'] as Record<string, unknown>
    expect({ ...mounted, stored: local.stored, 'truncate(1)': { ...(mounted['truncate(1)'] as object), stored: truncate1.stored } }).toEqual(local)
    expect(mounted.stored).toEqual([osConstants.errno.ESTALE, 7, 'stored\n'])
    expect((mounted['truncate(1)'] as Record<string, unknown>).stored).toEqual([1, 7, 'stored\n'])
    expect(await readdir(join(m.path, w8trunc))).toEqual(['named.txt'])
    await unmount(m)
    expect((await remoteEntries(lib, `/${w8trunc}`)).map((e) => e.name)).toEqual(['named.txt'])
    expect((await readFile(remoteBytesPath(lib, `/${w8trunc}/named.txt`))).toString()).toBe('nam')
  })

  it.each(BINDINGS)('W8: a time set through a descriptor whose file was unlinked stays with the file until its last close, whichever descriptor closes first, as on a local disk%s', async (_, args) => {
    const w8time = `w8time${args.length}`
    const files = { 'older.txt': 'older\n', 'newer.txt': 'newer\n' }
    const { m, mounted, local } = await onMountAndLocalDisk(w8time, files, [
      'T = 1577880000 * 10**9',
      'def held_twice(name):',
      '    first = os.open(p(name), os.O_RDONLY)',
      '    second = os.open(p(name), os.O_RDONLY)',
      '    os.unlink(p(name))',
      '    return first, second, os.fstat(first).st_mtime_ns',
      'def mtime(fd, before):',
      '    t = os.fstat(fd).st_mtime_ns',
      '    return "set" if t == T else "kept" if t == before else t',
      'out = {}',
      'first, second, before = held_twice("older.txt")',
      'os.utime(first, ns=(T, T))',
      'out["set through the first"] = [mtime(first, before), mtime(second, before)]',
      'os.close(second)',
      'out["the second closed"] = mtime(first, before)',
      'os.close(first)',
      'first, second, before = held_twice("newer.txt")',
      'os.utime(second, ns=(T, T))',
      'os.close(second)',
      'out["set through the second, closed"] = mtime(first, before)',
      'again = os.open(f"/proc/self/fd/{first}", os.O_RDONLY)',
      'os.close(first)',
      'out["opened again, the first closed"] = mtime(again, before)',
      'os.close(again)',
      'print(json.dumps(out))',
    ], args)
    expect(local).toEqual({
      'set through the first': ['set', 'set'], 'the second closed': 'set', 'set through the second, closed': 'set', 'opened again, the first closed': 'set',
    })
    // fuse-native delivers no modification time (W13 keeps none there, also by name): the file's stays.
    if (args.length === 0) expect(mounted).toEqual(local)
    else expect(mounted).toEqual({ 'set through the first': ['kept', 'kept'], 'the second closed': 'kept', 'set through the second, closed': 'kept', 'opened again, the first closed': 'kept' })
    expect(await readdir(join(m.path, w8time))).toEqual([])
    await unmount(m)
  })

  it('W8: the copies of files unlinked while open for reading stay within a quarter of the free space, and give way to a written file when the disk is full', async () => {
    // A small tmpfs as the cache dir: about 4 MiB free, so the copies may take about 1 MiB.
    const small = await mkdtemp(join(work, 'smallfs-'))
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small])
    let m: Mounted | undefined
    const readers: Awaited<ReturnType<typeof open>>[] = []
    try {
      const played = [await localFile('w8-a.bin', 700 * 1024), await localFile('w8-b.bin', 700 * 1024)]
      for (const [i, path] of played.entries()) await lib.upload('/w8cap', `played${i}.bin`, await readFile(path))
      m = (await mount({ cacheDir: join(small, 'cache') })).m
      const dir = join(m.path, 'w8cap')
      const copies = async () => (await readdir(join(small, 'cache'), { recursive: true })).filter((p) => p.split('/').pop()!.startsWith('unlinked-'))
      for (const i of [0, 1]) readers.push(await open(join(dir, `played${i}.bin`), 'r'))
      for (const i of [0, 1]) {
        await unlink(join(dir, `played${i}.bin`))
        await waitForDelete(`/w8cap/played${i}.bin`) // after its fetch
      }
      // The first is fetched for its reader; both together would take over a quarter of the free space.
      expect(await copies()).toHaveLength(1)
      expect(m.log()).toMatch(/"path":"\/w8cap\/played1\.bin"[^\n]*too large to fetch first/)
      const back = Buffer.alloc(700 * 1024)
      expect((await readers[0]!.read(back, 0, back.length, 0)).bytesRead).toBe(back.length)
      expect(back.equals(await readFile(played[0]!))).toBe(true)
      // A file that fits only without the copy: the copy gives way, and the file is stored whole.
      const written = await localFile('w8-written.bin', 3584 * 1024)
      await run('cp', [written, join(dir, 'written.bin')])
      expect(await copies()).toEqual([])
      expect(await sameBytes(remoteBytesPath(lib, '/w8cap/written.bin'), written)).toBe(true)
      expect(m.log()).toContain('copies of files unlinked while open for reading go')
    } finally {
      for (const reader of readers) await reader.close().catch(() => undefined)
      if (m && live.has(m)) await unmount(m)
      await run('umount', ['-l', small]).catch(() => undefined)
    }
  })

  it('W8: unlink whose file was deleted but whose answer was a 504 succeeds, and deletes nothing else', async () => {
    const { m } = await mount()
    await mkdir(join(m.path, 'w8lost'))
    await writeFile(join(m.path, 'w8lost', 'gone.txt'), 'gone\n')
    await writeFile(join(m.path, 'w8lost', 'kept.txt'), 'kept\n')
    await lib.setFaults({ errorAfterWorkRate: 1, errorStatuses: [504], scope: ['api'] })
    try {
      await unlink(join(m.path, 'w8lost', 'gone.txt'))
    } finally {
      await lib.setFaults({ errorAfterWorkRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    expect((await remoteEntries(lib, '/w8lost')).map((e) => e.name)).toEqual(['kept.txt'])
    expect(await readdir(join(m.path, 'w8lost'))).toEqual(['kept.txt'])
  })

  it('W9: rename of files within and across folders, of folders, over a file (atomic save), and while being written', async () => {
    const { m } = await mount()
    const root = join(m.path, 'w9')
    await mkdir(join(root, 'a'), { recursive: true })
    await mkdir(join(root, 'b'))
    const one = await localFile('w9-one.bin', 80_000)
    await run('cp', [one, join(root, 'a', 'one.bin')])
    const id = (await lib.details('/w9/a/one.bin')).fileId

    await rename(join(root, 'a', 'one.bin'), join(root, 'a', 'renamed.bin'))
    expect(await sameBytes(remoteBytesPath(lib, '/w9/a/renamed.bin'), one)).toBe(true)
    await expect(lib.details('/w9/a/one.bin')).rejects.toThrow(/no file/)
    expect((await lib.details('/w9/a/renamed.bin')).fileId).toBe(id)

    await rename(join(root, 'a', 'renamed.bin'), join(root, 'b', 'moved.bin'))
    expect(await sameBytes(remoteBytesPath(lib, '/w9/b/moved.bin'), one)).toBe(true)
    await expect(lib.details('/w9/a/renamed.bin')).rejects.toThrow(/no file/)
    expect(await readdir(join(root, 'b'))).toContain('moved.bin')
    expect(await readdir(join(root, 'a'))).not.toContain('renamed.bin')

    // Across folders under a new name, with the old name taken in the target and the new one in the source:
    // neither order of move and rename is free, so it goes through a third name, and keeps its id.
    await writeFile(join(root, 'a', 'x.txt'), 'x in a\n')
    await writeFile(join(root, 'a', 'y.txt'), 'y in a\n')
    await writeFile(join(root, 'b', 'x.txt'), 'x in b\n')
    const xId = (await lib.details('/w9/a/x.txt')).fileId
    await rename(join(root, 'a', 'x.txt'), join(root, 'b', 'y.txt'))
    expect((await lib.details('/w9/b/y.txt')).fileId).toBe(xId)
    expect(await readFile(remoteBytesPath(lib, '/w9/b/y.txt'), 'utf8')).toBe('x in a\n')
    expect(await readFile(remoteBytesPath(lib, '/w9/a/y.txt'), 'utf8')).toBe('y in a\n')
    expect(await readFile(remoteBytesPath(lib, '/w9/b/x.txt'), 'utf8')).toBe('x in b\n')
    expect((await remoteEntries(lib, '/w9/a')).map((e) => e.name).sort()).toEqual(['y.txt'])
    expect((await remoteEntries(lib, '/w9/b')).map((e) => e.name).sort()).toEqual(['moved.bin', 'x.txt', 'y.txt'])
    // The same for a folder: /w9/a/sub to /w9/b/sub2, with a/sub2 and b/sub there already.
    for (const dir of ['a/sub', 'a/sub2', 'b/sub']) await mkdir(join(root, dir))
    await writeFile(join(root, 'a', 'sub', 'in.txt'), 'in sub\n')
    await rename(join(root, 'a', 'sub'), join(root, 'b', 'sub2'))
    expect(await readFile(remoteBytesPath(lib, '/w9/b/sub2/in.txt'), 'utf8')).toBe('in sub\n')
    expect((await remoteEntries(lib, '/w9/a')).map((e) => e.name).sort()).toEqual(['sub2', 'y.txt'])
    expect((await remoteEntries(lib, '/w9/b')).map((e) => e.name).sort()).toEqual(['moved.bin', 'sub', 'sub2', 'x.txt', 'y.txt'])
    expect((await readdir(join(root, 'b'))).sort()).toEqual(['moved.bin', 'sub', 'sub2', 'x.txt', 'y.txt'])
    for (const name of ['x.txt', 'y.txt']) await unlink(join(root, 'b', name))
    for (const dir of ['a/sub2', 'b/sub']) await rmdir(join(root, dir))
    await rm(join(root, 'b', 'sub2'), { recursive: true })
    await unlink(join(root, 'a', 'y.txt'))

    await writeFile(join(root, 'b', 'second.txt'), 'second\n')
    await rename(join(root, 'b'), join(root, 'c'))
    expect(await sameBytes(remoteBytesPath(lib, '/w9/c/moved.bin'), one)).toBe(true)
    expect(await readFile(remoteBytesPath(lib, '/w9/c/second.txt'), 'utf8')).toBe('second\n')
    expect((await remoteEntries(lib, '/w9')).map((e) => e.name).sort()).toEqual(['a', 'c'])
    expect((await readdir(join(root, 'c'))).sort()).toEqual(['moved.bin', 'second.txt'])

    // Atomic save: the target keeps its id and gains a version with the new content.
    await writeFile(join(root, 'doc.txt'), 'draft 1\n')
    const docId = (await lib.details('/w9/doc.txt')).fileId
    await writeFile(join(root, 'doc.txt.tmp'), 'draft 2, saved atomically\n')
    await rename(join(root, 'doc.txt.tmp'), join(root, 'doc.txt'))
    expect(await readFile(remoteBytesPath(lib, '/w9/doc.txt'), 'utf8')).toBe('draft 2, saved atomically\n')
    expect((await lib.details('/w9/doc.txt')).fileId).toBe(docId)
    expect((await versionsOf(lib, '/w9/doc.txt')).length).toBe(2)
    await expect(lib.details('/w9/doc.txt.tmp')).rejects.toThrow(/no file/)
    expect(await readFile(join(root, 'doc.txt'), 'utf8')).toBe('draft 2, saved atomically\n')
    // The new version went up from the spool's copy of the saved file, not downloaded back from the CDN first.
    const downloads = m.log().split('\n').filter((l) => l.includes('"delivery response"') && l.includes('doc.txt.tmp'))
    expect(downloads, 'the saved file fetched back before its upload as a new version').toEqual([])
    // The same while a viewer has the file open: it keeps reading what it opened, the file keeps its id.
    const viewer = await open(join(root, 'doc.txt'), 'r')
    try {
      await writeFile(join(root, 'doc.txt.tmp'), 'draft 3\n')
      await rename(join(root, 'doc.txt.tmp'), join(root, 'doc.txt'))
      expect((await viewer.read(Buffer.alloc(64), 0, 64, 0)).bytesRead).toBe('draft 2, saved atomically\n'.length)
      expect((await readdir(root)).filter((n) => n.startsWith('.fuse_hidden'))).toEqual([])
    } finally {
      await viewer.close()
    }
    expect(await readFile(remoteBytesPath(lib, '/w9/doc.txt'), 'utf8')).toBe('draft 3\n')
    expect((await lib.details('/w9/doc.txt')).fileId).toBe(docId)

    // Renamed while still open for writing: the upload goes to the new name.
    const fh = await open(join(root, 'partial.part'), 'w')
    try {
      await fh.write('first half, ')
      await rename(join(root, 'partial.part'), join(root, 'final.txt'))
      await fh.write('second half\n')
    } finally {
      await fh.close()
    }
    await waitForRemoteBytes(lib, '/w9/final.txt', await localBytes('w9-final', 'first half, second half\n'), UPLOAD_DEADLINE_MS)
    await expect(stat(remoteBytesPath(lib, '/w9/partial.part'))).rejects.toMatchObject({ code: 'ENOENT' })

    // Over a file that exists only in the spool (empty): it is replaced; an in-place edit then keeps the rest.
    await run('touch', [join(root, 'spooled.bin')])
    const big = await localFile('w9-spooled.bin', 300_000)
    await run('cp', [big, join(root, 'spooled.bin.tmp')])
    await rename(join(root, 'spooled.bin.tmp'), join(root, 'spooled.bin'))
    await run('sh', ['-c', 'printf XXXXXXXXXX | dd of="$1" bs=1 seek=71968 conv=notrunc status=none', 'sh', join(root, 'spooled.bin')])
    const edited = await readFile(big)
    edited.write('XXXXXXXXXX', 71_968)
    const expected = await localBytes('w9-spooled-edited', edited)
    expect(await sameBytes(join(root, 'spooled.bin'), expected)).toBe(true)
    await waitForRemoteBytes(lib, '/w9/spooled.bin', expected, UPLOAD_DEADLINE_MS)
    await unmount(m)
  })

  it('W9: a file stored and still open, renamed over another, is stored under the new name when the rename returns', async () => {
    // As after `write f.tmp; close; rename f.tmp f`, where the kernel's release of that close (it comes after
    // close(2) has returned) may reach the daemon after the rename: the file is stored and still open.
    const { m } = await mount()
    const dir = join(m.path, 'w9open')
    await mkdir(dir)
    await writeFile(join(dir, 'doc.txt'), 'first draft\n')
    const id = (await lib.details('/w9open/doc.txt')).fileId
    const fh = await open(join(dir, 'doc.txt.tmp'), 'w')
    try {
      await fh.write('second draft, saved\n')
      await fh.sync()
      expect(await readFile(remoteBytesPath(lib, '/w9open/doc.txt.tmp'), 'utf8')).toBe('second draft, saved\n')
      await rename(join(dir, 'doc.txt.tmp'), join(dir, 'doc.txt'))
      expect(await readFile(remoteBytesPath(lib, '/w9open/doc.txt'), 'utf8')).toBe('second draft, saved\n')
      expect((await lib.details('/w9open/doc.txt')).fileId).toBe(id)
      await expect(lib.details('/w9open/doc.txt.tmp')).rejects.toThrow(/no file/)
      expect((await versionsOf(lib, '/w9open/doc.txt')).length).toBe(2)
    } finally {
      await fh.close()
    }
    // Its close has nothing left to store: no third version once the mount has no upload left.
    await waitFor(async () => {
      const r = await runIkfs(['status', m.path, '--json'], { timeoutMs: 30_000 })
      return (JSON.parse(r.stdout) as { uploads: unknown[] }).uploads.length === 0 || undefined
    }, 10_000, 'no upload left')
    expect((await versionsOf(lib, '/w9open/doc.txt')).length).toBe(2)
  })

  it.each(BINDINGS)('W9: a save by rename over a file a program has open keeps its file id, tags and versions; the program keeps what it opened%s', async (_, args) => {
    const folder = `w9viewed${args.length}`
    await lib.upload(`/${folder}`, 'doc.txt', Buffer.from('first\n'), { tags: 'red' })
    const before = await lib.details(`/${folder}/doc.txt`)
    const { m } = await mount({ args })
    const doc = join(m.path, folder, 'doc.txt')
    const viewer = await open(doc, 'r')
    try {
      expect((await viewer.readFile()).toString()).toBe('first\n')
      await writeFile(`${doc}.tmp`, 'second, saved\n')
      await rename(`${doc}.tmp`, doc)
      expect(await readdir(join(m.path, folder))).toEqual(['doc.txt'])
      expect((await viewer.stat()).size).toBe(6)
    } finally {
      await viewer.close()
    }
    const after = await lib.details(`/${folder}/doc.txt`)
    expect(after.fileId).toBe(before.fileId)
    expect(after.tags).toEqual(['red'])
    expect((await versionsOf(lib, `/${folder}/doc.txt`)).length).toBe(2)
    expect(await readFile(doc, 'utf8')).toBe('second, saved\n')
    expect((await remoteEntries(lib, `/${folder}`)).map((e) => e.name)).toEqual(['doc.txt'])
    await unmount(m)
  })

  it.each(BINDINGS)('W9: a stored file a program has open for reading, renamed over another file, is read on once the CDN forgot its URL%s', async (_, args) => {
    // Its bytes become the target's new version and its own id is deleted: the reader's version is gone.
    const forgetful = await startLibrary({ emulatorArgs: ['--cdn-stale-ms', '0'] })
    libraries.push(forgetful)
    await forgetful.setFaults({ rateLimitPerSecond: 0 })
    const bytes = randomBytes(20_000_000)
    await forgetful.upload('/w9read', 'new.bin', bytes)
    await forgetful.upload('/w9read', 'old.bin', Buffer.from('the old target'))
    const { m, cache } = await mount({ library: forgetful, args })
    const dir = join(m.path, 'w9read')
    const viewer = await open(join(dir, 'new.bin'), 'r')
    try {
      await rename(join(dir, 'new.bin'), join(dir, 'old.bin'))
      await waitForDelete('/w9read/new.bin', forgetful) // after the fetch for the reader (W8)
      const at = 15_000_000 // past what the open's first range streamed
      const back = Buffer.alloc(bytes.length - at)
      const { bytesRead } = await viewer.read(back, 0, back.length, at)
      expect(bytesRead).toBe(back.length)
      expect(back.equals(bytes.subarray(at))).toBe(true)
    } finally {
      await viewer.close()
    }
    const copies = async () => (await readdir(cache, { recursive: true })).filter((f) => f.includes('unlinked-'))
    await waitFor(async () => (await copies()).length === 0 || undefined, 10_000, 'the copy of the renamed file removed')
    await unmount(m)
  })

  it('W9: sed -i over a file still waiting for its --write-back upload keeps the tags set on it', async () => {
    const { m } = await mount({ args: ['--write-back', '1h'] })
    const dir = join(m.path, 'w9wb')
    await mkdir(dir)
    await writeFile(join(dir, 'notes.txt'), 'alpha\n')
    await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'kept', join(dir, 'notes.txt')])
    await run('sed', ['-i', 's/alpha/beta/', join(dir, 'notes.txt')]) // a temporary file renamed over it
    await run('sync', [join(dir, 'notes.txt')])
    expect(await readFile(remoteBytesPath(lib, '/w9wb/notes.txt'), 'utf8')).toBe('beta\n')
    expect((await lib.details('/w9wb/notes.txt')).tags).toEqual(['kept'])
    expect((await remoteEntries(lib, '/w9wb')).map((e) => e.name)).toEqual(['notes.txt'])
    await unmount(m)
  })

  it.each(BINDINGS)('W9: a stored file open for writing, not written yet, writes on after its folder is renamed (its bytes are fetched from where it went)%s', async (_, args) => {
    // Its bytes come into the spool at the first write (write-path.ts): the old name's URL no longer serves them.
    const folder = `w9fill${args.length}`
    await lib.upload(`/${folder}`, 'doc.txt', Buffer.from('first line\n'))
    const { m } = await mount({ args })
    const fh = await open(join(m.path, folder, 'doc.txt'), 'r+')
    try {
      await rename(join(m.path, folder), join(m.path, `${folder}-renamed`))
      await fh.write('FIRST', 0, 'utf8')
      expect((await fh.stat()).size).toBe(11)
    } finally {
      await fh.close()
    }
    expect(await readFile(remoteBytesPath(lib, `/${folder}-renamed/doc.txt`), 'utf8')).toBe('FIRST line\n')
    expect(await readFile(join(m.path, `${folder}-renamed`, 'doc.txt'), 'utf8')).toBe('FIRST line\n')
    await unmount(m)
  })

  it.each(BINDINGS)('W9: a stored file open for writing, not written yet, writes and reads on what it opened after a save by rename over it%s', async (_, args) => {
    // The replaced version is an old one once the save's upload lands: its URL no longer serves its bytes.
    const folder = `w9over${args.length}`
    await lib.upload(`/${folder}`, 'doc.txt', Buffer.from('first line\n'))
    const { m } = await mount({ args })
    const doc = join(m.path, folder, 'doc.txt')
    const fh = await open(doc, 'r+')
    try {
      await writeFile(`${doc}.tmp`, 'second\n')
      await rename(`${doc}.tmp`, doc)
      await fh.write('FIRST', 0, 'utf8')
      expect((await fh.stat()).size).toBe(11)
      const back = Buffer.alloc(12)
      const { bytesRead } = await fh.read(back, 0, back.length, 0)
      expect(back.subarray(0, bytesRead).toString()).toBe('FIRST line\n')
    } finally {
      await fh.close()
    }
    expect(await readFile(remoteBytesPath(lib, `/${folder}/doc.txt`), 'utf8')).toBe('second\n')
    expect(await readFile(doc, 'utf8')).toBe('second\n')
    await unmount(m)
  })

  it('W9: a target another machine made after the mount listed its folder: a file is replaced, a folder is not merged into', async () => {
    const { m } = await mount({ dirCache: '5m' })
    const dir = join(m.path, 'w9late')
    await mkdir(join(dir, 'a', 'proj'), { recursive: true })
    await mkdir(join(dir, 'b'))
    await writeFile(join(dir, 'a', 'proj', 'notes.txt'), 'mine\n')
    await writeFile(join(dir, 'doc.txt.tmp'), 'saved\n')
    expect(await readdir(join(dir, 'b'))).toEqual([])
    expect((await readdir(dir)).sort()).toEqual(['a', 'b', 'doc.txt.tmp'])
    const theirDoc = await lib.upload('/w9late', 'doc.txt', Buffer.from('theirs\n'))
    await lib.upload('/w9late/b/proj', 'notes.txt', Buffer.from('theirs\n'))
    await rename(join(dir, 'doc.txt.tmp'), join(dir, 'doc.txt')) // was EEXIST
    expect(await readFile(remoteBytesPath(lib, '/w9late/doc.txt'), 'utf8')).toBe('saved\n')
    expect((await lib.details('/w9late/doc.txt')).fileId).toBe(theirDoc.fileId)
    await expect(rename(join(dir, 'a', 'proj'), join(dir, 'b', 'proj'))).rejects.toMatchObject({ code: 'ENOTEMPTY' }) // was merged
    expect(await readFile(remoteBytesPath(lib, '/w9late/b/proj/notes.txt'), 'utf8')).toBe('theirs\n')
    expect(await readFile(remoteBytesPath(lib, '/w9late/a/proj/notes.txt'), 'utf8')).toBe('mine\n')
    expect((await versionsOf(lib, '/w9late/b/proj/notes.txt')).length).toBe(1)
  })

  it('W9: renames whose work was done but whose answers were 504s succeed, each file and folder where asked, none undone', async () => {
    const { m } = await mount()
    const dir = join(m.path, 'w9lost')
    await mkdir(join(dir, 'a', 'sub'), { recursive: true })
    await mkdir(join(dir, 'a', 'sub2'))
    await mkdir(join(dir, 'b'))
    for (const name of ['same.txt', 'across.txt', 'both.txt']) await writeFile(join(dir, 'a', name), `${name}\n`)
    await writeFile(join(dir, 'a', 'sub', 'in.txt'), 'in\n')
    const ids = new Map<string, string>()
    for (const name of ['same.txt', 'across.txt', 'both.txt']) ids.set(name, (await lib.details(`/w9lost/a/${name}`)).fileId)
    // Every call that changes the library does its work and answers 504; the client's repeat then meets the
    // work done (a source gone: 404; a second folder job that fails).
    await lib.setFaults({ errorAfterWorkRate: 1, errorStatuses: [504], scope: ['api'] })
    const failures: string[] = []
    const attempt = (what: string, p: Promise<void>) => p.catch((e: NodeJS.ErrnoException) => { failures.push(`${what}: ${e.code}`) })
    try {
      await attempt('in folder', rename(join(dir, 'a', 'same.txt'), join(dir, 'a', 'renamed.txt'))) // was ENOENT
      await attempt('across', rename(join(dir, 'a', 'across.txt'), join(dir, 'b', 'across.txt'))) // was ENOENT
      await attempt('across, new name', rename(join(dir, 'a', 'both.txt'), join(dir, 'b', 'both-new.txt'))) // was ENOENT, left as b/both.txt
      await attempt('folder', rename(join(dir, 'a', 'sub'), join(dir, 'a', 'sub-renamed'))) // was EIO
      await attempt('folder across', rename(join(dir, 'a', 'sub2'), join(dir, 'b', 'sub2'))) // was EIO
    } finally {
      await lib.setFaults({ errorAfterWorkRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    expect(failures).toEqual([])
    const names = async (folder: string) => (await remoteEntries(lib, folder)).map((e) => e.name).sort()
    expect(await names('/w9lost/a')).toEqual(['renamed.txt', 'sub-renamed'])
    expect(await names('/w9lost/b')).toEqual(['across.txt', 'both-new.txt', 'sub2'])
    expect((await lib.details('/w9lost/a/renamed.txt')).fileId).toBe(ids.get('same.txt'))
    expect((await lib.details('/w9lost/b/across.txt')).fileId).toBe(ids.get('across.txt'))
    expect((await lib.details('/w9lost/b/both-new.txt')).fileId).toBe(ids.get('both.txt'))
    expect(await readFile(remoteBytesPath(lib, '/w9lost/a/sub-renamed/in.txt'), 'utf8')).toBe('in\n')
    expect((await readdir(join(dir, 'a'))).sort()).toEqual(['renamed.txt', 'sub-renamed'])
    expect((await readdir(join(dir, 'b'))).sort()).toEqual(['across.txt', 'both-new.txt', 'sub2'])
  })

  // ImageKit checks a folder job when it starts: two machines renaming one folder at once both start theirs, and
  // the one that comes due second moves nothing. The emulator reads it Failed; the real service documents no
  // failure state, so with refusedJobsComplete it reads Completed (both mv used to succeed then; EIO otherwise).
  it.each([['Failed', false], ['Completed', true]] as const)('W9: two machines renaming one folder at once: one succeeds, the other fails with ENOENT or EEXIST, nothing lost (a refused job reads %s)', async (reads, refusedJobsComplete) => {
    const base = `w9race${reads}`
    await lib.upload(`/${base}/d`, 'x.txt', Buffer.from('x\n'))
    await lib.upload(`/${base}/p`, 'p.txt', Buffer.from('p\n'))
    await lib.upload(`/${base}/q`, 'q.txt', Buffer.from('q\n'))
    const machines = [(await mount({ dirCache: '5m' })).m, (await mount({ dirCache: '5m' })).m]
    const [a, b] = machines.map((m) => join(m.path, base)) as [string, string]
    for (const dir of [a, b]) expect((await readdir(dir)).sort()).toEqual(['d', 'p', 'q'])
    const names = async (folder: string) => (await remoteEntries(lib, folder)).map((e) => e.name).sort()
    const codes = (results: PromiseSettledResult<void>[]) =>
      results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as NodeJS.ErrnoException).code)).sort()
    await lib.setFaults({ refusedJobsComplete })
    try {
      const sameSource = await Promise.allSettled([rename(join(a, 'd'), join(a, 'e')), rename(join(b, 'd'), join(b, 'f'))])
      expect(codes(sameSource)).toEqual(['ENOENT', 'ok'])
      const won = sameSource[0]!.status === 'fulfilled' ? 'e' : 'f'
      expect(await names(`/${base}`)).toEqual([won, 'p', 'q'])
      expect(await names(`/${base}/${won}`)).toEqual(['x.txt'])
      // The machine that lost shows what won at once, not the gone name for the dir cache time.
      for (const dir of [a, b]) expect((await readdir(dir)).sort()).toEqual([won, 'p', 'q'])
      const sameTarget = await Promise.allSettled([rename(join(a, 'p'), join(a, 't')), rename(join(b, 'q'), join(b, 't'))])
      expect(codes(sameTarget)).toEqual(['EEXIST', 'ok'])
      const [moved, stayed] = sameTarget[0]!.status === 'fulfilled' ? ['p', 'q'] : ['q', 'p']
      expect(await names(`/${base}`)).toEqual([won, stayed, 't'].sort())
      expect(await names(`/${base}/t`)).toEqual([`${moved}.txt`])
      expect(await names(`/${base}/${stayed}`)).toEqual([`${stayed}.txt`])
    } finally {
      await lib.setFaults({ refusedJobsComplete: false })
    }
    for (const m of machines) await unmount(m)
  })

  it('W9: a source another machine deleted after the mount listed its folder: rename is ENOENT and the name goes at once', async () => {
    const { m } = await mount({ dirCache: '5m' })
    const dir = join(m.path, 'w9gone')
    await mkdir(dir)
    await writeFile(join(dir, 'gone.txt'), 'mine\n')
    await mkdir(join(dir, 'folder'))
    expect((await readdir(dir)).sort()).toEqual(['folder', 'gone.txt'])
    await lib.deleteFile('/w9gone/gone.txt')
    await expect(rename(join(dir, 'gone.txt'), join(dir, 'kept.txt'))).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await readdir(dir)).toEqual(['folder']) // gone.txt was listed for the dir cache time
    await lib.api('DELETE', '/v1/folder', { folderPath: '/w9gone/folder' })
    await expect(rename(join(dir, 'folder'), join(dir, 'moved'))).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await readdir(dir)).toEqual([])
  })

  it.each(BINDINGS)('W9: a rename of a file onto itself after another machine deleted it (the kernel still knew it) is ENOENT, and the folder goes on answering%s', async (title, args) => {
    const folder = title === '' ? '/w9self' : '/w9self-fallback'
    await lib.upload(folder, 'gone.txt', Buffer.from('theirs\n'))
    const { m } = await mount({ dirCache: '5m', args: ['--attr-timeout', '1m', ...args] })
    const dir = join(m.path, folder)
    const path = join(dir, 'gone.txt')
    expect((await stat(path)).size).toBe(7) // the kernel keeps the name for --attr-timeout
    await lib.deleteFile(`${folder}/gone.txt`)
    await runIkfs(['refresh', m.path, folder], { timeoutMs: 30_000 })
    // The kernel looks the target up again (missing now) and sends a rename of gone.txt onto gone.txt: libfuse
    // waited for its own lock of that name, and the rename, and then every request in the folder, hung.
    await expect(run('python3', ['-c', 'import os, sys; os.rename(sys.argv[1], sys.argv[1])', path], 20_000))
      .rejects.toThrow(/FileNotFoundError/)
    expect(await readdir(dir)).toEqual([])
    await writeFile(join(dir, 'new.txt'), 'mine\n')
    expect(await readFile(remoteBytesPath(lib, `${folder}/new.txt`), 'utf8')).toBe('mine\n')
    await unmount(m)
  }, STOP_DEADLINE_MS)

  it('R2: renames and saves over a file through the mount update the cached listings: git\'s objects, index and refs list no folder again', async () => {
    // git writes each object as objects/xx/tmp_obj_*, closes it (the upload) and renames it to its hash name, and
    // renames lock files over its refs: each listing would be one more Media API call (rate-limited) per object.
    const { m } = await mount({ dirCache: '5m' })
    const git = (...args: string[]) => run('git', ['-c', 'gc.auto=0', '-c', 'user.name=ikfs', '-c', 'user.email=ikfs@localhost', ...args])
    const src = join(work, 'r2-git')
    for (let i = 0; i < 200; i++) {
      await mkdir(join(src, `d${i % 4}`), { recursive: true })
      await writeFile(join(src, `d${i % 4}`, `f${i}.txt`), `file ${i}\n`)
    }
    await git('-C', src, 'init', '-q')
    await git('-C', src, 'add', '.')
    await git('-C', src, 'commit', '-qm', 'one')
    for (let i = 0; i < 200; i += 4) await writeFile(join(src, `d${i % 4}`, `f${i}.txt`), `file ${i}, changed\n`)
    await git('-C', src, 'commit', '-qam', 'two')
    const pack = join(work, 'r2-git.pack')
    await run('sh', ['-c', `git -C "${src}" pack-objects --all --stdout < /dev/null > "${pack}"`])
    const objects = (await git('-C', src, 'rev-list', '--all', '--objects')).stdout.trim().split('\n').length
    const commits = (await git('-C', src, 'rev-list', '--all')).stdout.trim().split('\n')

    const repo = join(m.path, 'r2git')
    await git('init', '-q', repo)
    await run('sh', ['-c', `git -C "${repo}" unpack-objects -q < "${pack}"`])
    const folders = (await readdir(join(repo, '.git', 'objects'))).filter((name) => /^[0-9a-f]{2}$/.test(name))
    expect(folders.length).toBeLessThan(objects) // some folders hold several objects
    const listedOtherThanOnce = folders.filter((xx) => m.listingCount(`/r2git/.git/objects/${xx}`) !== 1)
    expect(listedOtherThanOnce, 'objects/xx folders listed other than once (by their mkdir)').toEqual([])
    // A ref written through a lock file renamed into place, then over it (an atomic save, W9).
    for (const commit of [...commits].reverse()) await git('-C', repo, 'update-ref', 'refs/heads/main', commit)
    expect(await readdir(join(repo, '.git', 'refs', 'heads'))).toEqual(['main'])
    expect(m.listingCount('/r2git/.git/refs/heads')).toBe(1)
    expect((await git('-C', repo, 'rev-parse', 'refs/heads/main')).stdout.trim()).toBe(commits[0])
    expect((await lib.api<{ name: string }[]>('GET', '/v1/files?path=/r2git/.git/refs/heads')).map((f) => f.name)).toEqual(['main'])
    // The library holds the repository whole.
    await git('-C', remoteBytesPath(lib, '/r2git'), 'fsck', '--full', '--no-dangling')
    expect((await git('-C', remoteBytesPath(lib, '/r2git'), 'count-objects', '-v')).stdout).toMatch(new RegExp(`^count: ${objects}$`, 'm'))
    expect((await git('-C', remoteBytesPath(lib, '/r2git'), 'log', '--format=%s', 'main')).stdout).toBe('two\none\n')
  })

  it('W10: chmod, utimens and chown to self change nothing remote; chown to others, links and fifos fail EPERM; --read-only is EROFS', async () => {
    await lib.upload('/w10', 'f.txt', Buffer.from('unchanged\n'))
    const before = await lib.details('/w10/f.txt')
    const { m } = await mount()
    const f = join(m.path, 'w10', 'f.txt')
    const st = await stat(f)
    await chmod(f, 0o600)
    await utimes(f, new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'))
    await chown(f, st.uid, st.gid)
    // cp -p, rsync -a and tar x set modes, times and owners on what they create.
    const kept = await localFile('w10-kept.bin', 10_000)
    await run('cp', ['-p', kept, join(m.path, 'w10', 'kept.bin')])
    await waitForRemoteBytes(lib, '/w10/kept.bin', kept, UPLOAD_DEADLINE_MS)
    const after = await lib.details('/w10/f.txt')
    expect(after.updatedAt).toBe(before.updatedAt)
    expect(after.fileId).toBe(before.fileId)
    expect((await versionsOf(lib, '/w10/f.txt')).length).toBe(1)
    expect(await readFile(f, 'utf8')).toBe('unchanged\n')

    await expect(chown(f, st.uid + 1000, st.gid)).rejects.toMatchObject({ code: 'EPERM' })
    await expect(symlink('f.txt', join(m.path, 'w10', 'sym'))).rejects.toMatchObject({ code: 'EPERM' })
    await expect(link(f, join(m.path, 'w10', 'hard'))).rejects.toMatchObject({ code: 'EPERM' })
    await expect(run('mkfifo', [join(m.path, 'w10', 'fifo')])).rejects.toMatchObject({ stderr: expect.stringContaining('Operation not permitted') })
    await unmount(m)

    const ro = await mount({ args: ['--read-only'] })
    const rf = join(ro.m.path, 'w10', 'f.txt')
    expect(await readFile(rf, 'utf8')).toBe('unchanged\n')
    await expect(writeFile(join(ro.m.path, 'w10', 'new.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' })
    await expect(writeFile(rf, 'x')).rejects.toMatchObject({ code: 'EROFS' })
    await expect(mkdir(join(ro.m.path, 'w10', 'd'))).rejects.toMatchObject({ code: 'EROFS' })
    await expect(unlink(rf)).rejects.toMatchObject({ code: 'EROFS' })
    await expect(rename(rf, join(ro.m.path, 'w10', 'g.txt'))).rejects.toMatchObject({ code: 'EROFS' })
    await expect(truncate(rf, 1)).rejects.toMatchObject({ code: 'EROFS' })
    await expect(chmod(rf, 0o600)).rejects.toMatchObject({ code: 'EROFS' })
    expect(await readFile(remoteBytesPath(lib, '/w10/f.txt'), 'utf8')).toBe('unchanged\n')
    await unmount(ro.m)
  })

  it('W13: ctime is the time shown as mtime: it does not move after a close, when the upload lands (also with --write-back) or at a re-list; a change elsewhere moves it', async () => {
    for (const [folder, args] of [['w13c', []], ['w13cwb', ['--write-back', '2s']]] as const) {
      await lib.upload(`/${folder}`, 'old.txt', Buffer.from('stored before the mount\n'))
      const { m } = await mount({ args: ['--attr-timeout', '0', ...args] })
      const dir = join(m.path, folder)
      const times = async (name: string) => {
        const st = await stat(join(dir, name))
        return { mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs }
      }
      const shown: Record<string, { mtimeMs: number; ctimeMs: number }> = {}
      for (const name of ['new.txt', 'old.txt']) {
        const fh = await open(join(dir, name), 'w')
        await fh.writeFile(`written here: ${name}\n`)
        const st = await fh.stat()
        await fh.close()
        shown[name] = { mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs }
        expect(st.ctimeMs).toBe(st.mtimeMs)
        expect(await times(name)).toEqual(shown[name]) // was: the upload's createdAt, or old.txt's first one
        await waitForRemoteBytes(lib, `/${folder}/${name}`, await localBytes(`${folder}-${name}`, `written here: ${name}\n`), UPLOAD_DEADLINE_MS)
        expect(await times(name)).toEqual(shown[name]) // was: moved when the --write-back upload landed
      }
      const listed = m.listingCount(`/${folder}`)
      m.forget()
      await waitFor(async () => (await readdir(dir)) && m.listingCount(`/${folder}`) > listed, 10_000, `/${folder} listed again`)
      expect(await times('new.txt')).toEqual(shown['new.txt'])
      expect(await times('old.txt')).toEqual(shown['old.txt'])
      // A version stored elsewhere (same size) moves both, so backup tools that compare ctime (borg, restic) see it.
      await lib.upload(`/${folder}`, 'new.txt', Buffer.from('written there: new.txt\n'))
      const updatedAt = Date.parse((await lib.details(`/${folder}/new.txt`)).updatedAt)
      const again = m.listingCount(`/${folder}`)
      m.forget()
      await waitFor(async () => (await readdir(dir)) && m.listingCount(`/${folder}`) > again, 10_000, `/${folder} listed after the change`)
      expect(await times('new.txt')).toEqual({ mtimeMs: updatedAt, ctimeMs: updatedAt }) // was: ctime unchanged
      await unmount(m)
    }
  })

  it('W13: a folder whose entries change through the mount shows the time of the change, so git status with core.untrackedCache finds new files', async () => {
    const { m } = await mount({ args: ['--attr-timeout', '0'] })
    const dir = join(m.path, 'w13-entries')
    await mkdir(join(dir, 'sub'), { recursive: true })
    await mkdir(join(dir, 'other'))
    const past = new Date('2001-02-03T04:05:06Z')
    // Each change, and the folders whose time it moves.
    const changes: [string, () => Promise<unknown>, string[]][] = [
      ['create', () => writeFile(join(dir, 'sub', 'a.txt'), 'a\n'), ['sub']],
      ['mkdir', () => mkdir(join(dir, 'sub', 'inner')), ['sub']],
      ['rename within', () => rename(join(dir, 'sub', 'a.txt'), join(dir, 'sub', 'b.txt')), ['sub']],
      ['rename across', () => rename(join(dir, 'other', 'c.txt'), join(dir, 'sub', 'c.txt')), ['sub', 'other']],
      ['unlink', () => unlink(join(dir, 'sub', 'b.txt')), ['sub']],
      ['rmdir', () => rmdir(join(dir, 'sub', 'inner')), ['sub']],
      ['write into a file', () => writeFile(join(dir, 'sub', 'c.txt'), 'c, changed\n'), []],
    ]
    await writeFile(join(dir, 'other', 'c.txt'), 'c\n')
    for (const [what, change, moved] of changes) {
      for (const f of ['sub', 'other']) await utimes(join(dir, f), past, past)
      await change()
      for (const f of ['sub', 'other']) expect((await stat(join(dir, f))).mtimeMs !== past.getTime(), `${what}: ${f}`).toBe(moved.includes(f))
    }
    // git's untracked cache lists a folder again only when its time moved (feature.manyFiles turns it on).
    const git = (...args: string[]) => run('git', ['-c', 'core.untrackedCache=true', '-c', 'user.name=ikfs', '-c', 'user.email=ikfs@localhost', '-C', dir, ...args])
    await git('init', '-q')
    await git('add', '.')
    await git('commit', '-qm', 'one')
    expect((await git('status', '--porcelain')).stdout).toBe('')
    await writeFile(join(dir, 'sub', 'new.txt'), 'new\n')
    await writeFile(join(dir, 'top.txt'), 'top\n')
    expect((await git('status', '--porcelain')).stdout).toBe('?? sub/new.txt\n?? top.txt\n')
    // Its ctime stays ImageKit's: tar, which compares a folder's ctime before and after reading it, does not find
    // the folder it writes its archive into changed (`tar czf a.tgz .` creates a.tgz while it reads the folder).
    const folderCtime = (await stat(join(dir, 'sub'))).ctimeMs
    await writeFile(join(dir, 'sub', 'more.txt'), 'more\n')
    expect((await stat(join(dir, 'sub'))).ctimeMs).toBe(folderCtime)
    await unmount(m)
  })

  it('W13: times set through the mount, and those of files written here, are kept for that version across re-lists and remounts; a new version shows its own', async () => {
    await lib.upload('/w13', 'a.txt', Buffer.from('stored\n'))
    await lib.upload('/w13', 'target.txt', Buffer.from('old target\n'))
    await lib.upload('/w13', 'touched.txt', Buffer.from('touched\n'))
    const before = await lib.details('/w13/a.txt')
    // No kernel attribute cache: every stat below is answered by the daemon.
    const args = ['--attr-timeout', '0']
    const { m, cache } = await mount({ args })
    const dir = join(m.path, 'w13')
    const t2001 = new Date('2001-02-03T04:05:06Z')
    const t2002 = new Date('2002-03-04T05:06:07Z')
    const t2003 = new Date('2003-04-05T06:07:08Z')
    // A stored file: touch -m changes nothing remote.
    await utimes(join(dir, 'a.txt'), t2001, t2001)
    expect((await stat(join(dir, 'a.txt'))).mtimeMs).toBe(t2001.getTime())
    // touch itself opens the file for writing and sets the time through that descriptor (futimens).
    await run('touch', ['-m', '-d', t2003.toISOString(), join(dir, 'touched.txt')])
    // Opened for writing (`: >> a.txt`), it shows that time until it is written.
    const held = await open(join(dir, 'a.txt'), 'a')
    expect((await held.stat()).mtimeMs).toBe(t2001.getTime())
    await held.close()
    // cp -p: the time is set after the upload at close.
    const kept = await localFile('w13-kept.bin', 20_000)
    await utimes(kept, t2002, t2002)
    await run('cp', ['-p', kept, join(dir, 'kept.bin')])
    // A time set while the file is still open for writing goes with the version its upload stores.
    const fh = await open(join(dir, 'open.txt'), 'w')
    await fh.writeFile('written while open\n')
    await fh.utimes(t2003, t2003)
    await fh.close()
    // rename keeps the time; an atomic save onto a file gives the target the saved file's time.
    await writeFile(join(dir, 'save.tmp'), 'new target\n')
    await utimes(join(dir, 'save.tmp'), t2002, t2002)
    await rename(join(dir, 'save.tmp'), join(dir, 'target.txt'))
    await rename(join(dir, 'kept.bin'), join(dir, 'moved.bin'))
    // So is a folder's (`rsync -a`, `tar x` and `cp -a` set it once they have filled the folder), by its path:
    // a rename takes it along, with its subfolders'; an rmdir forgets it.
    await mkdir(join(dir, 'made', 'sub'), { recursive: true })
    await utimes(join(dir, 'made', 'sub'), t2002, t2002)
    await utimes(join(dir, 'made'), t2001, t2001)
    await rename(join(dir, 'made'), join(dir, 'folder'))
    await mkdir(join(dir, 'removed'))
    await utimes(join(dir, 'removed'), t2003, t2003)
    await rmdir(join(dir, 'removed'))
    await mkdir(join(dir, 'removed'))
    expect((await stat(join(dir, 'removed'))).mtimeMs).not.toBe(t2003.getTime())
    // A file written here shows the time of its last write, also once stored: its updatedAt is the upload's,
    // later (uploads wait 300 ms here), and showing that instead would tell an editor the file changed since.
    await lib.setFaults({ latencyMs: 300, scope: ['upload'] })
    let written: Date
    try {
      const saved = await open(join(dir, 'saved.txt'), 'w')
      await saved.writeFile('saved here\n')
      written = new Date((await saved.stat()).mtimeMs)
      await saved.close()
    } finally {
      await lib.setFaults({ latencyMs: 0, scope: ['api', 'upload', 'delivery'] })
    }
    expect(new Date((await stat(join(dir, 'saved.txt'))).mtimeMs)).toEqual(written)
    expect(Date.parse((await lib.details('/w13/saved.txt')).updatedAt)).not.toBe(written.getTime())
    const expected = {
      'a.txt': t2001, 'touched.txt': t2003, 'moved.bin': t2002, 'open.txt': t2003, 'target.txt': t2002, 'saved.txt': written,
      'folder': t2001, 'folder/sub': t2002,
    }
    const shown = async (root: string) =>
      Object.fromEntries(await Promise.all(Object.keys(expected).map(async (n) => [n, new Date((await stat(join(root, 'w13', n))).mtimeMs)])))
    /** SIGHUP, then a listing of /w13 fetched anew from the API (whose updatedAt are upload times). */
    const relist = async (mounted: Mounted) => {
      const listed = mounted.listingCount('/w13')
      mounted.forget()
      await waitFor(async () => (await readdir(join(mounted.path, 'w13'))) && mounted.listingCount('/w13') > listed, 10_000, '/w13 listed again')
    }

    await relist(m)
    expect(await shown(m.path)).toEqual(expected)
    const after = await lib.details('/w13/a.txt')
    expect([after.updatedAt, after.fileId]).toEqual([before.updatedAt, before.fileId])
    expect((await versionsOf(lib, '/w13/a.txt')).length).toBe(1)
    expect(Date.parse((await lib.details('/w13/moved.bin')).updatedAt)).not.toBe(t2002.getTime())
    expect(await readFile(remoteBytesPath(lib, '/w13/target.txt'), 'utf8')).toBe('new target\n')
    await unmount(m)

    const again = await mount({ cacheDir: cache, args })
    expect(await shown(again.m.path)).toEqual(expected)
    // A new version, written elsewhere, shows its own time.
    await lib.upload('/w13', 'a.txt', Buffer.from('changed elsewhere\n'))
    await relist(again.m)
    expect((await stat(join(again.m.path, 'w13', 'a.txt'))).mtimeMs).toBe(Date.parse((await lib.details('/w13/a.txt')).updatedAt))
    expect((await stat(join(again.m.path, 'w13', 'moved.bin'))).mtimeMs).toBe(t2002.getTime())
    await unmount(again.m)
    // A --read-only mount of the same cache dir shows the kept times too (as the log held them at its start).
    const ro = await mount({ cacheDir: cache, args: [...args, '--read-only'] })
    expect((await stat(join(ro.m.path, 'w13', 'moved.bin'))).mtimeMs).toBe(t2002.getTime())
    expect((await stat(join(ro.m.path, 'w13', 'open.txt'))).mtimeMs).toBe(t2003.getTime())
    expect((await stat(join(ro.m.path, 'w13', 'folder', 'sub'))).mtimeMs).toBe(t2002.getTime())
    expect((await stat(join(ro.m.path, 'w13', 'a.txt'))).mtimeMs).toBe(Date.parse((await lib.details('/w13/a.txt')).updatedAt))
    await unmount(ro.m)
    // Kept in the spool: ids and times only, never a key or a URL.
    const [spool] = await readdir(cache)
    const log = await readFile(join(cache, spool!, 'mtimes.log'), 'utf8')
    expect(log).toContain(before.fileId)
    expect(log).not.toContain(lib.privateKey)
    expect(log).not.toContain('http')
  })

  it('W14: a full spool disk fails write(2) with ENOSPC; a file whose write failed is not stored, and the library keeps what it had', async () => {
    // A small tmpfs as the cache dir (root only, as every mount test here); the mount goes before the tmpfs.
    const small = await mkdtemp(join(work, 'smallfs-'))
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small])
    let m: Mounted | undefined
    try {
      const old = await localFile('w14-old.bin', 100_000)
      await lib.upload('/w14', 'photo.bin', await readFile(old))
      m = (await mount({ cacheDir: join(small, 'cache') })).m
      const dir = join(m.path, 'w14')

      // A new file that does not fit: cp hears ENOSPC from write and from close; nothing is uploaded, the
      // name goes, and the spool's copy with it (so the files below fit).
      const big = await localFile('w14-big.bin', 6 * 1024 * 1024)
      const cpNew = await run('cp', [big, join(dir, 'new.bin')]).then(() => undefined, (e: { stderr: string }) => e)
      expect(cpNew?.stderr).toMatch(/error writing .*No space left on device/)
      expect(cpNew?.stderr).toMatch(/failed to close .*No space left on device/)
      // (The kernel lets go of a file, the release that reverts it, just after close returns.)
      await waitFor(async () => (await stat(join(dir, 'new.bin')).catch(() => undefined)) === undefined, 5_000, 'new.bin to go')
      expect(m.log()).toMatch(/"path":"\/w14\/new\.bin"[^\n]*not stored, since a write into it at offset \d+ failed \(ENOSPC\); the library keeps what it had/)
      // dd duplicates its descriptor and closes the first one before writing: the file was closed empty
      // once, and it goes back to that empty file (W5), not to a part of what dd wrote.
      const dd = await run('dd', ['if=/dev/urandom', `of=${join(dir, 'dd.bin')}`, 'bs=1M', 'count=8']).then(() => undefined, (e: { stderr: string }) => e)
      expect(dd?.stderr).toContain('No space left on device')
      await waitFor(async () => (await stat(join(dir, 'dd.bin'))).size === 0, 5_000, 'dd.bin to be empty again')

      // An existing file overwritten with more than fits: the library keeps its version, the mount shows it.
      const cp = await run('cp', [big, join(dir, 'photo.bin')]).then(() => undefined, (e: { stderr: string }) => e)
      expect(cp?.stderr).toContain('No space left on device')
      expect(await sameBytes(join(dir, 'photo.bin'), old)).toBe(true)

      // A writer that makes room and writes the failed part again (what a careful program does) is stored whole.
      const filler = join(small, 'filler')
      await writeFile(filler, Buffer.alloc(1024 * 1024))
      const whole = await localFile('w14-whole.bin', 3 * 1024 * 1024)
      await run('python3', ['-c', [
        'import errno, os, sys',
        'data = open(sys.argv[1], "rb").read()',
        'fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)',
        'at, failed = 0, False',
        'while at < len(data):',
        '    try:',
        '        at += os.pwrite(fd, data[at:at + 65536], at)',
        '    except OSError as e:',
        '        assert e.errno == errno.ENOSPC and not failed, e',
        '        failed = True',
        '        os.unlink(sys.argv[3])',
        'assert failed',
        'os.close(fd)',
      ].join('\n'), whole, join(dir, 'whole.bin'), filler])
      expect(await sameBytes(remoteBytesPath(lib, '/w14/whole.bin'), whole)).toBe(true)

      await new Promise((r) => setTimeout(r, 6_000)) // past the uploader's first retry delay (5 s): nothing else went up
      for (const name of ['new.bin', 'dd.bin']) await expect(stat(remoteBytesPath(lib, `/w14/${name}`))).rejects.toMatchObject({ code: 'ENOENT' })
      expect(await versionsOf(lib, '/w14/photo.bin')).toHaveLength(1)
      expect(await sameBytes(remoteBytesPath(lib, '/w14/photo.bin'), old)).toBe(true)
      expect(await versionsOf(lib, '/w14/whole.bin')).toHaveLength(1)
    } finally {
      if (m && live.has(m)) await unmount(m)
      await run('umount', ['-l', small]).catch(() => undefined)
    }
  })

  it('W14: with --write-back, a file closed earlier and not stored yet is still stored after a later write into it fails', async () => {
    const small = await mkdtemp(join(work, 'smallfs-'))
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small])
    let m: Mounted | undefined
    try {
      m = (await mount({ cacheDir: join(small, 'cache'), args: ['--write-back', '3s'] })).m
      await mkdir(join(m.path, 'w14wb'))
      const first = await localFile('w14wb-first.bin', 1024 * 1024)
      const target = join(m.path, 'w14wb', 'log.bin')
      await run('cp', [first, target]) // closed: stored only after the write-back delay
      const appended = await run('python3', ['-c', [
        'import errno, os, sys',
        'fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)',
        'try:',
        '    while True: os.write(fd, b"x" * 65536)',
        'except OSError as e:',
        '    assert e.errno == errno.ENOSPC, e',
        'os.close(fd)',
      ].join('\n'), target]).then(() => undefined, (e: { stderr: string }) => e)
      expect(appended).toBeUndefined()
      // What the first close confirmed is not dropped with the failed append: the file goes up as it is.
      await waitFor(async () => (await stat(remoteBytesPath(lib, '/w14wb/log.bin')).catch(() => undefined)) !== undefined, UPLOAD_DEADLINE_MS, 'the write-back upload')
      const stored = await readFile(remoteBytesPath(lib, '/w14wb/log.bin'))
      expect(stored.length).toBeGreaterThan(1024 * 1024)
      expect(stored.subarray(0, 1024 * 1024).equals(await readFile(first))).toBe(true)
      expect(m.log()).not.toContain('not stored, since a write into it')
    } finally {
      if (m && live.has(m)) await unmount(m)
      await run('umount', ['-l', small]).catch(() => undefined)
    }
  })

  it("W14: when a file's bytes fill the spool's disk to its last page, close still uploads it, once (also with --write-back)", async () => {
    for (const [name, args] of [['plain', []], ['write-back', ['--write-back', '1s']]] as const) {
      const small = await mkdtemp(join(work, 'smallfs-'))
      await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small])
      let m: Mounted | undefined
      try {
        m = (await mount({ cacheDir: join(small, 'cache'), args: [...args] })).m
        const folder = `w14-${name}`
        await mkdir(join(m.path, folder))
        // Fill the disk to its last page, then give back exactly what the file's bytes take: they fit, and the
        // journal (empty since the mount started) has no page left for the file's record.
        const filler = join(small, 'filler')
        await run('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k']).catch(() => undefined)
        const pages = 64
        await truncate(filler, (await stat(filler)).size - pages * 4096)
        const content = await localFile(`${folder}.bin`, pages * 4096)
        await run('cp', [content, join(m.path, folder, 'exact.bin')]) // throws if write or close fails
        // Stored when close returned, also with --write-back: the spool could not keep it for later.
        expect(await sameBytes(remoteBytesPath(lib, `/${folder}/exact.bin`), content)).toBe(true)
        expect(m.log()).toMatch(name === 'plain'
          ? /the spool journal cannot record this upload \(its disk is full\)/
          : /the spool cannot keep this file for a later upload \(its disk is full\)/)
        await new Promise((r) => setTimeout(r, 6_000)) // past the uploader's first retry delay (5 s)
        expect(await versionsOf(lib, `/${folder}/exact.bin`)).toHaveLength(1)
      } finally {
        if (m && live.has(m)) await unmount(m)
        await run('umount', ['-l', small]).catch(() => undefined)
      }
    }
  })

  it('W12: a large sequential write is uploaded while written; any other write falls back to the upload at close, nothing stored by the stream', async () => {
    const counter = await startUploadCounter(lib.url)
    try {
      const { m } = await mount({ args: ['--upload-url', counter.url] })
      await mkdir(join(m.path, 'w12'))
      const big = await localFile('w12-big.bin', 20 * 1024 * 1024)
      await run('cp', [big, join(m.path, 'w12', 'big.bin')])
      // No polling: close() has returned, so the streamed upload is stored.
      expect(await sameBytes(remoteBytesPath(lib, '/w12/big.bin'), big)).toBe(true)
      expect(counter.records().map((r) => [r.chunked, r.status])).toEqual([[true, 200]])

      const expected = join(work, 'w12-poked.expected')
      await writeThroughMount(join(m.path, 'w12', 'poked.bin'), expected, 12 * 1024 * 1024, { after: 8 * 1024 * 1024, at: 4096 })
      expect(await sameBytes(remoteBytesPath(lib, '/w12/poked.bin'), expected)).toBe(true)
      expect(await versionsOf(lib, '/w12/poked.bin')).toHaveLength(1)
      expect(counter.records().slice(1).map((r) => [r.chunked, r.status ?? 'aborted'])).toEqual([[true, 'aborted'], [false, 200]])

      const small = await localFile('w12-small.bin', 1024 * 1024)
      await run('cp', [small, join(m.path, 'w12', 'small.bin')])
      expect(counter.records().at(-1)).toMatchObject({ chunked: false, status: 200 })
      await unmount(m)

      const off = await mount({ args: ['--upload-url', counter.url, '--stream-uploads=false'] })
      await run('cp', [big, join(off.m.path, 'w12', 'big-off.bin')])
      expect(await sameBytes(remoteBytesPath(lib, '/w12/big-off.bin'), big)).toBe(true)
      expect(counter.records().at(-1)).toMatchObject({ chunked: false, status: 200 })
      await unmount(off.m)
    } finally {
      await counter.stop()
    }
  })

  it('W15: cp of a stored file into another folder under its name is copied by ImageKit, uploading nothing; other copies copy bytes', async () => {
    const photo = await localFile('w15-photo.jpg', 3 * 1024 * 1024 + 5)
    await lib.upload('/w15/a', 'photo.jpg', await readFile(photo))
    await lib.createFolder('/w15', 'b')
    const counter = await startUploadCounter(lib.url)
    try {
      const { m } = await mount({ args: ['--upload-url', counter.url] })
      const dir = join(m.path, 'w15')
      // coreutils cp tries copy_file_range on files of one file system.
      await run('cp', [join(dir, 'a', 'photo.jpg'), join(dir, 'b', 'photo.jpg')])
      expect(await sameBytes(remoteBytesPath(lib, '/w15/b/photo.jpg'), photo)).toBe(true)
      expect(counter.uploads()).toBe(0)
      const copied = await lib.details('/w15/b/photo.jpg')
      expect(copied.fileId).not.toBe((await lib.details('/w15/a/photo.jpg')).fileId)
      expect((await stat(join(dir, 'b', 'photo.jpg'))).size).toBe(3 * 1024 * 1024 + 5)
      expect(await sameBytes(join(dir, 'b', 'photo.jpg'), photo)).toBe(true)
      // Another name (the API keeps the name) and an existing target (it would gain a version): bytes copied.
      await run('cp', [join(dir, 'a', 'photo.jpg'), join(dir, 'a', 'renamed.jpg')])
      await run('cp', [join(dir, 'b', 'photo.jpg'), join(dir, 'a', 'photo.jpg')])
      expect(await sameBytes(remoteBytesPath(lib, '/w15/a/renamed.jpg'), photo)).toBe(true)
      expect(await sameBytes(remoteBytesPath(lib, '/w15/a/photo.jpg'), photo)).toBe(true)
      expect(counter.uploads()).toBe(2)
      // Read and changed through the copy's own descriptor before close: its bytes are there, the change is uploaded.
      await mkdir(join(dir, 'c'))
      await run('python3', ['-c', [
        'import os, sys',
        'src = os.open(sys.argv[1], os.O_RDONLY)',
        'dst = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)',
        'n = os.copy_file_range(src, dst, 1 << 40)',
        'assert n == os.fstat(src).st_size, n',
        'assert os.pread(dst, 4096, 1000) == os.pread(src, 4096, 1000)',
        'os.pwrite(dst, b"CHANGED", 0)',
        'os.close(dst)',
      ].join('\n'), join(dir, 'a', 'renamed.jpg'), join(dir, 'c', 'renamed.jpg')])
      const changed = await readFile(photo)
      changed.write('CHANGED', 0)
      const expected = await localBytes('w15-changed.jpg', changed)
      expect(await sameBytes(remoteBytesPath(lib, '/w15/c/renamed.jpg'), expected)).toBe(true)
      expect(counter.uploads()).toBe(3)
      // libuv's copy (Node's fs.copyFile) creates the target without O_TRUNC and truncates it to 0 first.
      await mkdir(join(dir, 'd'))
      await copyFile(join(dir, 'a', 'renamed.jpg'), join(dir, 'd', 'renamed.jpg'))
      expect(await sameBytes(remoteBytesPath(lib, '/w15/d/renamed.jpg'), photo)).toBe(true)
      expect(counter.uploads()).toBe(3)
      await unmount(m)
    } finally {
      await counter.stop()
    }
  }, STOP_DEADLINE_MS)

  it('W15: a server-side copy made but answered with 504s is not made again: cp succeeds, the copy has one version, nothing uploaded', async () => {
    const photo = await localFile('w15-lost.jpg', 200_000)
    await lib.upload('/w15lost/a', 'photo.jpg', await readFile(photo))
    await lib.createFolder('/w15lost', 'b')
    const counter = await startUploadCounter(lib.url)
    try {
      const { m } = await mount({ args: ['--upload-url', counter.url] })
      const dir = join(m.path, 'w15lost')
      expect(await readdir(join(dir, 'b'))).toEqual([])
      await lib.setFaults({ errorAfterWorkRate: 1, errorStatuses: [504], scope: ['api'] })
      try {
        await run('cp', [join(dir, 'a', 'photo.jpg'), join(dir, 'b', 'photo.jpg')])
      } finally {
        await lib.setFaults({ errorAfterWorkRate: 0, scope: ['api', 'upload', 'delivery'] })
      }
      expect(await sameBytes(remoteBytesPath(lib, '/w15lost/b/photo.jpg'), photo)).toBe(true)
      expect((await versionsOf(lib, '/w15lost/b/photo.jpg')).length).toBe(1) // was 7: six copies and an upload
      await unmount(m)
      expect(counter.uploads()).toBe(0)
    } finally {
      await counter.stop()
    }
  }, STOP_DEADLINE_MS)

  it('W16: fallocate grows a file with zeros (and posix_fallocate with it); KEEP_SIZE is accepted; punching holes is refused', async () => {
    await lib.upload('/w16', 'kept.bin', Buffer.from('stored bytes'))
    const { m } = await mount()
    const dir = join(m.path, 'w16')
    await run('fallocate', ['-l', String(3 * 1024 * 1024), join(dir, 'grown.bin')])
    expect((await stat(join(dir, 'grown.bin'))).size).toBe(3 * 1024 * 1024)
    await waitForRemoteBytes(lib, '/w16/grown.bin', await localBytes('w16-grown', Buffer.alloc(3 * 1024 * 1024)), UPLOAD_DEADLINE_MS)

    // What download managers do: reserve the whole size, then write into it.
    const script = 'import os, sys\nfd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\n' +
      'os.posix_fallocate(fd, 0, 1048576)\nos.pwrite(fd, b"head", 0)\nos.close(fd)\n'
    await run('python3', ['-c', script, join(dir, 'reserved.bin')])
    const reserved = Buffer.alloc(1024 * 1024)
    reserved.write('head')
    await waitForRemoteBytes(lib, '/w16/reserved.bin', await localBytes('w16-reserved', reserved), UPLOAD_DEADLINE_MS)

    await run('fallocate', ['--keep-size', '-l', '8M', join(dir, 'kept.bin')])
    expect((await stat(join(dir, 'kept.bin'))).size).toBe('stored bytes'.length)
    const punch = await run('fallocate', ['--punch-hole', '-o', '0', '-l', '4', join(dir, 'kept.bin')]).then(() => undefined, (e: { stderr: string }) => e)
    expect(punch?.stderr).toMatch(/unsupported|not supported/) // util-linux words EOPNOTSUPP its own way
    expect(await readFile(join(dir, 'kept.bin'), 'utf8')).toBe('stored bytes')
    expect(await readFile(remoteBytesPath(lib, '/w16/kept.bin'), 'utf8')).toBe('stored bytes')
    expect((await versionsOf(lib, '/w16/kept.bin')).length).toBe(1)
  })

  it('R8: a file stored elsewhere under a name the encoding would not give back (a|b^[c].txt, h#1.txt) is moved, removed and overwritten through the mount', async () => {
    // Each of these names lists as itself, but encodes to another one (`[` → `［`, `#` → `＃`): the mount must use the listed name.
    await lib.upload('/r8', 'a|b^[c].txt', Buffer.from('one\n'))
    await lib.upload('/r8', 'h#1.txt', Buffer.from('hash\n'))
    const over = await lib.upload('/r8', 'q[1].txt', Buffer.from('three\n'))
    const target = await lib.upload('/r8', 't[2].txt', Buffer.from('target\n'))
    await lib.upload('/r8/dir[x]', 'in.txt', Buffer.from('in\n'))
    const { m } = await mount()
    const dir = join(m.path, 'r8')
    expect((await readdir(dir)).sort()).toEqual(['a|b^[c].txt', 'dir[x]', 'h#1.txt', 'q[1].txt', 't[2].txt'])

    await run('mv', [join(dir, 'a|b^[c].txt'), join(dir, 'renamed.txt')])
    await run('rm', [join(dir, 'h#1.txt')])
    await run('sh', ['-c', 'printf "over\\n" > "$1"', 'sh', join(dir, 'q[1].txt')])
    await writeFile(join(m.path, 'r8-src.txt'), 'source\n')
    await run('mv', [join(m.path, 'r8-src.txt'), join(dir, 't[2].txt')])
    await writeFile(join(dir, 'dir[x]', 'new.txt'), 'new\n')
    await unmount(m)

    const names = async (folder: string) => (await remoteEntries(lib, folder)).map((e) => e.name).sort()
    expect(await names('/r8')).toEqual(['dir[x]', 'q[1].txt', 'renamed.txt', 't[2].txt'])
    expect(await names('/r8/dir[x]')).toEqual(['in.txt', 'new.txt'])
    expect(await readFile(remoteBytesPath(lib, '/r8/q[1].txt'), 'utf8')).toBe('over\n')
    expect(await readFile(remoteBytesPath(lib, '/r8/t[2].txt'), 'utf8')).toBe('source\n')
    expect((await lib.details('/r8/q[1].txt')).fileId).toBe(over.fileId)
    expect((await lib.details('/r8/t[2].txt')).fileId).toBe(target.fileId)
    expect((await versionsOf(lib, '/r8/q[1].txt')).length).toBe(2)
  })

  it('W11: a name that cannot be stored is refused: touch and cp get EINVAL, a rename EPERM (mv: "Operation not permitted", not "a subdirectory of itself"); one over 255 bytes as stored ENAMETOOLONG', async () => {
    const { m } = await mount()
    await mkdir(join(m.path, 'w11-refused'))
    const source = join(m.path, 'w11-refused', 'plain.txt')
    await writeFile(source, 'plain\n')
    // A lone ‛ (U+201B), the encoding's quote mark, would come back doubled after a re-list.
    const refused = join(m.path, 'w11-refused', 'x\u201B.txt')
    await expect(run('touch', [refused])).rejects.toMatchObject({ stderr: expect.stringContaining('Invalid argument') })
    await expect(run('cp', [source, refused])).rejects.toMatchObject({ stderr: expect.stringContaining('Invalid argument') })
    const moved = await run('mv', [source, refused]).then(() => 'moved', (e: { stderr: string }) => e.stderr)
    expect(moved).toContain('Operation not permitted')
    expect(moved).not.toContain('subdirectory')
    // Nor can a name whose stored form is over 255 bytes (`#` is stored as the 3-byte `＃`): File name too long,
    // at once, not a close that fails with EIO and a file the library refuses on every retry.
    const long = join(m.path, 'w11-refused', 'b'.repeat(200) + '#'.repeat(20) + '.txt')
    for (const argv of [['touch', long], ['cp', source, long], ['mv', source, long]]) {
      await expect(run(argv[0]!, argv.slice(1)), argv[0]).rejects.toMatchObject({ stderr: expect.stringContaining('File name too long') })
    }
    expect(await readFile(source, 'utf8')).toBe('plain\n')
    expect((await readdir(join(m.path, 'w11-refused')))).toEqual(['plain.txt'])
    await unmount(m)
  })

  it('W11: folders nest at most 50 deep: mkdir, cp -r and mv past that get ENAMETOOLONG, with one log line naming the limit, and nothing deeper is made nor half moved', async () => {
    // A tree three folders high made elsewhere: the mount has listed none of it when it moves it.
    await lib.createFolder('/', 'w11-unlisted')
    await lib.createFolder('/w11-unlisted', 'a')
    await lib.createFolder('/w11-unlisted/a', 'b')
    await lib.createFolder('/w11-unlisted/a/b', 'c')
    await lib.upload('/w11-unlisted/a/b/c', 'leaf.txt', Buffer.from('leaf\n'))
    const { m } = await mount()
    const levels = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `n${from + i}`)
    const at = (...names: string[]) => join(m.path, ...names)
    await run('mkdir', ['-p', at(...levels(50))]) // /n1/…/n50: 50 folders deep, as deep as ImageKit nests
    await writeFile(at(...levels(50), 'in50.txt'), 'deepest\n') // a file may sit in the 50th
    await expect(run('mkdir', ['-p', at(...levels(52))])).rejects.toMatchObject({ stderr: expect.stringContaining('File name too long') })
    await expect(run('mkdir', [at(...levels(51))])).rejects.toMatchObject({ stderr: expect.stringContaining('File name too long') })
    // cp -r of a local tree that goes past it: the folder at the 51st level is refused, what fits is copied.
    const tree = join(work, 'w11-deep')
    await mkdir(join(tree, ...levels(3, 49)), { recursive: true })
    await writeFile(join(tree, 'n49', 'ok.txt'), 'ok\n')
    await writeFile(join(tree, ...levels(3, 49), 'too-deep.txt'), 'no\n')
    await expect(run('cp', ['-r', tree, at(...levels(47))])).rejects.toMatchObject({ stderr: expect.stringContaining('File name too long') })
    // mv of a folder two levels high (its listing known) under the 48th would reach 51; under the 47th it fits.
    await mkdir(at('w11-tall', 'mid', 'low'), { recursive: true })
    await readdir(at('w11-tall', 'mid'))
    await expect(run('mv', [at('w11-tall'), at(...levels(48), 'tall')])).rejects.toMatchObject({ stderr: expect.stringContaining('File name too long') })
    expect(await readdir(at('w11-tall', 'mid'))).toEqual(['low'])
    await run('mv', [at('w11-tall'), at(...levels(47), 'tall')])
    // A tree whose deeper part no listing showed yet: the library refuses the move (under the 48th it would reach
    // 52), and the mount measures the tree to answer File name too long, not EIO; nothing moved. Once straight
    // into the target (a move, then a rename), once with the old name taken there (a rename first, undone).
    await expect(run('mv', [at('w11-unlisted'), at(...levels(48), 'unlisted')])).rejects.toMatchObject({ stderr: expect.stringContaining('File name too long') })
    await writeFile(at(...levels(48), 'w11-unlisted'), 'a file of the old name\n')
    await expect(run('mv', [at('w11-unlisted'), at(...levels(48), 'unlisted')])).rejects.toMatchObject({ stderr: expect.stringContaining('File name too long') })
    expect(await readFile(at('w11-unlisted', 'a', 'b', 'c', 'leaf.txt'), 'utf8')).toBe('leaf\n')
    expect((await readdir(at(...levels(48)))).sort()).toEqual(['n49', 'w11-unlisted'])
    await unmount(m)

    const deepest = '/' + levels(50).join('/')
    expect((await remoteEntries(lib, deepest)).map((e) => e.name)).toEqual(['in50.txt'])
    expect((await remoteEntries(lib, '/' + levels(47).join('/') + '/w11-deep')).map((e) => e.name).sort()).toEqual(['n49'])
    expect((await remoteEntries(lib, '/' + levels(47).join('/') + '/w11-deep/n49')).map((e) => e.name).sort()).toEqual(['n50', 'ok.txt'])
    expect(await remoteEntries(lib, '/' + levels(47).join('/') + '/w11-deep/n49/n50')).toEqual([])
    expect((await remoteEntries(lib, '/' + [...levels(47), 'tall', 'mid'].join('/'))).map((e) => e.name)).toEqual(['low'])
    expect((await remoteEntries(lib, '/')).filter((e) => e.name.startsWith('w11-unlisted') || e.name === 'unlisted' || e.name.startsWith('ikfs-move-')).map((e) => e.name)).toEqual(['w11-unlisted'])
    expect((await remoteEntries(lib, '/w11-unlisted/a/b/c')).map((e) => e.name)).toEqual(['leaf.txt'])
    expect((await remoteEntries(lib, '/' + levels(48).join('/'))).map((e) => e.name).sort()).toEqual(['n49', 'w11-unlisted'])
    // One line per refusal, naming the limit (mkdir -p, mkdir, cp's mkdir, mv, the two mv of the unlisted tree).
    const refusals = m.log().split('\n').filter((line) => line.includes('ImageKit nests folders at most 50 deep'))
    expect(refusals).toHaveLength(6)
    expect(refusals.every((line) => /"msg":"(mkdir|rename) failed: ENAMETOOLONG"/.test(line))).toBe(true)
  })

  it('W11: names ImageKit would rewrite are stored encoded and keep their created name after a re-list', async () => {
    // local name → remote name under the default encoding (Hash, Percent, Question → FULLWIDTH forms).
    const names: [string, string][] = [
      ['sp ace.txt', 'sp ace.txt'],
      ['100% #1.txt', '100\uFF05 \uFF031.txt'],
      ['why?.txt', 'why\uFF1F.txt'],
      ['café ☕.txt', 'café ☕.txt'],
      ['n'.repeat(251) + '.txt', 'n'.repeat(251) + '.txt'],
    ]
    const { m } = await mount()
    await mkdir(join(m.path, 'w11'))
    for (const [local] of names) await writeFile(join(m.path, 'w11', local), `name ${local}\n`)
    await unmount(m)

    for (const [local, remote] of names) {
      expect(await readFile(remoteBytesPath(lib, `/w11/${remote}`), 'utf8'), remote).toBe(`name ${local}\n`)
    }
    // A fresh cache dir: the names come from the remote listing, not from the spool.
    const fresh = await mount()
    const listed = await readdir(join(fresh.m.path, 'w11'))
    expect(listed.sort()).toEqual(names.map(([local]) => local).sort())
    for (const [local] of names) expect(await readFile(join(fresh.m.path, 'w11', local), 'utf8')).toBe(`name ${local}\n`)
    await unmount(fresh.m)
  })
})
