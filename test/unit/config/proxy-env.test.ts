import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../../src/config/config-error.js'
import { proxyEnv } from '../../../src/config/proxy-env.js'

describe('proxyEnv: HTTP(S)_PROXY and NO_PROXY as rclone reads them', () => {
  it('prefers the uppercase names, adds http:// to a bare host:port and keeps NO_PROXY as given', () => {
    expect(proxyEnv({ HTTPS_PROXY: 'upper.proxy:3128', https_proxy: 'http://lower.proxy:1', http_proxy: 'http://lower.proxy:8080', no_proxy: 'a.test, b.test' })).toEqual({
      httpsProxy: 'http://upper.proxy:3128/',
      httpProxy: 'http://lower.proxy:8080/',
      noProxy: 'a.test, b.test',
    })
    expect(proxyEnv({ HTTPS_PROXY: '', https_proxy: 'https://lower.proxy' })).toEqual({ httpsProxy: 'https://lower.proxy/' })
    expect(proxyEnv({})).toEqual({})
  })

  it('refuses what it cannot use with a ConfigError that names the variable and never shows a password', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ HTTPS_PROXY: 'socks5://bob:pw@proxy:1080' }, /HTTPS_PROXY: socks5 proxies are not supported/],
      [{ HTTP_PROXY: 'http://bob:pw@proxy:3128/some/path' }, /HTTP_PROXY must be a proxy's address alone/],
      [{ http_proxy: 'http://bob:pw@[bad' }, /http_proxy is not a proxy URL/],
      // A password with characters a URL needs encoded, written as is: they must not end the part that is hidden.
      [{ HTTP_PROXY: 'http://bob:p/w@proxy:3128' }, /^HTTP_PROXY is not a proxy URL \(expected http:\/\/host:port\): http:\/\/\[REDACTED\]@proxy:3128$/],
      [{ HTTPS_PROXY: 'http://b/ob:pw@proxy:3128' }, /^HTTPS_PROXY must be a proxy's address alone .*: http:\/\/\[REDACTED\]@proxy:3128$/],
      [{ HTTPS_PROXY: 'bob:p/w@proxy:3128' }, /^HTTPS_PROXY is not a proxy URL .*: \[REDACTED\]@proxy:3128$/],
      [{ HTTPS_PROXY: 'http://bob:p@w/x@proxy:3128' }, /: http:\/\/\[REDACTED\]@proxy:3128$/],
    ]
    for (const [env, message] of cases) {
      let thrown: unknown
      try {
        proxyEnv(env)
      } catch (e) {
        thrown = e
      }
      expect(thrown).toBeInstanceOf(ConfigError)
      expect((thrown as Error).message).toMatch(message)
      expect((thrown as Error).message).not.toContain('pw')
    }
  })
})
