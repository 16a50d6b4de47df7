/**
 * Start-up reconciliation of the journal with `<data>/files/`: files placed or edited by hand are adopted,
 * records whose bytes vanished are dropped. The tree is the truth for what exists; the journal adds ids,
 * versions, tags and metadata.
 */
import { opendir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { newObjectId, newVersionToken } from './ids.js'
import { joinPath } from './names.js'
import { probeFile } from './probe.js'
import type { FileRecord, VersionRecord } from './records.js'
import { ROOT, type Store } from './store.js'

/** Files probed at once during adoption: enough to overlap disk waits, few enough to bound open fds. */
const ADOPT_CONCURRENCY = 32

interface DiskFile {
  size: number
  mtimeMs: number
}

export interface AdoptionReport {
  adopted: number
  changed: number
  dropped: number
  emptyFiles: number
}

export async function adoptFilesTree(store: Store): Promise<AdoptionReport> {
  const dirs = new Map<string, number>()
  const files = new Map<string, DiskFile>()
  await walk(store.filesRoot, ROOT, dirs, files)
  const report: AdoptionReport = { adopted: 0, changed: 0, dropped: 0, emptyFiles: 0 }

  for (const folder of [...store.allFolders()].sort((a, b) => b.folderPath.length - a.folderPath.length)) {
    if (!dirs.has(folder.folderPath)) store.removeFolder(folder.folderPath)
  }
  for (const [folderPath, mtimeMs] of [...dirs].sort((a, b) => a[0].length - b[0].length)) {
    if (folderPath !== ROOT && !store.folder(folderPath)) {
      const t = Math.floor(mtimeMs)
      store.putFolder({ folderId: newObjectId(), folderPath, createdAt: t, updatedAt: t })
    }
  }

  const work: (() => Promise<void>)[] = []
  for (const file of [...store.allFiles()]) {
    const disk = files.get(file.filePath)
    if (!disk) {
      store.removeFile(file.fileId)
      await rm(join(store.versionsRoot, file.fileId), { recursive: true, force: true })
      report.dropped += 1
      continue
    }
    files.delete(file.filePath)
    if (disk.size !== file.current.size || disk.mtimeMs !== file.current.diskMtimeMs) {
      report.changed += 1
      work.push(async () => {
        const probe = await probeFile(store.currentBytesPath(file.filePath), baseOf(file.filePath), disk.size)
        Object.assign(file.current, probe, { size: disk.size, diskMtimeMs: disk.mtimeMs, updatedAt: store.clock.now() })
        store.putFile(file)
      })
    }
  }
  for (const [filePath, disk] of files) {
    report.adopted += 1
    if (disk.size === 0) report.emptyFiles += 1
    work.push(async () => {
      const probe = await probeFile(store.currentBytesPath(filePath), baseOf(filePath), disk.size)
      store.putFile(adoptedRecord(filePath, disk, probe))
    })
  }
  await runLimited(work, ADOPT_CONCURRENCY)
  return report
}

function baseOf(filePath: string): string {
  return filePath.slice(filePath.lastIndexOf('/') + 1)
}

function adoptedRecord(filePath: string, disk: DiskFile, probe: Awaited<ReturnType<typeof probeFile>>): FileRecord {
  const fileId = newObjectId()
  const t = Math.floor(disk.mtimeMs)
  const current: VersionRecord = {
    id: fileId, number: 1, token: newVersionToken(), size: disk.size, ...probe,
    tags: null, AITags: null, customCoordinates: null, customMetadata: {}, isPrivateFile: false, isPublished: true,
    createdAt: t, updatedAt: t, diskMtimeMs: disk.mtimeMs,
  }
  return { fileId, filePath, createdAt: t, current, versions: [], nextVersionNumber: 2 }
}

async function walk(dir: string, folderPath: string, dirs: Map<string, number>, files: Map<string, DiskFile>): Promise<void> {
  const info = await stat(dir)
  dirs.set(folderPath, info.mtimeMs)
  const subdirs: [string, string][] = []
  const found: [string, string][] = []
  for await (const entry of await opendir(dir)) {
    const childPath = joinPath(folderPath, entry.name)
    if (entry.isDirectory()) subdirs.push([join(dir, entry.name), childPath])
    else if (entry.isFile()) found.push([join(dir, entry.name), childPath])
  }
  for (let i = 0; i < found.length; i += ADOPT_CONCURRENCY) {
    const batch = found.slice(i, i + ADOPT_CONCURRENCY)
    const stats = await Promise.all(batch.map(([p]) => stat(p)))
    batch.forEach(([, childPath], k) => {
      const s = stats[k]
      if (s) files.set(childPath, { size: s.size, mtimeMs: s.mtimeMs })
    })
  }
  for (const [sub, childPath] of subdirs) await walk(sub, childPath, dirs, files)
}

async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++]
      if (task) await task()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
}
