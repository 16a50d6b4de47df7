/**
 * Scripted faults (5xx rate, latency, mid-body resets, 429 storms), drawn from a seeded PRNG so a failing
 * run can be replayed with the same seed. Changeable at run time through `FaultControl` or the admin route.
 */

export type FaultScope = 'api' | 'upload' | 'delivery'
export const FAULT_SCOPES: readonly FaultScope[] = ['api', 'upload', 'delivery']

export interface FaultSettings {
  /** Seed of the PRNG that draws every fault; setting it restarts the sequence. */
  seed: number
  /** Fraction (0..1) of requests in scope answered with one of `errorStatuses`. */
  errorRate: number
  errorStatuses: number[]
  /** Added before answering each request in scope. */
  latencyMs: number
  /** Fraction (0..1) of requests in scope whose connection is destroyed mid-way (see resetPhase). */
  resetRate: number
  /**
   * When an upload's connection is reset: `response` after the upload was stored (headers and half the
   * answer sent: the client cannot tell it was stored), `request` while its body arrives (nothing stored),
   * `both` half of each. Other requests are always cut in their response.
   */
  resetPhase: ResetPhase
  /** Which hosts the faults above hit. */
  scope: FaultScope[]
  /** The Media API budget; 0 = no limit. Lower it at run time to start a 429 storm. */
  rateLimit: { perSecond: number }
  /** Every rate-limited call answers 429 while on. */
  rateLimitStorm: boolean
  /**
   * Uploads sent without a Content-Length (chunked transfer encoding) are answered 411 before their body is
   * read, as a server that does not take streamed bodies would (whether ImageKit does is unconfirmed).
   */
  refuseChunkedUploads: boolean
  /** Fraction (0..1) of valid ranged GETs (delivery) answered 200 with the whole body instead of 206. */
  rangeIgnoreRate: number
  /**
   * Fraction (0..1) of requests in scope that change the library (not GET or HEAD) whose work is done and
   * whose success is then answered with one of `errorStatuses`, as a gateway that gave up waiting would.
   */
  errorAfterWorkRate: number
  /**
   * A folder job that the library no longer allows when it comes due (its source moved or deleted meanwhile,
   * its target name taken) changes nothing and reads `Completed` instead of `Failed`: the real service
   * documents no failure state (§4.13), so a client cannot count on one.
   */
  refusedJobsComplete: boolean
}

/** Every setting's name: a POST to the admin route naming anything else is refused, not stored unused. */
const SETTING_NAMES: ReadonlySet<string> = new Set<keyof FaultSettings>([
  'seed', 'errorRate', 'errorStatuses', 'latencyMs', 'resetRate', 'resetPhase', 'scope', 'rateLimit', 'rateLimitStorm',
  'refuseChunkedUploads', 'rangeIgnoreRate', 'errorAfterWorkRate', 'refusedJobsComplete',
])

export interface FaultControl {
  set(partial: Partial<FaultSettings>): FaultSettings
  get(): FaultSettings
  /** Back to the settings the emulator started with (PRNG reseeded). */
  reset(): FaultSettings
}

export type ResetPhase = 'request' | 'response' | 'both'
export const RESET_PHASES: readonly ResetPhase[] = ['request', 'response', 'both']

export interface FaultDecision {
  latencyMs: number
  errorStatus: number | undefined
  /** Where this request's connection is cut, if it is. */
  reset: 'request' | 'response' | undefined
}

export const DEFAULT_ERROR_STATUSES = [500, 502, 503, 504]

export function defaultFaultSettings(rateLimitPerSecond: number): FaultSettings {
  return {
    seed: 1,
    errorRate: 0,
    errorStatuses: [...DEFAULT_ERROR_STATUSES],
    latencyMs: 0,
    resetRate: 0,
    resetPhase: 'both',
    scope: [...FAULT_SCOPES],
    rateLimit: { perSecond: rateLimitPerSecond },
    rateLimitStorm: false,
    refuseChunkedUploads: false,
    rangeIgnoreRate: 0,
    errorAfterWorkRate: 0,
    refusedJobsComplete: false,
  }
}

