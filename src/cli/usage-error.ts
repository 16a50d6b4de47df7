import { quotedUnlessKey } from '../private-key-text.js'

/** A command line that cannot be understood (missing MOUNTPOINT, unknown command): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
  readonly code = 'USAGE'
}

/**
 * `ikfs mount|doctor ARG MOUNTPOINT` where ARG is not `NAME:`. A bare word is most likely a remote written
 * without its colon (`ikfs mount photos ~/ImageKit`): the message shows the spelling that works.
 */
export function expectedRemote(arg: string): UsageError {
  const got = quotedUnlessKey(arg)
  const remote = /^[^/:\s]+$/.test(arg) && !got.includes('not shown') ? ` (a remote is written with its colon: ${arg}:)` : ''
  return new UsageError(`expected NAME: before MOUNTPOINT, got ${got}${remote}`)
}
