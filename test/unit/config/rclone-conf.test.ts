import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../../src/config/config-error.js'
import { findRemote, parseRcloneConf } from '../../../src/config/rclone-conf.js'

describe('parseRcloneConf', () => {
  it('reads sections, keys and values as rclone writes them', () => {
    const conf = parseRcloneConf(
      [
        '\uFEFF# rclone config',
        '[photos]',
        'type = imagekit',
        'endpoint=https://ik.imagekit.io/acme',
        '  private_key = private_a=b=c  ',
        '; comment',
        '',
        '[s3 remote]',
        'type = s3',
        'empty =',
      ].join('\r\n'),
      'rclone.conf',
    )
    expect([...conf.sections.keys()]).toEqual(['photos', 's3 remote'])
    const photos = findRemote(conf, 'photos')
    expect(photos?.get('endpoint')).toBe('https://ik.imagekit.io/acme')
    expect(photos?.get('private_key')).toBe('private_a=b=c')
    expect(findRemote(conf, 's3 remote')?.get('empty')).toBe('')
    expect(findRemote(conf, 'Photos')).toBeUndefined()
  })

  it('keeps the last value of a repeated key and merges a repeated section', () => {
    const conf = parseRcloneConf('[a]\nx = 1\n[b]\n[a]\nx = 2\ny = 3\n', 'f')
    expect(Object.fromEntries(findRemote(conf, 'a') ?? [])).toEqual({ x: '2', y: '3' })
  })

  it('rejects lines it cannot read, by line number only', () => {
    expect(() => parseRcloneConf('[a]\nsecret_without_equals\n', 'f.conf')).toThrow(
      new ConfigError('f.conf:2: expected "[section]" or "key = value"'),
    )
    expect(() => parseRcloneConf('x = 1\n', 'f.conf')).toThrow(/f\.conf:1: "key = value" before any \[section\]/)
  })
})
