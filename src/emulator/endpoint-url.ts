/**
 * Which absolute URLs are this account's URL endpoint (§4.14 purge, §4.15 metadata by URL): the real API
 * takes only URLs of the account's own endpoints and refuses any other host with its 400. Here that is the
 * URL endpoint the emulator serves (same scheme, host and port; for a loopback host any loopback name, since
 * `localhost` and `127.0.0.1` reach the same endpoint; listening on every interface, any name on its port)
 * and the `--public-url-base` its answers use.
 */
export interface EndpointRelative {
  /** Path and query of the URL, undecoded (`/demo/a%20b.jpg?tr=w-10`). */
  rawTarget: string
  /** The endpoint's path on that origin (`/demo`), as parseDeliveryTarget takes it. */
  endpointPath: string
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]']
/** Listening on every interface: whatever name reaches the port reaches the endpoint. */
const EVERY_INTERFACE = ['0.0.0.0', '[::]']
const ANY_HOST = '*'

export class EndpointUrls {
  /** `scheme//host:port` (host `*` for any) → the endpoint's path there. */
  readonly #paths = new Map<string, string>()

  constructor(bases: ReadonlyArray<string | undefined>) {
    for (const base of bases) {
      if (base === undefined) continue
      const url = new URL(base)
      const path = url.pathname.replace(/\/+$/, '')
      const hosts = LOOPBACK_NAMES.includes(url.hostname) ? LOOPBACK_NAMES : EVERY_INTERFACE.includes(url.hostname) ? [ANY_HOST] : [url.hostname]
      for (const host of hosts) this.#paths.set(key(url.protocol, host, url.port), path)
    }
  }

  /** `url`'s path and query when it is a URL of this endpoint; undefined for any other host, or no URL at all. */
  relative(url: string): EndpointRelative | undefined {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return undefined
    }
    const endpointPath = this.#paths.get(key(parsed.protocol, parsed.hostname, parsed.port)) ?? this.#paths.get(key(parsed.protocol, ANY_HOST, parsed.port))
    return endpointPath === undefined ? undefined : { rawTarget: parsed.pathname + parsed.search, endpointPath }
  }
}

function key(protocol: string, host: string, port: string): string {
  return `${protocol}//${host}${port ? ':' + port : ''}`
}
