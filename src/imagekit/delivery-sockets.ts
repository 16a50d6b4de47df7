/**
 * Kept-alive TCP (and TLS) connections to delivery hosts for the socket reader (socket-range.ts): a pool per
 * origin with the transport's cap on connections, a connect deadline, idle connections closed after a while.
 *
 * Every socket reads with Node's `onread` option: the kernel copies received bytes straight into memory the
 * connection's current receiver names (the block a read is filling), with no Buffer allocated per read and
 * no stream in between. Returning false from `received` stops reading (TCP flow control then holds the
 * server back) until the receiver calls `resume`.
 */
import * as net from 'node:net'
import * as tls from 'node:tls'

/** Memory a connection reads into when no receiver names any: heads, error bodies, bytes after a pause. */
const SCRATCH_BYTES = 64 * 1024

export interface SocketReceiver {
  /** Memory the next read lands in (asked after every read). */
  nextBuffer(connection: DeliveryConnection): Uint8Array
  /** `n` bytes landed at the start of `buffer` (the one nextBuffer gave); false stops reading until resume. */
  received(n: number, buffer: Uint8Array): boolean
  /** The connection failed, timed out or was closed by the server while this receiver had it. */
  failed(error: Error): void
}

export interface DeliverySocketsOptions {
  maxConnectionsPerOrigin: number
  connectTimeoutMs: number
  keepAliveTimeoutMs: number
  /** Extra TLS options (a test's own CA). */
  tls?: tls.ConnectionOptions
}

/** An error with a `code`, as socket errors have (http.ts maps codes to ImageKitErrors). */
function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code })
}

export class DeliveryConnection {
  readonly socket: net.Socket
  readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES)
  receiver: SocketReceiver | undefined
  /** Requests this connection carried before the current one. */
  served = 0
  /** Cleared when the connection must not carry another request. */
  reusable = true

  constructor(
    readonly pool: OriginPool,
    target: URL,
    extraTls: tls.ConnectionOptions | undefined,
  ) {
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1')
    const secure = target.protocol === 'https:'
    const port = Number(target.port || (secure ? 443 : 80))
    const onread = {
      buffer: () => this.receiver?.nextBuffer(this) ?? this.scratch,
      callback: (n: number, buffer: Uint8Array) => this.#received(n, buffer),
    }
    this.socket = secure
      // tls.connect takes `onread` as net.connect does (Node docs); @types/node does not list it.
      // A ticket from an earlier connection to this origin resumes its TLS session (one round trip less).
      ? tls.connect({
        host, port, onread, ALPNProtocols: ['http/1.1'], ...(net.isIP(host) ? {} : { servername: host }),
        ...(pool.tlsSession ? { session: pool.tlsSession } : {}), ...extraTls,
      } as tls.ConnectionOptions)
      : net.connect({ host, port, onread, noDelay: true })
    if (secure) {
      const socket = this.socket as tls.TLSSocket
      socket.on('session', (session: Buffer) => {
        if (socket.authorized) pool.tlsSession = session
      })
    }
    this.socket.on('timeout', () => this.socket.destroy(codedError('no progress within the time allowed', 'ETIMEDOUT')))
    this.socket.on('error', (error: Error) => this.#fail(error))
    this.socket.on('close', () => {
      this.#fail(codedError('connection closed by the server', 'ECONNRESET'))
      pool.closed(this)
    })
  }

  /** Stops reading now; `resume` reads on. Reading while paused is no progress, so the deadline is off. */
  pause(): void {
    this.socket.setTimeout(0)
    this.socket.pause()
  }

  /** Reads on, with `timeoutMs` as the deadline for the next bytes (0: none). */
  resume(timeoutMs: number): void {
    this.socket.setTimeout(timeoutMs)
    this.socket.resume()
  }

  #received(n: number, buffer: Uint8Array): boolean {
    const receiver = this.receiver
    if (!receiver) {
      // Nobody asked: bytes on an idle connection are a protocol error, and the connection is done for.
      this.socket.destroy(codedError('bytes on an idle connection', 'ECONNRESET'))
      return false
    }
    return receiver.received(n, buffer)
  }

  #fail(error: Error): void {
    this.reusable = false
    const receiver = this.receiver
    this.receiver = undefined
    receiver?.failed(error)
  }
}

