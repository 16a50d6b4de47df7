/**
 * Deletes answered before they are done (W8): the unlink of a stored file a program has open for reading (and a
 * rename over another file of such a source) first fetches the file's bytes for the readers, which takes as long
 * as the download, and the kernel holds the folder locked until the unlink answers. So the unlink answers once
 * the delete is noted here, and the fetch and the library's delete follow in the background:
 *
 * - hidden: from the note on, listings leave the file (and its versions) out, whatever the library still
 *   answers (dir-node.ts asks `has`), so no lookup, listing or re-listing shows the name again;
 * - durable: the note is a file `deletes/<n>.json` in the spool (written whole and synced before the unlink
 *   answers); the next mount finds those a kill -9 or a crash left, hides them and deletes them;
 * - by id: the file is deleted by its id, never by path, so a file made at the name meanwhile is not the one
 *   deleted. But an upload to a path where a file is stored adds a version to that file (the delete would take
 *   it too), so whatever stores a file at the path (an upload, a rename or move there, a copy) waits until the
 *   delete is done (`gate`): the create, its writes and the folder are not held, only that store;
 * - retried: a delete that fails is tried again in the background (the name stays hidden), never given up,
 *   except by an unmount, which leaves the note for the next mount;
 * - of what was unlinked: the note names the version the unlink saw current. Another machine's upload to the
 *   path after it (this mount's wait at the gate) is a new version of the same file, which the delete by id
 *   would take with it, unseen here: so the file's details are asked first, and when its current version is
 *   another, the file is left (its name shows again at the next listing), said once at info. Notes written
 *   before versions were noted delete the file as before.
 */
import { randomBytes } from 'node:crypto'
import { unlinkSync } from 'node:fs'
import { join } from 'node:path'
import type { Clock } from '../clock.js'
import type { ImageKitApi, RequestOptions } from '../imagekit/api.js'
import { hasImageKitCode, ImageKitError } from '../imagekit/errors.js'
import type { Logger } from '../log.js'
import { fsyncDirSync, replaceWithLinesSync } from '../full-disk.js'
import { joinRemote } from './name.js'
import { DATA_FILE_MODE } from './spool/spool.js'
import { isUnder } from './spool/folder-moves.js'
import { readNotes } from './spool/notes.js'

/** First retry of a failed delete; doubled each time up to the cap. */
export const DELETE_RETRY_BASE_MS = 2_000
export const DELETE_RETRY_MAX_MS = 60_000

export interface PendingDeletesDeps {
  api: ImageKitApi
  clock: Clock
  log: Logger
  /** The file's bytes are gone from the library: what this mount remembers of it goes too. */
  deleted: (fileId: string, folder: string) => Promise<void>
}

interface PendingDelete {
  noteId: string
  fileId: string
  /** Where the file was when its delete was asked (the store of another file there waits for the delete). */
  remotePath: string
  /** The version current when it was unlinked: the file is deleted only while that one still is (undefined: always). */
  versionId: string | undefined
  done: Promise<void>
  settle: () => void
  /** The fetch for the readers, then the delete's attempts. */
  work?: Promise<void>
}

