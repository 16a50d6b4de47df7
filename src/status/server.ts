/**
 * The daemon's control socket and the optional metrics listener, both plain node:http.
 *
 * Control socket (unix, mode 0600 in a 0700 folder, path from paths.ts):
 *   GET  /status            StatusSnapshot as JSON (`ikfs status`)
 *   GET  /metrics           Prometheus text
 *   POST /refresh?path=/a   drop cached listings under /a (all without path) (`ikfs refresh`)
 * Metrics listener (`--metrics ADDR`, off by default): GET /metrics only; it may be reachable by others,
 * so it never accepts commands.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { chmod, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Logger } from '../log.js'
import { askUntil, ControlError, controlRequest } from './client.js'
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js'
import { fitsSocketPath, MAX_SOCKET_PATH_BYTES } from './paths.js'
import { makePrivateDir } from './private-dir.js'
import { removeStaleSockets } from './stale-sockets.js'
import type { StatusBoard, StatusSnapshot } from './snapshot.js'

/** A stale-socket probe that gets no answer this fast means nothing is listening. */
const PROBE_TIMEOUT_MS = 1_000
/** How long a new daemon waits for one that is stopping (an unmount just now) to exit before giving up. */
export const STOPPING_GRACE_MS = 3_000
const STOPPING_POLL_MS = 50
/** Longest accepted `path` in /refresh: far above PATH_MAX, stops nonsense early. */
const MAX_REFRESH_PATH = 8_192

export interface RunningServer {
  /** Socket path or `http://host:port`. */
  readonly address: string
  close(): Promise<void>
}

export class StatusServerError extends Error {
  override name = 'StatusServerError'
}

export async function startControlServer(socketPath: string, board: StatusBoard, logger: Logger): Promise<RunningServer> {
  const log = logger.child({ component: 'status' })
  if (!fitsSocketPath(socketPath)) {
    throw new Error(`the control socket path ${socketPath} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a unix socket path may have`)
  }
  makePrivateDir(dirname(socketPath))
  const other = await stoppedAnswering(socketPath)
  if (other !== undefined) throw new StatusServerError(alreadyServedMessage(other))
  await unlink(socketPath).catch(() => undefined)
  const server = createServer((req, res) => void handleControl(req, res, board, log))
  await listen(server, socketPath)
  const close = async (): Promise<void> => {
    await closeServer(server)
    await unlink(socketPath).catch(() => undefined)
  }
  try {
    await chmod(socketPath, 0o600)
  } catch (e) {
    // A server left listening would keep the process alive after the mount has ended.
    await close()
    throw e
  }
  log.debug({ socketPath }, 'control socket listening')
  void removeStaleSockets(dirname(socketPath), socketPath).then((removed) => {
    if (removed > 0) log.debug({ removed, folder: dirname(socketPath) }, 'removed control sockets of daemons that are gone')
  })
  return { address: socketPath, close }
}

export interface MetricsAddress {
  host: string
  port: number
}

/** `127.0.0.1:9100`, `[::1]:9100`, `localhost:9100`; `:9100` means loopback (say 0.0.0.0:9100 for all). */
export function parseMetricsAddress(text: string): MetricsAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim())
  const port = match ? Number(match[3]) : NaN
  if (!match || port > 65_535) {
    throw new StatusServerError(`--metrics "${text}": expected HOST:PORT, e.g. 127.0.0.1:9100`)
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port }
}

export async function startMetricsServer(address: MetricsAddress, board: StatusBoard, logger: Logger): Promise<RunningServer> {
  const log = logger.child({ component: 'metrics' })
  const server = createServer((req, res) => {
    if (req.method === 'GET' && new URL(req.url ?? '/', 'http://x').pathname === '/metrics') {
      sendMetrics(res, board, log)
      return
    }
    send(res, 404, 'text/plain', 'ikfs serves only /metrics here\n')
  })
  try {
    await listen(server, address.port, address.host)
  } catch (e) {
    throw new StatusServerError(`cannot serve --metrics ${formatAddress(address)}: ${listenProblem(e, address)}`, { cause: e })
  }
  const bound = server.address()
  const port = typeof bound === 'object' && bound ? bound.port : address.port
  const url = `http://${formatAddress({ host: address.host, port })}`
  log.info({ url: `${url}/metrics` }, 'serving metrics')
  return { address: url, close: () => closeServer(server) }
}

