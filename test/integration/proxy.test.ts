/**
 * A mount behind a forward proxy (HTTP_PROXY, as rclone honours it): the library is named by a host only
 * the proxy resolves, so every listing, read and upload that works here went through the proxy. A proxy
 * that wants credentials, one that is down and a malformed proxy variable each stop `ikfs mount` with one
 * clear line, never with the proxy's password.
 */
import { randomBytes } from 'node:crypto'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTempMountpoint } from '../helpers/mount.js'
import { startTestProxy, type TestProxy } from '../helpers/proxy.js'
import { fuseSkipReason, mountLibrary, remoteBytesPath, runIkfs, startLibrary, waitFor, type Library, type Mounted } from './harness.js'

const skip = fuseSkipReason()

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((done) => server.close(() => done()))
  return port
}
const PASSWORD = 'pr0xy-s3cret'
const PHOTO = randomBytes(3 * 1024 * 1024 + 17)

describe.skipIf(skip)('mounting through an HTTP proxy', () => {
  let lib: Library
  let proxy: TestProxy
  let base: string
  let m: Mounted | undefined

  beforeAll(async () => {
    // The emulator's listings name files by its public URL, which the mount reads: that too must need the proxy.
    const port = await freePort()
    base = `http://library.test:${port}`
    lib = await startLibrary({ files: { 'photos/a.bin': PHOTO }, emulatorArgs: ['--port', String(port), '--public-url-base', `${base}/demo`] })
    proxy = await startTestProxy({ credentials: `alice:${PASSWORD}`, hosts: { 'library.test': '127.0.0.1' } })
  }, 90_000)

  afterAll(async () => {
    await m?.stop()
    await proxy?.close()
    await lib?.stop()
  }, 60_000)

  const proxyWith = (userinfo: string): string => proxy.url.replace('http://', `http://${userinfo}`)

  it('lists, reads byte-exact and uploads, every request through the proxy; the log names it without the password', async () => {
    m = await mountLibrary(lib, { base, env: { HTTP_PROXY: proxyWith(`alice:${PASSWORD}@`), NO_PROXY: 'elsewhere.test' } })
    expect(await readdir(join(m.path, 'photos'))).toEqual(['a.bin'])
    expect((await readFile(join(m.path, 'photos', 'a.bin'))).equals(PHOTO)).toBe(true)
    await writeFile(join(m.path, 'photos', 'new.txt'), 'written through the proxy\n')
    await waitFor(async () => (await readFile(remoteBytesPath(lib, '/photos/new.txt'), 'utf8').catch(() => '')) === 'written through the proxy\n', 20_000, 'the upload')

    const seen = proxy.seen.map((r) => `${r.method} ${r.path.replace(/\?.*/, '')}`)
    expect(seen).toContain('GET /v1/files')
    expect(seen).toContain('POST /api/v1/files/upload')
    expect(seen).toContain('GET /demo/photos/a.bin')
    expect(proxy.seen.every((r) => r.target === new URL(base).host)).toBe(true)
    const proxyHost = new URL(proxy.url).host
    const shown = `http://[REDACTED]@${proxyHost}`
    expect(m.log()).toMatch(new RegExp(`"deliveryClient":"undici","proxies":\\{"api":"${shown.replace(/[[\]]/g, '\\$&')}","upload":"[^"]+","delivery":"[^"]+"\\}[^\\n]*"msg":"mounted"`))
    expect(m.log()).not.toContain(PASSWORD)
  }, 90_000)

  it('a proxy that wants credentials, a proxy that is down and a malformed proxy variable stop the mount with one clear line', async () => {
    const mp = await makeTempMountpoint()
    try {
      const attempt = (env: Record<string, string>) => runIkfs(
        ['mount', mp.path, '--api-url', base, '--upload-url', base, '--endpoint', `${base}/demo`, '--cache-dir', join(mp.path, '..', `${mp.path.split('/').pop()}-cache`)],
        { env: { IKFS_PRIVATE_KEY: lib.privateKey, IKFS_CONFIG: '/nonexistent/ikfs.conf', ...env }, timeoutMs: 60_000 },
      )
      const noCredentials = await attempt({ HTTP_PROXY: proxy.url })
      expect(noCredentials.code).toBe(1)
      expect(noCredentials.stderr).toContain(`cannot reach ${base} through proxy ${proxy.url}: the proxy wants credentials (407)`)

      const down = await attempt({ HTTP_PROXY: `http://alice:${PASSWORD}@127.0.0.1:9` })
      expect(down.code).toBe(1)
      expect(down.stderr).toContain(`cannot reach ${base} through proxy http://[REDACTED]@127.0.0.1:9: connection refused`)

      const socks = await attempt({ HTTP_PROXY: `socks5://alice:${PASSWORD}@127.0.0.1:1080` })
      expect(socks.code).toBe(2)
      expect(socks.stderr).toContain('HTTP_PROXY: socks5 proxies are not supported; give an http:// or https:// proxy')
      for (const run of [noCredentials, down, socks]) expect(run.stderr + run.stdout).not.toContain(PASSWORD)
    } finally {
      await mp.cleanup()
    }
  }, 120_000)
})
