// Issue 4 "Proof": everyday programs writing through a real mount, checked against the emulator's data dir
// (`cmp`) and its Media API. One emulator and one mount (write-back off: close waits for the upload) serve
// the file; uploads pass through a counting proxy so the rsync test can tell what was sent again.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { appendFile, link, mkdir, readFile, readdir, rename, rm, rmdir, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, leftMounted, mountLibrary, remoteBytesPath, remoteEntries, run, runIkfs, sameBytes, startLibrary, startUploadCounter,
  tempDir, versionsOf, waitFor, waitForRemoteBytes, writeRandomFile, type Library, type Mounted, type UploadCounter,
} from './harness.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping write workflows: ${skip}`)

const GiB = 1024 ** 3
const TREE_FILES = 500
/** A folder as large as a photo library's month; ls -la stats every entry. */
const MANY_FILES = 2_500
/** Per-step deadline for commands on the mount; the 1 GiB copy gets its own. */
const STEP_MS = 120_000
const BIG_COPY_MS = 240_000

describe.skipIf(skip !== null)('write workflows', () => {
  let lib: Library
  let m: Mounted
  let counter: UploadCounter
  let work: string

  const local = (...p: string[]) => join(work, ...p)
  const mnt = (...p: string[]) => join(m.path, ...p)
  async function expectFile(name: string, bytes: Buffer | string): Promise<string> {
    const path = local('expect', name)
    await mkdir(local('expect'), { recursive: true })
    await writeFile(path, bytes)
    return path
  }
  /** Every regular file under a local folder, as paths relative to it. */
  async function filesUnder(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true })
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort()
  }

  beforeAll(async () => {
    work = await tempDir('ikfs-workflows-')
    lib = await startLibrary({ emulatorArgs: ['--max-upload-bytes', String(2 * GiB)] })
    counter = await startUploadCounter(lib.url)
    // The checks below call the Media API back to back; its rate limit is not what is tested here.
    await lib.setFaults({ rateLimitPerSecond: 0 })
    m = await mountLibrary(lib, {
      args: ['--cache-dir', local('cache'), '--upload-url', counter.url, '--dir-cache-time', '2s', '--attr-timeout', '0', '--log-level', 'info'],
    })
  })
  afterAll(async () => {
    const path = m?.path
    await m?.stop()
    await counter?.stop()
    await lib?.stop()
    if (path) expect(await leftMounted([path])).toEqual([])
    await rm(work, { recursive: true, force: true })
  }, 120_000) // a hung mount takes up to 30 s of SIGTERM before SIGKILL

  it('cp of a 1 GiB file arrives byte-exact', async () => {
    const src = local('big', '1g.bin')
    await writeRandomFile(src, GiB)
    await run('cp', [src, mnt('big.bin')], BIG_COPY_MS)
    expect((await stat(mnt('big.bin'))).size).toBe(GiB)
    await run('cmp', [src, remoteBytesPath(lib, '/big.bin')], STEP_MS)
    await rm(src)
  }, BIG_COPY_MS + STEP_MS)

  it(`cp -r of a nested tree of ${TREE_FILES} small files`, async () => {
    const tree = local('tree')
    for (let i = 0; i < TREE_FILES; i++) {
      const dir = join(tree, `d${i % 5}`, `e${i % 17}`)
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, `f${i}.bin`), randomBytes(1 + ((i * 997) % 8192)))
    }
    await run('cp', ['-r', tree, mnt('tree')], STEP_MS)
    const files = await filesUnder(tree)
    expect(files.length).toBe(TREE_FILES)
    const different: string[] = []
    for (const f of files) if (!(await sameBytes(join(tree, f), remoteBytesPath(lib, `/tree/${f}`)))) different.push(f)
    expect(different).toEqual([])
    expect(await filesUnder(mnt('tree'))).toEqual(files)
  })

  it('rsync -a twice: the first run uploads every file, the second (after a re-list) sends nothing', async () => {
    const src = local('rs')
    for (let i = 0; i < 20; i++) await writeRandomFile(join(src, i % 2 ? 'sub' : '', `r${i}.bin`), 10_000 + i)
    const files = await filesUnder(src)
    // Sources from the past: their times differ from every upload time, so only times kept by the mount
    // (W13) can make them match.
    const past = new Date('2020-01-02T03:04:05Z')
    for (const f of [...files, 'sub', '']) await utimes(join(src, f), past, past)
    const before = counter.uploads()
    await run('rsync', ['-a', `${src}/`, mnt('rs')], STEP_MS)
    const firstRun = counter.uploads() - before
    for (const f of files) expect(await sameBytes(join(src, f), remoteBytesPath(lib, `/rs/${f}`)), f).toBe(true)
    expect(firstRun).toBeGreaterThanOrEqual(files.length)
    const ids = new Map<string, string>()
    for (const f of files) ids.set(f, (await lib.details(`/rs/${f}`)).fileId)

    // rsync's quick check compares size and mtime. The listing fetched anew has upload times (updatedAt);
    // the mount shows the times rsync set on each version (W13), so the second run finds nothing to send.
    // A file added through the API shows that the listing was fetched anew; no attribute is cached by the
    // kernel (--attr-timeout 0), so every stat is the daemon's answer from that listing.
    await lib.upload('/rs/sub', 'marker.txt', Buffer.from('added elsewhere\n'))
    m.forget()
    await waitFor(async () => (await readdir(mnt('rs', 'sub'))).includes('marker.txt'), 10_000, 'a re-list of /rs/sub')
    await waitFor(async () => (await readdir(mnt('rs'))).includes('sub') && (await stat(mnt('rs'))).isDirectory(), 10_000, 'a re-list of /rs')
    for (const f of files) {
      expect((await stat(mnt('rs', f))).mtimeMs, f).toBe(past.getTime())
      expect(Date.parse((await lib.details(`/rs/${f}`)).updatedAt), f).not.toBe(past.getTime())
    }
    for (const folder of ['', 'sub']) expect((await stat(mnt('rs', folder))).mtimeMs, `folder /rs/${folder}`).toBe(past.getTime())
    const again = counter.uploads()
    const second = await run('rsync', ['-a', '--itemize-changes', `${src}/`, mnt('rs')], STEP_MS)
    expect(counter.uploads() - again).toBe(0)
    expect(second.stdout.split('\n').filter((l) => l.startsWith('>f')), 'files rsync sent again').toEqual([])
    // Nor do the folders show as changed (`.d..t......`, each listed by `rsync -av` on every run): the times
    // rsync set on them are kept too.
    expect(second.stdout, 'what rsync itemized on the second run').toBe('')
    for (const f of files) {
      expect(await sameBytes(join(src, f), remoteBytesPath(lib, `/rs/${f}`)), f).toBe(true)
      expect((await lib.details(`/rs/${f}`)).fileId).toBe(ids.get(f))
      expect((await versionsOf(lib, `/rs/${f}`)).length).toBe(1)
    }

    // A changed source is sent again: a temporary file renamed over the target (W9), whose new version keeps
    // the source's time, so a third run sends nothing either.
    await writeRandomFile(join(src, 'r0.bin'), 12_345)
    await utimes(join(src, 'r0.bin'), past, past)
    const third = counter.uploads()
    await run('rsync', ['-a', `${src}/`, mnt('rs')], STEP_MS)
    expect(counter.uploads() - third).toBeGreaterThanOrEqual(1)
    expect(await sameBytes(join(src, 'r0.bin'), remoteBytesPath(lib, '/rs/r0.bin'))).toBe(true)
    expect((await lib.details('/rs/r0.bin')).fileId).toBe(ids.get('r0.bin'))
    expect((await versionsOf(lib, '/rs/r0.bin')).length).toBe(2)
    expect((await stat(mnt('rs', 'r0.bin'))).mtimeMs).toBe(past.getTime())
    const fourth = counter.uploads()
    await run('rsync', ['-a', `${src}/`, mnt('rs')], STEP_MS)
    expect(counter.uploads() - fourth).toBe(0)

    expect((await readdir(mnt('rs'))).filter((n) => n.startsWith('.'))).toEqual([])
    const remoteNames = [...(await remoteEntries(lib, '/rs')), ...(await remoteEntries(lib, '/rs/sub'))].map((e) => e.name)
    expect(remoteNames.filter((n) => n.startsWith('.')), 'rsync temporary files left in the library').toEqual([])
  })

  it('vi saves in place and through a backup rename; a write through mmap is uploaded at close', async () => {
    await mkdir(mnt('edit'))
    const doc = mnt('edit', 'doc.txt')
    await writeFile(doc, 'line one\n')
    const vi = (...commands: string[]) => run('vi', ['-u', 'NONE', '-N', '-n', '-es', ...commands.flatMap((c) => ['-c', c]), doc], STEP_MS)
    await vi('normal Goline two', 'wq') // vim's default for a file it may write: in place
    // Rename the original away, write anew, delete the backup. `backupskip=`: vim's default skips the backup
    // of files under /tmp (where the mount is), and would then write in place again.
    await vi('set backupskip= nobackup writebackup backupcopy=no', 'normal Goline three', 'wq')
    const saved = await expectFile('doc.txt', 'line one\nline two\nline three\n')
    expect(await sameBytes(remoteBytesPath(lib, '/edit/doc.txt'), saved)).toBe(true)
    expect((await remoteEntries(lib, '/edit')).map((e) => e.name)).toEqual(['doc.txt']) // no backup or probe file left
    expect(await readdir(mnt('edit'))).toEqual(['doc.txt'])

    // mmap(MAP_SHARED) writes reach the file through the kernel's writeback before close.
    const mapped = mnt('edit', 'mapped.bin')
    await writeFile(mapped, Buffer.alloc(8192, 'a'))
    await run('python3', ['-c', [
      'import mmap, sys',
      'f = open(sys.argv[1], "r+b")',
      'm = mmap.mmap(f.fileno(), 0)',
      'm[4096:4101] = b"HELLO"',
      'm.flush(); m.close(); f.close()',
    ].join('\n'), mapped], STEP_MS)
    const expected = Buffer.alloc(8192, 'a')
    expected.write('HELLO', 4096)
    expect(await sameBytes(remoteBytesPath(lib, '/edit/mapped.bin'), await expectFile('mapped.bin', expected))).toBe(true)
  })

  it("output of a shell loop redirected into the mount: the commands' exits do not upload it, the shell's close does, once", async () => {
    // The shell opens the file once; each command it starts inherits the descriptor and closes it when it
    // exits, a flush the kernel sends like any close(2). Only the last close uploads (W2): one upload, one version.
    const before = counter.uploads()
    await run('sh', ['-c', 'for i in 1 2 3 4 5; do /bin/echo "line $i"; done > "$1"', 'sh', mnt('loop.log')], STEP_MS)
    const lines = [1, 2, 3, 4, 5].map((i) => `line ${i}\n`).join('')
    expect(await sameBytes(remoteBytesPath(lib, '/loop.log'), await expectFile('loop.log', lines))).toBe(true)
    expect(counter.uploads() - before, 'uploads of loop.log').toBe(1)
    expect((await versionsOf(lib, '/loop.log')).length).toBe(1)

    // The process that opened the file closes its copy first, one it started writes on and closes last:
    // the first close stores what was written so far, the last one (after that process's exit) the rest.
    await run('python3', ['-c', [
      'import os, sys, time',
      'fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)',
      'os.write(fd, b"from the opener\\n")',
      'if os.fork() == 0:',
      '    time.sleep(0.3)',
      '    os.write(fd, b"from its child\\n")',
      '    os._exit(0)',
      'os.close(fd)',
      'os.wait()',
    ].join('\n'), mnt('forked.log')], STEP_MS)
    await waitForRemoteBytes(lib, '/forked.log', await expectFile('forked.log', 'from the opener\nfrom its child\n'), STEP_MS)
    expect(await readFile(mnt('forked.log'), 'utf8')).toBe('from the opener\nfrom its child\n')
  })

  it('git clone and commit, sqlite3, unzip -o, tar x over files, cp -a of hard links and rsync --inplace/--delete: the library holds what they wrote', async () => {
    const git = (...args: string[]) => run('git', ['-c', 'user.name=ikfs', '-c', 'user.email=ikfs@localhost', ...args], STEP_MS)
    // git: lock files renamed over the index and refs, objects written read-only, fsync, a probe of chmod.
    const repo = local('gitsrc')
    await mkdir(join(repo, 'sub'), { recursive: true })
    await writeFile(join(repo, 'a.txt'), 'first\n')
    await writeFile(join(repo, 'sub', 'b.bin'), randomBytes(30_000))
    await git('-C', repo, 'init', '-q')
    await git('-C', repo, 'add', '.')
    await git('-C', repo, 'commit', '-qm', 'one')
    await git('clone', '-q', repo, mnt('git'))
    await appendFile(mnt('git', 'a.txt'), 'second\n')
    await git('-C', mnt('git'), 'commit', '-qam', 'two')
    expect((await git('-C', mnt('git'), 'status', '--porcelain')).stdout).toBe('')
    await git('-C', remoteBytesPath(lib, '/git'), 'fsck', '--full')
    expect((await git('-C', remoteBytesPath(lib, '/git'), 'log', '--format=%s')).stdout).toBe('two\none\n')
    expect(await readFile(remoteBytesPath(lib, '/git/a.txt'), 'utf8')).toBe('first\nsecond\n')

    // sqlite3: a rollback journal created, synced and deleted at each transaction.
    await mkdir(mnt('db'))
    await run('sqlite3', [mnt('db', 't.db'), 'create table t(a integer primary key, b blob); insert into t(b) select randomblob(1000) from generate_series(1, 500);'], STEP_MS)
    for (let i = 1; i <= 5; i++) await run('sqlite3', [mnt('db', 't.db'), `update t set b = randomblob(2000) where a = ${i};`], STEP_MS)
    expect((await run('sqlite3', [remoteBytesPath(lib, '/db/t.db'), 'pragma integrity_check; select count(*) from t where length(b) = 2000;'], STEP_MS)).stdout).toBe('ok\n5\n')
    expect((await remoteEntries(lib, '/db')).map((e) => e.name)).toEqual(['t.db'])

    // unzip -o over the files an earlier unzip made.
    const zsrc = local('zipsrc')
    await writeRandomFile(join(zsrc, 'd', 'one.bin'), 200_000)
    await writeFile(join(zsrc, 'two.txt'), 'two\n')
    await run('sh', ['-c', 'cd "$1" && zip -qr "$2" .', 'sh', zsrc, local('a.zip')], STEP_MS)
    await run('unzip', ['-q', local('a.zip'), '-d', mnt('unzip')], STEP_MS)
    const unzipped = (await lib.details('/unzip/two.txt')).fileId
    await writeRandomFile(join(zsrc, 'd', 'one.bin'), 150_000)
    await writeFile(join(zsrc, 'two.txt'), 'two, again\n')
    await run('sh', ['-c', 'cd "$1" && zip -qr "$2" .', 'sh', zsrc, local('b.zip')], STEP_MS)
    await run('unzip', ['-oq', local('b.zip'), '-d', mnt('unzip')], STEP_MS)
    for (const f of ['d/one.bin', 'two.txt']) expect(await sameBytes(join(zsrc, f), remoteBytesPath(lib, `/unzip/${f}`)), f).toBe(true)
    // unzip deletes a file before it writes it again: a new file in the library (README's note).
    expect((await lib.details('/unzip/two.txt')).fileId).not.toBe(unzipped)

    // tar x does the same; with --overwrite it writes into the file, which keeps its id and gains a version.
    await mkdir(local('tarsame'))
    await writeFile(local('tarsame', 'f.txt'), 'one\n')
    await run('tar', ['-C', local('tarsame'), '-cf', local('same.tar'), 'f.txt'], STEP_MS)
    await mkdir(mnt('tarsame'))
    await run('tar', ['-C', mnt('tarsame'), '-xf', local('same.tar')], STEP_MS)
    const extracted = (await lib.details('/tarsame/f.txt')).fileId
    await run('tar', ['-C', mnt('tarsame'), '--overwrite', '-xf', local('same.tar')], STEP_MS)
    expect((await lib.details('/tarsame/f.txt')).fileId).toBe(extracted)
    expect((await versionsOf(lib, '/tarsame/f.txt')).length).toBe(2)
    await run('tar', ['-C', mnt('tarsame'), '-xf', local('same.tar')], STEP_MS)
    expect((await lib.details('/tarsame/f.txt')).fileId).not.toBe(extracted)

    // cp -a of hard-linked files: the link is refused (W10); without preserving links each name is a file.
    await mkdir(local('linked'))
    await writeFile(local('linked', 'a'), 'shared\n')
    await link(local('linked', 'a'), local('linked', 'b'))
    await expect(run('cp', ['-a', local('linked'), mnt('linked')], STEP_MS)).rejects.toThrow(/cannot create hard link/)
    expect((await readdir(mnt('linked'))).length).toBe(1)
    await run('cp', ['-a', '--no-preserve=links', local('linked'), mnt('linked2')], STEP_MS)
    for (const f of ['a', 'b']) expect(await readFile(remoteBytesPath(lib, `/linked2/${f}`), 'utf8')).toBe('shared\n')

    // rsync --inplace (a delta written into the target) and --delete.
    const rsrc = local('rsinplace')
    await writeRandomFile(join(rsrc, 'big.bin'), 3_000_000)
    await writeFile(join(rsrc, 'gone.txt'), 'to be deleted\n')
    await run('rsync', ['-a', `${rsrc}/`, mnt('rsi')], STEP_MS)
    const big = await readFile(join(rsrc, 'big.bin'))
    randomBytes(100).copy(big, 1_500_000)
    await writeFile(join(rsrc, 'big.bin'), big)
    await utimes(join(rsrc, 'big.bin'), new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'))
    await rm(join(rsrc, 'gone.txt'))
    await run('rsync', ['-a', '--inplace', '--no-whole-file', '--delete', `${rsrc}/`, mnt('rsi')], STEP_MS)
    expect(await sameBytes(join(rsrc, 'big.bin'), remoteBytesPath(lib, '/rsi/big.bin'))).toBe(true)
    expect((await remoteEntries(lib, '/rsi')).map((e) => e.name)).toEqual(['big.bin'])
  })

  it('tar x of an archive', async () => {
    const tree = local('tarsrc')
    await writeRandomFile(join(tree, 'docs', 'manual.pdf'), 700_000)
    await writeRandomFile(join(tree, 'img', 'deep', 'photo.jpg'), 300_000)
    await writeFile(join(tree, 'README'), 'read me\n')
    await run('tar', ['-C', tree, '-czf', local('arch.tgz'), '.'], STEP_MS)
    await mkdir(mnt('untar'))
    await run('tar', ['-C', mnt('untar'), '-xzf', local('arch.tgz')], STEP_MS)
    for (const f of await filesUnder(tree)) expect(await sameBytes(join(tree, f), remoteBytesPath(lib, `/untar/${f}`)), f).toBe(true)
  })

  it('append with >>, dd conv=notrunc at an offset, truncate up and down', async () => {
    const base = randomBytes(5 * 1024 * 1024 + 333)
    await writeFile(mnt('edit.bin'), base)
    let want = Buffer.from(base)

    await run('sh', ['-c', 'printf "%s" "more bytes at the end" >> "$1"', 'sh', mnt('edit.bin')])
    want = Buffer.concat([want, Buffer.from('more bytes at the end')])
    await waitForRemoteBytes(lib, '/edit.bin', await expectFile('appended', want), STEP_MS)

    const patch = randomBytes(100_000)
    await writeFile(local('patch.bin'), patch)
    const offset = 3 * 1024 * 1024 - 17 // across a block boundary, inside the file
    await run('dd', [`if=${local('patch.bin')}`, `of=${mnt('edit.bin')}`, `bs=${patch.length}`, 'count=1', `seek=${offset}`, 'oflag=seek_bytes', 'conv=notrunc', 'status=none'], STEP_MS)
    patch.copy(want, offset)
    await waitForRemoteBytes(lib, '/edit.bin', await expectFile('patched', want), STEP_MS)
    expect((await stat(mnt('edit.bin'))).size).toBe(want.length)

    await run('truncate', ['-s', '1000000', mnt('edit.bin')])
    want = want.subarray(0, 1_000_000)
    await waitForRemoteBytes(lib, '/edit.bin', await expectFile('down', want), STEP_MS)
    await run('truncate', ['-s', '1500000', mnt('edit.bin')])
    want = Buffer.concat([want, Buffer.alloc(500_000)])
    await waitForRemoteBytes(lib, '/edit.bin', await expectFile('up', want), STEP_MS)
    expect((await readFile(mnt('edit.bin'))).equals(want)).toBe(true)
  })

  it('system calls: O_DIRECT reads and writes, sparse copies and writes past the end, sendfile and splice, flock; O_TMPFILE is refused', async () => {
    await mkdir(mnt('sys'))
    const body = randomBytes(3 * 1024 * 1024 + 5)
    const source = await expectFile('sys-body', body)
    // dd with O_DIRECT, both ways; the last block is a short one.
    await run('dd', [`if=${source}`, `of=${mnt('sys', 'direct.bin')}`, 'bs=1M', 'oflag=direct', 'status=none'], STEP_MS)
    expect(await sameBytes(remoteBytesPath(lib, '/sys/direct.bin'), source)).toBe(true)
    await run('dd', [`if=${mnt('sys', 'direct.bin')}`, `of=${local('direct-back.bin')}`, 'bs=1M', 'iflag=direct', 'status=none'], STEP_MS)
    expect(await sameBytes(local('direct-back.bin'), source)).toBe(true)

    // A sparse file copied in with holes, and a write that starts past the end: the gaps are zeros.
    const sparse = Buffer.alloc(8 * 1024 * 1024)
    sparse.write('in the middle', 5_000_000)
    await run('sh', ['-c', 'truncate -s 8M "$1" && printf "in the middle" | dd of="$1" bs=1 seek=5000000 conv=notrunc status=none', 'sh', local('sparse.bin')], STEP_MS)
    await run('cp', ['--sparse=always', local('sparse.bin'), mnt('sys', 'sparse.bin')], STEP_MS)
    expect(await sameBytes(remoteBytesPath(lib, '/sys/sparse.bin'), await expectFile('sys-sparse', sparse))).toBe(true)
    await run('sh', ['-c', 'printf xyz | dd of="$1" bs=1 seek=3000000 status=none', 'sh', mnt('sys', 'past-end.bin')], STEP_MS)
    expect(await sameBytes(remoteBytesPath(lib, '/sys/past-end.bin'), await expectFile('sys-past', Buffer.concat([Buffer.alloc(3_000_000), Buffer.from('xyz')])))).toBe(true)

    const { stdout } = await run('python3', ['-c', [
      'import errno, fcntl, json, os, sys',
      'src, mount, out = sys.argv[1:4]',
      'def sendfile_all(i, o):',
      '    while os.sendfile(o, i, None, 1 << 20): pass',
      '# sendfile out of the mount, splice into it',
      'i = os.open(src, os.O_RDONLY); o = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)',
      'sendfile_all(i, o); os.close(i); os.close(o)',
      'i = os.open(out, os.O_RDONLY); o = os.open(mount + "/spliced.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)',
      'r, w = os.pipe()',
      'while (n := os.splice(i, w, 65536)):',
      '    while n: n -= os.splice(r, o, n)',
      'os.close(i); os.close(o)',
      '# flock: a second open file description cannot take the lock the first holds',
      'a = open(mount + "/spliced.bin"); b = open(mount + "/spliced.bin")',
      'fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB)',
      'try: fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB); second = "locked"',
      'except BlockingIOError: second = "refused"',
      'try: os.close(os.open(mount, os.O_TMPFILE | os.O_WRONLY, 0o600)); tmpfile = "opened"',
      'except OSError as e: tmpfile = "EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP else errno.errorcode[e.errno]',
      'print(json.dumps({"second": second, "tmpfile": tmpfile}))',
    ].join('\n'), mnt('sys', 'direct.bin'), mnt('sys'), local('sendfile.bin')], STEP_MS)
    expect(JSON.parse(stdout)).toEqual({ second: 'refused', tmpfile: 'EOPNOTSUPP' })
    expect(await sameBytes(local('sendfile.bin'), source)).toBe(true)
    expect(await sameBytes(remoteBytesPath(lib, '/sys/spliced.bin'), source)).toBe(true)
  })

  it('atomic save: write f.tmp, rename over f; f keeps its file id and gains a version', async () => {
    await writeFile(mnt('notes.txt'), 'first draft\n')
    const id = (await lib.details('/notes.txt')).fileId
    await writeFile(mnt('notes.txt.tmp'), 'second draft, saved\n')
    await rename(mnt('notes.txt.tmp'), mnt('notes.txt'))
    expect(await readFile(remoteBytesPath(lib, '/notes.txt'), 'utf8')).toBe('second draft, saved\n')
    expect((await lib.details('/notes.txt')).fileId).toBe(id)
    const versions = await versionsOf(lib, '/notes.txt')
    expect(versions.length).toBe(2)
    expect((await readdir(m.path)).filter((n) => n.startsWith('notes'))).toEqual(['notes.txt'])
  })

  it('rename across folders, folder rename, rmdir of a non-empty folder deletes nothing', async () => {
    await mkdir(mnt('from'))
    await mkdir(mnt('to'))
    const body = randomBytes(50_000)
    await writeFile(mnt('from', 'moving.bin'), body)
    await rename(mnt('from', 'moving.bin'), mnt('to', 'moved.bin'))
    expect(await sameBytes(remoteBytesPath(lib, '/to/moved.bin'), await expectFile('moved', body))).toBe(true)
    await expect(stat(remoteBytesPath(lib, '/from/moving.bin'))).rejects.toMatchObject({ code: 'ENOENT' })

    await mkdir(mnt('to', 'inner'))
    await writeFile(mnt('to', 'inner', 'deep.txt'), 'deep\n')
    await rename(mnt('to'), mnt('renamed'))
    expect(await sameBytes(remoteBytesPath(lib, '/renamed/moved.bin'), local('expect', 'moved'))).toBe(true)
    expect(await readFile(remoteBytesPath(lib, '/renamed/inner/deep.txt'), 'utf8')).toBe('deep\n')
    const top = (await remoteEntries(lib, '/')).map((e) => e.name)
    expect(top).toContain('renamed')
    expect(top).not.toContain('to')
    expect((await readdir(mnt('renamed'))).sort()).toEqual(['inner', 'moved.bin'])

    await expect(rmdir(mnt('renamed'))).rejects.toMatchObject({ code: 'ENOTEMPTY' })
    await expect(run('rmdir', [mnt('renamed', 'inner')])).rejects.toThrow(/not empty/i)
    expect(await readFile(remoteBytesPath(lib, '/renamed/inner/deep.txt'), 'utf8')).toBe('deep\n')
    expect(await sameBytes(remoteBytesPath(lib, '/renamed/moved.bin'), local('expect', 'moved'))).toBe(true)
    expect((await readdir(mnt('renamed', 'inner')))).toEqual(['deep.txt'])
  })

  it('names with spaces, #, %, ?, unicode and 255 bytes are written and read back under the same name', async () => {
    const names = ['with space.txt', 'hash#tag.txt', '50%off.txt', 'what?.txt', 'ünïcödé 日本.txt', 'z'.repeat(251) + '.bin']
    expect(Buffer.byteLength(names[5]!)).toBe(255)
    await mkdir(mnt('names'))
    for (const n of names) await run('cp', [await expectFile(`name-${names.indexOf(n)}`, `content of ${n}\n`), mnt('names', n)])
    m.forget()
    const listed = await readdir(mnt('names'))
    expect(listed.sort()).toEqual([...names].sort())
    for (const n of names) expect(await readFile(mnt('names', n), 'utf8')).toBe(`content of ${n}\n`)
    expect((await remoteEntries(lib, '/names')).length).toBe(names.length)
    await appendFile(mnt('names', 'what?.txt'), 'more\n')
    expect(await readFile(mnt('names', 'what?.txt'), 'utf8')).toBe('content of what?.txt\nmore\n')
  })

  it('xattrs and ACLs: cp -a, cp --preserve=all, rsync -aX and tar --xattrs into the mount store bytes and tags, pass over or report what cannot be kept as documented, and go back out', async () => {
    const src = local('xattr-src', 'x')
    await mkdir(src, { recursive: true })
    await writeFile(join(src, 'a.txt'), 'with a comment\n')
    await writeFile(join(src, 'b.txt'), 'with tags\n')
    await run('setfattr', ['-n', 'user.comment', '-v', 'local only', join(src, 'a.txt')])
    await run('setfattr', ['-n', 'security.ikfs-test', '-v', 'local only', join(src, 'a.txt')])
    await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 't1,t2', join(src, 'b.txt')])
    // Names the library cannot keep are ENOTSUP (R10): cp -a and --preserve=all pass over them quietly, an
    // explicit --preserve=xattr says so, rsync -X reports each (exit 23), tar warns and exits 0.
    expect((await run('cp', ['-a', src, mnt('xa')])).stderr).toBe('')
    expect((await run('cp', ['-r', '--preserve=all', src, mnt('xp')])).stderr).toBe('')
    await expect(run('cp', ['--preserve=xattr', join(src, 'a.txt'), mnt('xa', 'explicit.txt')])).rejects.toMatchObject({ stderr: expect.stringContaining('Operation not supported') })
    const rsync = run('rsync', ['-aX', `${src}/`, mnt('xr')])
    await expect(rsync).rejects.toMatchObject({ code: 23, stderr: expect.stringMatching(/"security\.ikfs-test"\) failed: Operation not supported[\s\S]*"user\.comment"\) failed: Operation not supported/) })
    await run('tar', ['--xattrs', '--xattrs-include=*', '-C', local('xattr-src'), '-cf', local('x.tar'), 'x'])
    await mkdir(mnt('xt'))
    const tar = await run('tar', ['--xattrs', '--xattrs-include=*', '-C', mnt('xt'), '-xf', local('x.tar')])
    expect(tar.stderr).toMatch(/Cannot set 'user\.comment' extended attribute for file 'x\/a\.txt': Operation not supported/)
    for (const folder of ['/xa', '/xp', '/xr', '/xt/x']) {
      for (const f of ['a.txt', 'b.txt']) expect(await sameBytes(join(src, f), remoteBytesPath(lib, `${folder}/${f}`)), `${folder}/${f}`).toBe(true)
      expect((await lib.details(`${folder}/b.txt`)).tags, folder).toEqual(['t1', 't2'])
      expect((await lib.details(`${folder}/a.txt`)).tags ?? null, folder).toBeNull()
      expect((await remoteEntries(lib, folder)).map((e) => e.name).sort(), folder).toEqual(folder === '/xa' ? ['a.txt', 'b.txt', 'explicit.txt'] : ['a.txt', 'b.txt'])
    }
    // Nor can a POSIX ACL be kept (ENOTSUP): cp -a and rsync -A say so, as onto any filesystem without ACLs,
    // and the bytes land all the same; cp -a --no-preserve=mode is quiet.
    await mkdir(local('acl'))
    await writeFile(local('acl', 'f.txt'), 'with an acl\n')
    await run('setfacl', ['-m', 'u:nobody:r', local('acl', 'f.txt')])
    await expect(run('cp', ['-a', local('acl'), mnt('acl-cp')])).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/preserving permissions for .*Operation not supported/) })
    await expect(run('rsync', ['-aA', `${local('acl')}/`, mnt('acl-rsync')])).rejects.toMatchObject({ code: 23 })
    expect((await run('cp', ['-a', '--no-preserve=mode', local('acl'), mnt('acl-plain')])).stderr).toBe('')
    await run('cp', ['-a', local('acl'), local('acl-mv')])
    expect((await run('mv', [local('acl-mv'), mnt('acl-mv')])).stderr).toMatch(/preserving permissions for .*Operation not supported/)
    await expect(stat(local('acl-mv'))).rejects.toMatchObject({ code: 'ENOENT' })
    for (const folder of ['/acl-cp', '/acl-rsync', '/acl-plain', '/acl-mv']) expect(await sameBytes(local('acl', 'f.txt'), remoteBytesPath(lib, `${folder}/f.txt`)), folder).toBe(true)
    // setfattr of the tags: in the library at once, shown under both names, removed by setfattr -x.
    await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'red,blue green', mnt('xa', 'a.txt')])
    expect((await lib.details('/xa/a.txt')).tags).toEqual(['red', 'blue green'])
    expect((await run('getfattr', ['-n', 'user.xdg.tags', '--only-values', mnt('xa', 'a.txt')])).stdout).toBe('red,blue green')
    await run('setfattr', ['-x', 'user.imagekit.tags', mnt('xa', 'a.txt')])
    expect((await lib.details('/xa/a.txt')).tags ?? null).toBeNull()
    // Out of the mount with cp -a, rsync -aX and tar --xattrs (computed attributes along), and back in, quietly.
    expect((await run('cp', ['-a', mnt('xp'), local('xattr-out-cp')])).stderr).toBe('')
    expect((await run('rsync', ['-aX', `${mnt('xp')}/`, local('xattr-out-rsync')])).stderr).toBe('')
    expect((await run('getfattr', ['-n', 'user.imagekit.tags', '--only-values', local('xattr-out-rsync', 'b.txt')])).stdout).toBe('t1,t2')
    expect((await run('cp', ['-a', local('xattr-out-cp'), mnt('xp-back')])).stderr).toBe('')
    expect((await run('rsync', ['-aX', `${local('xattr-out-rsync')}/`, mnt('xp-back-rsync')])).stderr).toBe('')
    for (const folder of ['/xp-back', '/xp-back-rsync']) expect((await lib.details(`${folder}/b.txt`)).tags, folder).toEqual(['t1', 't2'])
  })

  it('writers: zip -r and its update, a header rewritten after the body, tempfile + os.replace, fs.writeFile with flush, sed -i, perl -pi, install, mv of a tree in and out, backups, split, shred -u, truncate then write, dd oflag=append', async () => {
    await mkdir(mnt('w'))
    const names = async () => (await remoteEntries(lib, '/w')).map((e) => e.name).sort()
    // zip writes a temporary zi* file, seeks back to rewrite each local header, and renames it over the archive
    // (an update deletes the old archive first: a new file, as with tar x).
    const zsrc = local('wzip', 'zt')
    await writeRandomFile(join(zsrc, 'r.bin'), 300_000)
    await writeFile(join(zsrc, 'sub.txt'), 'text\n')
    await run('sh', ['-c', 'cd "$1" && zip -qr "$2" zt', 'sh', local('wzip'), mnt('w', 'arch.zip')])
    await run('unzip', ['-tq', remoteBytesPath(lib, '/w/arch.zip')])
    await writeFile(join(zsrc, 'new.txt'), 'added\n')
    await run('sh', ['-c', 'cd "$1" && zip -qr "$2" zt', 'sh', local('wzip'), mnt('w', 'arch.zip')])
    expect((await run('unzip', ['-Z1', remoteBytesPath(lib, '/w/arch.zip')])).stdout.split('\n').filter(Boolean).sort()).toEqual(['zt/', 'zt/new.txt', 'zt/r.bin', 'zt/sub.txt'])

    // A writer that leaves its header for last (ffmpeg, tar to a file): past the 4 MiB a stream starts at,
    // then a write at offset 0 and one at the end; one upload of the whole, one version.
    const { stdout: media } = await run('python3', ['-c', [
      'import hashlib, os, sys',
      'h = hashlib.sha256()',
      'with open(sys.argv[1], "wb") as f:',
      '    f.write(b"\\0" * 16)',
      '    for i in range(100): f.write(os.urandom(65536))',
      '    end = f.tell()',
      '    f.seek(0); f.write(b"HDR" + end.to_bytes(8, "little") + b"\\0" * 5)',
      '    f.seek(0, 2); f.write(b"TRAILER")',
      'print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())',
    ].join('\n'), mnt('w', 'movie.mp4')], STEP_MS)
    const stored = await readFile(remoteBytesPath(lib, '/w/movie.mp4'))
    expect(createHash('sha256').update(stored).digest('hex')).toBe(media.trim())
    expect(stored.subarray(0, 3).toString()).toBe('HDR')
    expect((await versionsOf(lib, '/w/movie.mp4')).length).toBe(1)

    // Saves by a temporary file renamed over the original keep its file id and add a version (W9); sed -i and
    // perl -pi do the same. perl -pi.bak renames the original away: it keeps its id under the backup's name.
    await writeFile(mnt('w', 'conf.txt'), 'alpha\nbeta\n')
    const confId = (await lib.details('/w/conf.txt')).fileId
    await run('python3', ['-c', [
      'import os, sys, tempfile',
      'with tempfile.NamedTemporaryFile("w", dir=sys.argv[1], delete=False) as t:',
      '    t.write("alpha\\nbeta\\ngamma\\n"); t.flush(); os.fsync(t.fileno())',
      'os.replace(t.name, sys.argv[1] + "/conf.txt")',
      'with tempfile.NamedTemporaryFile("w", dir=sys.argv[1]) as t: t.write("scratch")',
    ].join('\n'), mnt('w')])
    await run('sed', ['-i', 's/beta/BETA/', mnt('w', 'conf.txt')])
    await run('perl', ['-pi', '-e', 's/gamma/GAMMA/', mnt('w', 'conf.txt')])
    expect(await readFile(remoteBytesPath(lib, '/w/conf.txt'), 'utf8')).toBe('alpha\nBETA\nGAMMA\n')
    expect((await lib.details('/w/conf.txt')).fileId).toBe(confId)
    expect((await versionsOf(lib, '/w/conf.txt')).length).toBe(4)
    await run('perl', ['-pi.bak', '-e', 's/alpha/ALPHA/', mnt('w', 'conf.txt')])
    expect(await readFile(remoteBytesPath(lib, '/w/conf.txt'), 'utf8')).toBe('ALPHA\nBETA\nGAMMA\n')
    expect((await lib.details('/w/conf.txt.bak')).fileId).toBe(confId)

    await run(process.execPath, ['-e', 'require("fs").writeFile(process.argv[1], "from node\\n", { flush: true }, (e) => { if (e) throw e })', mnt('w', 'node.txt')])
    expect(await readFile(remoteBytesPath(lib, '/w/node.txt'), 'utf8')).toBe('from node\n')
    expect((await versionsOf(lib, '/w/node.txt')).length).toBe(1) // the fsync uploads it, the close has nothing to add
    const plain = await expectFile('w-plain', 'installed\n')
    await run('install', ['-m', '644', plain, mnt('w', 'inst.txt')])
    await run('install', ['-D', '-m', '755', plain, mnt('w', 'deep', 'er', 'inst.txt')])
    for (const f of ['inst.txt', 'deep/er/inst.txt']) expect(await sameBytes(plain, remoteBytesPath(lib, `/w/${f}`)), f).toBe(true)

    // mv of a tree from another filesystem (a copy, then a delete of the source) and back out; times kept.
    const tree = local('wmv')
    for (let i = 1; i <= 3; i++) await writeRandomFile(join(tree, 'a', 'b', `f${i}`), i * 5000)
    await writeFile(join(tree, 'top.txt'), 'top\n')
    const past = new Date('2021-05-05T05:05:05Z')
    await utimes(join(tree, 'top.txt'), past, past)
    await run('cp', ['-a', tree, local('wmv-ref')])
    await run('mv', [tree, mnt('w', 'mvt')])
    await expect(stat(tree)).rejects.toMatchObject({ code: 'ENOENT' })
    await run('diff', ['-r', local('wmv-ref'), remoteBytesPath(lib, '/w/mvt')])
    expect((await stat(mnt('w', 'mvt', 'top.txt'))).mtimeMs).toBe(past.getTime())
    await run('mv', [mnt('w', 'mvt'), local('wmv-back')])
    await run('diff', ['-r', local('wmv-ref'), local('wmv-back')])
    expect((await stat(local('wmv-back', 'top.txt'))).mtimeMs).toBe(past.getTime())
    expect(await names()).not.toContain('mvt')

    // Backups: cp --backup=numbered and rsync --backup rename the old file away before writing the new one.
    for (const v of ['v1', 'v2', 'v3']) await run('cp', ['--backup=numbered', await expectFile('w-backup', `${v}\n`), mnt('w', 'f')])
    for (const [name, v] of [['f', 'v3'], ['f.~1~', 'v1'], ['f.~2~', 'v2']]) expect(await readFile(remoteBytesPath(lib, `/w/${name}`), 'utf8'), name).toBe(`${v}\n`)
    await mkdir(local('wrb'))
    await writeFile(local('wrb', 'g'), 'r1\n')
    await run('rsync', ['-a', `${local('wrb')}/`, mnt('w', 'rb')])
    await writeFile(local('wrb', 'g'), 'r2, longer\n')
    await run('rsync', ['-a', '--backup', '--suffix=.old', `${local('wrb')}/`, mnt('w', 'rb')])
    expect(await readFile(remoteBytesPath(lib, '/w/rb/g'), 'utf8')).toBe('r2, longer\n')
    expect(await readFile(remoteBytesPath(lib, '/w/rb/g.old'), 'utf8')).toBe('r1\n')

    // split into the mount, cat the parts back together, into it and out of it.
    const whole = local('wsplit.bin')
    await writeRandomFile(whole, 3_000_000)
    await mkdir(mnt('w', 'sp'))
    await run('split', ['-b', '1M', '-d', whole, mnt('w', 'sp', 'part.')])
    expect((await readdir(mnt('w', 'sp'))).sort()).toEqual(['part.00', 'part.01', 'part.02'])
    await run('sh', ['-c', 'cat "$1"/part.* > "$2" && cat "$1"/part.* > "$1/whole"', 'sh', mnt('w', 'sp'), local('wjoined.bin')])
    expect(await sameBytes(whole, local('wjoined.bin'))).toBe(true)
    expect(await sameBytes(whole, remoteBytesPath(lib, '/w/sp/whole'))).toBe(true)

    // shred -u overwrites (each pass a version), renames the file to zeros and deletes it: with its versions,
    // so none of them stays in the library, nor any of the names it went through.
    await writeRandomFile(mnt('w', 'secret.bin'), 100_000)
    const secretId = (await lib.details('/w/secret.bin')).fileId
    await run('shred', ['-u', mnt('w', 'secret.bin')])
    await expect(lib.api('GET', `/v1/files/${secretId}/versions`)).rejects.toThrow(/404|not exist/i)
    expect((await names()).filter((n) => n === 'secret.bin' || /^0+$/.test(n))).toEqual([])

    // truncate -s 0 of a stored file, then an append: the library gets the appended bytes only.
    await writeRandomFile(mnt('w', 'tr.bin'), 200_000)
    await run('truncate', ['-s', '0', mnt('w', 'tr.bin')])
    expect((await stat(mnt('w', 'tr.bin'))).size).toBe(0)
    await appendFile(mnt('w', 'tr.bin'), 'new content\n')
    expect(await readFile(remoteBytesPath(lib, '/w/tr.bin'), 'utf8')).toBe('new content\n')
    // dd oflag=append conv=notrunc appends to what is stored.
    await writeFile(mnt('w', 'ap.log'), 'start\n')
    await run('sh', ['-c', 'printf "added\\n" | dd of="$1" oflag=append conv=notrunc status=none', 'sh', mnt('w', 'ap.log')])
    expect(await readFile(remoteBytesPath(lib, '/w/ap.log'), 'utf8')).toBe('start\nadded\n')

    expect((await names()).filter((n) => n.startsWith('.') || n.startsWith('zi') || n.startsWith('tmp')), 'temporary files left in the library').toEqual([])
  })

  it('copiers: xargs -P8 cp and xargs -0 -P8 sha256sum, shutil.copytree and fs.cp in and out, cp -u, cp --reflink=auto, rsync --partial and --append-verify resuming a killed copy, rsync and tar --sparse out, diff -r', async () => {
    // A library seeded through the API; eight sha256sum at a time read it byte for byte as the emulator stores it.
    await Promise.all(Array.from({ length: 24 }, (_, i) => lib.upload(i % 3 ? '/seeded' : '/seeded/sub dir', `s ${i}.bin`, randomBytes(1 + i * 9_973))))
    m.forget() // the root may be listed already (R2): its listing is fetched anew
    await waitFor(async () => (await readdir(m.path)).includes('seeded') || undefined, STEP_MS, 'a re-list of /')
    const sums = (root: string) => run('sh', ['-c', 'cd "$1" && find . -type f -print0 | xargs -0 -P8 -n3 sha256sum | sort -k2', 'sh', root])
    expect((await sums(mnt('seeded'))).stdout).toBe((await sums(remoteBytesPath(lib, '/seeded'))).stdout)
    expect((await sums(mnt('seeded'))).stdout.split('\n').filter(Boolean).length).toBe(24)

    // Eight cp at a time into folders made first (cp --parents racing to make one folder: all but one get
    // EEXIST, whose window a remote mkdir widens).
    const src = local('copiers')
    for (let i = 0; i < 30; i++) await writeRandomFile(join(src, i % 2 ? 'a' : 'b c', `f ${i}.bin`), 1 + i * 3_001)
    await writeFile(join(src, 'top.txt'), 'top\n')
    await run('sh', ['-c', 'cd "$1" && mkdir "$2" && find . -type d -print0 | (cd "$2" && xargs -0 mkdir -p) && find . -type f -print0 | xargs -0 -P8 -I{} cp --parents {} "$2"', 'sh', src, mnt('xcp')], STEP_MS)
    await run('diff', ['-r', src, remoteBytesPath(lib, '/xcp')], STEP_MS)

    // shutil.copytree (copy2: bytes, times; mode and xattrs as far as the library keeps them), in and out and in again.
    const past = new Date('2020-02-03T04:05:06Z')
    await utimes(join(src, 'top.txt'), past, past)
    await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'x,y', join(src, 'top.txt')])
    const copytree = (from: string, to: string) => run('python3', ['-c', 'import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2])', from, to], STEP_MS)
    await copytree(src, mnt('py'))
    await copytree(mnt('py'), local('py-out'))
    await copytree(local('py-out'), mnt('py-back'))
    for (const dir of [remoteBytesPath(lib, '/py'), local('py-out'), remoteBytesPath(lib, '/py-back')]) await run('diff', ['-r', src, dir], STEP_MS)
    expect((await stat(mnt('py', 'top.txt'))).mtimeMs).toBe(past.getTime())
    expect((await stat(local('py-out', 'top.txt'))).mtimeMs).toBe(past.getTime())
    for (const f of ['/py/top.txt', '/py-back/top.txt']) expect((await lib.details(f)).tags, f).toEqual(['x', 'y'])

    // Node's fs.cp, recursive, in and out.
    const nodeCp = (from: string, to: string) => run(process.execPath, ['-e', 'require("fs").cp(process.argv[1], process.argv[2], { recursive: true, preserveTimestamps: true }, (e) => { if (e) throw e })', from, to], STEP_MS)
    await nodeCp(src, mnt('nodecp'))
    await nodeCp(mnt('nodecp'), local('nodecp-out'))
    for (const dir of [remoteBytesPath(lib, '/nodecp'), local('nodecp-out')]) await run('diff', ['-r', src, dir], STEP_MS)

    // cp -u leaves a newer target alone and replaces an older one; --reflink=auto copies (no clone across
    // filesystems, nor inside the mount), in and out.
    const older = await expectFile('copiers-older', 'older\n')
    await utimes(older, past, past)
    await run('cp', ['-u', older, mnt('py', 'top.txt')])
    expect(await readFile(remoteBytesPath(lib, '/py/top.txt'), 'utf8')).toBe('top\n')
    await run('cp', ['-u', older, mnt('py', 'f-new.txt')])
    expect(await readFile(remoteBytesPath(lib, '/py/f-new.txt'), 'utf8')).toBe('older\n')
    await run('cp', ['--reflink=auto', join(src, 'a', 'f 29.bin'), mnt('reflinked.bin')])
    await run('cp', ['--reflink=auto', mnt('reflinked.bin'), mnt('reflinked2.bin')])
    await run('cp', ['--reflink=auto', mnt('reflinked2.bin'), local('reflinked-out.bin')])
    for (const f of [remoteBytesPath(lib, '/reflinked.bin'), remoteBytesPath(lib, '/reflinked2.bin'), local('reflinked-out.bin')]) expect(await sameBytes(join(src, 'a', 'f 29.bin'), f), f).toBe(true)

    // rsync --partial killed mid-file (^C reaches the whole process group): the part it wrote is stored under
    // the file's name; --append-verify sends the rest and checks the whole.
    const whole = local('partial.bin')
    await writeRandomFile(whole, 1_500_000)
    const slow = spawn('rsync', ['--partial', '--bwlimit=300', whole, mnt('partial.bin')], { detached: true, stdio: 'ignore' })
    const ended = new Promise<number | null>((resolve) => slow.on('exit', (code) => resolve(code)))
    await waitFor(async () => {
      const temp = (await readdir(m.path)).find((n) => n.startsWith('.partial.bin.'))
      return (temp !== undefined && (await stat(mnt(temp))).size >= 200_000) || undefined
    }, STEP_MS, "rsync's temporary file, 200 kB into the copy")
    process.kill(-slow.pid!, 'SIGINT')
    expect(await ended).toBe(20)
    // The receiver, rsync's child, keeps the part (renames it to the file's name) after the parent's exit.
    await waitFor(async () => (await readdir(m.path)).includes('partial.bin') || undefined, STEP_MS, 'the part kept by rsync')
    const part = (await stat(mnt('partial.bin'))).size
    expect(part).toBeGreaterThan(0)
    expect(part).toBeLessThan(1_500_000)
    expect((await readFile(remoteBytesPath(lib, '/partial.bin'))).equals((await readFile(whole)).subarray(0, part))).toBe(true)
    await run('rsync', ['--partial', '--append-verify', whole, mnt('partial.bin')], STEP_MS)
    expect(await sameBytes(whole, remoteBytesPath(lib, '/partial.bin'))).toBe(true)
    expect((await readdir(m.path)).filter((n) => n.startsWith('.partial'))).toEqual([])

    // Out of the mount: rsync -a, and tar --sparse (the mount reports no holes: the zeros are archived as data,
    // the archive holds the same bytes).
    await run('rsync', ['-a', `${mnt('xcp')}/`, local('rsync-out')], STEP_MS)
    await run('diff', ['-r', src, local('rsync-out')], STEP_MS)
    await run('sh', ['-c', 'truncate -s 2M "$1" && printf middle | dd of="$1" bs=1 seek=1000000 conv=notrunc status=none', 'sh', join(src, 'sparse.bin')])
    await run('cp', [join(src, 'sparse.bin'), mnt('xcp', 'sparse.bin')])
    await run('tar', ['--sparse', '-C', m.path, '-cf', local('out.tar'), 'xcp'], STEP_MS)
    await mkdir(local('tar-out'))
    await run('tar', ['-C', local('tar-out'), '-xf', local('out.tar')], STEP_MS)
    await run('diff', ['-r', src, local('tar-out', 'xcp')], STEP_MS)
  })

  it('refusals: over the upload limit cp, rsync, mv, tar x and vi say "File too large" and the bytes stay in the spool; a name too long as stored is refused at once; an outage past the retries is EIO and stored when it ends', async () => {
    // A library of its own with a 1 MB upload limit, mounted with one retry so that an outage fails a close quickly.
    const small = await startLibrary({ emulatorArgs: ['--max-upload-bytes', '1000000', '--rate-limit', '0'] })
    const sm = await mountLibrary(small, { args: ['--retries', '1', '--log-level', 'info'] })
    try {
      const at = (...p: string[]) => join(sm.path, ...p)
      type Failed = { code: number; stderr: string }
      const fails = (cmd: string, args: string[]) => run(cmd, args, STEP_MS).then(() => ({ code: 0, stderr: '' }), (e: Failed) => ({ code: e.code, stderr: e.stderr }))
      const uploads = async () => (JSON.parse((await runIkfs(['status', sm.path, '--json'], { timeoutMs: 30_000 })).stdout) as { uploads: { localPath: string; state: string; lastError?: string }[] }).uploads
      const big = local('refused', 'big.bin')
      await writeRandomFile(big, 1_500_000)
      await run('cp', [big, local('refused', 'to-move.bin')])
      await mkdir(local('refused', 'tree'))
      await run('cp', [big, local('refused', 'tree', 'big.bin')])
      await run('tar', ['-C', local('refused', 'tree'), '-cf', local('refused', 'big.tar'), 'big.bin'])
      await run('sh', ['-c', 'base64 -w 76 "$1" > "$2"', 'sh', big, local('refused', 'big.txt')])

      // Over the limit: each program says EFBIG in its words, with its usual failure status.
      expect(await fails('cp', [big, at('cp.bin')])).toEqual({ code: 1, stderr: expect.stringContaining("failed to close '" + at('cp.bin') + "': File too large") })
      expect(await fails('rsync', [big, at('rsync.bin')])).toEqual({ code: 11, stderr: expect.stringMatching(/close failed on .*: File too large \(27\)/) })
      expect(await fails('mv', [local('refused', 'to-move.bin'), at('mv.bin')])).toEqual({ code: 1, stderr: expect.stringContaining('File too large') })
      expect(await sameBytes(big, local('refused', 'to-move.bin'))).toBe(true) // mv kept its source
      await mkdir(at('t'))
      expect(await fails('tar', ['-C', at('t'), '-xf', local('refused', 'big.tar')])).toEqual({ code: 2, stderr: expect.stringContaining('big.bin: Cannot close: File too large') })
      expect((await fails('vi', ['-u', 'NONE', '-N', '-n', '-es', '-c', `r ${local('refused', 'big.txt')}`, '-c', `w ${at('vi.txt')}`, '-c', 'q!'])).code).toBe(1) // E667: Fsync failed
      const rejected = ['/cp.bin', '/mv.bin', '/t/big.bin', '/vi.txt']
      expect((await uploads()).filter((u) => rejected.includes(u.localPath)).map((u) => [u.localPath, u.state, u.lastError]).sort())
        .toEqual(rejected.map((p) => [p, 'rejected', 'IK_TOO_LARGE (HTTP 400)']).sort())
      for (const p of ['/cp.bin', '/mv.bin', '/t/big.bin']) {
        expect(await sameBytes(big, at(p)), `${p} read from the spool`).toBe(true)
        await expect(stat(remoteBytesPath(small, p)), p).rejects.toMatchObject({ code: 'ENOENT' })
        // One line per refused file, naming it and its spool file (the close's own EFBIG line is debug).
        const said = sm.log().split('\n').filter((l) => /"level":(40|50)/.test(l) && l.includes(`"path":"${p}"`))
        expect(said, p).toEqual([expect.stringContaining('upload refused: the file is larger than the account allows')])
        expect(said[0], p).toContain('"spoolFile":')
      }
      expect((await remoteEntries(small, '/')).map((e) => e.name)).toEqual(['t']) // nor rsync's temporary file

      // A name over 255 bytes as stored (`#` is stored as `＃`): refused at the create, nothing written.
      const longName = 'b'.repeat(200) + '#'.repeat(20) + '.txt'
      const small1 = await expectFile('refused-small.txt', 'small\n')
      expect(await fails('cp', [small1, at(longName)])).toEqual({ code: 1, stderr: expect.stringContaining('File name too long') })
      expect((await fails('rsync', [small1, at(longName)])).stderr).toContain('File name too long')
      expect((await readdir(sm.path)).filter((n) => n.includes('bbbb'))).toEqual([])

      // An outage longer than the retries: the close says EIO, the file waits in the spool and is stored once
      // the library answers again.
      await small.setFaults({ errorRate: 1 })
      expect(await fails('cp', [small1, at('outage.txt')])).toEqual({ code: 1, stderr: expect.stringContaining("failed to close '" + at('outage.txt') + "': Input/output error") })
      expect((await uploads()).find((u) => u.localPath === '/outage.txt')).toMatchObject({ state: expect.stringMatching(/^(failed|retrying)$/), lastError: expect.stringMatching(/IK_SERVER/) })
      await small.setFaults({ errorRate: 0 })
      await waitForRemoteBytes(small, '/outage.txt', small1, STEP_MS)
    } finally {
      const path = sm.path
      await sm.stop()
      await small.stop()
      expect(await leftMounted([path])).toEqual([])
    }
  }, 4 * STEP_MS)

  it(`browsing: ls --color -la of ${MANY_FILES} files, find -newer, du, stat -f and df, tree; file-manager probes leave nothing in the library`, async () => {
    // Stored through the API, a few at a time (a copy through the mount is what the tests above measure).
    for (let i = 0; i < MANY_FILES; i += 25) {
      await Promise.all(Array.from({ length: Math.min(25, MANY_FILES - i) }, (_, k) => lib.upload('/many', `f${i + k}.txt`, Buffer.from(`file ${i + k}\n`))))
    }
    const ls = await run('ls', ['--color=always', '-la', mnt('many')])
    expect(ls.stderr).toBe('')
    const lines = ls.stdout.split('\n').filter((l) => l.startsWith('-rw-r--r--'))
    expect(lines.length).toBe(MANY_FILES)
    const bytes = Array.from({ length: MANY_FILES }, (_, i) => `file ${i}\n`.length).reduce((a, b) => a + b, 0)
    expect((await run('du', ['-sb', '--apparent-size', mnt('many')])).stdout).toBe(`${bytes}\t${mnt('many')}\n`)
    expect((await run('du', ['-sh', '--apparent-size', mnt('many')])).stdout).toMatch(/^\d+K\t/)

    // find -newer: only what changed after the reference (made after the uploads above).
    const ref = local('newer-ref')
    await writeFile(ref, '')
    await writeFile(mnt('many', 'f7.txt'), 'changed\n')
    expect((await run('find', [mnt('many'), '-newer', ref])).stdout).toBe(`${mnt('many', 'f7.txt')}\n`)

    const statfs = (await run('stat', ['-f', '-c', '%S %l %b %f %c %d', m.path])).stdout.trim().split(' ').map(Number)
    const [bsize, namelen, blocks, free, files, ffree] = statfs as [number, number, number, number, number, number]
    expect([bsize, namelen]).toEqual([1024 * 1024, 255])
    expect(free).toBeLessThanOrEqual(blocks)
    expect(files - ffree).toBeGreaterThan(MANY_FILES)
    expect((await run('df', ['-h', m.path])).stdout).toMatch(/ikfs/)

    await mkdir(mnt('shown', 'a', 'b'), { recursive: true })
    await writeFile(mnt('shown', 'a', 'one.txt'), '1\n')
    await writeFile(mnt('shown', 'a', 'b', 'two.txt'), '2\n')
    expect((await run('tree', ['-a', '--charset=ascii', mnt('shown')])).stdout.split('\n').slice(1).join('\n'))
      .toBe('`-- a\n    |-- b\n    |   `-- two.txt\n    `-- one.txt\n\n3 directories, 2 files\n')

    // What GNOME Files, KDE's Dolphin, macOS and Windows look for in each folder: "no such file", and nothing made.
    const probes = ['.directory', '.hidden', '.Trash', '.Trash-0', '.thumbnails', '.sh_thumbnails', '.xdg-volume-info', 'autorun.inf', '.DS_Store', 'desktop.ini', '.localized']
    for (const dir of ['', 'many', 'shown/a']) {
      for (const p of probes) await expect(stat(mnt(dir, p)), `${dir}/${p}`).rejects.toMatchObject({ code: 'ENOENT' })
    }
    for (const folder of ['/', '/many', '/shown/a']) {
      expect((await remoteEntries(lib, folder)).map((e) => e.name).filter((n) => probes.includes(n)), folder).toEqual([])
    }
  })

})
