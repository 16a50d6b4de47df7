// The logger is the last line of defence for secrets: a private key in a config object, an Authorization
// header, or a signed URL must never reach the output, whatever shape they are logged in.
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, redactUrl } from '../../src/log.js'

function capture(secrets: string[] = []) {
  const lines: string[] = []
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk))
      cb()
    },
  })
  const log = createLogger({ level: 'trace', pretty: false, secrets }, dest as never)
  return { log, text: () => lines.join('') }
}

const KEY = 'private_SuperSecretKey_0123456789='
const SIGNED = 'https://ik.imagekit.io/demo/a.jpg?tr=orig-true&ik-t=1700003600&ik-s=6f92396f66c8b2bbebf60b059e1be65691ead2c5'

describe('createLogger', () => {
  it('redacts private keys and authorization headers by key', () => {
    const { log, text } = capture()
    log.info({ privateKey: KEY, config: { private_key: KEY }, req: { headers: { authorization: `Basic ${Buffer.from(KEY + ':').toString('base64')}` } } }, 'config loaded')
    expect(text()).toContain('config loaded')
    expect(text()).not.toContain(KEY)
    expect(text()).not.toContain(Buffer.from(KEY + ':').toString('base64'))
    expect(text()).toContain('[REDACTED]')
  })

  it('strips URL signatures from url fields, messages and error messages', () => {
    const { log, text } = capture()
    log.info({ url: SIGNED }, `fetching ${SIGNED}`)
    log.error({ err: new Error(`GET ${SIGNED} failed`) }, 'read failed')
    expect(text()).not.toContain('6f92396f66c8b2bbebf60b059e1be65691ead2c5')
    expect(text()).not.toContain('1700003600')
    expect(text()).toContain('/demo/a.jpg')
  })

  it('scrubs configured secret strings wherever they appear in a message', () => {
    const { log, text } = capture([KEY])
    log.warn(`the key ${KEY} was passed on the command line`)
    log.error({ err: new Error(`bad key ${KEY}`) }, 'auth failed')
    expect(text()).not.toContain(KEY)
    expect(text().match(/\[REDACTED\]/g)?.length).toBeGreaterThanOrEqual(2)
  })
})

describe('redactUrl', () => {
  it('keeps the path and other parameters', () => {
    expect(redactUrl(SIGNED)).toBe('https://ik.imagekit.io/demo/a.jpg?tr=orig-true&ik-t=[REDACTED]&ik-s=[REDACTED]')
    expect(redactUrl('https://user:pw@example.com/x')).toBe('https://[REDACTED]@example.com/x')
  })
})
