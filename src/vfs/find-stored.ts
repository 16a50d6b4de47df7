/** The stored file at a path, asked of the API by name: one call, no listing of a whole folder. */
import type { ImageKitApi, RequestOptions } from '../imagekit/api.js'
import { nameIs } from '../imagekit/search-query.js'
import type { FileObject } from '../imagekit/types.js'
import { joinRemote } from './name.js'

/** The current version of the file named `name` in `folder`, or undefined when there is none. */
export async function findStored(api: ImageKitApi, folder: string, name: string, options?: RequestOptions): Promise<FileObject | undefined> {
  const filePath = joinRemote(folder, name)
  for await (const item of api.listFiles({ path: folder, searchQuery: nameIs(name) }, options)) {
    if (item.type === 'file' && item.filePath === filePath) return item
  }
  return undefined
}
