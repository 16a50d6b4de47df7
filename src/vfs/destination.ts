/** Local paths to remote destinations (folder and name as stored), with the checks every create and rename applies. */
import { VfsError, type VfsCode } from './errors.js'
import { EncodingError, NAME_MAX_BYTES, joinRemote, parentOf, splitLocalPath, type NameCodec } from './name.js'

/** Where a local path goes remotely. */
export interface Destination {
  localPath: string
  localName: string
  parentLocalPath: string
  /** Remote folder and name (encoded). */
  folder: string
  name: string
  remotePath: string
}

/**
 * local path → remote destination; ENAMETOOLONG over 255 bytes, `refused` (EINVAL, what open(2) and mkdir(2)
 * document for a name the filesystem cannot hold) when the name cannot be stored or would list as another
 * name (W11: a lone ‛ is stored quoted and comes back doubled, as in rclone).
 */
export function destinationOf(codec: NameCodec, localPath: string, refused: VfsCode = 'EINVAL'): Destination {
  const [parentLocalPath, localName] = parentOf(localPath)
  if (localName === '') throw new VfsError('EBUSY', `${localPath}: the root cannot be changed`)
  if (Buffer.byteLength(localName, 'utf8') > NAME_MAX_BYTES) {
    throw new VfsError('ENAMETOOLONG', `${localPath}: name longer than ${NAME_MAX_BYTES} bytes`)
  }
  try {
    const name = codec.toRemote(localName)
    const listedAs = codec.toLocal(name)
    if (listedAs !== localName) {
      throw new VfsError(refused, `${localPath}: the name would be listed as ${JSON.stringify(listedAs ?? '(hidden)')}, not as itself, with this encoding`)
    }
    const folder = '/' + splitLocalPath(parentLocalPath).map((n) => codec.toRemote(n)).join('/')
    return { localPath, localName, parentLocalPath, folder, name, remotePath: joinRemote(folder, name) }
  } catch (e) {
    if (e instanceof EncodingError) throw new VfsError(refused, `${localPath}: ${e.message}`)
    throw e
  }
}
