/**
 * HTTP to the ImageKit API and upload hosts: one undici Agent (keep-alive pools per origin, the cap on
 * concurrent connections; delivery hosts get a second Agent with the same settings and the socket reader's
 * pools, used by read.ts), each beside the ProxyAgents that HTTP(S)_PROXY asks for (origin-dispatchers.ts), the
 * auth header, timeouts, JSON decoding, and every status or socket failure turned into an ImageKitError
 * with a stable code. Only this file and read.ts look at status codes.
 *
 * Secrets: the Authorization header is built here and never logged; error messages carry the method and the
 * route template (`GET /v1/files/{fileId}/details`), the API's message and the request id, scrubbed of the
 * private key and URL signatures in case a server echoes them.
 */
import type { Readable } from 'node:stream'
import type { ConnectionOptions } from 'node:tls'
import { request, type Agent, type Dispatcher } from 'undici'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { redactUrl } from '../log.js'
import { requestBuffered, type BufferedResponse } from './buffered-request.js'
import { ClockSkew } from './clock-skew.js'
import { connectorReadingEarlyAnswers } from './early-answer.js'
import { DeliverySockets } from './delivery-sockets.js'
import { ImageKitError, type ImageKitCode } from './errors.js'
import { OriginDispatchers } from './origin-dispatchers.js'
import { ProxyRules, type ProxySettings } from './proxy.js'
import type { DeliveryClient } from './read.js'
import { CONNECTION_RECLAIMED, ConnectionUse, NO_FREE_CONNECTION, type OriginConnectionUse, type Reclaimable } from './reclaim.js'
import { abortedError, withRetry, type RetryContext, type RetryPolicy } from './retry.js'
import { isTooLargeAnswer, uploadLimitIn } from './too-large.js'
import { apiUrl, type QueryValues } from './url.js'

/** Idle keep-alive sockets are kept this long; ImageKit's edge closes idle connections after about a minute. */
export const KEEP_ALIVE_TIMEOUT_MS = 30_000
/** TCP + TLS handshake deadline; a healthy edge answers in well under a second. */
export const CONNECT_TIMEOUT_MS = 10_000
/** Error bodies are read up to this size for their message; the rest is dropped. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024
/** Longest API message quoted in an error message. */
const MAX_QUOTED_MESSAGE_CHARS = 300

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
/** Which kind of host answered: decides what 401/403 mean. */
export type HostKind = 'api' | 'upload' | 'delivery'

export interface HttpSettings {
  apiUrl: string
  /** Which client reads delivery URLs: ikfs's socket reader (the default) or undici. */
  deliveryClient?: DeliveryClient
  /** Extra TLS options for the socket reader's connections (tests: their own CA). */
  deliveryTls?: ConnectionOptions
  uploadUrl: string
  /** HTTP(S)_PROXY and NO_PROXY (config/proxy-env.ts); none: every request goes direct. */
  proxy?: ProxySettings
  privateKey: string
  userAgent: string
  requestTimeoutMs: number
  maxConnectionsPerOrigin: number
  policy: RetryPolicy
  clock: Clock
  random: () => number
  log: Logger
}

/** A request body made afresh for each attempt (so a stream can be replayed). */
export interface AttemptBody {
  /** An async iterable is sent chunk by chunk, each pulled once the socket took the previous one. */
  body: Readable | Buffer | AsyncIterable<Buffer>
  headers: Record<string, string>
  /** Releases what the attempt opened (file handles), whatever happened. */
  dispose(): void
}

