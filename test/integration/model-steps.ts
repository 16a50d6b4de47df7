// The steps of the model checks (model-fuzz.test.ts, two-mounts.test.ts): the names a worker uses, one step run
// under a root (a mount or a local folder) with its result as a string to compare, and a tree's files by hash.
import { createHash } from 'node:crypto'
import { appendFile, chmod, copyFile, link, mkdir, open, readdir, readFile, rename, rmdir, stat, symlink, truncate, unlink, utimes, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/** The names one worker uses, under its own base folder. */
export interface Alphabet {
  base: (seed: number, worker: number) => string
  /** Files in the base folder, in `sub`, and in the folder `d2` (renamed to `d3` and back). */
  top: string[]
  sub: string
  subFiles: string[]
  d2: string
  d3: string
  d2Files: string[]
}
export const PLAIN: Alphabet = {
  base: (seed, w) => `s${seed}w${w}`,
  top: [0, 1, 2, 3, 4, 5].map((i) => `f${i}`),
  sub: 'sub',
  subFiles: [0, 1, 2, 3].map((i) => `g${i}`),
  d2: 'd2',
  d3: 'd3',
  d2Files: [0, 1, 2].map((i) => `h${i}`),
}

export interface Step {
  /**
   * One of the ops `apply` runs (model-fuzz.test.ts's OPS, `copy`, `save`, `pread`, `wread`, `chmod`, `utimes`,
   * `dirmove`, `recreate`, `link`, `symlink`, `dirsync`, `longname`); others are the caller's.
   */
  op: string
  a: string
  b: string
  data: Buffer
  offset: number
  size: number
  flip: boolean
}

export const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16)

/** The test's own API calls share the emulator's rate limit with the mount: a 429 is tried again. */
export async function withRetries<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call()
    } catch (e) {
      if (attempt >= 20 || !/: 429 /.test((e as Error).message)) throw e
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** What a worker compares: with --versions, listings leave out the version entries (checked apart). */
export interface View {
  names: Alphabet
  hide: (name: string) => boolean
}

/** Runs one step under `root`; the result is a string to compare ("ok", an errno code, what was read). */
export async function apply(root: string, base: string, s: Step, view: View): Promise<string> {
  const pa = join(root, s.a)
  const pb = join(root, s.b)
  const { names } = view
  const list = async (dir: string) => (await readdir(dir)).filter((n) => !view.hide(n)).sort()
  try {
    switch (s.op) {
      case 'write': await writeFile(pa, s.data); break
      case 'append': await appendFile(pa, s.data); break
      case 'trunc': await truncate(pa, s.size); break
      case 'rename': await rename(pa, pb); break
      case 'unlink': await unlink(pa); break
      case 'recreate': { // unlinked and made again at once (tar x, unzip -o); half of them while a program reads it
        const reader = s.flip ? await open(pa, 'r') : undefined
        try {
          await unlink(pa)
          await writeFile(pa, s.data)
          if (!reader) break
          const got = Buffer.alloc((await reader.stat()).size + 1)
          const { bytesRead } = await reader.read(got, 0, got.length, 0) // what it opened (W8)
          return `recreate read ${bytesRead} ${sha(got.subarray(0, bytesRead))}`
        } finally {
          await reader?.close()
        }
      }
      case 'copy': // half of them into b's folder under a's name: W15's server-side copy when that name is free there
        await copyFile(pa, s.flip ? join(dirname(pb), basename(pa)) : pb)
        break
      case 'read': {
        const got = await readFile(pa)
        return `read ${got.length} ${sha(got)}`
      }
      case 'pwrite': {
        const fh = await open(pa, 'r+')
        try {
          await fh.write(s.data, 0, s.data.length, s.offset)
        } finally {
          await fh.close()
        }
        break
      }
      case 'atomic':
        await writeFile(pa + '.tmp', s.data)
        await rename(pa + '.tmp', pa)
        break
      case 'save': { // vim's default save (W17): the original moved aside, a new file at its name, the backup deleted
        const moved = await rename(pa, pa + '~').then(() => true, (e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT') return false // nothing to move aside: vim just writes the file
          throw e
        })
        if (s.flip) { // with vim's fsync before the close
          const fh = await open(pa, 'w')
          try {
            await fh.write(s.data)
            await fh.sync()
          } finally {
            await fh.close()
          }
        } else {
          await writeFile(pa, s.data)
        }
        if (moved) await unlink(pa + '~')
        break
      }
      case 'pread': { // a range of the file, past its end too
        const fh = await open(pa, 'r')
        try {
          const got = Buffer.alloc(s.size)
          const { bytesRead } = await fh.read(got, 0, s.size, s.offset)
          return `pread ${bytesRead} ${sha(got.subarray(0, bytesRead))}`
        } finally {
          await fh.close()
        }
      }
      case 'wread': { // a read right after the close (with --write-back, of a file not yet uploaded)
        await writeFile(pa, s.data)
        const got = await readFile(pa)
        return `read ${got.length} ${sha(got)}`
      }
      case 'link': await link(pa, pb); break
      case 'symlink': await symlink(basename(s.a), pb); break
      case 'dirsync': { // fsync(2) of the folder holding a (what a program does after a rename to make it durable)
        const fh = await open(dirname(pa), 'r')
        try {
          await fh.sync()
        } finally {
          await fh.close()
        }
        break
      }
      case 'longname': // a name of 256 bytes (one past NAME_MAX): ASCII, or two-byte letters
        await writeFile(join(dirname(pa), s.flip ? 'n'.repeat(256) : 'é'.repeat(128)), s.data)
        break
      case 'chmod': await chmod(pa, s.flip ? 0o600 : 0o644); break
      case 'utimes': { // a whole second in 2020, read back (W13)
        const t = 1_577_836_800 + s.offset
        await utimes(pa, t, t)
        return `mtime ${(await stat(pa)).mtimeMs}`
      }
      case 'ls': {
        const top = await list(join(root, base))
        const sub = await list(join(root, base, names.sub))
        return `ls ${top.join(',')} | ${sub.join(',')}`
      }
      case 'stat': return `size ${(await stat(pa)).size}`
      case 'mkdir': await mkdir(join(root, base, names.d2)); break
      case 'rmdir': await rmdir(join(root, base, names.d2)); break
      case 'dirrename':
        if (s.flip) await rename(join(root, base, names.d2), join(root, base, names.d3))
        else await rename(join(root, base, names.d3), join(root, base, names.d2))
        break
      case 'dirmove': // into another folder under another name and back: a folder move and a rename (W9)
        if (s.flip) await rename(join(root, base, names.d2), join(root, base, names.sub, names.d3))
        else await rename(join(root, base, names.sub, names.d3), join(root, base, names.d2))
        break
    }
    return 'ok'
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e)
  }
}

/** Every regular file under `dir` as "size hash path", sorted by path; `hide` leaves names out. */
export async function treeOf(dir: string, hide: (name: string) => boolean = () => false): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  const out: string[] = []
  for (const e of entries) {
    if (!e.isFile() || hide(e.name)) continue
    const path = join(e.parentPath, e.name)
    const bytes = await readFile(path)
    const rel = path.slice(dir.length + 1)
    out.push(`${bytes.length} ${sha(bytes)} ${rel}`)
  }
  return byPath(out)
}
export const sizeOf = (line: string) => line.split(' ')[0]!
export const pathOf = (line: string) => line.split(' ').slice(2).join(' ')
export const byPath = (lines: string[]) => lines.sort((a, b) => (pathOf(a) < pathOf(b) ? -1 : pathOf(a) > pathOf(b) ? 1 : 0))
