/**
 * Names: the only place that converts between local names (what the kernel sees) and remote names
 * (ImageKit `name` / path components), following rclone's lib/encoder exactly so that a library
 * shared with `rclone mount` shows the same names.
 *
 * rclone's model, which we copy:
 * - the backend `encoding` option (a comma list of flag names) says which characters the remote
 *   cannot store; they are replaced by look-alikes (mostly FULLWIDTH forms, U+FF01..; control
 *   characters by the SYMBOL FOR block, U+2400..). A look-alike that is already in a name is quoted
 *   with ‛ (U+201B) so decoding is unambiguous.
 * - remote → local is `ToStandardName` = Standard.Encode(mask.Decode(remote)); local → remote is
 *   `FromStandardName` = mask.Encode(Standard.Decode(local)). Standard (NUL, '/', control chars,
 *   DEL, '.' and '..') guarantees that no remote name ever becomes an unsafe local name.
 *
 * The codec works on UTF-8 bytes, as Go does, so invalid UTF-8 behaves like rclone's. Names the
 * kernel cannot take (invalid UTF-8 after decoding, longer than NAME_MAX) are reported as undefined
 * and the caller hides them.
 */

export const QUOTE_RUNE = 0x201b // ‛ SINGLE HIGH-REVERSED-9 QUOTATION MARK
const FULL_OFFSET = 0xfee0 // ASCII printable + this = FULLWIDTH form
const SYMBOL_OFFSET = 0x2400 // ␀ SYMBOL FOR NULL
const SYMBOL_FOR_SPACE = 0x2420 // ␠
const SYMBOL_FOR_DELETE = 0x2421 // ␡
const FULLWIDTH_FULL_STOP = 0xff0e // ．
const FULLWIDTH_TILDE = 0xff5e // ～
const RUNE_ERROR = 0xfffd

/** Linux NAME_MAX: the kernel refuses longer names, so such entries cannot be shown. */
export const NAME_MAX_BYTES = 255

/** rclone's flag bits, in rclone's order (only the names matter to users; bits are internal). */
export const ENCODING_FLAGS = [
  'Raw', 'Slash', 'LtGt', 'DoubleQuote', 'SingleQuote', 'BackQuote', 'Dollar', 'Colon', 'Question',
  'Asterisk', 'Pipe', 'Hash', 'Percent', 'BackSlash', 'CrLf', 'Del', 'Ctl', 'LeftSpace', 'LeftPeriod',
  'LeftTilde', 'LeftCrLfHtVt', 'RightSpace', 'RightPeriod', 'RightCrLfHtVt', 'InvalidUtf8', 'Dot',
  'SquareBracket', 'Semicolon', 'Exclamation',
] as const
export type EncodingFlag = (typeof ENCODING_FLAGS)[number]
export type EncodingMask = ReadonlySet<EncodingFlag>

/** rclone's synthetic aliases. */
const ALIASES: Record<string, readonly EncodingFlag[]> = {
  None: [],
  Win: ['Colon', 'Question', 'DoubleQuote', 'Asterisk', 'LtGt', 'Pipe'],
  HashPercent: ['Hash', 'Percent'],
}

/** rclone backend/imagekit default `encoding`. */
export const IMAGEKIT_DEFAULT_ENCODING =
  'Slash,LtGt,DoubleQuote,Dollar,Question,Hash,Percent,BackSlash,Del,Ctl,InvalidUtf8,Dot,SquareBracket'

/** rclone's Standard encoding: what every local (kernel-side) name is in. */
const STANDARD: EncodingMask = new Set<EncodingFlag>(['Slash', 'Ctl', 'Del', 'Dot'])

export class EncodingError extends Error {
  override name = 'EncodingError'
}

