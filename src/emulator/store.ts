/**
 * Library state: files (with their versions) and folders, indexed by id, path and parent folder so that a
 * one-level listing of a huge folder is cheap; and the account's custom metadata fields. Every change goes through `putFile`/`removeFile`/`putFolder`/
 * `removeFolder`, which keep the indexes in step and append to the journal before returning.
 *
 * Disk layout under the data dir:
 *   files/<filePath>                          current bytes of every file (any static server can serve them)
 *   .ikemu/journal.jsonl                      metadata and fields (see journal.ts)
 *   .ikemu/versions/<fileId>/<versionId>      bytes of older versions
 *   .ikemu/tmp/                               uploads in progress (same filesystem, so rename is atomic)
 *   .ikemu/tmp/cdn/                           bytes of deleted versions that the stale CDN still serves (cdn-cache.ts)
 *
 * Concurrency: one thread, but operations that move bytes await in between. Multi-step changes run inside
 * `exclusive()`, one at a time; readers see either the state before or after each primitive.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Clock } from '../clock.js'
import type { Logger } from '../log.js'
import { makeDirs } from '../make-dirs.js'
import { Journal, readJournal, writeSnapshot, type JournalEntry } from './journal.js'
import type { MetadataFieldRecord } from './metadata-field-schema.js'
import { parentOf } from './names.js'
import type { FileRecord, FolderRecord, VersionRecord } from './records.js'

export const ROOT = '/'

export class Store {
  readonly filesRoot: string
  readonly metaDir: string
  readonly versionsRoot: string
  readonly tmpDir: string
  readonly journalPath: string
  /** Bumped by every change; list results are cached per revision. */
  revision = 0

  readonly #files = new Map<string, FileRecord>()
  readonly #idByPath = new Map<string, string>()
  readonly #indexedPath = new Map<string, string>()
  readonly #folders = new Map<string, FolderRecord>()
  readonly #childFiles = new Map<string, Set<string>>()
  readonly #childFolders = new Map<string, Set<string>>()
  /** Custom metadata fields by id, deleted ones included (their names stay taken). */
  readonly #fields = new Map<string, MetadataFieldRecord>()
  /** The live ones by name: what every upload and update checks its custom metadata against. */
  #liveFields = new Map<string, MetadataFieldRecord>()
  #journal: Journal | undefined
  #lock: Promise<unknown> = Promise.resolve()

  constructor(readonly dataDir: string, readonly clock: Clock, readonly logger: Logger) {
    this.filesRoot = join(dataDir, 'files')
    this.metaDir = join(dataDir, '.ikemu')
    this.versionsRoot = join(this.metaDir, 'versions')
    this.tmpDir = join(this.metaDir, 'tmp')
    this.journalPath = join(this.metaDir, 'journal.jsonl')
  }

  /** Replays the journal into memory (no journaling while replaying). Call `startJournal()` afterwards. */
  async load(): Promise<void> {
    makeDirs(this.filesRoot)
    makeDirs(this.versionsRoot)
    rmSync(this.tmpDir, { recursive: true, force: true })
    makeDirs(this.tmpDir)
    const files = new Map<string, FileRecord>()
    const folders = new Map<string, FolderRecord>()
    for await (const e of readJournal(this.journalPath)) {
      if (e.t === 'file') files.set(e.f.fileId, e.f)
      else if (e.t === 'rmfile') files.delete(e.id)
      else if (e.t === 'folder') folders.set(e.d.folderPath, e.d)
      else if (e.t === 'rmfolder') folders.delete(e.p)
      else if (e.t === 'field') this.#fields.set(e.m.id, e.m)
    }
    this.#indexLiveFields()
    const byDepth = [...folders.values()].sort((a, b) => a.folderPath.split('/').length - b.folderPath.split('/').length)
    for (const folder of byDepth) this.putFolder(folder)
    for (const file of files.values()) this.putFile(file)
  }

  /** Rewrites the journal as a compact snapshot of the current state and starts appending to it. */
  startJournal(): void {
    writeSnapshot(this.journalPath, this.#snapshot())
    this.#journal = new Journal(this.journalPath)
  }

  close(): void {
    this.#journal?.close()
    this.#journal = undefined
  }

  *#snapshot(): Generator<JournalEntry> {
    for (const d of this.#folders.values()) yield { t: 'folder', d }
    for (const f of this.#files.values()) yield { t: 'file', f }
    for (const m of this.#fields.values()) yield { t: 'field', m }
  }

  /** Runs multi-step changes one at a time. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn)
    this.#lock = run.catch(() => undefined)
    return run
  }

  // ---- reads

  get fileCount(): number {
    return this.#files.size
  }

  fileById(fileId: string): FileRecord | undefined {
    return this.#files.get(fileId)
  }

  fileByPath(filePath: string): FileRecord | undefined {
    const id = this.#idByPath.get(filePath)
    return id === undefined ? undefined : this.#files.get(id)
  }

  folder(folderPath: string): FolderRecord | undefined {
    return this.#folders.get(folderPath)
  }

  folderExists(folderPath: string): boolean {
    return folderPath === ROOT || this.#folders.has(folderPath)
  }

  allFiles(): IterableIterator<FileRecord> {
    return this.#files.values()
  }

  allFolders(): IterableIterator<FolderRecord> {
    return this.#folders.values()
  }

  childFileIds(folderPath: string): ReadonlySet<string> {
    return this.#childFiles.get(folderPath) ?? new Set()
  }

  childFolderPaths(folderPath: string): ReadonlySet<string> {
    return this.#childFolders.get(folderPath) ?? new Set()
  }

  /** Every folder path at or below `folderPath`, parents before children. */
  subtreeFolders(folderPath: string): string[] {
    const out: string[] = []
    const stack = [folderPath]
    while (stack.length > 0) {
      const path = stack.pop() as string
      out.push(path)
      for (const child of this.childFolderPaths(path)) stack.push(child)
    }
    return out
  }

  /** Every custom metadata field, deleted ones included, in the order they were created. */
  allMetadataFields(): IterableIterator<MetadataFieldRecord> {
    return this.#fields.values()
  }

  /** The fields a file's custom metadata may use (not deleted), by name. */
  liveMetadataFields(): ReadonlyMap<string, MetadataFieldRecord> {
    return this.#liveFields
  }

  metadataField(id: string): MetadataFieldRecord | undefined {
    return this.#fields.get(id)
  }

  currentBytesPath(filePath: string): string {
    return join(this.filesRoot, ...filePath.split('/').filter((s) => s !== ''))
  }

  versionBytesPath(fileId: string, versionId: string): string {
    return join(this.versionsRoot, fileId, versionId)
  }

  bytesPathOf(file: FileRecord, version: VersionRecord): string {
    return version === file.current ? this.currentBytesPath(file.filePath) : this.versionBytesPath(file.fileId, version.id)
  }

  // ---- changes (indexes + journal)

  putFile(file: FileRecord): void {
    const previous = this.#indexedPath.get(file.fileId)
    if (previous !== undefined && previous !== file.filePath) {
      this.#idByPath.delete(previous)
      this.#childFiles.get(parentOf(previous))?.delete(file.fileId)
    }
    this.#files.set(file.fileId, file)
    this.#idByPath.set(file.filePath, file.fileId)
    this.#indexedPath.set(file.fileId, file.filePath)
    setOf(this.#childFiles, parentOf(file.filePath)).add(file.fileId)
    this.#record({ t: 'file', f: file })
  }

  removeFile(fileId: string): void {
    const path = this.#indexedPath.get(fileId)
    if (path === undefined) return
    this.#files.delete(fileId)
    this.#indexedPath.delete(fileId)
    if (this.#idByPath.get(path) === fileId) this.#idByPath.delete(path)
    this.#childFiles.get(parentOf(path))?.delete(fileId)
    this.#record({ t: 'rmfile', id: fileId })
  }

  putFolder(folder: FolderRecord): void {
    this.#folders.set(folder.folderPath, folder)
    setOf(this.#childFolders, parentOf(folder.folderPath)).add(folder.folderPath)
    this.#record({ t: 'folder', d: folder })
  }

  removeFolder(folderPath: string): void {
    if (!this.#folders.delete(folderPath)) return
    this.#childFolders.get(parentOf(folderPath))?.delete(folderPath)
    this.#childFolders.delete(folderPath)
    this.#childFiles.delete(folderPath)
    this.#record({ t: 'rmfolder', p: folderPath })
  }

  putMetadataField(field: MetadataFieldRecord): void {
    this.#fields.set(field.id, field)
    this.#indexLiveFields()
    this.#record({ t: 'field', m: field })
  }

  /** Fields change seldom (an account has a few dozen): the index is simply rebuilt. */
  #indexLiveFields(): void {
    this.#liveFields = new Map([...this.#fields.values()].filter((f) => !f.deleted).map((f) => [f.name, f]))
  }

  #record(entry: JournalEntry): void {
    this.revision += 1
    this.#journal?.append(entry)
  }
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key)
  if (!set) {
    set = new Set()
    map.set(key, set)
  }
  return set
}
