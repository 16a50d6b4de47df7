/**
 * How a FUSE mount whose daemon is gone answers: ENOTCONN for every request made after its connection ended,
 * and ECONNABORTED for one that was already waiting when it ended (a stat of a hung mount whose daemon is then
 * killed). Both mean a dead mount, which ikfs clears.
 */
export function isDeadMountError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOTCONN' || code === 'ECONNABORTED'
}