/** Parses an rclone `encoding` value ("Slash,LtGt,..." or "None"). Throws EncodingError on an unknown name. */
export function parseEncoding(value: string): EncodingMask {
  const out = new Set<EncodingFlag>()
  for (const raw of value.split(',')) {
    const part = raw.trim()
    if (part === '') continue
    const alias = ALIASES[part]
    if (alias) {
      for (const f of alias) out.add(f)
    } else if ((ENCODING_FLAGS as readonly string[]).includes(part)) {
      out.add(part as EncodingFlag)
    } else {
      throw new EncodingError(`bad encoding "${part}": possible values are ${[...Object.keys(ALIASES), ...ENCODING_FLAGS].join(', ')}`)
    }
  }
  return out
}

/** Characters replaced by FULLWIDTH forms, per flag. */
const FULLWIDTH_CHARS: readonly (readonly [EncodingFlag, string])[] = [
  ['Asterisk', '*'], ['LtGt', '<>'], ['Question', '?'], ['Colon', ':'], ['Pipe', '|'], ['DoubleQuote', '"'],
  ['SingleQuote', "'"], ['BackQuote', '`'], ['Dollar', '$'], ['Slash', '/'], ['BackSlash', '\\'],
  ['Hash', '#'], ['Percent', '%'], ['SquareBracket', '[]'], ['Semicolon', ';'], ['Exclamation', '!'],
]

/** Per-mask tables, built once per mask. */
export interface Tables {
  has: (f: EncodingFlag) => boolean
  /** raw rune → replacement rune (mid-name replacements). */
  encode: Map<number, number>
  /** replacement rune → raw rune. */
  decode: Map<number, number>
}

function buildTables(mask: EncodingMask): Tables {
  const encode = new Map<number, number>()
  const decode = new Map<number, number>()
  const pair = (raw: number, rep: number) => {
    encode.set(raw, rep)
    decode.set(rep, raw)
  }
  for (const [flag, chars] of FULLWIDTH_CHARS) {
    if (!mask.has(flag)) continue
    for (const c of chars) pair(c.charCodeAt(0), c.charCodeAt(0) + FULL_OFFSET)
  }
  if (mask.has('CrLf')) {
    pair(0x0d, SYMBOL_OFFSET + 0x0d)
    pair(0x0a, SYMBOL_OFFSET + 0x0a)
  }
  if (mask.has('Del')) pair(0x7f, SYMBOL_FOR_DELETE)
  if (mask.has('Ctl')) for (let c = 1; c <= 0x1f; c++) pair(c, SYMBOL_OFFSET + c)
  return { has: (f) => mask.has(f), encode, decode }
}

// ---------- UTF-8 at the byte level (Go's rules: invalid byte → RUNE_ERROR of width 1) ----------

function decodeRune(b: Uint8Array, i: number): [rune: number, width: number] {
  const b0 = b[i]!
  if (b0 < 0x80) return [b0, 1]
  const cont = (k: number) => {
    const c = b[i + k]
    return c !== undefined && (c & 0xc0) === 0x80 ? c & 0x3f : -1
  }
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1)
    if (c1 >= 0) return [((b0 & 0x1f) << 6) | c1, 2]
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    const c1 = cont(1)
    const c2 = cont(2)
    if (c1 >= 0 && c2 >= 0) {
      const r = ((b0 & 0x0f) << 12) | (c1 << 6) | c2
      if (r >= 0x800 && (r < 0xd800 || r > 0xdfff)) return [r, 3]
    }
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    const c1 = cont(1)
    const c2 = cont(2)
    const c3 = cont(3)
    if (c1 >= 0 && c2 >= 0 && c3 >= 0) {
      const r = ((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3
      if (r >= 0x10000 && r <= 0x10ffff) return [r, 4]
    }
  }
  return [RUNE_ERROR, 1]
}

function decodeLastRune(b: Uint8Array, end: number): [rune: number, width: number] {
  if (end <= 0) return [RUNE_ERROR, 0]
  let start = end - 1
  while (start > 0 && end - start < 4 && (b[start]! & 0xc0) === 0x80) start--
  const [r, w] = decodeRune(b, start)
  return start + w === end ? [r, w] : [RUNE_ERROR, 1]
}

