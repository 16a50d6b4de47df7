/**
 * The undici dispatcher for a URL: a direct Agent, or a ProxyAgent for the proxy ProxyRules names (one per
 * proxy, made on first use). An http URL goes to an http proxy as an absolute-form request, as proxies
 * expect; an https URL goes through a CONNECT tunnel, so the proxy never sees the request or its
 * Authorization header.
 */
import { Agent, Pool, ProxyAgent, type Dispatcher } from 'undici'
import type { ProxyRules } from './proxy.js'

export class OriginDispatchers {
  readonly direct: Agent
  readonly #viaProxy = new Map<string, ProxyAgent>()

  constructor(readonly rules: ProxyRules, readonly options: Agent.Options, readonly connectTimeoutMs: number) {
    this.direct = new Agent(options)
  }

  for(url: URL): Dispatcher {
    const proxy = this.rules.proxyFor(url)
    if (!proxy) return this.direct
    let agent = this.#viaProxy.get(proxy.href)
    if (!agent) {
      agent = new ProxyAgent({
        ...this.options,
        uri: proxy.href,
        // The pool for each origin: undici makes it with `this.options` for a tunnel, but for an http URL it
        // makes a pool to the proxy with none of them, so those requests had no cap on connections at all.
        factory: (origin, options) => new Pool(origin, { ...this.options, ...options }),
        proxyTunnel: false,
        proxyTls: { timeout: this.connectTimeoutMs },
        requestTls: { timeout: this.connectTimeoutMs },
      })
      this.#viaProxy.set(proxy.href, agent)
    }
    return agent
  }

  close(): Promise<void> {
    return this.#all((d) => d.close())
  }

  destroy(): Promise<void> {
    return this.#all((d) => d.destroy())
  }

  async #all(end: (d: Dispatcher) => Promise<void>): Promise<void> {
    await Promise.all([this.direct, ...this.#viaProxy.values()].map(end))
  }
}
