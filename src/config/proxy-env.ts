/**
 * HTTP proxies from the environment, read the way rclone reads them (Go's net/http): HTTPS_PROXY for https
 * URLs, HTTP_PROXY for http URLs, NO_PROXY for the hosts that bypass them; the uppercase name wins over the
 * lowercase one, and a proxy given without a scheme is an http:// proxy. Which request takes which proxy is
 * decided in imagekit/proxy.ts; here the values are only checked, so a typo stops `ikfs mount` with a clear
 * line instead of every request failing later. A proxy's credentials never appear in a message.
 */
import { ConfigError } from './config-error.js'

export interface ProxyEnv {
  /** Proxy for http:// URLs (absolute URL with scheme, credentials kept). */
  readonly httpProxy?: string
  /** Proxy for https:// URLs. */
  readonly httpsProxy?: string
  /** NO_PROXY as given: hosts, domains, IPs, CIDRs, each optionally with `:port`; `*` for all. */
  readonly noProxy?: string
}

const PROXY_SCHEMES = new Set(['http:', 'https:'])

export function proxyEnv(env: Readonly<Record<string, string | undefined>>): ProxyEnv {
  const httpProxy = pick(env, 'HTTP_PROXY')
  const httpsProxy = pick(env, 'HTTPS_PROXY')
  const noProxy = pick(env, 'NO_PROXY')
  return {
    ...(httpProxy ? { httpProxy: checkedProxyUrl(httpProxy.variable, httpProxy.value) } : {}),
    ...(httpsProxy ? { httpsProxy: checkedProxyUrl(httpsProxy.variable, httpsProxy.value) } : {}),
    ...(noProxy ? { noProxy: noProxy.value } : {}),
  }
}

function pick(env: Readonly<Record<string, string | undefined>>, upper: string): { variable: string; value: string } | undefined {
  for (const variable of [upper, upper.toLowerCase()]) {
    const value = env[variable]?.trim()
    if (value) return { variable, value }
  }
  return undefined
}

function checkedProxyUrl(variable: string, value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new ConfigError(`${variable} is not a proxy URL (expected http://host:port): ${withoutCredentials(value)}`)
  }
  if (!PROXY_SCHEMES.has(url.protocol)) {
    throw new ConfigError(`${variable}: ${url.protocol.slice(0, -1)} proxies are not supported; give an http:// or https:// proxy`)
  }
  if (url.hostname === '') throw new ConfigError(`${variable} names no proxy host: ${withoutCredentials(value)}`)
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new ConfigError(`${variable} must be a proxy's address alone (scheme, host, port), not a URL with a path: ${withoutCredentials(value)}`)
  }
  return url.href
}

/**
 * `user:secret@` taken out of a value that may not even parse as a URL: everything up to the last `@`, since a
 * password written without its URL encoding may hold `/`, `@` or spaces.
 */
function withoutCredentials(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/is, '$1[REDACTED]@')
}