class ByteWriter {
  #buf: number[] = []
  rune(r: number): void {
    const b = this.#buf
    if (r < 0x80) b.push(r)
    else if (r < 0x800) b.push(0xc0 | (r >> 6), 0x80 | (r & 0x3f))
    else if (r < 0x10000) b.push(0xe0 | (r >> 12), 0x80 | ((r >> 6) & 0x3f), 0x80 | (r & 0x3f))
    else b.push(0xf0 | (r >> 18), 0x80 | ((r >> 12) & 0x3f), 0x80 | ((r >> 6) & 0x3f), 0x80 | (r & 0x3f))
  }
  bytes(src: Uint8Array, from: number, to: number): void {
    for (let i = from; i < to; i++) this.#buf.push(src[i]!)
  }
  quotedBytes(src: Uint8Array, from: number, to: number): void {
    for (let i = from; i < to; i++) {
      this.rune(QUOTE_RUNE)
      for (const c of src[i]!.toString(16).toUpperCase().padStart(2, '0')) this.#buf.push(c.charCodeAt(0))
    }
  }
  result(): Uint8Array {
    return Uint8Array.from(this.#buf)
  }
}

function runeBytes(r: number): Uint8Array {
  return Buffer.from(String.fromCodePoint(r), 'utf8')
}
function equalsRunes(b: Uint8Array, ...runes: number[]): boolean {
  const want = Buffer.from(String.fromCodePoint(...runes), 'utf8')
  return Buffer.compare(Buffer.from(b.buffer, b.byteOffset, b.byteLength), want) === 0
}

const isCrLfHtVt = (c: number) => c === 0x09 || c === 0x0a || c === 0x0b || c === 0x0d
const isSymbolCrLfHtVt = (r: number) => r >= SYMBOL_OFFSET && isCrLfHtVt(r - SYMBOL_OFFSET)

/** rclone MultiEncoder.Encode on UTF-8 bytes. */
export function encodeBytes(t: Tables, input: Uint8Array): Uint8Array {
  let inp = input
  if (inp.length === 0) return inp
  if (t.has('Dot')) {
    if (equalsRunes(inp, 0x2e)) return runeBytes(FULLWIDTH_FULL_STOP)
    if (equalsRunes(inp, 0x2e, 0x2e)) return Buffer.from('．．', 'utf8')
    if (equalsRunes(inp, FULLWIDTH_FULL_STOP)) return Buffer.from('‛．', 'utf8')
    if (equalsRunes(inp, FULLWIDTH_FULL_STOP, FULLWIDTH_FULL_STOP)) return Buffer.from('‛．‛．', 'utf8')
  }
  const out = new ByteWriter()
  // Prefix-only replacements: at most one applies.
  let prefix: number[] = []
  const first = () => decodeRune(inp, 0)
  const leftRules: readonly [EncodingFlag, number, number][] = [
    ['LeftSpace', 0x20, SYMBOL_FOR_SPACE],
    ['LeftPeriod', 0x2e, FULLWIDTH_FULL_STOP],
    ['LeftTilde', 0x7e, FULLWIDTH_TILDE],
  ]
  for (const [flag, raw, rep] of leftRules) {
    if (prefix.length > 0 || !t.has(flag)) continue
    if (inp[0] === raw) {
      prefix = [rep]
      inp = inp.subarray(1)
    } else {
      const [r, l] = first()
      if (r === rep) {
        prefix = [QUOTE_RUNE, rep]
        inp = inp.subarray(l)
      }
    }
  }
  if (prefix.length === 0 && t.has('LeftCrLfHtVt') && inp.length > 0) {
    if (isCrLfHtVt(inp[0]!)) {
      prefix = [SYMBOL_OFFSET + inp[0]!]
      inp = inp.subarray(1)
    } else {
      const [r, l] = first()
      if (isSymbolCrLfHtVt(r)) {
        prefix = [QUOTE_RUNE, r]
        inp = inp.subarray(l)
      }
    }
  }
  // Suffix-only replacements.
  let suffix: number[] = []
  if (inp.length > 0) {
    const rightRules: readonly [EncodingFlag, number, number][] = [
      ['RightSpace', 0x20, SYMBOL_FOR_SPACE],
      ['RightPeriod', 0x2e, FULLWIDTH_FULL_STOP],
    ]
    for (const [flag, raw, rep] of rightRules) {
      if (suffix.length > 0 || !t.has(flag)) continue
      if (inp[inp.length - 1] === raw) {
        suffix = [rep]
        inp = inp.subarray(0, inp.length - 1)
      } else {
        const [r, l] = decodeLastRune(inp, inp.length)
        if (r === rep) {
          suffix = [QUOTE_RUNE, rep]
          inp = inp.subarray(0, inp.length - l)
        }
      }
    }
    if (suffix.length === 0 && t.has('RightCrLfHtVt') && inp.length > 0) {
      const c = inp[inp.length - 1]!
      if (isCrLfHtVt(c)) {
        suffix = [SYMBOL_OFFSET + c]
        inp = inp.subarray(0, inp.length - 1)
      } else {
        const [r, l] = decodeLastRune(inp, inp.length)
        if (isSymbolCrLfHtVt(r)) {
          suffix = [QUOTE_RUNE, r]
          inp = inp.subarray(0, inp.length - l)
        }
      }
    }
  }
  for (const r of prefix) out.rune(r)
  for (let i = 0; i < inp.length; ) {
    const [r, l] = decodeRune(inp, i)
    const at = i
    i += l
    if (r === 0) {
      out.rune(SYMBOL_OFFSET)
      continue
    }
    if (r === SYMBOL_OFFSET || r === QUOTE_RUNE) {
      out.rune(QUOTE_RUNE)
      out.rune(r)
      continue
    }
    if (r === RUNE_ERROR && l === 1) {
      // An invalid byte (a real U+FFFD has width 3 and is kept as is).
      if (t.has('InvalidUtf8')) out.quotedBytes(inp, at, i)
      else out.bytes(inp, at, i)
      continue
    }
    const rep = t.encode.get(r)
    if (rep !== undefined) {
      out.rune(rep)
      continue
    }
    if (t.decode.has(r)) {
      out.rune(QUOTE_RUNE)
      out.rune(r)
      continue
    }
    out.bytes(inp, at, i)
  }
  for (const r of suffix) out.rune(r)
  return out.result()
}

const isHex = (c: number | undefined) =>
  c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))

