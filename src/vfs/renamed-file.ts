/**
 * The node of a stored file right after this mount renamed or moved it, built from the node it was, so that
 * the folders need not be listed again (a Media API call, rate-limited, for each object git renames into
 * place). The file keeps its id, version, inode number and details; its path and delivery URL are the new
 * ones. ImageKit's rename moves the file's `updatedAt` (and the `updatedAt` of its url), which its answer does
 * not give: as for a file whose upload just landed (inode.ts fileInodeFromUpload), the time is that of the
 * answer, and the url carries no version of its own, so reads pin it with the version id (DeliveryTarget) and
 * never get the CDN's copy of something stored at that path before. The next listing brings the server's.
 */
import { encodeRemotePath } from '../imagekit/url.js'
import { FileInode, markLacksListedDetails } from './inode.js'

/** Marked as lacking what a listing shows: an attribute that shows the url asks for its details (listed-details.ts). */
export function renamedFileNode(src: FileInode, ino: number, toPath: string, renamedAtMs: number): FileInode {
  return markLacksListedDetails(new FileInode(
    ino, toPath, src.fileId, src.versionId, false, src.size, movedUrl(src.url, src.remotePath, toPath), src.isPrivateFile,
    src.createdAtMs, renamedAtMs, src.mime, src.fileType, src.hasAlpha, src.width, src.height, src.tags, src.aiTags,
    src.customCoordinates, src.customMetadata, src.isPublished,
  ))
}

/**
 * `url` with the file's path `fromPath` replaced by `toPath`, and without its query. The URL endpoint before
 * the path is kept as it is (a custom domain the API names files by, R7), found by counting the path's
 * segments, not by matching its encoding (the API's may differ from ours, url.ts). '' when `url` does not
 * hold the path: reads then build the url on `--endpoint` (ImageKitClient.deliveryUrl).
 */
export function movedUrl(url: string, fromPath: string, toPath: string): string {
  const path = url.split(/[?#]/, 1)[0]!
  const segments = fromPath.split('/').filter(Boolean).length
  const parts = path.split('/')
  const scheme = path.indexOf('://')
  if (segments === 0 || scheme < 0 || parts.length - segments < 3) return ''
  return parts.slice(0, parts.length - segments).join('/') + encodeRemotePath(toPath)
}