export interface ApiCall {
  method: HttpMethod
  host: 'api' | 'upload'
  /** Route template with `{param}` placeholders, e.g. `/v1/files/{fileId}/details`. */
  route: string
  params?: Record<string, string>
  query?: QueryValues
  json?: unknown
  body?: () => Promise<AttemptBody>
  /**
   * Whether repeating the call after the server may already have acted is harmless. Non-idempotent calls
   * still retry when no response arrived or the response was 5xx/429, but not when a 2xx body was cut short.
   */
  idempotent: boolean
  signal?: AbortSignal
  /** Overrides the policy's maxRetries for this call (e.g. a quick preflight). */
  maxRetries?: number
  /** RequestOptions.giveUp. */
  giveUp?: (failure: ImageKitError) => boolean
  /**
   * Asked before each repeat, with the error the previous attempt ended in: true when an earlier attempt's work
   * is there (its answer was an error or lost), and the call then resolves (status 0, no body) instead of
   * doing the work again. Its own failure counts as false. For calls whose repeat would do the work twice
   * (a copy, an upload: a version each); a change whose repeat is refused instead (a rename's 404) is judged
   * once it failed, by vfs/lost-answer.ts, which no lookup before each repeat could replace: the last attempt's
   * lost answer and changes of several calls (folder jobs) end there too.
   */
  doneBeforeRepeat?: (previous: ImageKitError) => Promise<boolean>
  /** A 404 on a retry means an earlier attempt already succeeded (deletes whose response was lost). */
  notFoundOnRetryIsSuccess?: boolean
  /**
   * The caller needs only the status, not the body (rename, move): a 2xx whose body is cut short is then a
   * success, since the server acted, rather than an error that a non-idempotent call could not retry.
   */
  statusOnly?: boolean
}

export interface ApiResult {
  status: number
  /** Decoded JSON body, or undefined for an empty body. */
  value: unknown
  requestId?: string
  /** Attempt that produced this result (0 = first try). */
  attempt: number
}

/** A request askUploadHost() sends as it is, with the Authorization header. */
export interface UploadHostQuestion {
  method: HttpMethod
  route: string
  headers: Record<string, string>
  body: Buffer
}

export interface HostAnswer {
  status: number
  /** The `message` of a JSON object body, as ImageKit's APIs answer; undefined for any other body. */
  apiMessage?: string
}

export class HttpTransport {
  /** API and upload hosts. */
  readonly #api: OriginDispatchers
  /**
   * Delivery hosts (read.ts, through `dispatch`): their own pools, so long-running paused reads never hold
   * the connections API calls need when both are served from one origin (the emulator).
   */
  readonly #delivery: OriginDispatchers
  /** Delivery hosts for the socket reader (socket-range.ts), which speaks to origins directly only. */
  readonly deliverySockets: DeliverySockets
  /** The undici reader's count of delivery connections per origin, to take back paused ones (reclaim.ts). */
  readonly #deliveryUse: ConnectionUse<Reclaimable>
  readonly #proxies: ProxyRules
  readonly settings: HttpSettings
  /** How far the API's clock is ahead, as its latest answers show it (clock-skew.ts). */
  readonly clockSkew = new ClockSkew()
  readonly #authorization: string
  #closing: Promise<void> | undefined
  /**
   * GETs under way, aborted at close: whatever they would read (a `df`'s account usage, a prefetched listing)
   * is needed by nobody once the mount is gone, and a graceful close would wait out a silent host for them.
   * Other calls (uploads, deletes, moves) change the library: close waits for those.
   */
  readonly #reads = new Set<AbortController>()

  constructor(settings: HttpSettings) {
    this.settings = settings
    this.#authorization = `Basic ${Buffer.from(`${settings.privateKey}:`).toString('base64')}`
    const agentOptions: Agent.Options = {
      connections: settings.maxConnectionsPerOrigin,
      pipelining: 1,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: settings.requestTimeoutMs,
      bodyTimeout: settings.requestTimeoutMs,
      connect: { timeout: CONNECT_TIMEOUT_MS },
    }
    this.#proxies = new ProxyRules(settings.proxy)
    // API and upload calls send bodies: a refusal that comes before the body was all sent must be read, not lost
    // to the reset that follows it (early-answer.ts). Direct connections only: a proxy's pools connect their own way.
    const apiOptions: Agent.Options = { ...agentOptions, connect: connectorReadingEarlyAnswers({ timeout: CONNECT_TIMEOUT_MS }) }
    this.#api = new OriginDispatchers(this.#proxies, apiOptions, CONNECT_TIMEOUT_MS)
    this.#delivery = new OriginDispatchers(this.#proxies, agentOptions, CONNECT_TIMEOUT_MS)
    this.deliverySockets = new DeliverySockets({
      maxConnectionsPerOrigin: settings.maxConnectionsPerOrigin,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
      connectionWaitTimeoutMs: settings.requestTimeoutMs,
      ...(settings.deliveryTls ? { tls: settings.deliveryTls } : {}),
    })
    this.#deliveryUse = new ConnectionUse(settings.maxConnectionsPerOrigin)
  }

