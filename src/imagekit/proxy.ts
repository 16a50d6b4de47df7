/**
 * Which proxy a request URL goes through, by the rules rclone follows (Go's golang.org/x/net/http/httpproxy):
 * - https URLs take the https proxy, http URLs the http proxy; neither falls back to the other.
 * - `localhost` and loopback addresses are never proxied (so a local emulator stays direct).
 * - NO_PROXY is a comma-separated list: `*` (nothing is proxied); an IP or a CIDR (`10.0.0.0/8`); a domain,
 *   which matches itself and its subdomains (`example.com`); `.example.com` or `*.example.com`, which match
 *   subdomains only. Any entry but a CIDR may end in `:port`, then it matches that port only.
 */
import { BlockList, isIP } from 'node:net'

export interface ProxySettings {
  httpProxy?: string
  httpsProxy?: string
  noProxy?: string
}

interface DomainRule {
  /** With a leading dot. */
  suffix: string
  /** The bare domain matches too (the entry had no leading dot or `*.`). */
  matchesItself: boolean
  port: string
}

interface IpRule {
  ip: string
  port: string
}

export class ProxyRules {
  readonly #httpProxy: URL | undefined
  readonly #httpsProxy: URL | undefined
  readonly #bypassAll: boolean = false
  readonly #domains: DomainRule[] = []
  readonly #ips: IpRule[] = []
  readonly #cidrs = new BlockList()

  constructor(settings: ProxySettings = {}) {
    this.#httpProxy = settings.httpProxy ? new URL(settings.httpProxy) : undefined
    this.#httpsProxy = settings.httpsProxy ? new URL(settings.httpsProxy) : undefined
    for (const raw of (settings.noProxy ?? '').split(',')) {
      const entry = raw.trim().toLowerCase()
      if (entry === '') continue
      if (entry === '*') {
        this.#bypassAll = true
        continue
      }
      if (this.#addCidr(entry)) continue
      const { host, port } = splitHostPort(entry)
      if (host === '') continue
      if (isIP(host)) {
        this.#ips.push({ ip: canonicalIp(host), port })
        continue
      }
      const bare = host.startsWith('*.') ? host.slice(1) : host
      this.#domains.push({ suffix: bare.startsWith('.') ? bare : `.${bare}`, matchesItself: !bare.startsWith('.'), port })
    }
  }

  /** True when some request could go through a proxy (for logs and choosing a reader). */
  get any(): boolean {
    return (this.#httpProxy !== undefined || this.#httpsProxy !== undefined) && !this.#bypassAll
  }

  /**
   * For a URL that goes direct while a proxy is set for the other scheme, why: HTTP_PROXY alone is a common
   * setting (curl reads it for http:// URLs only, too), and the API and CDN are https.
   */
  otherSchemeOnly(url: URL): string | undefined {
    if (this.proxyFor(url) !== undefined || this.#bypassed(url)) return undefined
    if (url.protocol === 'https:' && this.#httpProxy && !this.#httpsProxy) return 'HTTP_PROXY serves http:// URLs only; set HTTPS_PROXY for https:// ones'
    if (url.protocol === 'http:' && this.#httpsProxy && !this.#httpProxy) return 'HTTPS_PROXY serves https:// URLs only; set HTTP_PROXY for http:// ones'
    return undefined
  }

  /** ` through proxy http://host:port` (no credentials) for messages about `url`, or '' when it goes direct. */
  throughProxy(url: URL): string {
    const proxy = this.proxyFor(url)
    return proxy ? ` through proxy ${describeProxy(proxy)}` : ''
  }

  /** The proxy for `url`, or undefined when it goes direct. */
  proxyFor(url: URL): URL | undefined {
    const proxy = url.protocol === 'https:' ? this.#httpsProxy : url.protocol === 'http:' ? this.#httpProxy : undefined
    return proxy && !this.#bypassed(url) ? proxy : undefined
  }

  /** NO_PROXY (or loopback) sends `url` direct, whatever proxy its scheme has. */
  #bypassed(url: URL): boolean {
    if (this.#bypassAll) return true
    const host = stripBrackets(url.hostname.toLowerCase())
    const port = url.port || (url.protocol === 'https:' ? '443' : '80')
    if (host === 'localhost' || isLoopback(host)) return true
    if (isIP(host)) {
      const ip = canonicalIp(host)
      return this.#ips.some((r) => r.ip === ip && (r.port === '' || r.port === port)) || this.#cidrs.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4')
    }
    return this.#domains.some((r) =>
      (host.endsWith(r.suffix) || (r.matchesItself && host === r.suffix.slice(1))) && (r.port === '' || r.port === port))
  }

  #addCidr(entry: string): boolean {
    const slash = entry.lastIndexOf('/')
    if (slash < 0) return false
    const address = entry.slice(0, slash)
    const prefix = Number(entry.slice(slash + 1))
    const family = isIP(address)
    if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) return false
    this.#cidrs.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4')
    return true
  }
}

/** A proxy URL fit for logs and messages (no credentials). */
export function describeProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.username || proxy.password ? '[REDACTED]@' : ''}${proxy.host}`
}

function splitHostPort(entry: string): { host: string; port: string } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry)
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] ?? '' }
  if (isIP(entry) === 6) return { host: entry, port: '' }
  const m = /^(.*):(\d+)$/.exec(entry)
  return m ? { host: m[1]!, port: m[2]! } : { host: entry, port: '' }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function isLoopback(host: string): boolean {
  const family = isIP(host)
  if (family === 4) return host.startsWith('127.')
  if (family === 6) return canonicalIp(host) === '::1'
  return false
}

/** One spelling per address, so `::0001` and `::1` compare equal. */
function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1)
}
