/**
 * Extension webhooks (§4.3 `webhookUrl`): when an extension answered `pending` completes, its final status is
 * POSTed as JSON to the `webhookUrl` of the request that asked for it, one request per extension, as the
 * docs' "webhook payload structure" shows: `{service, status: "SUCCESS", fileObject}` (the file's details
 * after the extension) or `{service, status: "FAILURE", fileId, error}`.
 *
 * Delivery as the docs describe it: anything but a 200, or no answer within 30 s, is a failure, and the
 * service "will attempt webhook retries for a maximum of 24 hours in spaced intervals". The intervals are not
 * published: the emulator waits `firstDelayMs`, doubling up to `maxDelayMs`, and gives up once the next try
 * would come more than `forMs` after the first (all options, WebhookRetry). Retries live in memory: an
 * emulator stopped meanwhile drops them. Nothing here delays the API.
 */
import type { FileObject } from '../imagekit/types.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../log.js'

/** How long the service waits for the receiver's answer (docs). */
const WEBHOOK_TIMEOUT_MS = 30_000

export interface WebhookRetry {
  /** Wait before the first retry; 0 = never retry (one try only). */
  firstDelayMs: number
  /** Longest wait between two tries (each wait doubles the one before, up to this). */
  maxDelayMs: number
  /** No try starts later than this after the first one (docs: 24 hours). */
  forMs: number
}

/** The docs' 24 hours; the spacing (10 s doubling to an hour) is the emulator's, the real one is unpublished. */
export const DEFAULT_WEBHOOK_RETRY: WebhookRetry = { firstDelayMs: 10_000, maxDelayMs: 3_600_000, forMs: 86_400_000 }

export type ExtensionWebhook =
  | { service: string; status: 'SUCCESS'; fileObject: FileObject }
  | { service: string; status: 'FAILURE'; fileId: string; error: { message: string } }

export class WebhookSender {
  readonly #stop = new AbortController()

  constructor(
    readonly clock: Clock,
    readonly logger: Logger,
    /** false (`--no-webhooks`): nothing is sent. */
    readonly enabled: boolean,
    readonly retry: WebhookRetry = DEFAULT_WEBHOOK_RETRY,
  ) {}

  /** Sends `payload` to `url` in the background, retrying as above (nothing when disabled, or `url` is not http(s)). */
  send(url: string, payload: ExtensionWebhook): void {
    if (!this.enabled) return
    let target: URL
    try {
      target = new URL(url)
    } catch {
      this.logger.warn({ service: payload.service }, 'extension webhook not sent: webhookUrl is not a URL')
      return
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      this.logger.warn({ service: payload.service }, 'extension webhook not sent: webhookUrl is not http(s)')
      return
    }
    void this.#deliver(target, JSON.stringify(payload), payload.service)
  }

  /** Ends every wait for a retry and every try in flight (the emulator is closing). */
  close(): void {
    this.#stop.abort()
  }

  async #deliver(target: URL, body: string, service: string): Promise<void> {
    const started = this.clock.now()
    let delayMs = this.retry.firstDelayMs
    for (let attempt = 1; ; attempt += 1) {
      const failure = await this.#try(target, body)
      if (failure === undefined || this.#stop.signal.aborted) return
      const log = { service, host: target.host, attempt, failure }
      if (delayMs <= 0 || this.clock.now() + delayMs - started > this.retry.forMs) {
        this.logger.warn(log, 'extension webhook failed; giving up (the service retries for at most 24 hours)')
        return
      }
      this.logger.info({ ...log, retryInMs: delayMs }, 'extension webhook failed; retrying')
      try {
        await this.clock.sleep(delayMs, this.#stop.signal)
      } catch {
        return
      }
      if (this.#stop.signal.aborted) return // a clock that does not watch the signal
      delayMs = Math.min(delayMs * 2, this.retry.maxDelayMs)
    }
  }

  /** One POST; undefined when answered 200, else why it failed. */
  async #try(target: URL, body: string): Promise<string | undefined> {
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.any([AbortSignal.timeout(WEBHOOK_TIMEOUT_MS), this.#stop.signal]),
      })
      await res.body?.cancel()
      return res.status === 200 ? undefined : `answered ${res.status}`
    } catch (err) {
      return String(err)
    }
  }
}