export class PendingDeletes {
  readonly #byFileId = new Map<string, PendingDelete>()
  /**
   * The same deletes by the path each was asked at (what a store there waits for): one lookup per store instead of
   * a scan of all. A set, since two can share one (a file moved there elsewhere and unlinked too, a note resumed).
   */
  readonly #byPath = new Map<string, Set<PendingDelete>>()
  readonly #stop = new AbortController()
  /** Gates still waiting at close: rejected then (what they would store stays for the next mount). */
  readonly #closed = new Promise<never>((_, reject) => {
    this.#stop.signal.addEventListener('abort', () => reject(new ImageKitError('IK_NETWORK', 'unmounting: the delete of a file unlinked at this path is not done; the store waits for the next mount')), { once: true })
  })

  constructor(readonly dir: string, readonly d: PendingDeletesDeps) {
    this.#closed.catch(() => undefined)
  }

  /** Deletes under way. */
  get size(): number {
    return this.#byFileId.size
  }

  /** Whether the file's delete is under way (it is hidden from listings). */
  has(fileId: string): boolean {
    return this.#byFileId.has(fileId)
  }

  /**
   * Notes the delete of the stored file `fileId` at `remotePath` durably (throws when it cannot: nothing is
   * done then), then runs `before` (the fetch for the readers; never rejects) and deletes the file, in the
   * background. Once this returns, the file is hidden from listings.
   */
  begin(fileId: string, remotePath: string, before: () => Promise<void>, versionId?: string): void {
    if (this.#byFileId.has(fileId)) return
    const noteId = randomBytes(8).toString('hex')
    const note = { v: 1, fileId, path: remotePath, ...(versionId !== undefined ? { versionId } : {}) }
    replaceWithLinesSync(this.#path(noteId), [JSON.stringify(note)], 'pending delete note', { mode: DATA_FILE_MODE, sync: true })
    fsyncDirSync(this.dir)
    this.#start(noteId, fileId, remotePath, versionId, before)
  }

  /** Start-up: the deletes an unmount, a kill -9 or a crash left (unreadable notes are removed). */
  resume(): void {
    for (const { id: noteId, note } of readNotes(this.dir, isDeleteNote)) {
      this.d.log.info({ path: note.path, fileId: note.fileId }, 'a file unlinked through the last mount was not deleted from the library yet: deleting it now')
      if (this.#byFileId.has(note.fileId)) this.#removeNote(noteId)
      else this.#start(noteId, note.fileId, note.path, typeof note.versionId === 'string' ? note.versionId : undefined, async () => undefined)
    }
  }

  /** Whether a delete is under way for a file at `remotePath` (a store there waits for it: `gate`). */
  underWayAt(remotePath: string): boolean {
    return this.#byPath.has(remotePath)
  }

  /** The end of the delete under way for a file at `remotePath` (`gate`), or undefined when none is. */
  endAt(remotePath: string): Promise<void> | undefined {
    return this.underWayAt(remotePath) ? this.gate(remotePath) : undefined
  }

  /**
   * Waits until no delete is under way for a file at `remotePath`: before something is stored there (an upload
   * would add a version to the file being deleted). Rejects at unmount while one still is, and when `signal`
   * fires first (the store was given up: an open for writing stops the file's background upload) with
   * IK_ABORTED, its cause the signal's reason, as the api's own calls do.
   */
  gate(remotePath: string, signal?: AbortSignal): Promise<void> {
    return this.#until(() => [...(this.#byPath.get(remotePath) ?? [])], signal, `${remotePath}: aborted while waiting for the delete of a file unlinked at that path`)
  }

  /**
   * Waits until no delete is under way in `folder` or below (its delete, which is recursive, would race them).
   * Rejects at unmount while one still is, and when `signal` fires first as `gate` does (IK_ABORTED): a delete
   * retrying 429s for minutes holds no caller that gave up.
   */
  settledUnder(folder: string, signal?: AbortSignal): Promise<void> {
    return this.#until(() => [...this.#byFileId.values()].filter((p) => isUnder(folderOf(p.remotePath), folder)), signal, `${folder}: aborted while waiting for the delete of a file unlinked in that folder`)
  }

  /** Waits until `under` (the deletes waited for) finds none: rejects at unmount, and (IK_ABORTED) when `signal` fires. */
  async #until(under: () => PendingDelete[], signal: AbortSignal | undefined, abortedWhat: string): Promise<void> {
    if (signal === undefined) return this.#wait(under, [])
    const abortedError = () => new ImageKitError('IK_ABORTED', abortedWhat, { cause: signal.reason, retriable: false })
    if (signal.aborted) throw abortedError()
    let onAbort!: () => void
    const aborted = new Promise<never>((_, reject) => (onAbort = () => reject(abortedError())))
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await this.#wait(under, [aborted])
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  async #wait(under: () => PendingDelete[], also: Promise<never>[]): Promise<void> {
    for (;;) {
      const waiting = under()
      if (waiting.length === 0) return
      await Promise.race([Promise.all(waiting.map((p) => p.done)), this.#closed, ...also])
    }
  }

  /**
   * Unmount: the fetches were stopped (unlinked-copies.ts close); a delete whose fetch that stopped is sent once,
   * none is retried, and a call under way is stopped, its request in flight too (the client's retries and 429
   * backoff would hold the unmount for minutes); those not done stay noted for the next mount (a delete that
   * reached the library is a 404 then, counted as done), and the stores waiting for them fail.
   */
  async close(): Promise<void> {
    this.#stop.abort()
    await Promise.allSettled([...this.#byFileId.values()].map((p) => p.work))
    const left = this.#byFileId.size
    if (left > 0) this.d.log.warn({ files: left }, 'files unlinked through the mount are not deleted from the library yet (it did not answer): the next mount of this library with this cache dir deletes them')
  }

  #start(noteId: string, fileId: string, remotePath: string, versionId: string | undefined, before: () => Promise<void>): void {
    let settle!: () => void
    const done = new Promise<void>((resolve) => (settle = resolve))
    const pending: PendingDelete = { noteId, fileId, remotePath, versionId, done, settle }
    this.#byFileId.set(fileId, pending)
    const atPath = this.#byPath.get(remotePath)
    if (atPath) atPath.add(pending)
    else this.#byPath.set(remotePath, new Set([pending]))
    pending.work = this.#run(pending, before)
  }

  async #run(p: PendingDelete, before: () => Promise<void>): Promise<void> {
    await before().catch(() => undefined)
    // A call under way when the unmount comes ends then, its request in flight and the client's own retries
    // (429 backoff can wait minutes): the delete stays noted, and the next mount's 404 counts as done if it was.
    // One begun after it (the delete of a file whose fetch the unmount stopped) is sent once, never retried.
    const stop = () => (this.#stop.signal.aborted ? { giveUp: () => true } : { signal: this.#stop.signal })
    let deleted = true
    for (let attempt = 0; ; attempt++) {
      try {
        if (p.versionId !== undefined) {
          const now = await this.d.api.getFileDetails(p.fileId, stop())
          if (now.versionInfo.id !== p.versionId) {
            deleted = false
            this.d.log.info(
              { path: p.remotePath, fileId: p.fileId, unlinkedVersion: p.versionId, currentVersion: now.versionInfo.id, now: now.filePath },
              'unlink: the file unlinked (while open for reading, or when the daemon stopped) was not deleted from the library: it gained a version since the unlink (an upload to its path elsewhere), which the delete would take with it; the file is left as it is, with that version and the one unlinked',
            )
            break
          }
        }
        await this.d.api.deleteFile(p.fileId, stop())
        break
      } catch (e) {
        if (hasImageKitCode(e, 'IK_NOT_FOUND')) break // gone already (deleted elsewhere, or an answer was lost)
        if (hasImageKitCode(e, 'IK_ABORTED') && this.#stop.signal.aborted) return // unmounting: the note stays for the next mount
        const retryMs = Math.min(DELETE_RETRY_MAX_MS, DELETE_RETRY_BASE_MS * 2 ** Math.min(attempt, 10))
        const level = attempt === 0 ? 'error' : 'warn'
        this.d.log[level]({ path: p.remotePath, fileId: p.fileId, attempts: attempt + 1, retryMs, err: e }, 'unlink: the library\'s delete of a file unlinked while open for reading failed; the name stays gone here, and the delete is tried again')
        if (this.#stop.signal.aborted) return
        try {
          await this.d.clock.sleep(retryMs, this.#stop.signal)
        } catch {
          return // unmounting: the note stays for the next mount
        }
      }
    }
    if (deleted) await this.d.deleted(p.fileId, folderOf(p.remotePath)).catch((e: unknown) => this.d.log.warn({ path: p.remotePath, err: e }, 'unlink: forgetting a deleted file failed'))
    this.#removeNote(p.noteId)
    this.#byFileId.delete(p.fileId)
    const atPath = this.#byPath.get(p.remotePath)
    atPath?.delete(p)
    if (atPath?.size === 0) this.#byPath.delete(p.remotePath)
    p.settle()
  }

  #removeNote(noteId: string): void {
    try {
      unlinkSync(this.#path(noteId))
      fsyncDirSync(this.dir)
    } catch (e) {
      // The next mount deletes the file again (its 404 counts as done) and removes the note then.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.d.log.warn({ err: e }, 'unlink: the note of a delete done could not be removed')
    }
  }

  #path(noteId: string): string {
    return join(this.dir, `${noteId}.json`)
  }

  /**
   * `api` whose calls that store a file at a path (uploads, renames and moves of files, copies) first wait until
   * no delete is under way at that path (`gate`); every other call goes to `api` as it is.
   */
  gated(api: ImageKitApi): ImageKitApi {
    const gate = (remotePath: string, options: RequestOptions | undefined) => this.gate(remotePath, options?.signal)
    return {
      ...forwarding(api),
      uploadFile: async (request, options) => {
        await gate(joinRemote(request.folder, request.fileName), options)
        return api.uploadFile(request, options)
      },
      uploadFileStream: async (request, options) => {
        await gate(joinRemote(request.folder, request.fileName), options)
        return api.uploadFileStream(request, options)
      },
      renameFile: async (filePath, newFileName, options) => {
        await gate(joinRemote(folderOf(filePath), newFileName), options)
        return api.renameFile(filePath, newFileName, options)
      },
      moveFile: async (sourceFilePath, destinationPath, options) => {
        await gate(joinRemote(folderPathOf(destinationPath), nameOf(sourceFilePath)), options)
        return api.moveFile(sourceFilePath, destinationPath, options)
      },
      copyFile: async (sourceFilePath, destinationPath, options) => {
        await gate(joinRemote(folderPathOf(destinationPath), nameOf(sourceFilePath)), options)
        return api.copyFile(sourceFilePath, destinationPath, options)
      },
    }
  }
}

/**
 * An object with a function for each method of `target` (its own and its class's, which `{ ...target }` would
 * not copy), calling `target`'s method of that name at the time of the call, on `target` (`Object.create(target)`
 * would call ImageKitClient's methods on another object, which fail at its private fields): a method a test
 * replaces later is the one called, as with a hand-written `(...args) => target.m(...args)`. Only for objects
 * of methods (the type refuses one with another property, which this would not copy).
 */
function forwarding<T extends { [K in keyof T]: (...args: never[]) => unknown }>(target: T): T {
  const methods: Record<string, (...args: unknown[]) => unknown> = {}
  const seen = new Set<string>()
  for (let o: object | null = target; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (seen.has(key) || key === 'constructor') continue
      seen.add(key)
      if (typeof Object.getOwnPropertyDescriptor(o, key)?.value !== 'function') continue
      methods[key] = (...args) => (target as unknown as Record<string, (...a: unknown[]) => unknown>)[key]!(...args)
    }
  }
  return methods as unknown as T
}

/** A delete note (`begin`) as read back: a torn one, or one whose rename never happened, never answered its unlink. */
function isDeleteNote(x: unknown): x is { fileId: string; path: string; versionId?: unknown } {
  const note = x as { fileId?: unknown; path?: unknown } | null | undefined
  return typeof note?.fileId === 'string' && typeof note.path === 'string' && note.path.startsWith('/')
}

/** The remote folder of a remote path ("/a/b.jpg" → "/a", "/b.jpg" → "/"). */
function folderOf(remotePath: string): string {
  const at = remotePath.lastIndexOf('/')
  return at <= 0 ? '/' : remotePath.slice(0, at)
}

/**
 * A destination folder as the copy and move APIs take it ("/a/", as server-copy.ts passes it, or "/a") as a
 * remote folder path ("/a"): the gate compares whole paths, and "/a//b.jpg" never matched a delete under way.
 */
function folderPathOf(destinationPath: string): string {
  const trimmed = destinationPath.replace(/\/+$/, '')
  return trimmed === '' ? '/' : trimmed
}

function nameOf(remotePath: string): string {
  return remotePath.slice(remotePath.lastIndexOf('/') + 1)
}
