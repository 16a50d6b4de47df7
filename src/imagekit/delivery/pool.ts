/**
 * Keep-alive connections to delivery hosts, per origin, under one cap (`maxConnectionsPerOrigin`, the
 * same option that caps the undici Agent of the API hosts). At the cap, callers wait in order for a
 * connection to come back or close. The most recently used idle connection is handed out first, so few
 * stay warm. TLS sessions are remembered per origin, so a new connection resumes instead of a full
 * handshake.
 */
import { ConnectionError, DeliveryConnection } from './connection.js'

export interface DeliveryPoolOptions {
  maxConnectionsPerOrigin: number
  connectTimeoutMs: number
  keepAliveTimeoutMs: number
  /** See ConnectOptions.ca. */
  ca?: string | Buffer
}

interface Waiter {
  /** A connection handed over, or undefined: a slot came free, try again. */
  resolve: (connection: DeliveryConnection | undefined) => void
  reject: (error: unknown) => void
}

interface Origin {
  /** Connections open or being opened. */
  open: number
  readonly idle: DeliveryConnection[]
  readonly waiters: Waiter[]
  tlsSession?: Buffer
}

export class DeliveryPool {
  readonly #origins = new Map<string, Origin>()
  readonly #all = new Set<DeliveryConnection>()
  #closed = false

  constructor(readonly options: DeliveryPoolOptions) {}

  /** A connection to the origin of `url`, idle and ready for one request; `reused` when it served others before. */
  async acquire(url: URL, signal?: AbortSignal): Promise<{ connection: DeliveryConnection; reused: boolean }> {
    const key = url.origin
    let origin = this.#origins.get(key)
    if (!origin) {
      origin = { open: 0, idle: [], waiters: [] }
      this.#origins.set(key, origin)
    }
    for (;;) {
      if (this.#closed) throw new ConnectionError('UND_ERR_CLOSED', 'client closed')
      signal?.throwIfAborted()
      const idle = origin.idle.pop()
      if (idle) {
        if (idle.usable) return { connection: idle, reused: true }
        continue
      }
      if (origin.open < this.options.maxConnectionsPerOrigin) return { connection: await this.#connect(url, origin), reused: false }
      const handed = await this.#wait(origin, signal)
      if (handed) return { connection: handed, reused: true }
    }
  }

  /** Closes every connection; later acquires fail. */
  async close(): Promise<void> {
    this.#closed = true
    for (const connection of [...this.#all]) connection.destroy()
    for (const origin of this.#origins.values()) {
      for (const w of origin.waiters.splice(0)) w.reject(new ConnectionError('UND_ERR_CLOSED', 'client closed'))
    }
  }

  /** Open connections per origin (for tests and status). */
  get connections(): number {
    return this.#all.size
  }

  async #connect(url: URL, origin: Origin): Promise<DeliveryConnection> {
    origin.open++
    try {
      const connection = await DeliveryConnection.connect(new URL(url.origin), {
        connectTimeoutMs: this.options.connectTimeoutMs,
        keepAliveTimeoutMs: this.options.keepAliveTimeoutMs,
        ...(this.options.ca ? { ca: this.options.ca } : {}),
        tlsSession: origin.tlsSession,
        onTlsSession: (session) => (origin.tlsSession = session),
        onIdle: (c) => this.#onIdle(origin, c),
        onClose: (c) => this.#onClose(origin, c),
      })
      this.#all.add(connection)
      if (this.#closed) connection.destroy()
      return connection
    } catch (error) {
      // The connection never opened: onClose may or may not have run; count the slot free once.
      origin.open--
      this.#wakeOne(origin)
      throw error
    }
  }

  #wait(origin: Origin, signal: AbortSignal | undefined): Promise<DeliveryConnection | undefined> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (c) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(c)
        },
        reject,
      }
      const onAbort = () => {
        const i = origin.waiters.indexOf(waiter)
        if (i >= 0) origin.waiters.splice(i, 1)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      origin.waiters.push(waiter)
    })
  }

  #onIdle(origin: Origin, connection: DeliveryConnection): void {
    const waiter = origin.waiters.shift()
    if (waiter) waiter.resolve(connection)
    else origin.idle.push(connection)
  }

  #onClose(origin: Origin, connection: DeliveryConnection): void {
    if (!this.#all.delete(connection)) return // never handed out: #connect's catch counts it
    origin.open--
    const i = origin.idle.indexOf(connection)
    if (i >= 0) origin.idle.splice(i, 1)
    this.#wakeOne(origin)
  }

  #wakeOne(origin: Origin): void {
    origin.waiters.shift()?.resolve(undefined)
  }
}