  /** One API or upload call with retries; resolves with the decoded body of a 2xx answer. */
  async call(call: ApiCall): Promise<ApiResult> {
    if (call.method === 'GET') return this.#read(call)
    const operation = `${call.method} ${call.route}`
    let previous: ImageKitError | undefined
    const attempt = async (n: number): Promise<ApiResult> => {
      try {
        return await this.#attempt(call, n, previous)
      } catch (e) {
        if (e instanceof ImageKitError) previous = e
        throw e
      }
    }
    return withRetry(attempt, this.retryContext(operation, call.signal, call.maxRetries, call.giveUp))
  }

  /** call() for a GET, which close() aborts. */
  async #read(call: ApiCall): Promise<ApiResult> {
    const stop = new AbortController()
    if (this.#closing) stop.abort()
    const callerAborted = (): void => stop.abort(call.signal?.reason)
    if (call.signal?.aborted) callerAborted()
    call.signal?.addEventListener('abort', callerAborted, { once: true })
    this.#reads.add(stop)
    try {
      const read = { ...call, signal: stop.signal }
      const operation = `${call.method} ${call.route}`
      return await withRetry((attempt) => this.#attempt(read, attempt), this.retryContext(operation, stop.signal, call.maxRetries, call.giveUp))
    } finally {
      this.#reads.delete(stop)
      call.signal?.removeEventListener('abort', callerAborted)
    }
  }

  /**
   * Whether the host of `url` answers at all: any HTTP answer will do (the root of a URL endpoint is often a
   * 404, of a private one a 401). Rejects with IK_NETWORK or IK_TIMEOUT when no answer comes. No credentials
   * are sent: the URL endpoint never gets them, and the upload host needs none to answer.
   */
  probe(url: string, host: 'upload' | 'delivery', signal?: AbortSignal, maxRetries?: number): Promise<number> {
    return withRetry(() => this.#probeOnce(url, host, signal), this.retryContext(`HEAD ${redactUrl(url)}`, signal, maxRetries))
  }

  async #probeOnce(url: string, host: 'upload' | 'delivery', signal?: AbortSignal): Promise<number> {
    const target = new URL(url)
    const route = redactUrl(url)
    try {
      const response = await request(target, {
        dispatcher: host === 'delivery' ? this.#delivery.for(target) : this.#api.for(target),
        method: 'HEAD',
        headers: this.baseHeaders(false),
        signal,
        headersTimeout: this.settings.requestTimeoutMs,
        bodyTimeout: this.settings.requestTimeoutMs,
      })
      await response.body.dump()
      return response.statusCode
    } catch (error) {
      throw errorFromException(error, { method: 'HEAD', route, signal, retriable: true })
    }
  }

  /**
   * One authenticated request to the upload host whose answer, whatever its status, is the result: for a check
   * of what server is there (upload.ts probeUploadHost). Retried, like probe(), only when no answer came.
   */
  askUploadHost(request: UploadHostQuestion, signal?: AbortSignal, maxRetries?: number): Promise<HostAnswer> {
    const operation = `${request.method} ${request.route}`
    return withRetry(() => this.#askOnce(request, signal), this.retryContext(operation, signal, maxRetries))
  }

  async #askOnce(question: UploadHostQuestion, signal?: AbortSignal): Promise<HostAnswer> {
    const url = new URL(apiUrl(this.settings.uploadUrl, question.route))
    try {
      const response = await requestBuffered({
        dispatcher: this.#api.for(url),
        url,
        method: question.method,
        headers: { ...this.baseHeaders(true), accept: 'application/json', ...question.headers },
        body: question.body,
        signal,
        headersTimeout: this.settings.requestTimeoutMs,
        bodyTimeout: this.settings.requestTimeoutMs,
        errorBodyLimit: MAX_ERROR_BODY_BYTES,
      })
      const text = (await response.body()).subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8')
      const { message } = parseErrorBody(text)
      return { status: response.statusCode, ...(message === undefined ? {} : { apiMessage: quotable(message, (t) => this.scrub(t)) }) }
    } catch (error) {
      throw errorFromException(error, { method: question.method, route: question.route, signal, retriable: true })
    }
  }

  retryContext(operation: string, signal?: AbortSignal, maxRetries?: number, giveUp?: (failure: ImageKitError) => boolean): RetryContext {
    const { policy, clock, random, log } = this.settings
    return {
      policy: maxRetries === undefined ? policy : { ...policy, maxRetries },
      clock,
      random,
      log,
      operation,
      signal,
      ...(giveUp ? { giveUp } : {}),
    }
  }

  /** The undici dispatcher for a delivery URL (direct, or its proxy). */
  deliveryDispatcher(url: URL): Dispatcher {
    return this.#delivery.for(url)
  }

  /** How the undici reader's requests to `origin` use its connections. */
  deliveryConnectionUse(origin: string): OriginConnectionUse<Reclaimable> {
    return this.#deliveryUse.for(origin)
  }

  /** Whether a delivery URL goes through a proxy (then undici reads it: the socket reader connects directly). */
  proxied(url: URL): boolean {
    return this.#proxies.proxyFor(url) !== undefined
  }

  /**
   * ` through proxy http://host:port` for messages about `url`; when it goes direct, nothing, or why no proxy
   * applies when one is set for the other scheme only.
   */
  viaProxy(url: string): string {
    const target = new URL(url)
    const through = this.#proxies.throughProxy(target)
    if (through) return through
    const hint = this.#proxies.otherSchemeOnly(target)
    return hint ? ` directly (${hint})` : ''
  }

  /** Headers every request sends; `auth` only for API and upload hosts, never for delivery URLs. */
  baseHeaders(auth: boolean): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': this.settings.userAgent }
    if (auth) headers.authorization = this.#authorization
    return headers
  }

