/**
 * Whether the library has a folder at a remote path: one Media API call, the parent's folders of that name
 * (the query rclone sends), so a parent with thousands of folders is still one page. Throws when the API
 * cannot say (an outage); what that means is the caller's to decide.
 */
import type { ImageKitApi, RequestOptions } from '../imagekit/api.js'
import { nameIs } from '../imagekit/search-query.js'
import { parentOf } from './name.js'

export async function folderExists(api: ImageKitApi, remotePath: string, options?: RequestOptions): Promise<boolean> {
  if (remotePath === '/') return true
  const [parent, name] = parentOf(remotePath)
  const searchQuery = `type = "folder" AND ${nameIs(name)}`
  for await (const item of api.listFiles({ path: parent, type: 'folder', searchQuery }, options)) {
    if (item.type === 'folder' && item.name === name) return true
  }
  return false
}
