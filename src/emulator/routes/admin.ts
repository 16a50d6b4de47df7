/**
 * Emulator control (not part of ImageKit): `GET /_emulator/health` (no auth, for readiness probes),
 * `GET|POST /_emulator/faults`, `POST /_emulator/cdn/expire` and `POST /_emulator/clock` (Basic auth with the
 * private key). The last sets `{offsetMs}`, what --clock-offset-ms set at start: the emulator's clock steps, as
 * a client sees ImageKit's clock step when its own is stepped.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { checkBasicAuth } from '../auth.js'
import type { EmulatorContext } from '../context.js'
import { FaultSettingsError, type FaultSettings } from '../faults.js'
import { ApiError, badRequest, readJsonBody, sendJson } from '../http-io.js'

export const ADMIN_PREFIX = '/_emulator'

export async function handleAdmin(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (path === '/health' && req.method === 'GET') {
    sendJson(res, 200, { status: 'ok', files: ctx.store.fileCount, urlEndpoint: ctx.urls.urlEndpoint })
    return
  }
  const denied = checkBasicAuth(req.headers.authorization, ctx.options.privateKey)
  if (denied) throw denied
  if (path === '/faults' && req.method === 'GET') {
    sendJson(res, 200, ctx.faults.get())
    return
  }
  if (path === '/faults' && req.method === 'POST') {
    const body = await readJsonBody(req)
    try {
      sendJson(res, 200, ctx.faults.set(body as Partial<FaultSettings>))
    } catch (e) {
      if (e instanceof FaultSettingsError) throw badRequest(e.message)
      throw e
    }
    return
  }
  if (path === '/clock' && req.method === 'POST') {
    const { offsetMs } = ((await readJsonBody(req)) ?? {}) as { offsetMs?: unknown }
    if (typeof offsetMs !== 'number' || !Number.isSafeInteger(offsetMs)) throw badRequest('offsetMs must be a whole number of milliseconds')
    if (!ctx.steppedClock) throw badRequest('this emulator was given its clock (startEmulator\'s clock option): it cannot be stepped')
    ctx.steppedClock.offsetMs = offsetMs
    sendJson(res, 200, { offsetMs })
    return
  }
  if (path === '/cdn/expire' && req.method === 'POST') {
    const dropped = ctx.cdn.size
    ctx.cdn.clear()
    sendJson(res, 200, { dropped })
    return
  }
  throw new ApiError(404, 'The requested resource does not exist.')
}