  /** Removes the private key, the Authorization value and URL signatures from text that came from outside. */
  scrub(text: string): string {
    let scrubbed = redactUrl(text)
    for (const secret of [this.#authorization.slice('Basic '.length), this.settings.privateKey]) {
      if (secret.length > 0) scrubbed = scrubbed.split(secret).join('[REDACTED]')
    }
    return scrubbed
  }

  /**
   * Closes the pools (once: later calls get the same promise). GETs under way are given up (see #reads), and
   * delivery responses still open are dropped (a paused read would otherwise hold a graceful close forever);
   * their `deliver` rejects.
   */
  close(): Promise<void> {
    this.deliverySockets.close()
    for (const read of this.#reads) read.abort()
    this.#closing ??= Promise.all([this.#api.close(), this.#delivery.destroy()]).then(() => undefined)
    return this.#closing
  }

  /** `previous`: the error the attempt before this one ended in (withRetry repeats only after ImageKitErrors). */
  async #attempt(call: ApiCall, attempt: number, previous?: ImageKitError): Promise<ApiResult> {
    const base = call.host === 'api' ? this.settings.apiUrl : this.settings.uploadUrl
    const target = new URL(apiUrl(base, call.route, call.params, call.query))
    if (attempt > 0 && previous && call.doneBeforeRepeat && (await call.doneBeforeRepeat(previous).catch(() => false))) {
      this.settings.log.debug({ operation: `${call.method} ${call.route}`, attempt }, 'not repeated: the earlier attempt did the work')
      return { status: 0, value: undefined, attempt }
    }
    const headers = this.baseHeaders(true)
    headers.accept = 'application/json'
    let body: string | Buffer | Readable | AsyncIterable<Buffer> | undefined
    let attemptBody: AttemptBody | undefined
    if (call.json !== undefined) {
      body = JSON.stringify(call.json)
      headers['content-type'] = 'application/json'
    } else if (call.body) {
      attemptBody = await call.body()
      body = attemptBody.body
      Object.assign(headers, attemptBody.headers)
    }
    const failure = { method: call.method, route: call.route, signal: call.signal }
    const sentMs = this.settings.clock.now()
    try {
      let response: BufferedResponse
      try {
        response = await requestBuffered({
          dispatcher: this.#api.for(target),
          url: target,
          method: call.method,
          headers,
          // undici takes async iterables (docs: Dispatcher.request body); its type declarations lag behind.
          body: body as Dispatcher.DispatchOptions['body'],
          signal: call.signal,
          headersTimeout: this.settings.requestTimeoutMs,
          bodyTimeout: this.settings.requestTimeoutMs,
          errorBodyLimit: MAX_ERROR_BODY_BYTES,
        })
      } catch (error) {
        throw errorFromException(error, { ...failure, retriable: true })
      }
      const requestId = requestIdOf(response.headers)
      this.settings.log.debug({ operation: `${call.method} ${call.route}`, status: response.statusCode, requestId, attempt }, 'api response')
      if (response.statusCode === 404 && attempt > 0 && call.notFoundOnRetryIsSuccess) {
        await response.body().catch(() => undefined)
        this.settings.log.debug({ operation: `${call.method} ${call.route}`, requestId, attempt }, '404 on retry: the earlier attempt succeeded')
        return { status: 404, value: undefined, requestId, attempt }
      }
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const text = await response.body().then((b) => b.toString('utf8'), () => '')
        throw errorFromStatus({
          host: call.host,
          method: call.method,
          route: call.route,
          status: response.statusCode,
          headers: response.headers,
          bodyText: text,
          scrub: (s) => this.scrub(s),
        })
      }
      let text: string
      try {
        text = (await response.body()).toString('utf8')
      } catch (error) {
        if (call.statusOnly) {
          this.settings.log.debug({ operation: `${call.method} ${call.route}`, requestId, attempt }, '2xx body cut short: the status says it is done')
          return { status: response.statusCode, value: undefined, requestId, attempt }
        }
        // The server may already have acted: only idempotent calls may try again.
        throw errorFromException(error, { ...failure, retriable: call.idempotent, requestId, status: response.statusCode })
      }
      const value = decodeJson(text, call.method, call.route, requestId)
      this.clockSkew.observe(response.headers.date, sentMs, this.settings.clock.now())
      return { status: response.statusCode, value, requestId, attempt }
    } finally {
      attemptBody?.dispose()
    }
  }
}

