/**
 * Which URLs the purge API takes (§4.14): a URL of the account's URL endpoint, purged exactly, or with a
 * trailing `*`, everything that starts with it. The documented wildcard rule: `*` only as the URL's last
 * character, and only when the path before it (after the id) has at least two folder levels, or is at least
 * 15 characters long, or is a complete file path (ends with an extension); `media/catalog/*` and `s/files/*`
 * are refused whatever the rule says. A URL of another host (endpoint-url.ts) and everything else is 400 `The URL is not valid for cache purging.`.
 */
import { parseDeliveryTarget } from './delivery-target.js'
import type { EndpointUrls } from './endpoint-url.js'

export const INVALID_PURGE_URL = 'The URL is not valid for cache purging.'

/** Long enough a path needs no nesting for a wildcard (§4.14). */
const WILDCARD_MIN_PATH_CHARS = 15
/** Paths the service refuses a wildcard on unconditionally (its docs' examples). */
const REFUSED_WILDCARD_PATHS = new Set(['media/catalog/', 's/files/'])

export interface PurgeTarget {
  /** The stale-CDN key (or key prefix) to drop. */
  cacheKey: string
  prefix: boolean
}

/** The purge a URL asks for, or undefined when the service would refuse it (another host's URL included). */
export function parsePurgeUrl(url: string, endpoints: EndpointUrls): PurgeTarget | undefined {
  const relative = endpoints.relative(url)
  if (!relative) return undefined
  const raw = relative.rawTarget
  const prefix = raw.endsWith('*')
  const exact = prefix ? raw.slice(0, -1) : raw
  if (exact.includes('*')) return undefined // a wildcard inside the path, or more than one
  const target = parseDeliveryTarget(exact, relative.endpointPath)
  if (!target) return undefined
  if (prefix && !wildcardAllowed((target.trPath ? target.trPath + '/' : '') + target.filePath.slice(1))) return undefined
  return { cacheKey: target.cacheKey, prefix }
}

/** `path`: what precedes the `*`, after the URL endpoint, without its leading `/`. */
function wildcardAllowed(path: string): boolean {
  if (REFUSED_WILDCARD_PATHS.has(path)) return false
  const levels = path.split('/').filter((s) => s !== '').length
  const lastSegment = path.slice(path.lastIndexOf('/') + 1)
  return levels >= 2 || path.length >= WILDCARD_MIN_PATH_CHARS || /\.[A-Za-z0-9]+$/.test(lastSegment)
}
