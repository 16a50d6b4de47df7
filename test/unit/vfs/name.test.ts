import { describe, expect, it } from 'vitest'
import {
  decodeBytes, encodeBytes, EncodingError, IMAGEKIT_DEFAULT_ENCODING, isSafeLocalName, joinRemote, localPathOf,
  NameCodec, parentOf, parseEncoding, splitLocalPath, tablesFor,
} from '../../../src/vfs/name.js'
import { versionName } from '../../../src/vfs/versions.js'

const codec = new NameCodec(IMAGEKIT_DEFAULT_ENCODING)

describe('parseEncoding', () => {
  it('parses rclone flag lists, aliases and None', () => {
    expect([...parseEncoding('Slash, LtGt ,Dot')].sort()).toEqual(['Dot', 'LtGt', 'Slash'])
    expect(parseEncoding('None').size).toBe(0)
    expect([...parseEncoding('Win')].sort()).toEqual(['Asterisk', 'Colon', 'DoubleQuote', 'LtGt', 'Pipe', 'Question'])
    expect(parseEncoding(IMAGEKIT_DEFAULT_ENCODING).size).toBe(13)
  })
  it('rejects unknown names', () => {
    expect(() => parseEncoding('Slash,Bogus')).toThrow(EncodingError)
  })
})

describe('every flag: local name ↔ remote name', () => {
  // [encoding, local (kernel) name, remote (ImageKit) name]
  const cases: [string, string, string][] = [
    ['Asterisk', 'a*b', 'a＊b'],
    ['LtGt', '<a>', '＜a＞'],
    ['DoubleQuote', 'say "hi"', 'say ＂hi＂'],
    ['SingleQuote', "it's", 'it＇s'],
    ['BackQuote', 'a`b', 'a｀b'],
    ['Dollar', '$HOME', '＄HOME'],
    ['Colon', 'a:b', 'a：b'],
    ['Question', 'why?', 'why？'],
    ['Pipe', 'a|b', 'a｜b'],
    ['Hash', '#1', '＃1'],
    ['Percent', '50%', '50％'],
    ['BackSlash', 'a\\b', 'a＼b'],
    ['SquareBracket', '[x]', '［x］'],
    ['Semicolon', 'a;b', 'a；b'],
    ['Exclamation', 'hi!', 'hi！'],
    ['Slash', 'a／b', 'a／b'], // local shows '/' as ／ (rclone Standard); remote stores the same look-alike
    ['CrLf', 'a␍␊b', 'a␍␊b'],
    ['Del', 'a␡b', 'a␡b'],
    ['Ctl', 'a␁␟b', 'a␁␟b'],
    ['Dot', '．', '．'],
    ['Dot', '．．', '．．'],
    ['LeftSpace', ' a', '␠a'],
    ['RightSpace', 'a ', 'a␠'],
    ['LeftPeriod', '.a', '．a'],
    ['RightPeriod', 'a.', 'a．'],
    ['LeftTilde', '~a', '～a'],
    ['LeftCrLfHtVt', '␉a', '␉a'],
    ['RightCrLfHtVt', 'a␊', 'a␊'],
    ['None', 'a?b#c', 'a?b#c'],
    ['Raw', 'a?b', 'a?b'],
  ]
  it.each(cases)('%s: %j ↔ %j', (encoding, local, remote) => {
    const c = new NameCodec(encoding)
    expect(c.toRemote(local)).toBe(remote)
    expect(c.toLocal(remote)).toBe(local)
  })

  it('quotes a look-alike that is already in a name, so decoding is unambiguous', () => {
    const c = new NameCodec('Question')
    expect(c.toRemote('a？b')).toBe('a‛？b')
    expect(c.toLocal('a‛？b')).toBe('a？b')
    expect(c.toLocal('a？b')).toBe('a?b')
    expect(codec.toRemote('‛')).toBe('‛‛')
    expect(codec.toLocal('‛‛')).toBe('‛‛') // rclone's Standard quotes ‛ too
  })
})

