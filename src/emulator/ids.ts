/** Identifiers in the shapes the real service uses (§2.1, §4.18). */
import { randomBytes, randomUUID } from 'node:crypto'

const URL_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'
const TOKEN_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._'

/**
 * Random bytes are drawn from the system this many at a time and handed out in slices: an upload needs four
 * draws (temp file, spare temp file, file id, version token), and each call to randomBytes cost more than the
 * few bytes it returned (OpenSSL also checks the process id every time).
 */
const RANDOM_POOL_BYTES = 4096
let pool = Buffer.alloc(0)
let poolUsed = 0

/** `length` fresh random bytes (a view into the pool: read, never written). */
function random(length: number): Buffer {
  if (poolUsed + length > pool.length) {
    pool = randomBytes(Math.max(RANDOM_POOL_BYTES, length))
    poolUsed = 0
  }
  const out = pool.subarray(poolUsed, poolUsed + length)
  poolUsed += length
  return out
}

/** fileId / versionId / folderId: 24 hex chars like the service's ids. */
export function newObjectId(): string {
  return random(12).toString('hex')
}

export function newRequestId(): string {
  return randomUUID()
}

function randomFrom(alphabet: string, length: number): string {
  const bytes = random(length)
  let out = ''
  for (const b of bytes) out += alphabet[b % alphabet.length]
  return out
}

/** The `_<id>` inserted by useUniqueFileName: 9 chars of [A-Za-z0-9_-] (§4.18). */
export function newUniqueSuffix(): string {
  return randomFrom(URL_SAFE, 9)
}

/** `ik-obj-version` token: 32 chars of [A-Za-z0-9._] (§2.1). */
export function newVersionToken(): string {
  return randomFrom(TOKEN_CHARS, 32)
}

/** Ids we hand out are 24 hex; accept any plausible opaque id so malformed ones get the 400 and unknown ones 404. */
export function isWellFormedId(id: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(id)
}
