/**
 * The ImageKit emulator: one node:http origin serving the three ImageKit hosts (§7: as @imagekit/nodejs sends
 * them when baseURL is overridden): the Media API (`/v1`, `/v2`), the Upload API (`/api/v1|v2/files/upload`)
 * and the URL endpoint (`/<id>/...`), plus `/_emulator/...` controls.
 *
 * Per request: request id → faults (latency, injected 5xx, mid-body reset) → auth → rate limit (Media API
 * only) → route. Errors thrown as ApiError become the API's JSON error body.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { SteppedClock, systemClock } from '../clock.js'
import { isDiskFull } from '../full-disk.js'
import { createLogger } from '../log.js'
import { makeDirs } from '../make-dirs.js'
import { SUPPORT_HELP } from '../imagekit/types.js'
import { adoptFilesTree } from './adopt.js'
import { checkBasicAuth } from './auth.js'
import { UsedTokens } from './client-auth.js'
import { CdnCache } from './cdn-cache.js'
import type { EmulatorContext } from './context.js'
import { lockDataDir } from './data-lock.js'
import { defaultFaultSettings, FaultInjector, type FaultControl, type FaultScope } from './faults.js'
import { DailyCounter } from './daily-counter.js'
import { responseDatedBy } from './dated-response.js'
import { EmbeddedFactsCache } from './embedded-cache.js'
import { EndpointUrls } from './endpoint-url.js'
import { PATH_TOO_LONG_MESSAGE } from './names.js'
import { resumePendingExtensions } from './extensions.js'
import { UrlBuilder } from './file-object.js'
import { ApiError, badRequest, sendApiError, sendJson } from './http-io.js'
import { newRequestId } from './ids.js'
import { JobRegistry } from './jobs.js'
import { resolveOptions, type EmulatorOptions } from './options.js'
import { RateLimiter } from './rate-limiter.js'
import { ADMIN_PREFIX, handleAdmin } from './routes/admin.js'
import { handleDelivery } from './routes/delivery.js'
import { MediaRoutes } from './routes/media.js'
import { handleUpload, refuseUpload } from './routes/upload.js'
import { Store } from './store.js'
import { TempFiles } from './temp-files.js'
import { WebhookSender } from './webhooks.js'

export type { EmulatorOptions } from './options.js'
export type { FaultSettings, FaultControl } from './faults.js'

export interface EmulatorHandle {
  /** `http://127.0.0.1:PORT`: base of the Media and Upload APIs. */
  url: string
  port: number
  /** `url + '/' + id`: the URL endpoint. */
  urlEndpoint: string
  faults: FaultControl
  close(): Promise<void>
}

type Scope = FaultScope | 'admin' | 'unknown'

/** The 411 of `refuseChunkedUploads`; says it comes from the emulator's setting. */
const CHUNKED_REFUSED_MESSAGE = 'Length Required: this emulator refuses uploads without Content-Length (refuseChunkedUploads).'
/** Body of injected 5xx answers; says it was injected so nobody hunts a real bug. */
const INJECTED_ERROR_MESSAGE = 'Internal server error (injected by the emulator).'

export async function startEmulator(options: EmulatorOptions): Promise<EmulatorHandle> {
  const resolved = resolveOptions(options)
  const logger = (options.logger ?? createLogger({ level: 'silent' })).child({ component: 'emulator' })
  // Stepped by POST /_emulator/clock (routes/admin.ts), as ImageKit's clock is from a client's view when the client's is.
  const stepped = options.clock ? undefined : new SteppedClock(systemClock, options.clockOffsetMs ?? 0)
  const clock = options.clock ?? (stepped as SteppedClock)
  const store = new Store(resolved.dataDir, clock, logger)
  makeDirs(store.metaDir)
  const unlock = lockDataDir(resolved.dataDir, store.metaDir)
  let adoption: Awaited<ReturnType<typeof adoptFilesTree>>
  try {
    await store.load()
    adoption = await adoptFilesTree(store)
    store.startJournal()
  } catch (e) {
    store.close()
    unlock()
    throw e
  }
  if (adoption.adopted + adoption.changed + adoption.dropped > 0) logger.info(adoption, 'reconciled files/ with the journal')
  if (adoption.emptyFiles > 0) logger.warn({ emptyFiles: adoption.emptyFiles }, 'adopted empty files: the real service cannot hold 0-byte files')

  const faults = new FaultInjector({ ...defaultFaultSettings(resolved.rateLimitPerSecond), rangeIgnoreRate: resolved.rangeIgnoreRate, ...options.faults })
  const server = createServer({ ServerResponse: responseDatedBy(clock) })
  server.keepAliveTimeout = 5_000
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(resolved.port, resolved.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (e) {
    store.close()
    unlock()
    throw e
  }
  const port = (server.address() as AddressInfo).port
  const hostForUrl = resolved.host.includes(':') ? `[${resolved.host}]` : resolved.host
  const url = `http://${hostForUrl}:${port}`
  const urlEndpoint = `${url}/${resolved.id}`
  const ctx: EmulatorContext = {
    options: resolved,
    store,
    cdn: new CdnCache(resolved.cdnStaleMs, clock, join(store.tmpDir, 'cdn')),
    clock,
    steppedClock: stepped,
    logger,
    urls: new UrlBuilder(urlEndpoint, resolved.publicUrlBase, resolved.urlEncoding),
    faults,
    rateLimiter: new RateLimiter(clock),
    jobs: new JobRegistry(clock, resolved.jobPendingMs, logger, () => (faults.get().refusedJobsComplete ? 'Completed' : 'Failed')),
    endpointPath: `/${resolved.id}`,
    endpointUrls: new EndpointUrls([urlEndpoint, resolved.publicUrlBase]),
    usage: { bandwidthBytes: new DailyCounter(), extensionUnits: new DailyCounter() },
    tempFiles: new TempFiles(store.tmpDir),
    uploadTokens: new UsedTokens(),
    embedded: new EmbeddedFactsCache(),
    webhooks: new WebhookSender(clock, logger, resolved.webhooks, resolved.webhookRetry),
  }
  const media = new MediaRoutes(ctx)
  const resumed = resumePendingExtensions(ctx)
  if (resumed > 0) logger.info({ resumed }, 'resumed extensions still pending from the last run')
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void serve(ctx, media, req, res)
  })

  const close = async (): Promise<void> => {
    ctx.jobs.close()
    ctx.webhooks.close()
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    await ctx.tempFiles.close()
    store.close()
    unlock()
  }

  if (resolved.seed === 'demo' && store.fileCount === 0) {
    try {
      await runDemoSeed(url, resolved.privateKey)
    } catch (e) {
      await close()
      throw e
    }
  }
  logger.info({ url, urlEndpoint, files: store.fileCount }, 'emulator listening')
  return { url, port, urlEndpoint, faults, close }
}

