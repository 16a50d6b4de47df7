/** FileReaders by (fileId, versionId, size), refcounted by open handles; the last release closes one. */
import { BlockCache } from './block-cache.js'
import { FileReader, type FileReaderDeps, type ReaderTarget } from './file-reader.js'

export class ReaderPool {
  readonly #readers = new Map<string, { reader: FileReader; refs: number }>()
  constructor(readonly deps: FileReaderDeps) {}

  acquire(target: ReaderTarget): FileReader {
    const key = `${BlockCache.key(target.fileId, target.versionId, 0)}\u0000${target.size}`
    const entry = this.#readers.get(key)
    if (entry) {
      entry.refs++
      return entry.reader
    }
    const reader = new FileReader(target, this.deps)
    this.#readers.set(key, { reader, refs: 1 })
    return reader
  }

  release(reader: FileReader): void {
    for (const [key, entry] of this.#readers) {
      if (entry.reader !== reader) continue
      if (--entry.refs === 0) {
        this.#readers.delete(key)
        reader.close()
      }
      return
    }
  }

  get size(): number {
    return this.#readers.size
  }

  closeAll(): void {
    for (const { reader } of this.#readers.values()) reader.close()
    this.#readers.clear()
  }
}