/** mulberry32: tiny, fast, good enough to spread faults; deterministic per seed. */
export function createPrng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export class FaultInjector implements FaultControl {
  readonly #initial: FaultSettings
  #settings: FaultSettings
  #random: () => number

  constructor(initial: FaultSettings) {
    this.#initial = validateFaultSettings(structuredClone(initial))
    this.#settings = structuredClone(this.#initial)
    this.#random = createPrng(this.#settings.seed)
  }

  get(): FaultSettings {
    return structuredClone(this.#settings)
  }

  set(partial: Partial<FaultSettings>): FaultSettings {
    const unknown = Object.keys(partial ?? {}).filter((k) => !SETTING_NAMES.has(k))
    if (unknown.length > 0) {
      throw new FaultSettingsError(`unknown fault setting ${unknown.join(', ')}: the settings are ${[...SETTING_NAMES].join(', ')}`)
    }
    const next = validateFaultSettings({ ...this.#settings, ...structuredClone(partial) })
    if (partial.seed !== undefined) this.#random = createPrng(next.seed)
    this.#settings = next
    return this.get()
  }

  reset(): FaultSettings {
    this.#settings = structuredClone(this.#initial)
    this.#random = createPrng(this.#settings.seed)
    return this.get()
  }

  /** Draws the faults for one request (always two draws when in scope, so sequences replay exactly). */
  decide(scope: FaultScope): FaultDecision {
    const s = this.#settings
    if (!s.scope.includes(scope)) return { latencyMs: 0, errorStatus: undefined, reset: undefined }
    const errorDraw = this.#random()
    const resetDraw = this.#random()
    let errorStatus: number | undefined
    if (errorDraw < s.errorRate && s.errorStatuses.length > 0) {
      errorStatus = s.errorStatuses[Math.floor(this.#random() * s.errorStatuses.length)]
    }
    if (errorStatus !== undefined || !(resetDraw < s.resetRate)) return { latencyMs: s.latencyMs, errorStatus, reset: undefined }
    const phase = scope !== 'upload' ? 'response' : s.resetPhase === 'both' ? (resetDraw < s.resetRate / 2 ? 'request' : 'response') : s.resetPhase
    return { latencyMs: s.latencyMs, errorStatus, reset: phase }
  }

  /**
   * For a request that changes the library and drew no other fault: the error status to answer once its work
   * is done, or undefined. Draws only while the rate is above 0, so other settings' sequences replay as before.
   */
  errorAfterWork(scope: FaultScope): number | undefined {
    const s = this.#settings
    if (!(s.errorAfterWorkRate > 0) || !s.scope.includes(scope) || s.errorStatuses.length === 0) return undefined
    if (!(this.#random() < s.errorAfterWorkRate)) return undefined
    return s.errorStatuses[Math.floor(this.#random() * s.errorStatuses.length)]
  }

  /** One draw for "does this ranged GET ignore its range" (delivery only, when in scope). */
  ignoreRange(): boolean {
    const s = this.#settings
    return s.rangeIgnoreRate > 0 && s.scope.includes('delivery') && this.#random() < s.rangeIgnoreRate
  }
}

export class FaultSettingsError extends Error {}

function validateFaultSettings(s: FaultSettings): FaultSettings {
  const rate = (name: string, v: unknown) => {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new FaultSettingsError(`${name} must be a number from 0 to 1`)
  }
  rate('errorRate', s.errorRate)
  rate('resetRate', s.resetRate)
  rate('rangeIgnoreRate', s.rangeIgnoreRate)
  rate('errorAfterWorkRate', s.errorAfterWorkRate)
  if (!RESET_PHASES.includes(s.resetPhase)) throw new FaultSettingsError('resetPhase must be request, response or both')
  if (!Number.isInteger(s.seed)) throw new FaultSettingsError('seed must be an integer')
  if (typeof s.latencyMs !== 'number' || !(s.latencyMs >= 0)) throw new FaultSettingsError('latencyMs must be >= 0')
  if (!Array.isArray(s.errorStatuses) || s.errorStatuses.some((x) => !Number.isInteger(x) || x < 400 || x > 599)) {
    throw new FaultSettingsError('errorStatuses must be HTTP error statuses (400..599)')
  }
  if (!Array.isArray(s.scope) || s.scope.some((x) => !FAULT_SCOPES.includes(x))) {
    throw new FaultSettingsError('scope must be a list of api, upload, delivery')
  }
  if (typeof s.rateLimit !== 'object' || s.rateLimit === null || typeof s.rateLimit.perSecond !== 'number' || !(s.rateLimit.perSecond >= 0)) {
    throw new FaultSettingsError('rateLimit.perSecond must be >= 0')
  }
  if (typeof s.rateLimitStorm !== 'boolean') throw new FaultSettingsError('rateLimitStorm must be a boolean')
  if (typeof s.refuseChunkedUploads !== 'boolean') throw new FaultSettingsError('refuseChunkedUploads must be a boolean')
  if (typeof s.refusedJobsComplete !== 'boolean') throw new FaultSettingsError('refusedJobsComplete must be a boolean')
  return s
}