/** `host:port`, an IPv6 host in brackets. */
function formatAddress(address: MetricsAddress): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`
}

/** Why the metrics listener could not start, with what to do about it. */
function listenProblem(e: unknown, address: MetricsAddress): string {
  const { code, syscall } = e as NodeJS.ErrnoException
  switch (code) {
    case 'EADDRINUSE':
      return "the port is in use (another program, or another mount's --metrics, listens there): choose another port, or leave --metrics out"
    case 'EACCES':
      return 'this user may not listen on that port (ports below 1024 need privileges): choose a port from 1024 up'
    case 'EADDRNOTAVAIL':
      return `${address.host} is not an address of this machine: give one of its addresses (127.0.0.1: this machine only)`
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || syscall === 'getaddrinfo') {
    return `${address.host} is not a known host name: give an address of this machine (127.0.0.1: this machine only)`
  }
  return code ?? (e as Error).message
}

async function handleControl(req: IncomingMessage, res: ServerResponse, board: StatusBoard, log: Logger): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://ikfs')
  try {
    if (req.method === 'GET' && url.pathname === '/status') {
      send(res, 200, 'application/json', JSON.stringify(board.snapshot()) + '\n')
    } else if (req.method === 'GET' && url.pathname === '/metrics') {
      sendMetrics(res, board, log)
    } else if (req.method === 'POST' && url.pathname === '/refresh') {
      const path = url.searchParams.get('path') ?? undefined
      if (path !== undefined && (!path.startsWith('/') || path.length > MAX_REFRESH_PATH)) {
        send(res, 400, 'application/json', JSON.stringify({ error: 'path must start with / (a path inside the mount)' }))
        return
      }
      log.debug({ path: path ?? '/' }, 'refresh requested')
      if (!(await board.forget(path === '/' ? undefined : path))) {
        send(res, 409, 'application/json', JSON.stringify({ error: 'not mounted yet' }))
        return
      }
      log.info({ path: path ?? '/' }, 'refresh: cached listings dropped')
      send(res, 200, 'application/json', JSON.stringify({ refreshed: path ?? '/' }) + '\n')
    } else {
      send(res, 404, 'application/json', JSON.stringify({ error: `no ${req.method} ${url.pathname}` }))
    }
  } catch (err) {
    log.error({ err }, 'control request failed')
    send(res, 500, 'application/json', JSON.stringify({ error: (err as Error).message }))
  }
}

function sendMetrics(res: ServerResponse, board: StatusBoard, log: Logger): void {
  try {
    send(res, 200, METRICS_CONTENT_TYPE, renderMetrics(board.snapshot()))
  } catch (err) {
    log.error({ err }, 'rendering metrics failed')
    send(res, 500, 'text/plain', 'metrics unavailable\n')
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(body)
}

function listen(server: Server, portOrPath: number | string, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    const done = (): void => {
      server.off('error', reject)
      resolve()
    }
    if (typeof portOrPath === 'string') server.listen(portOrPath, done)
    else server.listen(portOrPath, host, done)
  })
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

/**
 * Who answers on the socket, once a daemon that is stopping has had STOPPING_GRACE_MS to exit: a mount run
 * right after an unmount finds the last daemon still closing down, which takes milliseconds unless it has
 * uploads to store. Undefined when nobody answers (any more).
 */
function stoppedAnswering(socketPath: string): Promise<Partial<StatusSnapshot> | undefined> {
  // A probe that got no state (the connection reset as the last daemon closed its socket) is asked again.
  const settled = (other: Partial<StatusSnapshot> | undefined): boolean =>
    other === undefined || (other.state !== undefined && other.state !== 'stopping')
  return askUntil(() => whoAnswers(socketPath), settled, STOPPING_GRACE_MS, STOPPING_POLL_MS)
}

/** The daemon answering on the socket (what it says of itself, if it can), or undefined when none answers. */
async function whoAnswers(socketPath: string): Promise<Partial<StatusSnapshot> | undefined> {
  try {
    const res = await controlRequest(socketPath, 'GET', '/status', PROBE_TIMEOUT_MS)
    try {
      return JSON.parse(res.body) as Partial<StatusSnapshot>
    } catch {
      return {}
    }
  } catch (e) {
    return e instanceof ControlError && !e.notRunning ? {} : undefined
  }
}

function alreadyServedMessage(other: Partial<StatusSnapshot>): string {
  const by = typeof other.pid === 'number' ? `ikfs pid ${other.pid}` : 'another ikfs'
  const at = typeof other.mountpoint === 'string' ? other.mountpoint : 'this mountpoint'
  if (other.state === 'starting') return `${at} is being mounted right now by ${by} (run: ikfs status ${at})`
  if (other.state === 'stopping') return `${at} was just unmounted; ${by} stores its last uploads before it exits (run: ikfs status ${at})`
  return `${at} is already mounted by ${by} (run: ikfs unmount ${at})`
}