/** rclone MultiEncoder.Decode on UTF-8 bytes. */
export function decodeBytes(t: Tables, input: Uint8Array): Uint8Array {
  let inp = input
  if (t.has('Dot')) {
    if (equalsRunes(inp, FULLWIDTH_FULL_STOP)) return Buffer.from('.', 'utf8')
    if (equalsRunes(inp, FULLWIDTH_FULL_STOP, FULLWIDTH_FULL_STOP)) return Buffer.from('..', 'utf8')
    if (equalsRunes(inp, QUOTE_RUNE, FULLWIDTH_FULL_STOP)) return runeBytes(FULLWIDTH_FULL_STOP)
    if (equalsRunes(inp, QUOTE_RUNE, FULLWIDTH_FULL_STOP, QUOTE_RUNE, FULLWIDTH_FULL_STOP)) return Buffer.from('．．', 'utf8')
  }
  const out = new ByteWriter()
  let prefix: number[] = []
  if (inp.length > 0) {
    const [r, l1] = decodeRune(inp, 0)
    if (t.has('LeftSpace') && r === SYMBOL_FOR_SPACE) [prefix, inp] = [[0x20], inp.subarray(l1)]
    else if (t.has('LeftPeriod') && r === FULLWIDTH_FULL_STOP) [prefix, inp] = [[0x2e], inp.subarray(l1)]
    else if (t.has('LeftTilde') && r === FULLWIDTH_TILDE) [prefix, inp] = [[0x7e], inp.subarray(l1)]
    else if (t.has('LeftCrLfHtVt') && isSymbolCrLfHtVt(r)) [prefix, inp] = [[r - SYMBOL_OFFSET], inp.subarray(l1)]
    else if (r === QUOTE_RUNE && inp.length > l1) {
      const [r2, l2] = decodeRune(inp, l1)
      const literal =
        (t.has('LeftSpace') && r2 === SYMBOL_FOR_SPACE) ||
        (t.has('LeftPeriod') && r2 === FULLWIDTH_FULL_STOP) ||
        (t.has('LeftTilde') && r2 === FULLWIDTH_TILDE) ||
        (t.has('LeftCrLfHtVt') && isSymbolCrLfHtVt(r2))
      if (literal) [prefix, inp] = [[r2], inp.subarray(l1 + l2)]
    }
  }
  let suffix: number[] = []
  if (inp.length > 0) {
    const [r, l] = decodeLastRune(inp, inp.length)
    const rightRaw =
      t.has('RightSpace') && r === SYMBOL_FOR_SPACE ? 0x20
        : t.has('RightPeriod') && r === FULLWIDTH_FULL_STOP ? 0x2e
          : t.has('RightCrLfHtVt') && isSymbolCrLfHtVt(r) ? r - SYMBOL_OFFSET
            : -1
    if (rightRaw >= 0) {
      inp = inp.subarray(0, inp.length - l)
      const [q, l2] = decodeLastRune(inp, inp.length)
      if (q === QUOTE_RUNE) {
        suffix = [r]
        inp = inp.subarray(0, inp.length - l2)
      } else {
        suffix = [rightRaw]
      }
    }
  }
  for (const r of prefix) out.rune(r)
  let unquoteNext = false
  let skipNext = false
  for (let i = 0; i < inp.length; ) {
    const [r, l] = decodeRune(inp, i)
    const at = i
    i += l
    if (skipNext) {
      skipNext = false
      continue
    }
    const unquote = unquoteNext
    unquoteNext = false
    if (r === SYMBOL_OFFSET) {
      out.rune(unquote ? r : 0)
      continue
    }
    if (r === QUOTE_RUNE) {
      if (unquote) out.rune(r)
      else unquoteNext = true
      continue
    }
    const raw = t.decode.get(r)
    if (raw !== undefined) {
      out.rune(unquote ? r : raw)
      continue
    }
    if (unquote) {
      if (t.has('InvalidUtf8') && isHex(inp[at]) && isHex(inp[at + 1])) {
        out.bytes(Uint8Array.of(parseInt(String.fromCharCode(inp[at]!, inp[at + 1]!), 16)), 0, 1)
        skipNext = true
        continue
      }
      out.rune(QUOTE_RUNE)
    }
    out.bytes(inp, at, i)
  }
  if (unquoteNext) out.rune(QUOTE_RUNE)
  for (const r of suffix) out.rune(r)
  return out.result()
}

