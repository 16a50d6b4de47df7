/**
 * Append-only JSON-lines journal of library changes (`<data>/.ikemu/journal.jsonl`). Each change is written
 * with a synchronous write before the HTTP answer, so a kill -9 loses nothing that was acknowledged.
 * At start the journal is replayed and rewritten compacted (one line per live object).
 */
import { closeSync, createReadStream, existsSync, fsyncSync, openSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { replaceWithLinesSync, WholeLines } from '../full-disk.js'
import type { MetadataFieldRecord } from './metadata-field-schema.js'
import type { FileRecord, FolderRecord } from './records.js'

export type JournalEntry =
  | { t: 'file'; f: FileRecord }
  | { t: 'rmfile'; id: string }
  | { t: 'folder'; d: FolderRecord }
  | { t: 'rmfolder'; p: string }
  | { t: 'field'; m: MetadataFieldRecord }

/** Replays every entry in order; a torn last line (crash mid-write) is skipped. */
export async function* readJournal(path: string): AsyncGenerator<JournalEntry> {
  if (!existsSync(path)) return
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })
  for await (const line of lines) {
    if (line.trim() === '') continue
    try {
      yield JSON.parse(line) as JournalEntry
    } catch {
      // A partial line can only be the last one written before a crash.
    }
  }
}

/** Writes a full snapshot to `<path>.tmp`, fsyncs, renames over the journal (which stays as it was if that fails). */
export function writeSnapshot(path: string, entries: Iterable<JournalEntry>): void {
  replaceWithLinesSync(path, jsonLines(entries), 'emulator journal snapshot', { sync: true })
}

function* jsonLines(entries: Iterable<JournalEntry>): Generator<string> {
  for (const entry of entries) yield JSON.stringify(entry) + '\n'
}

export class Journal {
  #fd: number | undefined
  readonly #lines = new WholeLines()
  constructor(readonly path: string) {
    this.#fd = openSync(path, 'a')
  }

  append(entry: JournalEntry): void {
    if (this.#fd === undefined) throw new Error('journal is closed')
    this.#lines.append(this.#fd, JSON.stringify(entry) + '\n', 'emulator journal append')
  }

  close(): void {
    if (this.#fd === undefined) return
    fsyncSync(this.#fd)
    closeSync(this.#fd)
    this.#fd = undefined
  }
}
