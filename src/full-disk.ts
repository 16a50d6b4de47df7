/**
 * A disk that may be full, for the append-only logs (the spool's journal and mtimes log, the emulator's
 * journal) and the errors it shows up as. write(2) on a full disk may take part of a line and report
 * success: a torn line would have the next one glued onto it, both lost when the log is read back.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs'

/** The disk (or the user's quota on it) is full. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

/** A write the disk took only part of reports success: this is the error it stands for. */
function shortWrite(what: string): Error {
  return Object.assign(new Error(`ENOSPC: no space left on device, ${what}`), { code: 'ENOSPC' })
}

/** Writes all of `text` at the descriptor's position (its end, for O_APPEND) or throws ENOSPC. */
export function writeWholeSync(fd: number, text: string, what: string): void {
  if (writeSync(fd, text) !== Buffer.byteLength(text)) throw shortWrite(what)
}

/** Lines are written to a replacement in batches of about this many characters (memory stays bounded). */
const REPLACE_BATCH_CHARS = 1 << 20

/**
 * Replaces the file at `path` with `lines` (each ending in a newline): written whole into `<path>.tmp`, then
 * renamed over it. A copy the disk cannot take whole never replaces the file, which would lose the lines that
 * did not fit: the file stays as it was, the copy is removed and the error thrown. `sync`: the copy is fsynced
 * before the rename.
 */
export function replaceWithLinesSync(path: string, lines: Iterable<string>, what: string, options: { mode?: number; sync?: boolean } = {}): void {
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w', options.mode)
  try {
    let batch = ''
    for (const line of lines) {
      batch += line
      if (batch.length >= REPLACE_BATCH_CHARS) {
        writeWholeSync(fd, batch, what)
        batch = ''
      }
    }
    if (batch) writeWholeSync(fd, batch, what)
    if (options.sync) fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    unlinkSync(tmp)
    throw e
  }
  closeSync(fd)
  renameSync(tmp, path)
}

/** fsync of a folder, so that a rename or unlink in it survives a power loss. */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Appends lines to one log (an O_APPEND descriptor), each whole or not at all. */
export class WholeLines {
  /** A failed append could not be cut off again: the next line starts on a line of its own. */
  #torn = false

  /** The log ends in a line torn by a crash (read back at start): the next append starts a line of its own. */
  endsTorn(): void {
    this.#torn = true
  }

  /** Appends `text` (one or more lines) or throws, having cut off what the disk took of it; returns the bytes appended. */
  append(fd: number, text: string, what: string): number {
    const line = this.#torn ? '\n' + text : text
    const length = Buffer.byteLength(line)
    const written = writeSync(fd, line) // a write that takes nothing throws, leaving the log as it was
    if (written !== length) {
      try {
        ftruncateSync(fd, fstatSync(fd).size - written) // the log's one writer: its end is where this write began
      } catch {
        this.#torn = true // the torn part stays, an unreadable line once the next append has ended it
      }
      throw shortWrite(what)
    }
    this.#torn = false
    return length
  }
}
