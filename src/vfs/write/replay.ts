/**
 * Start-up: files from the journal re-appear and their uploads are queued (spool/recover.ts); those in a
 * folder whose rename a crash interrupted wait until the library tells where the folder is now
 * (interrupted-moves.ts).
 */
import type { Clock } from '../../clock.js'
import type { ImageKitApi } from '../../imagekit/api.js'
import type { Logger } from '../../log.js'
import type { DirCache } from '../dir-cache.js'
import { PendingFile } from '../file-node.js'
import type { InodeTable } from '../inode-table.js'
import type { KeyedMutex } from '../lock.js'
import { joinRemote, localPathOf, type NameCodec } from '../name.js'
import type { DataFiles } from '../spool/data-files.js'
import type { FolderMove, FolderMoves } from '../spool/folder-moves.js'
import type { Journal } from '../spool/journal.js'
import type { LocalMtimes } from '../spool/mtimes.js'
import { recoverSpool } from '../spool/recover.js'
import type { Uploader } from '../upload/uploader.js'
import type { PendingDeletes } from '../pending-deletes.js'
import { filesOfMoves, placesAlongRoute, settleInterruptedMove } from './interrupted-moves.js'
import { settlePutBack } from './interrupted-put-back.js'
import { tryAgainAtNewPath } from './retarget.js'
import { finishUnlink, unlinkLeftRemoteWork } from './interrupted-unlink.js'
import type { JournalRecord } from '../spool/record.js'
import { isPutBackNote, isTooLargeNote, keptRejectedAtMount } from '../spool/record.js'
import type { PendingFiles } from './pending-files.js'

export interface ReplayDeps {
  api: ImageKitApi
  clock: Clock
  log: Logger
  codec: NameCodec
  inodes: InodeTable
  dirs: DirCache
  journal: Journal
  dataFiles: DataFiles
  folderMoves: FolderMoves
  pending: PendingFiles
  uploader: Uploader
  /** The times of the versions uploads through a mount stored (their answers came). */
  mtimes: LocalMtimes
  /** The write path's lock per PendingFile id (content changes against uploads). */
  fileLock: KeyedMutex
  /** Aborted when the mount stops. */
  closing: AbortSignal
  /** The background deletes (W8): an unlink the daemon stopped in is finished through them. */
  deletes: PendingDeletes
  /** Rewrites a file's journal record (committer.ts persist). */
  persist(file: PendingFile): Promise<void>
  /** Ends a file's quiesce and queues its upload again (write-path.ts requeue). */
  requeue(file: PendingFile): void
  /** Drops the note of a finished folder rename (write-path.ts endFolderMove). */
  endFolderMove(move: FolderMove): void
  /** Runs work in the background that close() waits for. */
  track(work: Promise<void>): void
}

export function replay(d: ReplayDeps): void {
  const files: PendingFile[] = []
  /** What goes up now: not the records refused or being unlinked (recoverSpool), nor empty files. */
  let resumed = 0
  /** Of those, files the library refused for good before: each is tried once more (the account may take it now). */
  let refused = 0
  // An unlink the daemon stopped in is finished: what it was deleting does not stay in the library.
  const unlinking = {
    wanted: unlinkLeftRemoteWork,
    take: (r: JournalRecord) => d.track(finishUnlink({ ...d, expire: (folder) => d.dirs.expire(folder) }, r)),
  }
  for (const { record: r, size } of recoverSpool(d.journal, d.dataFiles, d.log, unlinking)) {
    const base = r.fileId
      ? { fileId: r.fileId, isPrivateFile: r.isPrivateFile === true, ...(r.customCoordinates ? { customCoordinates: r.customCoordinates } : {}), ...(r.draft === true ? { draft: true as const } : {}) }
      : undefined
    const file = new PendingFile(r.id, d.dataFiles.path(r.id), r.folder, r.name, r.localPath, d.inodes.allocate(), size, r.mtimeMs, r.mtimeMs, base)
    file.attempts = r.attempts
    file.lastError = r.lastError
    if (r.state === 'rejected' && typeof r.refusal === 'string') file.refusal = r.refusal
    if (r.state === 'rejected' && isTooLargeNote(r.tooLarge)) file.tooLarge = r.tooLarge
    // An attempt may have stored it before the daemon stopped: the next one looks for it in the library first.
    if (typeof r.mayBeStoredSinceMs === 'number') file.mayBeStoredSinceMs = r.mayBeStoredSinceMs
    file.wanted = r.details
    if (isPutBackNote(r.putBack) && base) file.putBack = r.putBack
    d.pending.add(file)
    files.push(file)
    if (size === 0) {
      file.state = 'empty'
    } else if (keptRejectedAtMount(r, size)) {
      // Refused as over the size limit, and as large still: only a change of the account's limit would change
      // the answer, and each try is a whole upload (of GiBs, for a video). It waits, listed as rejected, for a
      // new write or a rename, which try it again (W6).
      file.unsent = true
      d.uploader.keepRejected(file)
      d.log.warn({ path: file.localPath, size, spoolFile: file.dataPath, refusal: file.refusal }, 'upload refused earlier: the file is larger than the account allows; it stays in the spool, not sent again at this mount (written again or renamed, it is tried once more)')
    } else {
      // A refused one too: what the library refused (a file type, a version limit; the size limit, when the
      // record does not say what it was refused at, as an older ikfs wrote it) is the account's to change between
      // mounts, and a restart is how one asks to try again; refused again, it waits for the next mount (or a new
      // write or rename) as before, or, over the size limit, for a new write or rename only.
      if (r.state === 'rejected') refused++
      file.unsent = true
      d.uploader.schedule(file, 0)
      resumed++
    }
  }
  if (resumed > 0) d.log.info({ files: resumed, refusedBefore: refused }, 'pending uploads found in the spool; resuming')
  settleInterruptedMoves(d, files)
  settlePutBacks(d, files)
}

