/**
 * ImageKitError: every failure of the API client, normalised at the client edge. Branch on `code`,
 * never on `message`. Messages name the method and route template, never a key or a signed URL.
 */
export const IMAGEKIT_CODES = [
  'IK_BAD_REQUEST', // 400
  'IK_UNAUTHORIZED', // 401, 403 (wrong/missing/expired key)
  'IK_FORBIDDEN', // 403 on delivery (unsigned or private), restricted key
  'IK_NOT_FOUND', // 404
  'IK_CONFLICT', // 409
  'IK_RANGE_NOT_SATISFIABLE', // 416
  'IK_TOO_LARGE', // upload over the size limit
  'IK_RATE_LIMITED', // 429 (after retries)
  'IK_SERVER', // 5xx (after retries)
  'IK_NETWORK', // connection refused/reset/dropped (after retries)
  'IK_TIMEOUT', // our own deadline
  'IK_RECLAIMED', // a paused delivery response gave its connection to a waiting request: read on with a new range
  'IK_BAD_RESPONSE', // a body or headers that do not match what was asked
  'IK_JOB_FAILED', // a bulk job ended in a state other than Completed
  'IK_ABORTED', // the caller's signal
] as const
export type ImageKitCode = (typeof IMAGEKIT_CODES)[number]

export interface ImageKitErrorDetails {
  status?: number
  method?: string
  /** Route template like `GET /v1/files/{fileId}/details`, never a full URL with query. */
  route?: string
  requestId?: string
  /** The API's own `reason` (UPPER_SNAKE) when present. */
  reason?: string
  retriable?: boolean
  /** How long the server asked us to wait before trying again (429 `X-RateLimit-Reset`), in ms. */
  retryAfterMs?: number
  /** IK_TOO_LARGE: the size limit the answer named, in bytes (too-large.ts), when it named one. */
  limitBytes?: number
  cause?: unknown
}

export class ImageKitError extends Error {
  override name = 'ImageKitError'
  readonly code: ImageKitCode
  readonly status?: number
  readonly method?: string
  readonly route?: string
  readonly requestId?: string
  readonly reason?: string
  readonly retriable: boolean
  readonly retryAfterMs?: number
  readonly limitBytes?: number
  constructor(code: ImageKitCode, message: string, details: ImageKitErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.code = code
    this.status = details.status
    this.method = details.method
    this.route = details.route
    this.requestId = details.requestId
    this.reason = details.reason
    this.retriable = details.retriable ?? false
    this.retryAfterMs = details.retryAfterMs
    this.limitBytes = details.limitBytes
  }
}

export function isImageKitError(e: unknown): e is ImageKitError {
  return e instanceof ImageKitError
}

/** An ImageKitError with that code (IK_NOT_FOUND: the API's 404, ...). */
export function hasImageKitCode(e: unknown, code: ImageKitCode): e is ImageKitError {
  return e instanceof ImageKitError && e.code === code
}

/** The server accepted the request (a 2xx status arrived) but its answer was lost on the way. */
export function isLostAnswer(e: unknown): boolean {
  return isImageKitError(e) && (e.code === 'IK_NETWORK' || e.code === 'IK_TIMEOUT') && e.status !== undefined && e.status >= 200 && e.status < 300
}
