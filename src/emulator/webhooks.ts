/**
 * Extension webhooks (§4.3 `webhookUrl`): when an extension answered `pending` completes, its final status is
 * POSTed as JSON to the `webhookUrl` of the request that asked for it, one request per extension, as the
 * docs' "webhook payload structure" shows: `{service, status: "SUCCESS", fileObject}` (the file's details
 * after the extension) or `{service, status: "FAILURE", fileId, error}`. The service waits 30 s for a 200 and
 * retries for up to a day; the emulator tries once (a failure is logged) and never delays the API for it.
 */
import type { FileObject } from '../imagekit/types.js'
import type { EmulatorContext } from './context.js'

/** How long the service waits for the receiver's answer (docs). */
const WEBHOOK_TIMEOUT_MS = 30_000

export type ExtensionWebhook =
  | { service: string; status: 'SUCCESS'; fileObject: FileObject }
  | { service: string; status: 'FAILURE'; fileId: string; error: { message: string } }

/** Sends `payload` to `url` in the background (nothing when `--no-webhooks`, or `url` is not http(s)). */
export function sendWebhook(ctx: EmulatorContext, url: string, payload: ExtensionWebhook): void {
  if (!ctx.options.webhooks) return
  let target: URL
  try {
    target = new URL(url)
  } catch {
    ctx.logger.warn({ service: payload.service }, 'extension webhook not sent: webhookUrl is not a URL')
    return
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    ctx.logger.warn({ service: payload.service }, 'extension webhook not sent: webhookUrl is not http(s)')
    return
  }
  void fetch(target, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
  }).then(async (res) => {
    await res.body?.cancel()
    if (res.status !== 200) ctx.logger.warn({ service: payload.service, status: res.status, host: target.host }, 'extension webhook answered other than 200; the emulator does not retry')
  }, (err: unknown) => {
    ctx.logger.warn({ service: payload.service, host: target.host, err: String(err) }, 'extension webhook failed; the emulator does not retry')
  })
}
