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
