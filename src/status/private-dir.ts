/**
 * The folder of the control sockets, which only its owner may use: whoever can put a socket there answers
 * `ikfs status`, `ikfs refresh` and `ikfs unmount` in the daemon's place, and can keep a mount from taking
 * its socket. Under /tmp (no XDG_RUNTIME_DIR) another local user can make the folder first, so a folder
 * that is already there is checked, never trusted: a real folder (not a symlink), owned by this user, that
 * group and others cannot use.
 */
import { lstatSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { makeDirs } from '../make-dirs.js'

export class UnsafeFolderError extends Error {
  override name = 'UnsafeFolderError'
}

/** Makes `path` with mode 0700 (and missing parents), or checks the folder already there. */
export function makePrivateDir(path: string, uid = effectiveUid()): void {
  makeDirs(dirname(path), 0o700)
  try {
    mkdirSync(path, { mode: 0o700 })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
  }
  checkPrivateDir(path, uid)
}

/** Throws UnsafeFolderError naming what is wrong with `path` and how to fix it; ENOENT when it is not there. */
export function checkPrivateDir(path: string, uid = effectiveUid()): void {
  const info = lstatSync(path)
  const unsafe = (problem: string, fix: string): UnsafeFolderError =>
    new UnsafeFolderError(`${path} is not safe for ikfs's control sockets: ${problem} (${fix})`)
  const elsewhere = 'or set XDG_RUNTIME_DIR to a folder only you can use'
  if (info.isSymbolicLink()) throw unsafe('it is a symbolic link', `remove it, ${elsewhere}`)
  if (!info.isDirectory()) throw unsafe('it is not a folder', `remove it, ${elsewhere}`)
  if (info.uid !== uid) throw unsafe(`it belongs to uid ${info.uid}, not to you (uid ${uid})`, `have root remove it, ${elsewhere}`)
  const mode = info.mode & 0o777
  if ((mode & 0o077) !== 0) throw unsafe(`group or others may use it (mode 0${mode.toString(8)})`, `chmod 700 ${path}`)
}

function effectiveUid(): number {
  return process.geteuid?.() ?? 0
}
