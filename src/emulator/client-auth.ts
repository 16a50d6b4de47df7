/**
 * Client-side upload authentication (§4.18): instead of Basic auth, the form carries `publicKey`, `token`,
 * `expire` and `signature` = lowercase hex HMAC-SHA1(private key, token + expire), made by the app's server
 * (the SDKs' getAuthenticationParameters). `expire` is unix seconds, at most an hour ahead. A token is
 * single-use: the SDK docs say a token sent before fails validation "even if your previous request resulted
 * in an error", so every request that presents one with its valid signature burns it (forgeries are not kept).
 *
 * Only the expire message is the service's own (quoted in SDK issue reports); the wording of the others is
 * the emulator's (unconfirmed), in the service's style.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { MISSING_KEY_MESSAGE, WRONG_KEY_MESSAGE } from './auth.js'
import { ApiError, badRequest } from './http-io.js'

export const INVALID_EXPIRE_MESSAGE = 'Your request contains invalid expire parameter. Expire parameter should be a Unix time in less than 1 hour into the future.'
export const INVALID_SIGNATURE_MESSAGE = 'Your request contains invalid signature parameter.'
export const REUSED_TOKEN_MESSAGE = 'Your request contains a token that has been used before. Send a new token with every upload.'
export const CLIENT_AUTH_FIELDS = ['publicKey', 'token', 'expire', 'signature'] as const
/** How far ahead `expire` may be. */
export const MAX_EXPIRE_AHEAD_S = 3600
/** Tokens remembered at most; the oldest are forgotten first (they expire within the hour anyway). */
const MAX_REMEMBERED_TOKENS = 100_000

/** Tokens already presented, each until its signature would have expired anyway. */
export class UsedTokens {
  readonly #untilS = new Map<string, number>()
  constructor(readonly capacity = MAX_REMEMBERED_TOKENS) {}

  /** Whether `token` was presented before; remembers it (a single use) either way. */
  burn(token: string, expireS: number, nowS: number): boolean {
    const seen = this.#untilS.has(token)
    if (!seen) {
      for (const [t, until] of this.#untilS) {
        if (until >= nowS && this.#untilS.size < this.capacity) break
        this.#untilS.delete(t)
      }
      this.#untilS.set(token, Number.isFinite(expireS) ? expireS : nowS)
    }
    return seen
  }
}

export interface ClientAuthKeys {
  privateKey: string
  publicKey: string
}

/** Undefined when the form's client-side authentication holds; otherwise the error to send. */
export function checkClientAuth(fields: ReadonlyMap<string, string>, keys: ClientAuthKeys, used: UsedTokens, nowMs: number): ApiError | undefined {
  if (CLIENT_AUTH_FIELDS.every((f) => !fields.has(f))) return new ApiError(401, MISSING_KEY_MESSAGE)
  for (const f of CLIENT_AUTH_FIELDS) if (!fields.get(f)) return badRequest(`Your request is missing ${f} parameter.`)
  const token = fields.get('token')!
  const expireText = fields.get('expire')!
  const expireS = /^\d+$/.test(expireText) ? Number(expireText) : Number.NaN
  const nowS = Math.floor(nowMs / 1000)
  if (!(expireS > nowS && expireS <= nowS + MAX_EXPIRE_AHEAD_S)) return badRequest(INVALID_EXPIRE_MESSAGE)
  const expected = createHmac('sha1', keys.privateKey).update(token + expireText).digest('hex')
  const given = Buffer.from(fields.get('signature')!)
  if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected))) return badRequest(INVALID_SIGNATURE_MESSAGE)
  // Burnt once known to come from the app's server (a request failing after this included): forged tokens,
  // which anyone may send, would fill the bounded table and push the used ones out, to be replayed.
  if (used.burn(token, expireS, nowS)) return badRequest(REUSED_TOKEN_MESSAGE)
  if (fields.get('publicKey') !== keys.publicKey) return new ApiError(403, WRONG_KEY_MESSAGE)
  return undefined
}
