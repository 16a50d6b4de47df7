/**
 * What a stop cut short by a second signal leaves in the spool, for its last log line: the files of the upload
 * queue the next mount of the library (same endpoint, same cache dir) stores (W3). Files a program still had
 * open for writing are not among them: waiting for those was given up, and files-being-written.ts has said
 * already that their last changes are not stored.
 */
import { plural } from '../plural.js'
import type { UploadStatus } from '../vfs/types.js'

/** Names beyond this many are counted, not listed: the line stays readable with a large queue. */
export const LISTED_MAX = 20

export function leftInSpool(uploads: readonly UploadStatus[]): string {
  const left = uploads.filter((u) => u.state !== 'writing')
  if (left.length === 0) return 'nothing stays in the spool'
  const listed = left.slice(0, LISTED_MAX).map((u) => `${u.localPath} (${u.state})`)
  if (left.length > LISTED_MAX) listed.push(`and ${left.length - LISTED_MAX} more`)
  // Refused for good (W3, W6): the next mount tries each once more, which the library may refuse again.
  const refused = left.some((u) => u.state === 'rejected') ? ' (the rejected ones: tries each once more)' : ''
  return `${plural(left.length, 'file')} ${left.length === 1 ? 'stays' : 'stay'} in the spool, ` +
    `and the next mount of this library (same --endpoint) with this cache dir stores ${left.length === 1 ? 'it' : 'them'}${refused}: ${listed.join(', ')}`
}