/** Files whose record notes a put-back (W17) wait until it is finished (write/interrupted-put-back.ts). */
function settlePutBacks(d: ReplayDeps, files: PendingFile[]): void {
  const deps = {
    api: d.api, clock: d.clock, log: d.log, closing: d.closing, requeue: d.requeue,
    persist: (file: PendingFile) => d.fileLock.run(file.id, () => d.persist(file)),
    expire: (folder: string) => d.dirs.expire(folder),
  }
  for (const file of files) {
    // One held for an interrupted folder move too (a crash in both at once) goes where the move leaves it,
    // without the put-back: its original stays at the backup's name, nothing is lost.
    if (!file.putBack || file.quiesced) continue
    holdForMove(d, file)
    d.track(settlePutBack(deps, file))
  }
}

function settleInterruptedMoves(d: ReplayDeps, files: PendingFile[]): void {
  const moves = d.folderMoves.loadAll()
  if (moves.length === 0) return
  const deps = {
    api: d.api, clock: d.clock, log: d.log, closing: d.closing,
    relocate: (file: PendingFile, folder: string, name: string) => relocate(d, file, folder, name),
    release: (file: PendingFile) => {
      d.pending.shownOnlyAtItsPath(file)
      d.requeue(file)
    },
    end: (move: FolderMove) => d.endFolderMove(move),
  }
  for (const [move, inside] of filesOfMoves(moves, files)) {
    for (const file of inside) {
      holdForMove(d, file)
      // Until the library answers, also where the rename took it: the folder that is listed is where it goes.
      for (const path of placesAlongRoute(move, file)) d.pending.showAlsoAt(file, path)
    }
    d.track(settleInterruptedMove(deps, move, inside))
  }
}

/** As quiesce does: an upload due meanwhile waits, and goes where the file is recorded by then. */
function holdForMove(d: ReplayDeps, file: PendingFile): void {
  let end!: () => void
  const ended = new Promise<void>((resolve) => { end = resolve })
  file.quiesced = { ended, end }
  d.uploader.cancel(file) // queued by replay; requeued once its place is settled
}

/** A file recovered from the spool whose stored file or folder moved (see settleInterruptedMoves) goes with it. */
async function relocate(d: ReplayDeps, file: PendingFile, folder: string, name: string): Promise<void> {
  await d.fileLock.run(file.id, async () => {
    if (!d.pending.holds(file)) return
    const oldFolder = file.folder
    d.pending.remove(file)
    if (folder !== file.folder || name !== file.name) tryAgainAtNewPath(file) // kept rejected at this mount (W6): release() requeues it
    file.folder = folder
    file.name = name
    file.localPath = localPathOf(d.codec, joinRemote(folder, name)) ?? file.localPath
    d.pending.add(file)
    d.dirs.expire(oldFolder)
    d.dirs.expire(folder)
    await d.persist(file).catch((e: unknown) => {
      d.log.warn({ path: file.localPath, err: e }, 'a file moved with its folder could not be recorded at its new place in the spool journal')
    })
  })
}