describe('default ImageKit encoding', () => {
  it('encodes the rclone set and keeps everything else', () => {
    expect(codec.toRemote('50% off [sale] #1 $5 "x" <y> a\\b?.jpg')).toBe('50％ off ［sale］ ＃1 ＄5 ＂x＂ ＜y＞ a＼b？.jpg')
    expect(codec.toRemote("photo (1), it's & ok!.jpg")).toBe("photo (1), it's & ok!.jpg")
    expect(codec.toRemote('ünïcödé 世界 😀.png')).toBe('ünïcödé 世界 😀.png')
  })

  it('keeps NFC and NFD forms as they are', () => {
    const nfc = 'caf\u00e9.jpg'
    const nfd = 'cafe\u0301.jpg'
    expect(codec.toRemote(nfc)).toBe(nfc)
    expect(codec.toRemote(nfd)).toBe(nfd)
    expect(codec.toLocal(nfd)).toBe(nfd)
    expect(codec.toLocal(nfc)).not.toBe(codec.toLocal(nfd))
  })

  const nasty = [
    'plain.jpg', 'with space.jpg', ' lead', 'trail ', '#%?', '$[]', 'a‛b', '．', '．．', '／', '？', '␀', '␁', '␡',
    '.hidden', '..x', 'x..', 'ü', '🙂'.repeat(60), 'a'.repeat(255), 'ＡＢ＃', 'tab\tname', 'nl\nname',
  ]
  it.each(nasty)('remote → local → remote returns the same remote file: %j', (name) => {
    const remote = codec.toRemote(name) // a canonical remote name, as rclone would store it
    const local = codec.toLocal(remote)
    if (local === undefined) return expect(Buffer.byteLength(name)).toBeGreaterThan(200) // only the too-long may hide
    expect(isSafeLocalName(local)).toBe(true)
    expect(codec.toRemote(local)).toBe(remote)
  })

  it('never shows an unsafe local name, whatever the remote name', () => {
    const alphabet = ['a', '/', '.', '\0', '\x01', '\x7f', '‛', '␀', '／', '．', '?', '？', ' ', 'Ｆ', 'F', '0']
    let seed = 7
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) % alphabet.length
    for (const encoding of [IMAGEKIT_DEFAULT_ENCODING, 'None', 'Raw', 'Slash']) {
      const c = new NameCodec(encoding)
      for (let i = 0; i < 2000; i++) {
        const len = 1 + (i % 5)
        let remote = ''
        for (let k = 0; k < len; k++) remote += alphabet[rnd()]
        const local = c.toLocal(remote)
        if (local !== undefined) expect(isSafeLocalName(local), `${encoding} ${JSON.stringify(remote)}`).toBe(true)
      }
      for (const special of ['.', '..', '', '/']) {
        const local = c.toLocal(special)
        if (local !== undefined) expect(isSafeLocalName(local)).toBe(true)
      }
    }
  })

  it('maps unsafe remote names to safe look-alikes', () => {
    expect(codec.toLocal('.')).toBe('．')
    expect(codec.toLocal('..')).toBe('．．')
    expect(codec.toLocal('a␀b')).toBe('a␀b')
    expect(codec.toLocal('a\u0000b')).toBe('a␀b')
    expect(codec.toLocal('')).toBeUndefined()
  })

  it('hides names that cannot be shown: invalid UTF-8 after decoding, longer than 255 bytes', () => {
    expect(codec.toLocal('a‛FFb')).toBeUndefined()
    expect(codec.toLocal('x'.repeat(256))).toBeUndefined()
    expect(codec.toLocal('x'.repeat(255))).toBe('x'.repeat(255))
    expect(new NameCodec('None').toLocal('a‛FFb')).toBe('a‛‛FFb') // without InvalidUtf8 it is literal text
  })

  it('refuses a local name that would become a path with encoding None', () => {
    expect(() => new NameCodec('None').toRemote('a／b')).toThrow(EncodingError)
  })
})

describe('byte-level rclone encoder', () => {
  const enc = (mask: string, bytes: number[]) => Buffer.from(encodeBytes(tablesFor(mask), Uint8Array.from(bytes))).toString('utf8')
  it('quotes invalid UTF-8 bytes as ‛XX with InvalidUtf8 and decodes them back', () => {
    expect(enc('InvalidUtf8', [0x61, 0xff, 0x62])).toBe('a‛FFb')
    expect(enc('InvalidUtf8', [0xe2, 0x82])).toBe('‛E2‛82')
    const back = decodeBytes(tablesFor('InvalidUtf8'), Buffer.from('a‛FFb'))
    expect([...back]).toEqual([0x61, 0xff, 0x62])
    expect(enc('InvalidUtf8', [0xef, 0xbf, 0xbd])).toBe('\ufffd') // a real U+FFFD stays
  })
  it('always encodes NUL and quotes ␀ and ‛', () => {
    expect(enc('None', [0x61, 0x00])).toBe('a␀')
    expect(enc('None', [...Buffer.from('␀‛')])).toBe('‛␀‛‛')
  })
})

describe('paths and version names', () => {
  it('splits and joins', () => {
    expect(splitLocalPath('/')).toEqual([])
    expect(splitLocalPath('/a/b c/d.jpg')).toEqual(['a', 'b c', 'd.jpg'])
    expect(parentOf('/a/b')).toEqual(['/a', 'b'])
    expect(parentOf('/b')).toEqual(['/', 'b'])
    expect(joinRemote('/', 'x')).toBe('/x')
    expect(joinRemote('/a', 'x')).toBe('/a/x')
  })
  it('maps a remote path back to the local one, name by name (undefined when one cannot be shown)', () => {
    const codec = new NameCodec(IMAGEKIT_DEFAULT_ENCODING)
    const remote = '/' + codec.toRemote('a?b') + '/' + codec.toRemote('c.jpg')
    expect(localPathOf(codec, remote)).toBe('/a?b/c.jpg')
    expect(localPathOf(codec, '/')).toBe('/')
    expect(localPathOf(codec, `/a/${'x'.repeat(256)}`)).toBeUndefined() // longer than a local name may be
  })
  it('names versions like rclone lib/version', () => {
    const t = Date.parse('2006-01-02T15:04:05.999Z')
    expect(versionName('photo.jpg', t)).toBe('photo-v2006-01-02-150405-999.jpg')
    expect(versionName('archive.tar.gz', t)).toBe('archive.tar-v2006-01-02-150405-999.gz')
    expect(versionName('README', t)).toBe('README-v2006-01-02-150405-999')
    expect(versionName('.bashrc', t)).toBe('-v2006-01-02-150405-999.bashrc')
  })
})
