/**
 * Writing text into an append-only log (the spool's journal and mtimes log, the emulator's journal) only
 * whole: write(2) on a full disk may take part of it and report success, which would leave half a line for
 * the next one to be glued onto.
 */
import { writeSync } from 'node:fs'

/** Writes all of `text` at the descriptor's position (its end, for O_APPEND) or throws ENOSPC. */
export function writeWholeSync(fd: number, text: string, what: string): void {
  if (writeSync(fd, text) !== Buffer.byteLength(text)) {
    throw Object.assign(new Error(`ENOSPC: no space left on device, ${what}`), { code: 'ENOSPC' })
  }
}
