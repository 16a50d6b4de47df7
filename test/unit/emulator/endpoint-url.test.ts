/** Which absolute URLs are the emulator's URL endpoint (purge and metadata by URL refuse any other host). */
import { describe, expect, it } from 'vitest'
import { EndpointUrls } from '../../../src/emulator/endpoint-url.js'

describe('EndpointUrls', () => {
  it('takes the endpoint\'s own origin and, on a loopback host, every loopback name; refuses other hosts, ports and schemes', () => {
    const urls = new EndpointUrls(['http://127.0.0.1:4000/demo', undefined])
    expect(urls.relative('http://127.0.0.1:4000/demo/a%20b.jpg?tr=w-1')).toEqual({ rawTarget: '/demo/a%20b.jpg?tr=w-1', endpointPath: '/demo' })
    expect(urls.relative('http://localhost:4000/demo/a.jpg')).toMatchObject({ endpointPath: '/demo' })
    expect(urls.relative('http://[::1]:4000/demo/a.jpg')).toMatchObject({ endpointPath: '/demo' })
    for (const other of ['http://example.com:4000/demo/a.jpg', 'http://127.0.0.1:4001/demo/a.jpg', 'https://127.0.0.1:4000/demo/a.jpg', 'not a url', '']) {
      expect(urls.relative(other), other).toBeUndefined()
    }
  })

  it('takes the --public-url-base origin with its own path', () => {
    const urls = new EndpointUrls(['http://127.0.0.1:4000/demo', 'https://cdn.example/media/demo/'])
    expect(urls.relative('https://cdn.example/media/demo/a.jpg')).toEqual({ rawTarget: '/media/demo/a.jpg', endpointPath: '/media/demo' })
  })

  it('on an emulator listening on every interface (0.0.0.0, ::), takes any host on its port: each reaches the same endpoint', () => {
    for (const base of ['http://0.0.0.0:4000/demo', 'http://[::]:4000/demo']) {
      const urls = new EndpointUrls([base])
      expect(urls.relative('http://192.168.1.20:4000/demo/a.jpg'), base).toMatchObject({ endpointPath: '/demo' })
      expect(urls.relative('http://my-laptop.local:4000/demo/a.jpg'), base).toMatchObject({ endpointPath: '/demo' })
      expect(urls.relative('http://192.168.1.20:4001/demo/a.jpg'), base).toBeUndefined()
    }
  })
})
