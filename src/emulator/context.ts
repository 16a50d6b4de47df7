/** What every route and library operation shares, built once per emulator instance. */
import type { Clock, SteppedClock } from '../clock.js'
import type { Logger } from '../log.js'
import type { CdnCache } from './cdn-cache.js'
import type { DailyCounter } from './daily-counter.js'
import type { EmbeddedFactsCache } from './embedded-cache.js'
import type { EndpointUrls } from './endpoint-url.js'
import type { UsedTokens } from './client-auth.js'
import type { WebhookSender } from './webhooks.js'
import type { FaultInjector } from './faults.js'
import type { UrlBuilder } from './file-object.js'
import type { JobRegistry } from './jobs.js'
import type { ResolvedOptions } from './options.js'
import type { RateLimiter } from './rate-limiter.js'
import type { Store } from './store.js'
import type { TempFiles } from './temp-files.js'

export interface LibraryContext {
  options: ResolvedOptions
  store: Store
  cdn: CdnCache
  clock: Clock
  /** The clock when the emulator made it (no `clock` option given): `POST /_emulator/clock` steps it. */
  steppedClock?: SteppedClock
  logger: Logger
}

export interface EmulatorContext extends LibraryContext {
  urls: UrlBuilder
  faults: FaultInjector
  rateLimiter: RateLimiter
  jobs: JobRegistry
  /** Path of the URL endpoint on this origin (`/demo`). */
  endpointPath: string
  /** Which absolute URLs are the URL endpoint's (purge and metadata by URL refuse any other). */
  endpointUrls: EndpointUrls
  /** Bytes sent by the URL endpoint and extension units used (extensions.ts), for the usage API. */
  usage: { bandwidthBytes: DailyCounter; extensionUnits: DailyCounter }
  /** Files for upload bodies, created ahead of need. */
  tempFiles: TempFiles
  /** What each version's bytes embed, read once (details and metadata answers). */
  embedded: EmbeddedFactsCache
  /** Extension webhooks, retried as the service retries them. */
  webhooks: WebhookSender
  /** Tokens of client-side uploads already presented (single-use). */
  uploadTokens: UsedTokens
}