interface Waiter {
  resolve(connection: DeliveryConnection): void
  reject(error: unknown): void
}

class OriginPool {
  /** The latest TLS session ticket this origin gave (undici keeps them too). */
  tlsSession: Buffer | undefined
  readonly idle: DeliveryConnection[] = []
  readonly waiters: Waiter[] = []
  readonly all = new Set<DeliveryConnection>()

  constructor(
    readonly owner: DeliverySockets,
    readonly target: URL,
  ) {}

  acquire(): Promise<DeliveryConnection> {
    const idle = this.idle.pop()
    if (idle) {
      idle.socket.setTimeout(0)
      return Promise.resolve(idle)
    }
    if (this.all.size < this.owner.options.maxConnectionsPerOrigin) return this.#connect()
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }

  release(connection: DeliveryConnection): void {
    connection.receiver = undefined
    connection.served++
    if (!connection.reusable || this.owner.isClosed || connection.socket.destroyed) {
      connection.socket.destroy()
      return
    }
    const waiter = this.waiters.shift()
    if (waiter) return waiter.resolve(connection)
    // Read on while idle, so that a close by the server is seen (and bytes that nobody asked for are an error).
    connection.resume(this.owner.options.keepAliveTimeoutMs)
    this.idle.push(connection)
  }

  discard(connection: DeliveryConnection): void {
    connection.reusable = false
    connection.receiver = undefined
    connection.socket.destroy()
  }

  closed(connection: DeliveryConnection): void {
    if (!this.all.delete(connection)) return
    const at = this.idle.indexOf(connection)
    if (at >= 0) this.idle.splice(at, 1)
    const waiter = this.waiters.shift()
    if (waiter) this.#connect().then(waiter.resolve, waiter.reject)
  }

  destroyAll(error: Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error)
    for (const connection of [...this.all]) connection.socket.destroy(error)
  }

  #connect(): Promise<DeliveryConnection> {
    const connection = new DeliveryConnection(this, this.target, this.owner.options.tls)
    this.all.add(connection)
    const { socket } = connection
    socket.setTimeout(this.owner.options.connectTimeoutMs)
    return new Promise<DeliveryConnection>((resolve, reject) => {
      // Until the handshake is done, a failure is the connect's: the pool's `closed` frees the slot.
      connection.receiver = {
        nextBuffer: () => connection.scratch,
        received: () => {
          socket.destroy(codedError('bytes before the request was sent', 'ECONNRESET'))
          return false
        },
        failed: reject,
      }
      socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
        connection.receiver = undefined
        socket.setTimeout(0)
        resolve(connection)
      })
    })
  }
}

export class DeliverySockets {
  readonly #pools = new Map<string, OriginPool>()
  #closed = false

  constructor(readonly options: DeliverySocketsOptions) {}

  get isClosed(): boolean {
    return this.#closed
  }

  /** A connection to `target`'s origin: an idle one, a new one, or the next one freed when at the cap. */
  acquire(target: URL): Promise<DeliveryConnection> {
    if (this.#closed) return Promise.reject(codedError('the HTTP client is closed', 'UND_ERR_DESTROYED'))
    let pool = this.#pools.get(target.origin)
    if (!pool) {
      pool = new OriginPool(this, target)
      this.#pools.set(target.origin, pool)
    }
    return pool.acquire()
  }

  /** Back to its pool after a complete response (closed instead when it cannot carry another). */
  release(connection: DeliveryConnection): void {
    connection.pool.release(connection)
  }

  /** Closes a connection whose response was not read to its end. */
  discard(connection: DeliveryConnection): void {
    connection.pool.discard(connection)
  }

  /** Closes every connection; responses still being read fail, waiting requests are refused. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    const error = codedError('the HTTP client is closed', 'UND_ERR_DESTROYED')
    for (const pool of this.#pools.values()) pool.destroyAll(error)
    this.#pools.clear()
  }
}