/** The demo seed lives in ./seed/demo.ts (another module); loaded only when asked for. */
async function runDemoSeed(baseUrl: string, privateKey: string): Promise<void> {
  const specifier = './seed/demo.js'
  const mod = (await import(specifier)) as { seedDemoLibrary: (o: { baseUrl: string; privateKey: string }) => Promise<void> }
  await mod.seedDemoLibrary({ baseUrl, privateKey })
}

function classify(pathname: string, endpointPath: string): { scope: Scope; rest: string } {
  if (pathname.startsWith(ADMIN_PREFIX + '/')) return { scope: 'admin', rest: pathname.slice(ADMIN_PREFIX.length) }
  if (/^\/api\/v[12]\/files\/upload\/?$/.test(pathname)) return { scope: 'upload', rest: '' }
  const api = /^\/v[12](\/.*)$/.exec(pathname)
  if (api) return { scope: 'api', rest: api[1] as string }
  if (pathname.startsWith(endpointPath + '/')) return { scope: 'delivery', rest: '' }
  return { scope: 'unknown', rest: '' }
}

async function serve(ctx: EmulatorContext, media: MediaRoutes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = newRequestId()
  res.setHeader('x-ik-requestId', requestId)
  const rawUrl = req.url ?? '/'
  const q = rawUrl.indexOf('?')
  const pathname = q < 0 ? rawUrl : rawUrl.slice(0, q)
  const { scope, rest } = classify(pathname, ctx.endpointPath)
  ctx.logger.debug({ reqId: requestId, method: req.method, url: rawUrl, scope }, 'request')
  if (scope === 'upload') {
    // Browsers upload straight to the upload host (client-side uploads): its answers carry these (captured
    // upload answers, §4.18), and a preflight (an upload with progress events sends one) is answered.
    res.setHeader('access-control-allow-origin', '*')
    res.setHeader('x-request-id', requestId)
    if (req.method === 'OPTIONS') return answerPreflight(req, res)
  }
  try {
    if (scope === 'admin') return await handleAdmin(ctx, req, res, rest)
    if (scope === 'unknown') throw new ApiError(404, 'The requested resource does not exist.')
    const decision = ctx.faults.decide(scope)
    if (decision.latencyMs > 0) await ctx.clock.sleep(decision.latencyMs)
    if (decision.errorStatus !== undefined) {
      res.setHeader('connection', 'close')
      sendJson(res, decision.errorStatus, { message: INJECTED_ERROR_MESSAGE, help: SUPPORT_HELP })
      req.resume()
      return
    }
    if (decision.reset === 'request') return cutRequestBody(req)
    if (decision.reset === 'response') cutMidBody(res)
    const changesLibrary = req.method !== 'GET' && req.method !== 'HEAD'
    const errorAfterWork = decision.reset === undefined && changesLibrary ? ctx.faults.errorAfterWork(scope) : undefined
    if (errorAfterWork !== undefined) answerErrorInsteadOfSuccess(res, errorAfterWork)
    if (scope === 'delivery') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError(405, 'Only GET and HEAD are served by the URL endpoint.')
      return await handleDelivery(ctx, req, res)
    }
    // An upload without Basic auth may authenticate in its form instead (client-side uploads: v1 signs a
    // token, v2 sends a JWT): checked there.
    const clientSide = scope === 'upload' && req.headers.authorization === undefined
    const denied = clientSide ? undefined : checkBasicAuth(req.headers.authorization, ctx.options.privateKey)
    if (denied) throw denied
    if (scope === 'upload') {
      if (req.method !== 'POST') throw new ApiError(405, 'Uploads are POST requests.')
      if (req.headers['content-length'] === undefined && ctx.faults.get().refuseChunkedUploads) throw new ApiError(411, CHUNKED_REFUSED_MESSAGE)
      return await handleUpload(ctx, req, res, !clientSide ? 'basic' : pathname.startsWith('/api/v2/') ? 'jwt' : 'form')
    }
    const settings = ctx.faults.get()
    const rate = ctx.rateLimiter.take(settings.rateLimit.perSecond, settings.rateLimitStorm)
    if (ctx.options.rateLimitHeaders === 'every') for (const [name, value] of Object.entries(rate.headers)) res.setHeader(name, value)
    if (rate.refusal) throw rate.refusal
    await media.handle(req, res, rest, new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1)))
  } catch (e) {
    answerError(ctx, req, res, e, requestId)
  }
}