function isValidUtf8(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; ) {
    const [r, w] = decodeRune(b, i)
    if (r === RUNE_ERROR && w === 1) return false
    i += w
  }
  return true
}

/** Characters whose presence means a name must go through the slow path for a pair of masks. */
function interestingChars(...tables: Tables[]): RegExp {
  const cps = new Set<number>([0, SYMBOL_OFFSET, QUOTE_RUNE, RUNE_ERROR])
  for (const t of tables) {
    for (const k of t.encode.keys()) cps.add(k)
    for (const k of t.decode.keys()) cps.add(k)
    if (t.has('LeftSpace') || t.has('RightSpace')) cps.add(0x20).add(SYMBOL_FOR_SPACE)
    if (t.has('LeftPeriod') || t.has('RightPeriod')) cps.add(0x2e).add(FULLWIDTH_FULL_STOP)
    if (t.has('LeftTilde')) cps.add(0x7e).add(FULLWIDTH_TILDE)
    if (t.has('LeftCrLfHtVt') || t.has('RightCrLfHtVt')) {
      for (const c of [0x09, 0x0a, 0x0b, 0x0d]) cps.add(c).add(SYMBOL_OFFSET + c)
    }
  }
  const esc = [...cps].map((c) => `\\u{${c.toString(16)}}`).join('')
  // Lone surrogates cannot be UTF-8: they also take the slow path.
  return new RegExp(`[${esc}]|[\\uD800-\\uDFFF]`, 'u')
}

