/**
 * FileReaders by (fileId, versionId, size), refcounted by open handles. The last release settles a reader
 * (FileReader.settle): it stays here, with no handle, while its short fetches finish into the block cache,
 * and an open of the same version meanwhile shares them instead of fetching the same bytes again. A version
 * opened at another path or URL than its reader fetches from (the file was renamed, or its folder, or its
 * URL changed with a details update) is the same bytes: the open shares the reader, which fetches from the
 * newest place from then on (FileReader.moveTo), for the handles open at the old name too, since the CDN
 * serves the old name's URL only until it forgets it.
 */
import { BlockCache } from './block-cache.js'
import { FileReader, type FileReaderDeps, type ReaderTarget } from './file-reader.js'

interface Entry {
  reader: FileReader
  refs: number
}

export class ReaderPool {
  readonly #readers = new Map<string, Entry>()
  constructor(readonly deps: FileReaderDeps) {}

  acquire(target: ReaderTarget): FileReader {
    const key = [BlockCache.key(target.fileId, target.versionId, 0), target.size].join('\u0000')
    const entry = this.#readers.get(key)
    if (entry) {
      if (entry.refs++ === 0) entry.reader.reacquired()
      entry.reader.moveTo(target)
      return entry.reader
    }
    const reader = new FileReader(target, this.deps)
    this.#readers.set(key, { reader, refs: 1 })
    return reader
  }

  /** One more handle on `reader` (held by another handle: a reopen of it). */
  share(reader: FileReader): FileReader {
    for (const entry of this.#readers.values()) {
      if (entry.reader === reader && entry.refs++ === 0) reader.reacquired()
    }
    return reader
  }

  release(reader: FileReader): void {
    for (const [key, entry] of this.#readers) {
      if (entry.reader !== reader) continue
      if (--entry.refs === 0 && !reader.settle(() => this.#drop(key, entry))) this.#drop(key, entry)
      return
    }
  }

  /** Whether a handle has that version open. */
  isOpen(fileId: string, versionId: string): boolean {
    for (const { reader, refs } of this.#readers.values()) {
      if (refs > 0 && reader.target.fileId === fileId && reader.target.versionId === versionId) return true
    }
    return false
  }

  /** The ETag the ranges of that version had so far, as a reader of it knows it (undefined: none known). */
  etagOf(fileId: string, versionId: string): string | undefined {
    for (const { reader } of this.#readers.values()) {
      if (reader.target.fileId === fileId && reader.target.versionId === versionId && reader.knownEtag !== undefined) return reader.knownEtag
    }
    return undefined
  }

  /** Readers with open handles (settling ones are not counted). */
  get size(): number {
    let open = 0
    for (const entry of this.#readers.values()) if (entry.refs > 0) open++
    return open
  }

  /** Readers held, settling ones included. */
  get held(): number {
    return this.#readers.size
  }

  /**
   * Stops the readers of `fileId` that settle with no handle: another version of it was just stored, and a
   * range they have yet to send would fetch the new bytes (the CDN's copy at the old URL gone, R5) into the
   * block cache under the old version's name.
   */
  stopSettling(fileId: string): void {
    for (const [key, entry] of this.#readers) {
      if (entry.refs === 0 && entry.reader.target.fileId === fileId) this.#drop(key, entry)
    }
  }

  closeAll(): void {
    for (const { reader } of this.#readers.values()) reader.close()
    this.#readers.clear()
  }

  #drop(key: string, entry: Entry): void {
    if (this.#readers.get(key) !== entry || entry.refs > 0) return
    this.#readers.delete(key)
    entry.reader.close()
  }
}
