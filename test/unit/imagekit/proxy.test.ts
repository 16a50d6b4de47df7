import { describe, expect, it } from 'vitest'
import { describeProxy, ProxyRules } from '../../../src/imagekit/proxy.js'

const via = (rules: ProxyRules, url: string): string | undefined => rules.proxyFor(new URL(url))?.href

describe('ProxyRules: which proxy a URL takes (rclone/Go rules)', () => {
  const both = { httpProxy: 'http://plain.proxy:3128/', httpsProxy: 'http://tls.proxy:3128/' }

  it('sends https URLs to the https proxy and http URLs to the http proxy, with no fallback between them', () => {
    const rules = new ProxyRules(both)
    expect(via(rules, 'https://api.imagekit.io/v1/files')).toBe('http://tls.proxy:3128/')
    expect(via(rules, 'http://cdn.example/demo/a.jpg')).toBe('http://plain.proxy:3128/')
    expect(via(new ProxyRules({ httpProxy: both.httpProxy }), 'https://api.imagekit.io/')).toBeUndefined()
    expect(via(new ProxyRules({ httpsProxy: both.httpsProxy }), 'http://cdn.example/')).toBeUndefined()
    expect(new ProxyRules({}).any).toBe(false)
    expect(new ProxyRules(both).any).toBe(true)
  })

  it('never proxies localhost or loopback addresses', () => {
    const rules = new ProxyRules(both)
    for (const url of ['http://localhost:8080/', 'http://127.0.0.1:9000/', 'http://127.1.2.3/', 'http://[::1]:8080/', 'https://localhost/']) {
      expect(via(rules, url), url).toBeUndefined()
    }
    expect(via(rules, 'http://localhost.example/')).toBe('http://plain.proxy:3128/')
  })

  it('reads NO_PROXY: domains with their subdomains, dot and star forms for subdomains only, ports, IPs, CIDRs and *', () => {
    const rules = new ProxyRules({ ...both, noProxy: ' Example.com, .sub.test ,*.star.test, ports.test:8443, 10.1.2.3, 192.168.0.0/16, [fd00::7]:443, 2001:db8::/32' })
    const direct = ['https://example.com/', 'https://a.b.example.com/', 'https://x.sub.test/', 'https://x.star.test/', 'https://ports.test:8443/',
      'http://10.1.2.3/', 'http://192.168.44.5/', 'https://[fd00::7]/', 'http://[2001:db8::1]/']
    const proxied = ['https://notexample.com/', 'https://sub.test/', 'https://star.test/', 'https://ports.test/', 'http://10.1.2.4/',
      'http://192.169.0.1/', 'http://[fd00::7]/', 'http://[2001:db9::1]/']
    for (const url of direct) expect(via(rules, url), url).toBeUndefined()
    for (const url of proxied) expect(via(rules, url), url).toBeDefined()
    expect(via(new ProxyRules({ ...both, noProxy: '*' }), 'https://api.imagekit.io/')).toBeUndefined()
    expect(new ProxyRules({ ...both, noProxy: '*' }).any).toBe(false)
  })

  it('says why a URL goes direct when a proxy is set for the other scheme only (and not when NO_PROXY sent it)', () => {
    const httpOnly = new ProxyRules({ httpProxy: 'http://plain.proxy:3128/', noProxy: 'intranet.test' })
    expect(httpOnly.otherSchemeOnly(new URL('https://api.imagekit.io/v1/files'))).toBe('HTTP_PROXY serves http:// URLs only; set HTTPS_PROXY for https:// ones')
    expect(httpOnly.otherSchemeOnly(new URL('https://intranet.test/'))).toBeUndefined()
    expect(httpOnly.otherSchemeOnly(new URL('https://localhost/'))).toBeUndefined()
    expect(httpOnly.otherSchemeOnly(new URL('http://cdn.example/'))).toBeUndefined()
    const httpsOnly = new ProxyRules({ httpsProxy: 'http://tls.proxy:3128/' })
    expect(httpsOnly.otherSchemeOnly(new URL('http://cdn.example/'))).toBe('HTTPS_PROXY serves https:// URLs only; set HTTP_PROXY for http:// ones')
    expect(new ProxyRules({}).otherSchemeOnly(new URL('https://api.imagekit.io/'))).toBeUndefined()
  })

  it('describes a proxy without its credentials', () => {
    expect(describeProxy(new URL('http://alice:s3cret@proxy.corp:8080/'))).toBe('http://[REDACTED]@proxy.corp:8080')
    expect(describeProxy(new URL('https://proxy.corp/'))).toBe('https://proxy.corp')
  })
})
