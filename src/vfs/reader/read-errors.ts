/** Why a stream of file bytes stopped; translated to errnos by read-handle.ts. */

/**
 * The server's total size differs from the listing's, or its ETag from the one the file's earlier ranges
 * had: stale CDN bytes or a changed file. Never served.
 */
export class StaleContentError extends Error {
  override name = 'StaleContentError'
  constructor(readonly expectedSize: number, readonly servedSize: number, why?: string) {
    super(why ?? `delivery served ${servedSize} bytes in total where the listing says ${expectedSize}`)
  }
}

/** The response does not start where asked (beyond what a 200-ignoring-range explains). Not resumable. */
export class BadRangeError extends Error {
  override name = 'BadRangeError'
}

/** The body ended before the bytes it promised (a dropped connection): resumable. */
export class PrematureEndError extends Error {
  override name = 'PrematureEndError'
}
