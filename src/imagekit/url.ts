/**
 * URL building: the only place in ikfs that percent-encodes a remote path or a query string.
 *
 * Delivery paths are encoded the way the `imagekit` SDK (6.0.0) and the API's own `url` field encode them
 * (the WHATWG path percent-encode set: space, `"`, `#`, `<`, `>`, `?`, `` ` ``, `{`, `}`, controls and
 * non-ASCII become `%XX`; `$ & + , : ; = @ [ ] |` stay as they are; `^` as the runtime's URL has it, see
 * CARET_KEPT), with two deliberate differences:
 * - `%` becomes `%25` (the SDK leaves it raw, which makes `100%.jpg` an ambiguous URL);
 * - `\` becomes `%5C` (the SDK's URL parser turns it into `/`, i.e. a different file).
 * Signatures are computed over exactly the string built here, so building and signing must agree.
 */

/**
 * The URL Standard added `^` to the path percent-encode set in 2024: Node 24's URL encodes it, Node 20 and 22
 * keep it, and both SDKs build their URLs with the runtime's URL. Following the runtime keeps our URLs and
 * signatures identical to theirs on each Node version.
 */
const CARET_KEPT = new URL('http://x/^').pathname === '/^'

/** Characters encodeURIComponent escapes but ImageKit delivery paths keep verbatim (see the note above). */
const KEPT_IN_PATH = CARET_KEPT ? /%(24|26|2B|2C|3A|3B|3D|40|5B|5D|5E|7C)/g : /%(24|26|2B|2C|3A|3B|3D|40|5B|5D|7C)/g

/** Percent-encodes one path segment (no `/` inside). */
export function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment).replace(KEPT_IN_PATH, (escape) => decodeURIComponent(escape))
}

/** Percent-encodes a remote path (`/a b/c.jpg` → `/a%20b/c.jpg`), segment by segment, keeping the slashes. */
export function encodeRemotePath(remotePath: string): string {
  return remotePath.split('/').map(encodePathSegment).join('/')
}

export type QueryValues = Record<string, string | number | boolean | undefined>

/** `a=1&b=x%20y` for API calls: RFC 3986 encoding (spaces as %20), undefined values left out. */
export function apiQueryString(query: QueryValues): string {
  return Object.entries(query)
    .filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&')
}

/**
 * `${base}${route}` with `{name}` placeholders replaced by encoded values, plus the query string.
 * The route template itself (never the expanded URL) is what error messages show.
 */
export function apiUrl(base: string, routeTemplate: string, params: Record<string, string> = {}, query: QueryValues = {}): string {
  const path = routeTemplate.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name]
    if (value === undefined) throw new TypeError(`missing route parameter ${name} for ${routeTemplate}`)
    return encodePathSegment(value)
  })
  const search = apiQueryString(query)
  return `${trimTrailingSlashes(base)}${path}${search ? `?${search}` : ''}`
}

export function trimTrailingSlashes(url: string): string {
  return url.replace(/\/+$/, '')
}

/**
 * Appends query parameters to a URL as text, keeping whatever query it already has byte for byte
 * (the API's `url` carries `updatedAt` and `ik-obj-version`, which must reach the CDN unchanged).
 */
export function appendQuery(url: string, params: Record<string, string>): string {
  const extra = new URLSearchParams(params).toString()
  if (!extra) return url
  const hashAt = url.indexOf('#')
  const base = hashAt === -1 ? url : url.slice(0, hashAt)
  const separator = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?'
  return `${base}${separator}${extra}`
}

export interface BuildUrlOptions {
  /** e.g. `https://ik.imagekit.io/demo` (a trailing slash is ignored). */
  urlEndpoint: string
  /** Remote path, unencoded: `/photos/café 1.jpg`. */
  filePath: string
  /** Query parameters, serialised like the SDK does (application/x-www-form-urlencoded). */
  query?: Record<string, string>
  /** Path transformation without the `tr:` prefix, e.g. `w-300,h-200` → `/tr:w-300,h-200/<path>`. */
  transformationPath?: string
}

/** A delivery URL for a remote path: endpoint + optional `tr:` segment + encoded path + query. */
export function buildUrl(options: BuildUrlOptions): string {
  const endpoint = trimTrailingSlashes(options.urlEndpoint)
  const path = encodeRemotePath(options.filePath.startsWith('/') ? options.filePath : `/${options.filePath}`)
  const transformation = options.transformationPath ? `/tr:${options.transformationPath}` : ''
  return appendQuery(`${endpoint}${transformation}${path}`, options.query ?? {})
}

/** `?query` of a URL (without a fragment), or '' when it has none. */
export function queryOf(url: string | undefined): string {
  if (url === undefined) return ''
  const hashAt = url.indexOf('#')
  const noHash = hashAt === -1 ? url : url.slice(0, hashAt)
  const queryAt = noHash.indexOf('?')
  return queryAt === -1 || queryAt === noHash.length - 1 ? '' : noHash.slice(queryAt)
}

/** The path of a URL, for error messages and logs (no host, no query, so never a signature). */
export function pathOfUrl(url: string): string {
  try {
    return new URL(url).pathname
  } catch {
    return '(invalid URL)'
  }
}
