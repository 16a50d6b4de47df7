/** A command line that cannot be understood (missing MOUNTPOINT, unknown command): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
  readonly code = 'USAGE'
}
