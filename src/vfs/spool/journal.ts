/**
 * One small JSON record per file whose newest bytes live only in the spool. Written atomically
 * (tmp file, fsync, rename, fsync of the folder) before flush/close returns, removed once the upload
 * landed. At start the surviving records are read back: those files are shown and their uploads queued.
 * Records hold names, sizes and ids only: never a key, a URL or an Authorization header.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { open, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { DATA_FILE_MODE } from './spool.js'

export type RecordState = 'pending' | 'failed' | 'rejected' | 'empty'

export interface JournalRecord {
  v: 1
  id: string
  /** Destination: remote folder (`/` or `/a/b`) and remote name, as encoded (name.ts). */
  folder: string
  name: string
  /** Local path at the time of writing, for `ikfs status`. */
  localPath: string
  size: number
  mtimeMs: number
  /** The remote file this upload overwrites (a new version keeps its id and privacy). */
  fileId?: string
  isPrivateFile?: boolean
  customCoordinates?: string
  state: RecordState
  attempts: number
  lastError?: string
}

function isRecord(x: unknown): x is JournalRecord {
  const r = x as Partial<JournalRecord> | null
  return (
    typeof r === 'object' && r !== null && r.v === 1 && typeof r.id === 'string' && /^[0-9a-f]+$/.test(r.id) &&
    typeof r.folder === 'string' && typeof r.name === 'string' && typeof r.size === 'number' &&
    typeof r.state === 'string'
  )
}

export class Journal {
  constructor(readonly dir: string) {}

  #path(id: string): string {
    return join(this.dir, `${id}.json`)
  }

  /** Atomic replace: a crash leaves either the old record or the new one, never half of one. */
  async write(record: JournalRecord): Promise<void> {
    const final = this.#path(record.id)
    const tmp = `${final}.tmp`
    const fh = await open(tmp, 'w', DATA_FILE_MODE)
    try {
      await fh.writeFile(JSON.stringify(record))
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, final)
    await this.#syncDir()
  }

  async remove(id: string): Promise<void> {
    try {
      await unlink(this.#path(id))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    await this.#syncDir()
  }

  async #syncDir(): Promise<void> {
    const fh = await open(this.dir, 'r')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
  }

  /** Every readable record (start-up, synchronous); unreadable ones are returned by name for a warning. */
  loadAll(): { records: JournalRecord[]; broken: string[] } {
    const records: JournalRecord[] = []
    const broken: string[] = []
    for (const entry of readdirSync(this.dir)) {
      const path = join(this.dir, entry)
      if (entry.endsWith('.tmp')) {
        unlinkSync(path) // a write that never completed: the previous record (if any) is still there
        continue
      }
      if (!entry.endsWith('.json')) continue
      try {
        const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'))
        if (isRecord(parsed)) records.push(parsed)
        else broken.push(entry)
      } catch {
        broken.push(entry)
      }
    }
    return { records, broken }
  }
}

/** Synchronous atomic write, for tests that fabricate a crashed spool. */
export function writeRecordSync(dir: string, record: JournalRecord): void {
  const final = join(dir, `${record.id}.json`)
  const fd = openSync(`${final}.tmp`, 'w', DATA_FILE_MODE)
  writeSync(fd, JSON.stringify(record))
  fsyncSync(fd)
  closeSync(fd)
  renameSync(`${final}.tmp`, final)
}
