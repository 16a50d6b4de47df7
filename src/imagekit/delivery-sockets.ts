/**
 * Kept-alive TCP (and TLS) connections to delivery hosts for the socket reader (socket-range.ts): a pool per
 * origin with the transport's cap on connections, a connect deadline, idle connections closed after a while.
 *
 * Every socket reads with Node's `onread` option: the kernel copies received bytes straight into memory the
 * connection's current receiver names (the block a read is filling), with no Buffer allocated per read and
 * no stream in between. Returning false from `received` stops reading (TCP flow control then holds the
 * server back) until the receiver calls `resume`.
 *
 * At the cap a request waits for a connection, at most `connectionWaitTimeoutMs`; a connection whose response
 * is paused by its reader is taken back for it (reclaim.ts).
 */
import * as net from 'node:net'
import * as tls from 'node:tls'
import { CONNECTION_RECLAIMED, NO_FREE_CONNECTION, PausedResponses, type Reclaimable } from './reclaim.js'

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
  /** Longest wait for a connection at the cap (the request timeout). */
  connectionWaitTimeoutMs: number
  /** Extra TLS options (a test's own CA). */
  tls?: tls.ConnectionOptions
}

/** An error with a `code`, as socket errors have (http.ts maps codes to ImageKitErrors). */
function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code })
}

export class DeliveryConnection implements Reclaimable {
  readonly socket: net.Socket
  readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES)
  receiver: SocketReceiver | undefined
  /** Requests this connection carried before the current one. */
  served = 0
  /** Cleared when the connection must not carry another request. */
  reusable = true
  /** Closed to free it for a waiting request (its paused response fails with CONNECTION_RECLAIMED). */
  reclaimed = false

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

  /**
   * Stops reading now; `resume` reads on. Reading while paused is no progress, so the deadline is off.
   * `byReader`: the response's reader has no room (not only: delivery has not started), so the pool may
   * take the connection back for a waiting request.
   */
  pause(byReader: boolean): void {
    this.socket.setTimeout(0)
    this.socket.pause()
    if (byReader) this.pool.pausedByReader(this)
  }

  /** Reads on, with `timeoutMs` as the deadline for the next bytes (0: none). */
  resume(timeoutMs: number): void {
    this.pool.paused.resumed(this)
    this.socket.setTimeout(timeoutMs)
    this.socket.resume()
  }

  reclaim(): void {
    this.reclaimed = true
    this.reusable = false
    this.socket.destroy(codedError('connection taken back for a waiting request', CONNECTION_RECLAIMED))
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

/** A request waiting for a connection at the cap; `settle` ends its deadline and abort listener. */
interface Waiter {
  resolve(connection: DeliveryConnection): void
  reject(error: unknown): void
  settle(): void
}

class OriginPool {
  /** The latest TLS session ticket this origin gave (undici keeps them too). */
  tlsSession: Buffer | undefined
  readonly idle: DeliveryConnection[] = []
  readonly waiters: Waiter[] = []
  readonly all = new Set<DeliveryConnection>()
  /** Connections whose response is paused by its reader: taken back, longest paused first, for waiters. */
  readonly paused = new PausedResponses<DeliveryConnection>()
  /** Taken back and not closed yet: each brings one waiter a new connection once closed. */
  #reclaiming = 0

  constructor(
    readonly owner: DeliverySockets,
    readonly target: URL,
  ) {}

  acquire(signal: AbortSignal | undefined): Promise<DeliveryConnection> {
    const idle = this.idle.pop()
    if (idle) {
      idle.socket.setTimeout(0)
      return Promise.resolve(idle)
    }
    if (this.all.size < this.owner.options.maxConnectionsPerOrigin) return this.#connect()
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        settle: () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
        },
      }
      const giveUp = (error: unknown) => {
        const at = this.waiters.indexOf(waiter)
        if (at < 0) return
        this.waiters.splice(at, 1)
        waiter.settle()
        reject(error)
      }
      const onAbort = () => giveUp(signal?.reason)
      const timer = setTimeout(
        () => giveUp(codedError('no connection became free in time (every connection to the host is busy)', NO_FREE_CONNECTION)),
        this.owner.options.connectionWaitTimeoutMs,
      )
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(waiter)
      this.#reclaimForWaiters()
    })
  }

  release(connection: DeliveryConnection): void {
    connection.receiver = undefined
    connection.served++
    this.paused.resumed(connection)
    if (!connection.reusable || this.owner.isClosed || connection.socket.destroyed) {
      connection.socket.destroy()
      return
    }
    const waiter = this.#nextWaiter()
    if (waiter) return waiter.resolve(connection)
    // Read on while idle, so that a close by the server is seen (and bytes that nobody asked for are an error).
    connection.resume(this.owner.options.keepAliveTimeoutMs)
    this.idle.push(connection)
  }

  discard(connection: DeliveryConnection): void {
    connection.reusable = false
    connection.receiver = undefined
    this.paused.resumed(connection)
    connection.socket.destroy()
  }

  pausedByReader(connection: DeliveryConnection): void {
    this.paused.paused(connection)
    this.#reclaimForWaiters()
  }

  closed(connection: DeliveryConnection): void {
    if (!this.all.delete(connection)) return
    this.paused.resumed(connection)
    if (connection.reclaimed) this.#reclaiming--
    const at = this.idle.indexOf(connection)
    if (at >= 0) this.idle.splice(at, 1)
    const waiter = this.#nextWaiter()
    if (waiter) this.#connect().then(waiter.resolve, waiter.reject)
  }

  destroyAll(error: Error): void {
    for (const waiter of this.waiters.splice(0)) {
      waiter.settle()
      waiter.reject(error)
    }
    for (const connection of [...this.all]) connection.socket.destroy(error)
  }

  #nextWaiter(): Waiter | undefined {
    const waiter = this.waiters.shift()
    waiter?.settle()
    return waiter
  }

  /** One connection taken back per waiter that no closing connection serves yet. */
  #reclaimForWaiters(): void {
    const needed = this.waiters.length - this.#reclaiming
    if (needed > 0) this.#reclaiming += this.paused.reclaim(needed)
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

  /**
   * A connection to `target`'s origin: an idle one, a new one, or at the cap the next one freed (one a paused
   * response is made to give up, when there is one), at most `connectionWaitTimeoutMs` later.
   */
  acquire(target: URL, signal?: AbortSignal): Promise<DeliveryConnection> {
    if (this.#closed) return Promise.reject(codedError('the HTTP client is closed', 'UND_ERR_DESTROYED'))
    let pool = this.#pools.get(target.origin)
    if (!pool) {
      pool = new OriginPool(this, target)
      this.#pools.set(target.origin, pool)
    }
    return pool.acquire(signal)
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

