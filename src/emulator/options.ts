/**
 * Options of the ImageKit emulator: what `startEmulator()` takes, and the same values with defaults applied.
 * Every default names the reason for its value (shared/imagekit-api.md sections in brackets).
 */
import type { Clock } from '../clock.js'
import type { Logger } from '../log.js'
import type { ExtensionMode } from './extensions.js'
import type { FaultSettings } from './faults.js'
import { MAX_FOLDER_DEPTH } from './names.js'
import { DEFAULT_USAGE_CACHE_MS } from './usage-cache.js'
import { DEFAULT_WEBHOOK_RETRY, type WebhookRetry } from './webhooks.js'

export type NameMode = 'permissive' | 'strict'
export type UrlEncoding = 'uri' | 'sdk'
/** Which Media API answers carry the X-RateLimit-* headers (§1: the docs say every one, the spec only 429s). */
export type RateLimitHeaders = 'every' | '429'
/** How DELETE /v1/customMetadataFields/{id} answers (the docs: 204 with no body; the SDK 7 types: a `{}` body). */
export type CustomFieldDeleteStatus = 204 | 200
/** How the metadata API answers for a file that is neither an image nor a video/audio (§4.15, unconfirmed). */
export type NonImageMetadata = 400 | 200

export interface EmulatorOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number
  /** Library root: `files/` holds current bytes, `.ikemu/` metadata and older versions. */
  dataDir: string
  privateKey: string
  publicKey: string
  /** ImageKit id: the URL endpoint is `<url>/<id>`. Default `demo`. */
  id?: string
  /** Name rules (§3): `permissive` keeps names as sent (what the service does in practice); `strict` applies the documented rewriting. */
  names?: NameMode
  /** Largest accepted upload in bytes (images, audio, raw files). Default 26214400 (the free plan's live limit, §4.18). */
  maxUploadBytes?: number
  /**
   * Largest accepted upload of a video (by its name's type), in bytes. The plans (SDK 7's upload docs): free
   * 25 MB for images, audio and raw files and 100 MB for videos; Lite 40 MB and 300 MB; Pro 50 MB and 2 GB.
   * Default 104857600 (the free plan's), never below maxUploadBytes.
   */
  maxVideoUploadBytes?: number
  /**
   * How many folders deep a folder may nest (§3: the docs' 50, for the upload's `folder`; held for creates and
   * folder jobs too, unconfirmed). Default 50.
   */
  maxFolderDepth?: number
  /** How long an overwritten file's already-served URLs keep serving the old bytes (stale CDN, §6.2). Default 60000. */
  cdnStaleMs?: number
  /** "Restrict unsigned URLs" account setting (§5.3). Default false. */
  restrictUnsigned?: boolean
  /** One per-second budget for all non-upload API calls; 0 = off. Default 100/s (the only published figure, §1). */
  rateLimit?: { perSecond: number }
  /**
   * `every`: every rate-limited answer carries X-RateLimit-Limit/-Reset/-Interval, as the docs' rate-limit page
   * says; `429`: only the 429s, as the OpenAPI spec declares them (which is real for a 2xx is unconfirmed, §1).
   * Default `every`.
   */
  rateLimitHeaders?: RateLimitHeaders
  /**
   * Status of a custom metadata field's DELETE: 204 with an empty body, as the docs' page shows, or 200 with
   * `{}`, the body SDK 7's types declare (CustomMetadataFieldDeleteResponse); which one is real is unconfirmed.
   * Default 204.
   */
  customFieldDeleteStatus?: CustomFieldDeleteStatus
  /**
   * The metadata API (§4.15) on a file that is neither an image nor a video/audio (a .txt, a .pdf): 400
   * `The requested file is corrupt or invalid.`, the one 400 the API documents there (its docs describe
   * metadata of images and videos only), or 200 with a §2.4 object of zeros. No source shows which is real.
   * Default 400.
   */
  nonImageMetadata?: NonImageMetadata
  /**
   * How long the account usage API answers a date range with the numbers of its first call (§4.16: the API
   * caches them 6 hours per account and range). 0: always the numbers as they are now. Default 6 hours.
   */
  usageCacheMs?: number
  faults?: Partial<FaultSettings>
  /** Base of `url`/`thumbnail` in API answers instead of the URL endpoint (same path layout), for benchmarks. */
  publicUrlBase?: string
  /**
   * How `url`/`thumbnail` in API answers percent-encode `| ^ [ ]` (§5.1, unconfirmed): `uri` escapes them as
   * encodeURI does, `sdk` keeps them as the SDKs' delivery URLs do. Default `uri`. Delivery takes either.
   */
  urlEncoding?: UrlEncoding
  /**
   * Upload `file` given as an http(s) URL: fetched by the emulator, as the real service fetches it (§4.18).
   * Default true; false refuses such uploads (400), for an emulator that must not reach other hosts.
   */
  urlUploads?: boolean
  /** Fraction (0..1) of valid ranged GETs answered 200 with the full body instead of 206. Default 0. */
  rangeIgnoreRate?: number
  /** `demo`: fill an empty library with the demo media after start. */
  seed?: 'demo'
  /** Versions a file may have (current included) before upload/copy/move answers VERSION_LIMIT_EXCEEDED (§4.18). Default 100. */
  maxVersions?: number
  /**
   * How long a bulk job stays `Pending` before its change is made (§4.13), purge requests report `Pending`
   * (§4.14), and extensions answered `pending` take to store their results (§2.3). Default 200 ms.
   */
  jobPendingMs?: number
  /** How upload/update extensions end (§2.3, timing unconfirmed; see extensions.ts). Default `pending`. */
  extensions?: ExtensionMode
  /**
   * POST the final status of each pending extension to the request's `webhookUrl` when it completes (§4.3),
   * as the service does (retried: webhookRetry). Default true; false sends none, for an emulator that must not reach other hosts.
   */
  webhooks?: boolean
  /**
   * When a webhook answers other than 200 (or not within 30 s), tried again after `firstDelayMs`, doubling up
   * to `maxDelayMs`, for `forMs` (the docs: retries "for a maximum of 24 hours in spaced intervals"; the
   * spacing is unpublished). Default 10 s doubling to 1 h, for 24 h; `firstDelayMs: 0` tries once.
   */
  webhookRetry?: Partial<WebhookRetry>
  logger?: Logger
  clock?: Clock
  /**
   * The emulator's clock runs this many ms ahead of the machine's (negative: behind), as a service's clock may
   * differ from a client's: signed URL expiry, the times it stores and its Date header follow it. Ignored
   * when `clock` is given. Default 0.
   */
  clockOffsetMs?: number
}

