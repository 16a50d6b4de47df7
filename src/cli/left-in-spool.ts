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
  // Refused for good (W3): the next mount tries each once more, which the library may refuse again; not one over
  // the size limit (W6), which waits to be written again or renamed: as the daemon's status says, by the rule the
  // next mount follows (keptRejectedAtMount), not by the error's words (a record an older ikfs wrote is tried again).
  const rejected = left.filter((u) => u.state === 'rejected')
  const tooLarge = rejected.filter((u) => u.keptRejectedAtMount === true).length
  const refused = rejected.length === 0 ? '' : tooLarge === 0 ? ' (the rejected ones: tries each once more)'
    : tooLarge === rejected.length ? ' (not the rejected ones, over the size limit: renamed or written again, each is tried again)'
      : ' (the rejected ones: tries each once more, except those over the size limit, tried again once renamed or written again)'
  return `${plural(left.length, 'file')} ${left.length === 1 ? 'stays' : 'stay'} in the spool, ` +
    `and the next mount of this library (same --endpoint) with this cache dir stores ${left.length === 1 ? 'it' : 'them'}${refused}: ${listed.join(', ')}`
}