/** Whole names that Dot encoding rewrites (checked apart so that "a.jpg" stays on the fast path). */
const DOT_NAMES = new Set(['.', '..', '．', '．．'])

/** What the kernel can show: nothing above NAME_MAX, no '/', no NUL, not '.', '..' or empty. */
export function isSafeLocalName(name: string): boolean {
  return (
    name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0') &&
    Buffer.byteLength(name, 'utf8') <= NAME_MAX_BYTES
  )
}

/**
 * Converts names both ways for one `encoding` option. `toLocal` returns undefined for a remote name
 * that cannot be shown locally (the caller hides it and warns once).
 */
export class NameCodec {
  readonly #remote: Tables
  readonly #standard: Tables
  readonly #slowPath: RegExp
  constructor(encoding: string) {
    this.#remote = buildTables(parseEncoding(encoding))
    this.#standard = buildTables(STANDARD)
    this.#slowPath = interestingChars(this.#remote, this.#standard)
  }

  #needsSlowPath(name: string): boolean {
    return DOT_NAMES.has(name) || this.#slowPath.test(name)
  }

  /** Remote name (ImageKit `name`) → local name (rclone ToStandardName). */
  toLocal(remoteName: string): string | undefined {
    let local: string
    if (!this.#needsSlowPath(remoteName)) {
      local = remoteName
    } else {
      const bytes = encodeBytes(this.#standard, decodeBytes(this.#remote, Buffer.from(remoteName, 'utf8')))
      if (!isValidUtf8(bytes)) return undefined
      local = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
    }
    return isSafeLocalName(local) ? local : undefined
  }

  /** Local name (from the kernel) → remote name (rclone FromStandardName). Throws EncodingError if unrepresentable. */
  toRemote(localName: string): string {
    if (!this.#needsSlowPath(localName)) return localName
    const bytes = encodeBytes(this.#remote, decodeBytes(this.#standard, Buffer.from(localName, 'utf8')))
    if (!isValidUtf8(bytes)) throw new EncodingError('name cannot be stored remotely (invalid UTF-8 with this encoding)')
    const remote = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
    // e.g. local "a／b" with encoding None would become a path: refuse rather than create a subfolder.
    if (remote === '' || remote === '.' || remote === '..' || remote.includes('/') || remote.includes('\0')) {
      throw new EncodingError('name cannot be stored remotely with this encoding')
    }
    return remote
  }
}

/** Internal tables for tests of single masks (rclone's own Encode/Decode). */
export function tablesFor(encoding: string): Tables {
  return buildTables(parseEncoding(encoding))
}

// ---------- paths ----------

/** "/a/b" → ["a", "b"]; "/" → []. Local paths come from the kernel, so they are absolute and clean. */
export function splitLocalPath(localPath: string): string[] {
  return localPath.split('/').filter((p) => p !== '')
}

/** Parent local path and base name: "/a/b" → ["/a", "b"]. */
export function parentOf(localPath: string): [parent: string, name: string] {
  const parts = splitLocalPath(localPath)
  const name = parts.pop() ?? ''
  return ['/' + parts.join('/'), name]
}

/** Remote path of a child: ("/", "x.jpg") → "/x.jpg"; ("/a", "x.jpg") → "/a/x.jpg". */
export function joinRemote(folderRemotePath: string, remoteName: string): string {
  return folderRemotePath === '/' ? `/${remoteName}` : `${folderRemotePath}/${remoteName}`
}

/** The local path of a remote path ("/a/b.jpg"), or undefined when a name in it cannot be shown locally. */
export function localPathOf(codec: NameCodec, remotePath: string): string | undefined {
  const local = remotePath.split('/').filter((n) => n !== '').map((n) => codec.toLocal(n))
  return local.includes(undefined) ? undefined : '/' + local.join('/')
}
