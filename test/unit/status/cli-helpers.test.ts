import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { CLOCK_SKEW_TOLERANCE_MS, clockSkewWarning } from '../../../src/cli/clock-warning.js'
import { checkClock, formatCheck } from '../../../src/cli/doctor.js'
import { NOTABLE_CLOCK_SKEW_MS } from '../../../src/imagekit/clock-skew.js'
import { mountRelativePath } from '../../../src/cli/refresh.js'
import { UsageError } from '../../../src/cli/usage-error.js'
import { ProxyRules } from '../../../src/imagekit/proxy.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { startTestProxy } from '../../helpers/proxy.js'

describe('ikfs refresh PATH', () => {
  it('accepts a path inside the mount or a full path under the mountpoint', () => {
    expect(mountRelativePath('/mnt/ik', '/mnt/ik/photos/2024')).toBe('/photos/2024')
    expect(mountRelativePath('/mnt/ik', '/mnt/ik')).toBe('/')
    expect(mountRelativePath('/mnt/ik', '/photos')).toBe('/photos')
    expect(mountRelativePath('/mnt/ik', 'photos/../docs/')).toBe('/docs')
    expect(mountRelativePath('/mnt/ik', '/mnt/ikx/a')).toBe('/mnt/ikx/a')
  })

  it('takes a name that starts with ".." as an ordinary name, and refuses a path that climbs out of the mount', () => {
    expect(mountRelativePath('/mnt/ik', '/mnt/ik/..foo')).toBe('/..foo')
    expect(mountRelativePath('/mnt/ik', '/mnt/ik/a/..b/c')).toBe('/a/..b/c')
    expect(mountRelativePath('/mnt/ik', '..foo')).toBe('/..foo')
    expect(mountRelativePath('/mnt/ik', '/mnt/ik/a/..')).toBe('/')
    expect(() => mountRelativePath('/mnt/ik', '/mnt/ik/../etc')).toThrow(new UsageError('/mnt/ik/../etc is outside the mount at /mnt/ik'))
    expect(() => mountRelativePath('/mnt/ik', '../x')).toThrow(UsageError)
    expect(() => mountRelativePath('/mnt/ik', 'a/../../x')).toThrow(/a\/\.\.\/\.\.\/x is outside the mount at \/mnt\/ik/)
  })

  it('knows the mountpoint by each spelling it is given (as typed, and with symlinks resolved)', () => {
    expect(mountRelativePath(['/srv/real', '/home/me/ik'], '/home/me/ik/photos')).toBe('/photos')
    expect(mountRelativePath(['/srv/real', '/home/me/ik'], '/srv/real/photos')).toBe('/photos')
    expect(mountRelativePath(['/'], '/photos')).toBe('/photos')
  })
})

describe('doctor clock check', () => {
  let server: Server | undefined
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    server = undefined
  })

  async function apiWithDate(date: () => string | undefined): Promise<string> {
    server = createServer((_req, res) => {
      const value = date()
      res.sendDate = false
      res.writeHead(401, value === undefined ? {} : { date: value })
      res.end()
    })
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  it('passes when the API agrees with this machine to within the limit', async () => {
    const url = await apiWithDate(() => new Date().toUTCString())
    const result = await checkClock(url)
    expect(result.state).toBe('ok')
    expect(result.detail).toMatch(/within 60s of the API/)
  })

  it('passes a clock 30 s off, which the mount does not warn of either: one threshold, the one signing follows', async () => {
    expect(CLOCK_SKEW_TOLERANCE_MS).toBe(NOTABLE_CLOCK_SKEW_MS)
    for (const offMs of [30_000, -30_000]) {
      const url = await apiWithDate(() => new Date(Date.now() + offMs).toUTCString())
      const result = await checkClock(url)
      expect(result.state, `API ${offMs} ms off`).toBe('ok')
      expect(result.detail).toMatch(new RegExp(`^within 60s of the API \\((behind|ahead of) the API by (29|30|31)\\.\\ds\\)$`))
      expect(clockSkewWarning(offMs)).toBeUndefined()
      await new Promise<void>((resolve) => server!.close(() => resolve()))
      server = undefined
    }
  })

  it('warns, with the mount\'s own words (what it breaks) and the fix, when the clock is off by more than the limit', async () => {
    const url = await apiWithDate(() => new Date(Date.now() - 10 * 60_000).toUTCString())
    const result = await checkClock(url)
    expect(result.state).toBe('warn')
    expect(result.detail).toMatch(/^this machine's clock is 10m0?0s ahead of ImageKit's .*signed URLs .* stay valid that much longer .*uploads carry no signature/)
    expect(result.fix).toBe('turn on time sync: timedatectl set-ntp true')
    expect(clockSkewWarning(-10 * 60_000)).toBe(`${result.detail}; ${result.fix}`)
  })

  it('sees the skew of an emulator started with its clock off (--clock-offset-ms), either way', async () => {
    for (const [offsetMs, words] of [[-10 * 60_000, /10m0?0s ahead of ImageKit's/], [2 * 3600_000, /2h0?0m behind ImageKit's.*signs them by ImageKit's time instead/]] as const) {
      const emulator = await startTestEmulator({ clockOffsetMs: offsetMs })
      try {
        const result = await checkClock(emulator.emu.url)
        expect(result.state).toBe('warn')
        expect(result.detail).toMatch(words)
      } finally {
        await emulator.stop()
      }
    }
  })

  it('warns when there is no Date header, and fails when the API is unreachable', async () => {
    const url = await apiWithDate(() => undefined)
    expect((await checkClock(url)).state).toBe('warn')
    await new Promise<void>((resolve) => server!.close(() => resolve()))
    server = undefined
    const down = await checkClock(url)
    expect(down.state).toBe('FAIL')
    expect(down.detail).toContain('connection refused')
  })

  it('asks through the proxy that HTTPS_PROXY / HTTP_PROXY name, and names it when it is down', async () => {
    const url = await apiWithDate(() => new Date().toUTCString())
    const proxy = await startTestProxy({ hosts: { 'api.test': '127.0.0.1' } })
    try {
      const viaName = `http://api.test:${new URL(url).port}`
      const result = await checkClock(viaName, new ProxyRules({ httpProxy: proxy.url }))
      expect(result.state).toBe('ok')
      expect(proxy.seen.map((r) => `${r.method} ${r.target}`)).toEqual([`HEAD api.test:${new URL(url).port}`])
      const down = await checkClock(viaName, new ProxyRules({ httpProxy: 'http://127.0.0.1:9' }))
      expect(down.detail).toBe(`cannot reach ${viaName} through proxy http://127.0.0.1:9 (connection refused)`)
      expect(down.fix).toContain('HTTPS_PROXY / HTTP_PROXY / NO_PROXY')
    } finally {
      await proxy.close()
    }
  })

  it('prints one line per check, with the fix indented below', () => {
    expect(formatCheck({ name: 'clock', state: 'ok', detail: 'fine' })).toBe('ok    clock        fine\n')
    expect(formatCheck({ name: 'fuse.conf', state: 'FAIL', detail: 'no', fix: 'do it' })).toBe(
      'FAIL  fuse.conf    no\n                   fix: do it\n',
    )
  })
})