function decodeJson(text: string, method: string, route: string, requestId: string | undefined): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch (cause) {
    throw new ImageKitError('IK_BAD_RESPONSE', withRequestId(`${method} ${route}: response is not JSON`, requestId), {
      method,
      route,
      requestId,
      cause,
    })
  }
}

export function requestIdOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const value = headers['x-ik-requestid'] ?? headers['x-request-id']
  return Array.isArray(value) ? value[0] : value
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

function withRequestId(message: string, requestId: string | undefined): string {
  return requestId ? `${message} (requestId ${requestId})` : message
}

export interface StatusFailure {
  host: HostKind
  method: string
  route: string
  status: number
  headers: Record<string, string | string[] | undefined>
  bodyText: string
  scrub: (text: string) => string
}

/** Status code → ImageKitError. Error bodies may be JSON `{message, reason}` or plain text (5xx pages). */
export function errorFromStatus(failure: StatusFailure): ImageKitError {
  const { status, method, route } = failure
  const requestId = requestIdOf(failure.headers)
  const body = parseErrorBody(failure.bodyText)
  // A body that is not ImageKit's JSON (a proxy's page) is quoted as it is.
  const apiMessage = body.message ?? failure.bodyText
  const quoted = quotable(apiMessage, failure.scrub)
  const message = withRequestId(`${method} ${route}: ${status}${quoted ? ` ${quoted}` : ''}`, requestId)
  let code: ImageKitCode
  let retriable = false
  let retryAfterMs: number | undefined
  if (status === 407) {
    // From a proxy (http URLs reach it as plain requests): its page says nothing useful to our users.
    return new ImageKitError('IK_NETWORK', withRequestId(`${method} ${route}: ${PROXY_AUTH_PHRASE}`, requestId), { status, method, route, requestId })
  }
  // The Upload API's one 400 that passes ("You have sent too many requests to update the file recently. Please
  // try again later.", §4.18) is throttling, retried as a 429 is: every other 400 is final.
  if (status === 400 && /try again later/i.test(apiMessage)) [code, retriable] = ['IK_RATE_LIMITED', true]
  else if (status === 400) code = isTooLargeAnswer(apiMessage) ? 'IK_TOO_LARGE' : 'IK_BAD_REQUEST'
  else if (status === 413) code = 'IK_TOO_LARGE' // from a proxy or load balancer in front of the API
  else if (status === 401 || status === 403) code = failure.host === 'delivery' ? 'IK_FORBIDDEN' : 'IK_UNAUTHORIZED'
  else if (status === 404) code = 'IK_NOT_FOUND'
  else if (status === 408) [code, retriable] = ['IK_TIMEOUT', true]
  else if (status === 409) code = 'IK_CONFLICT'
  else if (status === 416) code = 'IK_RANGE_NOT_SATISFIABLE'
  else if (status === 429) {
    code = 'IK_RATE_LIMITED'
    retriable = true
    const reset = Number(header(failure.headers, 'x-ratelimit-reset'))
    retryAfterMs = Number.isFinite(reset) && reset >= 0 ? reset : undefined
  } else if (status >= 500) {
    code = 'IK_SERVER'
    retriable = status === 500 || status === 502 || status === 503 || status === 504
  } else if (status >= 400) code = 'IK_BAD_REQUEST'
  else code = 'IK_BAD_RESPONSE'
  const limitBytes = code === 'IK_TOO_LARGE' ? uploadLimitIn(apiMessage) : undefined
  return new ImageKitError(code, message, { status, method, route, requestId, reason: body.reason, retriable, retryAfterMs, limitBytes })
}