/** Upload limit of the free plan, as quoted in a live error message (§4.18). */
export const DEFAULT_MAX_UPLOAD_BYTES = 26_214_400
/** The free plan's video limit, 100 MB in the same units as the live 25 MB (26214400 bytes). */
export const DEFAULT_MAX_VIDEO_UPLOAD_BYTES = 104_857_600
/** Long enough for a test to see stale bytes, short enough for a demo user to see the new ones soon. */
export const DEFAULT_CDN_STALE_MS = 60_000
/** The only published read figure (non-authoritative profile, §1). */
export const DEFAULT_RATE_LIMIT_PER_SECOND = 100
/** The documented version cap per file (§4.18). */
export const DEFAULT_MAX_VERSIONS = 100
/** Long enough that a client must poll at least once, short enough not to slow tests. */
export const DEFAULT_JOB_PENDING_MS = 200

export interface ResolvedOptions {
  host: string
  port: number
  dataDir: string
  privateKey: string
  publicKey: string
  id: string
  names: NameMode
  maxUploadBytes: number
  maxVideoUploadBytes: number
  cdnStaleMs: number
  maxFolderDepth: number
  restrictUnsigned: boolean
  rateLimitPerSecond: number
  rateLimitHeaders: RateLimitHeaders
  customFieldDeleteStatus: CustomFieldDeleteStatus
  nonImageMetadata: NonImageMetadata
  usageCacheMs: number
  publicUrlBase: string | undefined
  urlEncoding: UrlEncoding
  urlUploads: boolean
  rangeIgnoreRate: number
  seed: 'demo' | undefined
  maxVersions: number
  jobPendingMs: number
  extensions: ExtensionMode
  webhooks: boolean
  webhookRetry: WebhookRetry
}

export function resolveOptions(o: EmulatorOptions): ResolvedOptions {
  if (!o.dataDir) throw new TypeError('emulator: dataDir is required')
  if (!o.privateKey) throw new TypeError('emulator: privateKey is required')
  const id = o.id ?? 'demo'
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new TypeError('emulator: id must be letters, digits, _ or -')
  if (id === 'v1' || id === 'v2' || id === 'api' || id === '_emulator') throw new TypeError(`emulator: id "${id}" collides with an API path`)
  return {
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 0,
    dataDir: o.dataDir,
    privateKey: o.privateKey,
    publicKey: o.publicKey,
    id,
    names: o.names ?? 'permissive',
    maxUploadBytes: o.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    maxVideoUploadBytes: o.maxVideoUploadBytes ?? Math.max(DEFAULT_MAX_VIDEO_UPLOAD_BYTES, o.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES),
    cdnStaleMs: o.cdnStaleMs ?? DEFAULT_CDN_STALE_MS,
    maxFolderDepth: o.maxFolderDepth ?? MAX_FOLDER_DEPTH,
    restrictUnsigned: o.restrictUnsigned ?? false,
    rateLimitPerSecond: o.rateLimit?.perSecond ?? DEFAULT_RATE_LIMIT_PER_SECOND,
    rateLimitHeaders: o.rateLimitHeaders ?? 'every',
    customFieldDeleteStatus: o.customFieldDeleteStatus ?? 204,
    nonImageMetadata: o.nonImageMetadata ?? 400,
    usageCacheMs: o.usageCacheMs ?? DEFAULT_USAGE_CACHE_MS,
    publicUrlBase: o.publicUrlBase?.replace(/\/+$/, ''),
    urlEncoding: o.urlEncoding ?? 'uri',
    urlUploads: o.urlUploads ?? true,
    rangeIgnoreRate: o.rangeIgnoreRate ?? 0,
    seed: o.seed,
    maxVersions: o.maxVersions ?? DEFAULT_MAX_VERSIONS,
    jobPendingMs: o.jobPendingMs ?? DEFAULT_JOB_PENDING_MS,
    extensions: o.extensions ?? 'pending',
    webhooks: o.webhooks ?? true,
    webhookRetry: { ...DEFAULT_WEBHOOK_RETRY, ...o.webhookRetry },
  }
}
