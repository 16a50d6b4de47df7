/** The stored file at a path, asked of the API by name: one call, no listing of a whole folder. */
import type { ImageKitApi } from '../imagekit/api.js'
import type { FileObject } from '../imagekit/types.js'
import { joinRemote } from './name.js'

/** Whether `findStored` can ask for the name: the search syntax has no way to quote a quote. */
export function searchableName(name: string): boolean {
  return !name.includes('"')
}

/** The current version of the file named `name` in `folder`, or undefined when there is none (or it cannot be searched for). */
export async function findStored(api: ImageKitApi, folder: string, name: string): Promise<FileObject | undefined> {
  if (!searchableName(name)) return undefined
  const filePath = joinRemote(folder, name)
  for await (const item of api.listFiles({ path: folder, searchQuery: `name = "${name}"` })) {
    if (item.type === 'file' && item.filePath === filePath) return item
  }
  return undefined
}