/** CORS preflight of the upload host: any origin may POST the form with the headers it asks for (the emulator's answer; the real one is unconfirmed). */
function answerPreflight(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(204, {
    'access-control-allow-methods': 'POST, OPTIONS',
    'access-control-allow-headers': req.headers['access-control-request-headers'] ?? 'authorization, content-type',
    'access-control-max-age': '600',
    'content-length': '0',
  })
  res.end()
  req.resume()
}

function answerError(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, e: unknown, requestId: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const err = e instanceof ApiError ? e : isNameTooLong(e) ? badRequest(PATH_TOO_LONG_MESSAGE, 'INVALID_FOLDER_PATH') : new ApiError(500, 'Internal server error.')
  if (err.status === 500) ctx.logger.error({ err: e, reqId: requestId }, unexpectedErrorMessage(e))
  if (!req.complete) refuseUpload(req, res, err)
  else sendApiError(res, err)
}

/** A path the disk does not take (names.ts): the emulator's own limit, answered with a 400 in its own words. */
function isNameTooLong(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENAMETOOLONG'
}

/** A full disk under the data folder is the machine's doing, not a bug of the emulator's. */
function unexpectedErrorMessage(e: unknown): string {
  if (isDiskFull(e)) return 'the disk of the data folder is full: the request failed (500) and its change may be lost at restart'
  return 'emulator bug: unexpected error'
}

/** Fault: the connection drops while the request body arrives; nothing is handled, so nothing is stored. */
function cutRequestBody(req: IncomingMessage): void {
  req.once('data', () => req.socket.destroy())
  req.once('end', () => req.socket.destroy()) // a body with no data events
}

/** Fault: send the headers and half of the first body chunk, then destroy the connection. */
/**
 * The request's work goes on as usual, but a success it answers is replaced by `status` (connection closed,
 * as for injected errors): the client cannot tell that the library changed. Error answers pass unchanged.
 */
function answerErrorInsteadOfSuccess(res: ServerResponse, status: number): void {
  const { writeHead, write, end } = res
  let replaced = false
  const restore = (): void => {
    Object.assign(res, { writeHead, write, end })
  }
  res.writeHead = ((code: number, ...rest: unknown[]) => {
    if (code >= 200 && code < 300) {
      replaced = true
      return res
    }
    restore()
    return (writeHead as (...a: unknown[]) => ServerResponse).call(res, code, ...rest)
  }) as typeof res.writeHead
  res.write = ((...args: unknown[]) => replaced || (write as (...a: unknown[]) => boolean).apply(res, args)) as typeof res.write
  res.end = ((...args: unknown[]) => {
    restore()
    if (!replaced) return (end as (...a: unknown[]) => ServerResponse).apply(res, args)
    for (const name of res.getHeaderNames()) if (name !== 'x-ik-requestid') res.removeHeader(name)
    res.setHeader('connection', 'close')
    sendJson(res, status, { message: INJECTED_ERROR_MESSAGE, help: SUPPORT_HELP })
    return res
  }) as typeof res.end
}

function cutMidBody(res: ServerResponse): void {
  const write = res.write.bind(res) as (chunk: Buffer, cb: () => void) => boolean
  let cut = false
  const once = (chunk?: unknown, encoding?: unknown): void => {
    if (cut) return
    cut = true
    const buf = typeof chunk === 'string'
      ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
      : chunk instanceof Uint8Array ? Buffer.from(chunk) : Buffer.alloc(0)
    const part = buf.subarray(0, Math.floor(buf.length / 2))
    if (part.length === 0) res.flushHeaders()
    write(part, () => res.socket?.destroy())
    if (part.length === 0) setImmediate(() => res.socket?.destroy())
  }
  res.write = ((chunk: unknown, encoding?: unknown) => { once(chunk, encoding); return true }) as typeof res.write
  res.end = ((chunk?: unknown, encoding?: unknown) => { if (typeof chunk !== 'function') once(chunk, encoding); else once(); return res }) as typeof res.end
}
