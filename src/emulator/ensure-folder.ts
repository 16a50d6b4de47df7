/** Explicit and implicit folders (§4.11, §5.1): every missing level of a path is created, on disk and in the store. */
import { mkdirSync } from 'node:fs'
import { badRequest } from './http-io.js'
import { newObjectId } from './ids.js'
import { checkNameLength, nameErrorToApi } from './names.js'
import type { LibraryContext } from './context.js'

export const FILE_IN_THE_WAY_REASON = 'INVALID_FOLDER_PATH'

/** Creates `folderPath` and its ancestors. A file occupying one of those paths is a 400 (disk cannot hold both). */
export async function ensureFolder(ctx: LibraryContext, folderPath: string): Promise<void> {
  if (folderPath === '/') return
  const segments = folderPath.split('/').filter((s) => s !== '')
  let path = ''
  for (const segment of segments) {
    path += '/' + segment
    if (ctx.store.folder(path)) continue
    nameErrorToApi(() => checkNameLength(segment, true))
    if (ctx.store.fileByPath(path)) {
      throw badRequest(`A file already exists at ${path}, so a folder cannot be created there.`, FILE_IN_THE_WAY_REASON)
    }
    mkdirSync(ctx.store.currentBytesPath(path), { recursive: true }) // metadata only: see bytes.ts
    const now = ctx.clock.now()
    ctx.store.putFolder({ folderId: newObjectId(), folderPath: path, createdAt: now, updatedAt: now })
  }
}