/**
 * An error body as ImageKit's APIs write it, a JSON object `{message, reason, errors}`: its message (with the
 * fields `errors` names), undefined for any other body (a plain-text page, another server's JSON).
 */
function parseErrorBody(text: string): { message?: string; reason?: string } {
  try {
    const parsed = JSON.parse(text) as unknown
    if (parsed && typeof parsed === 'object') {
      const record = parsed as Record<string, unknown>
      const message = typeof record.message === 'string' ? record.message : undefined
      const reason = typeof record.reason === 'string' ? record.reason : undefined
      const details = fieldErrorsOf(record.errors)
      return { message: details ? `${message ?? ''} (${details})` : message, reason }
    }
  } catch {
    // Not JSON: a plain-text error page.
  }
  return {}
}

/** An API's message as errors quote it: scrubbed, on one line, at most MAX_QUOTED_MESSAGE_CHARS. */
function quotable(message: string, scrub: (text: string) => string): string {
  return scrub(message).replace(/\s+/g, ' ').trim().slice(0, MAX_QUOTED_MESSAGE_CHARS)
}

/**
 * A validation answer's `errors` object (`{"errors": {"minValue": "should be of type number"}}`: custom
 * metadata and its fields) as "minValue: should be of type number; …", so the log says what was refused.
 */
