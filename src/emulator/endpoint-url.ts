/**
 * Which absolute URLs are this account's URL endpoint (§4.14 purge, §4.15 metadata by URL): the real API
 * takes only URLs of the account's own endpoints and refuses any other host with its 400. Here that is the
 * URL endpoint the emulator serves (same scheme, host and port; for a loopback host any loopback name, since
 * `localhost` and `127.0.0.1` reach the same endpoint) and the `--public-url-base` its answers use.
 */
export interface EndpointRelative {
  /** Path and query of the URL, undecoded (`/demo/a%20b.jpg?tr=w-10`). */
  rawTarget: string
  /** The endpoint's path on that origin (`/demo`), as parseDeliveryTarget takes it. */
  endpointPath: string
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]']

export class EndpointUrls {
  /** origin → the endpoint's path there. */
  readonly #paths = new Map<string, string>()

  constructor(bases: ReadonlyArray<string | undefined>) {
    for (const base of bases) {
      if (base === undefined) continue
      const url = new URL(base)
      const path = url.pathname.replace(/\/+$/, '')
      const hosts = LOOPBACK_NAMES.includes(url.hostname) ? LOOPBACK_NAMES : [url.hostname]
      for (const host of hosts) this.#paths.set(`${url.protocol}//${host}${url.port ? ':' + url.port : ''}`, path)
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
    const endpointPath = this.#paths.get(parsed.origin)
    return endpointPath === undefined ? undefined : { rawTarget: parsed.pathname + parsed.search, endpointPath }
  }
}
