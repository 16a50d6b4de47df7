/**
 * A forward HTTP proxy for tests: absolute-form requests (`GET http://host/path`) are forwarded, CONNECT
 * opens a tunnel. It can ask for credentials (407) and map made-up host names to local addresses, so a test
 * can name an origin that only the proxy can reach. Every request is recorded.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface ProxiedRequest {
  method: string
  /** host:port the client asked for. */
  target: string
  /** Path and query (absolute-form requests), or '' for CONNECT. */
  path: string
}

export interface TestProxy {
  url: string
  readonly seen: ProxiedRequest[]
  close(): Promise<void>
}

export interface TestProxyOptions {
  /** `user:password` the client must send (Proxy-Authorization: Basic), else 407. */
  credentials?: string
  /** Host names the proxy resolves itself: name → IP. */
  hosts?: Record<string, string>
}

export async function startTestProxy(options: TestProxyOptions = {}): Promise<TestProxy> {
  const seen: ProxiedRequest[] = []
  const sockets = new Set<Socket>()
  const resolve = (host: string): string => options.hosts?.[host] ?? host
  const authorized = (req: IncomingMessage): boolean =>
    options.credentials === undefined ||
    req.headers['proxy-authorization'] === `Basic ${Buffer.from(options.credentials).toString('base64')}`

  const server: Server = createServer((req, res) => {
    let target: URL
    try {
      target = new URL(req.url ?? '')
    } catch {
      res.writeHead(400).end('absolute-form requests only')
      return
    }
    seen.push({ method: req.method ?? '', target: target.host, path: `${target.pathname}${target.search}` })
    if (!authorized(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"', 'content-type': 'text/html' }).end('<h1>407</h1>')
      req.resume()
      return
    }
    const headers = { ...req.headers }
    delete headers['proxy-authorization']
    delete headers['proxy-connection']
    const upstream = httpRequest(
      { host: resolve(target.hostname), port: Number(target.port || 80), method: req.method, path: `${target.pathname}${target.search}`, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end('bad gateway')))
    req.pipe(upstream)
  })
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const [host = '', port = '443'] = (req.url ?? '').split(':')
    seen.push({ method: 'CONNECT', target: req.url ?? '', path: '' })
    if (!authorized(req)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const upstream = connect(Number(port), resolve(host), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => done())
      }),
  }
}