function fieldErrorsOf(errors: unknown): string | undefined {
  if (!errors || typeof errors !== 'object' || Array.isArray(errors)) return undefined
  const parts = Object.entries(errors as Record<string, unknown>).filter(([, v]) => typeof v === 'string').map(([k, v]) => `${k}: ${v as string}`)
  return parts.length > 0 ? parts.join('; ') : undefined
}

export interface ExceptionContext {
  method: string
  route: string
  signal?: AbortSignal
  /** Whether trying again is safe for this failure (see ApiCall.idempotent). */
  retriable: boolean
  requestId?: string
  /** The response's status, when the failure came while reading its body (a 2xx: the server acted). */
  status?: number
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', NO_FREE_CONNECTION])
/** Network failures that say nothing about the request itself; worth another try. */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
])

const NETWORK_PHRASES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  ECONNABORTED: 'connection aborted',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network down',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CLOSED: 'connection closed',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'response shorter than its Content-Length',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers in time',
  UND_ERR_BODY_TIMEOUT: 'response body stalled',
  [NO_FREE_CONNECTION]: 'no connection became free in time (every connection to the host is busy)',
  [CONNECTION_RECLAIMED]: 'paused response gave its connection to a waiting request',
}

/** The errno-like code of a socket or undici error (AggregateError from happy eyeballs included). */
export function errorCodeOf(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined
  const record = error as { code?: unknown; errors?: unknown; cause?: unknown }
  if (typeof record.code === 'string') return record.code
  if (Array.isArray(record.errors) && record.errors.length > 0) return errorCodeOf(record.errors[0])
  if (record.cause) return errorCodeOf(record.cause)
  return undefined
}

const PROXY_AUTH_PHRASE = 'the proxy wants credentials (407): give them in the proxy URL, http://user:password@host:port'

/**
 * The status a proxy refused a request with, from undici's error message: a CONNECT tunnel (https URLs)
 * answered with anything but 200, or a 407 to a plain request (http URLs), which undici throws as well.
 */
function proxyRefusal(error: unknown): number | undefined {
  for (let e = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const m = /^(?:Proxy response \((\d{3})\) !== 200|Proxy Authentication Required \((407)\))/.exec(String((e as { message?: unknown }).message ?? ''))
    if (m) return Number(m[1] ?? m[2])
  }
  return undefined
}

/** A human phrase for a network failure: `connection refused`. */
export function networkPhrase(error: unknown): string {
  const refused = proxyRefusal(error)
  if (refused !== undefined) return refused === 407 ? PROXY_AUTH_PHRASE : `the proxy refused to connect (${refused})`
  const code = errorCodeOf(error)
  return (code && NETWORK_PHRASES[code]) ?? (code ? `network error ${code}` : 'network error')
}

/** A thrown socket/undici/abort error → ImageKitError (IK_ABORTED, IK_TIMEOUT or IK_NETWORK). */
export function errorFromException(error: unknown, context: ExceptionContext): ImageKitError {
  if (error instanceof ImageKitError) return error
  const { method, route, requestId, status } = context
  if (context.signal?.aborted) return abortedError(`${method} ${route}`, error)
  const code = errorCodeOf(error)
  const phrase = networkPhrase(error)
  const refused = proxyRefusal(error)
  const named = code && !phrase.includes(code) && refused === undefined
  const message = withRequestId(`${method} ${route}: ${phrase}${named ? ` (${code})` : ''}`, requestId)
  if (code === CONNECTION_RECLAIMED) {
    return new ImageKitError('IK_RECLAIMED', message, { method, route, requestId, status, retriable: true, cause: error })
  }
  if (code && TIMEOUT_CODES.has(code)) {
    return new ImageKitError('IK_TIMEOUT', message, { method, route, requestId, status, retriable: context.retriable, cause: error })
  }
  const transient = refused === undefined ? code !== undefined && TRANSIENT_NETWORK_CODES.has(code) : refused >= 500
  return new ImageKitError('IK_NETWORK', message, {
    method,
    route,
    requestId,
    status,
    retriable: transient && context.retriable,
    cause: error,
  })
}
