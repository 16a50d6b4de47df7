import { mkdirSync, statSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * mkdir -p, one level at a time, new folders with `mode`. Node's `mkdirSync(path, { recursive: true })` never
 * returns where mkdir answers ENOENT although the parent exists (under /proc, for one), and libraries that
 * create folders for us (pino's log file) use it; here the second ENOENT is the error.
 */
export function makeDirs(path: string, mode = 0o777): void {
  try {
    mkdirSync(path, { mode })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EEXIST' && isDirectory(path)) return
    const parent = dirname(path)
    if (code !== 'ENOENT' || parent === path) throw e
    makeDirs(parent, mode)
    try {
      mkdirSync(path, { mode })
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectory(path)) throw again
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/**
 * What an error from making or writing a folder means, as a clause for a one-line message ("… is a file, not
 * a folder"), or undefined for an error not foreseen. `show` quotes a path (a caller may hide one that could
 * hold a secret).
 */
export function folderProblem(e: unknown, show: (path: string) => string = (p) => JSON.stringify(p)): string | undefined {
  const { code, path } = (e ?? {}) as NodeJS.ErrnoException
  if (typeof path !== 'string') return undefined
  switch (code) {
    case 'ENOTDIR': {
      const file = fileAbove(path)
      return file === undefined ? `a part of ${show(path)} is not a folder` : `${show(file)} is a file, not a folder`
    }
    case 'ENOENT':
      return `${show(path)} cannot be made there`
    case 'EEXIST':
      return `${show(path)} is a file, not a folder`
    case 'EACCES':
    case 'EPERM':
      return `no permission to write ${show(path)}`
    case 'EROFS':
      return `${show(path)} is on a read-only file system`
    case 'ENOSPC':
    case 'EDQUOT':
      return `the disk holding ${show(path)} is full`
    default:
      return undefined
  }
}

/** The file (not folder) that `path` or one of its parents is, if any. */
function fileAbove(path: string): string | undefined {
  for (let p = path; ; p = dirname(p)) {
    try {
      return statSync(p).isDirectory() ? undefined : p
    } catch {
      // missing, or below the file: look one level up
    }
    if (dirname(p) === p) return undefined
  }
}
