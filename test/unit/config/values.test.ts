import { describe, expect, it } from 'vitest'
import {
  ValueProblem, formatDuration, formatSize, parseBool, parseDuration, parseEncoding, parseInteger, parseMode,
  parseSize, parseUrl,
} from '../../../src/config/values.js'
import { RCLONE_ENCODING_NAMES, RCLONE_IMAGEKIT_ENCODING } from '../../../src/config/options.js'

describe('parseDuration (rclone spelling, milliseconds)', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1h0m10s', 3_610_000],
    ['1.5s', 1_500],
    ['2d', 172_800_000],
    ['1w', 604_800_000],
    ['0', 0],
    ['30', 30_000],
    [' 10s ', 10_000],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each(['', 'abc', '5x', '10 s', 's', '1h-5m', '-5s', '5m3'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(ValueProblem)
  })

  it('formats back to the shortest spelling', () => {
    expect(formatDuration(5_400_000)).toBe('1h30m')
    expect(formatDuration(500)).toBe('500ms')
    expect(formatDuration(0)).toBe('0s')
    expect(parseDuration(formatDuration(3_723_004))).toBe(3_723_004)
  })
})

describe('parseSize (rclone spelling, base 1024, bytes)', () => {
  it.each([
    ['64M', 64 * 1024 ** 2],
    ['1G', 1024 ** 3],
    ['1g', 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['512k', 512 * 1024],
    ['256MiB', 256 * 1024 ** 2],
    ['100B', 100],
    ['100b', 100],
    ['2T', 2 * 1024 ** 4],
    ['0', 0],
    ['10', 10 * 1024],
  ])('%s = %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes)
  })

  it.each(['', 'M', '64X', '-1M', '1e3', '64 MB extra'])('rejects %j', (text) => {
    expect(() => parseSize(text)).toThrow(ValueProblem)
  })

  it('formats back exactly', () => {
    expect(formatSize(256 * 1024 ** 2)).toBe('256M')
    expect(formatSize(100)).toBe('100B')
    expect(parseSize(formatSize(3 * 1024 ** 3))).toBe(3 * 1024 ** 3)
  })
})

describe('other value types', () => {
  it('parses octal modes and enforces the maximum', () => {
    expect(parseMode('0644', 0o7777)).toBe(0o644)
    expect(parseMode('755', 0o7777)).toBe(0o755)
    expect(parseMode('0o022', 0o777)).toBe(0o022)
    expect(() => parseMode('0888', 0o7777)).toThrow(ValueProblem)
    expect(() => parseMode('1777', 0o777)).toThrow(/largest allowed mode 0777/)
    expect(() => parseMode('rw-r--r--', 0o7777)).toThrow(ValueProblem)
  })

  it('parses booleans like rclone and shells spell them', () => {
    for (const t of ['true', 'TRUE', '1', 'yes', 'on', 't']) expect(parseBool(t)).toBe(true)
    for (const f of ['false', 'False', '0', 'no', 'off', 'f']) expect(parseBool(f)).toBe(false)
    expect(() => parseBool('maybe')).toThrow(ValueProblem)
  })

  it('parses integers within bounds', () => {
    expect(parseInteger('32', 1, 1024)).toBe(32)
    expect(() => parseInteger('0', 1, 1024)).toThrow(/out of range/)
    expect(() => parseInteger('3.5')).toThrow(ValueProblem)
  })

  it('accepts http(s) URLs without credentials and drops the trailing slash', () => {
    expect(parseUrl('https://ik.imagekit.io/demo/')).toBe('https://ik.imagekit.io/demo')
    expect(parseUrl('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080')
    expect(() => parseUrl('ik.imagekit.io/demo')).toThrow(ValueProblem)
    expect(() => parseUrl('ftp://x/y')).toThrow(/http/)
    expect(() => parseUrl('https://user:pw@x/y')).toThrow(/user name/)
    expect(() => parseUrl('https://x/y?tr=w-10')).toThrow(/query/)
  })

  it('accepts rclone encoding names and rejects typos', () => {
    expect(parseEncoding(RCLONE_IMAGEKIT_ENCODING, RCLONE_ENCODING_NAMES)).toBe(RCLONE_IMAGEKIT_ENCODING)
    expect(parseEncoding(' Slash , Dot ', RCLONE_ENCODING_NAMES)).toBe('Slash,Dot')
    expect(() => parseEncoding('Slash,Slsh', RCLONE_ENCODING_NAMES)).toThrow(/"Slsh"/)
    expect(() => parseEncoding('', RCLONE_ENCODING_NAMES)).toThrow(ValueProblem)
  })
})
