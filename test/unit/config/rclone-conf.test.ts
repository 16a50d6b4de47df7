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

  it('rejects a line of the section asked for that it cannot read, by line number only', () => {
    const conf = parseRcloneConf('[a]\nsecret_without_equals\n', 'f.conf')
    expect(() => findRemote(conf, 'a')).toThrow(new ConfigError('f.conf:2: expected "[section]" or "key = value"'))
  })

  it('removes one pair of surrounding quotes from a value, as rclone does', () => {
    const conf = parseRcloneConf(
      ['[q]', 'endpoint = "https://ik.imagekit.io/acme"', "private_key = 'private_abc'", 'a = ""', 'b = "x\'', 'c = "\'"x"\'"', 'd = "', 'e = say "hi"'].join('\n'),
      'f',
    )
    expect(Object.fromEntries(findRemote(conf, 'q') ?? [])).toEqual({
      endpoint: 'https://ik.imagekit.io/acme',
      private_key: 'private_abc',
      a: '',
      b: '"x\'',
      c: '\'"x"\'',
      d: '"',
      e: 'say "hi"',
    })
  })

  it('reads the section asked for whatever other sections hold, as rclone would read them', () => {
    const conf = parseRcloneConf(
      ['stray = 1', 'loose line', '[other]', 'key: value', 'weird line', '[photos]', 'type = imagekit', '[third', 'x = 1', 'odd'].join('\n'),
      'f.conf',
    )
    expect(Object.fromEntries(findRemote(conf, 'photos') ?? [])).toEqual({ type: 'imagekit' })
    expect(() => findRemote(conf, 'other')).toThrow(new ConfigError('f.conf:4: expected "[section]" or "key = value"'))
    // The lines under a header without its "]" belong to no section.
    expect([...conf.sections.keys()]).toEqual(['other', 'photos'])
  })

  it('says that an encrypted rclone config cannot be read, and what to do instead', () => {
    const text = '# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nQ2hhY2hhMjBQb2x5MTMwNQ==\n'
    expect(() => parseRcloneConf(text, '/home/me/.config/rclone/rclone.conf')).toThrow(
      /^\/home\/me\/\.config\/rclone\/rclone\.conf is an encrypted rclone config, which ikfs cannot read: .*`rclone config show NAME`.*IKFS_PRIVATE_KEY/,
    )
    expect(() => parseRcloneConf(text, 'f')).toThrow(ConfigError)
    // Only as the first thing in the file, as rclone sees it.
    expect(parseRcloneConf('[a]\nRCLONE_ENCRYPT_V0 = x\n', 'f').sections.get('a')?.get('RCLONE_ENCRYPT_V0')).toBe('x')
  })
})
