/**
 * The `searchQuery` language of GET /v1/files (§4.1): `field op value` clauses joined by AND / OR with
 * parentheses. Strings are double-quoted with Go-style escapes (rclone quotes names with Go's strconv.Quote).
 * `compileSearchQuery` parses and type-checks once; the result is a predicate over `SearchItem`s. The upload
 * API's `checks` (upload-checks.ts) share the syntax (`parseQuery`) and the value helpers, with their own fields.
 */

export interface SearchItem {
  type: 'file' | 'file-version' | 'folder'
  /** fileId or folderId. */
  id?: string
  name: string
  /** The folder holding the item, `/a/b` (`/` at the root). */
  folder?: string
  createdAt: number
  updatedAt: number
  tags: readonly string[]
  aiTags: readonly string[]
  size?: number
  width?: number
  height?: number
  /** Seconds, of a video or audio file whose boxes tell it (video-info.ts). */
  duration?: number
  format?: string
  isPrivateFile?: boolean
  isPublished?: boolean
  hasAlpha?: boolean
  customMetadata?: Record<string, unknown>
  embeddedMetadata?: Record<string, unknown>
}

export class SearchQueryError extends Error {}

export interface CompiledQuery {
  matches(item: SearchItem): boolean
  /** Whether a `type` clause appears (otherwise only current files are searched, like the `type` default). */
  mentionsType: boolean
}

export type Op = '=' | ':' | '<' | '<=' | '>' | '>=' | 'IN' | 'NOT =' | 'NOT IN' | 'HAS' | 'NOT HAS' | 'EXISTS' | 'NOT EXISTS'
export interface Value { text: string; quoted: boolean }
export type QueryNode =
  | { kind: 'and' | 'or'; left: QueryNode; right: QueryNode }
  | { kind: 'clause'; field: string; fieldQuoted: boolean; op: Op; values: Value[]; list: boolean }
type Node = QueryNode

type Token =
  | { t: 'word'; v: string }
  | { t: 'string'; v: string }
  | { t: 'op'; v: string }
  | { t: 'punct'; v: '(' | ')' | '[' | ']' | ',' }

// ---- lexer

/**
 * An unquoted date-time, one word though it holds `:` (and maybe a space): the list-and-search docs write
 * `createdAt < 2020-01-01T12:12:12` and `createdAt < 2020-01-01 12:12:12`.
 */
const BARE_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?=$|[\s()[\],])/

/** `singleQuotes`: `'...'` is a string too (upload checks: the form the SDKs send, `'request.folder' : '/'`). */
function tokenize(src: string, singleQuotes = false): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < src.length) {
    const c = src[i] as string
    if (/\s/.test(c)) { i++; continue }
    if ('()[],'.includes(c)) { out.push({ t: 'punct', v: c as '(' }); i++; continue }
    if (c === '"') { const [v, next] = readGoString(src, i); out.push({ t: 'string', v }); i = next; continue }
    if (c === "'" && singleQuotes) { const [v, next] = readSingleQuoted(src, i); out.push({ t: 'string', v }); i = next; continue }
    if ('<>=:!'.includes(c)) {
      const two = src.slice(i, i + 2)
      if (two === '<=' || two === '>=' || two === '!=') { out.push({ t: 'op', v: two }); i += 2; continue }
      if (c === '!') throw new SearchQueryError(`unexpected "!" at position ${i}`)
      out.push({ t: 'op', v: c }); i++; continue
    }
    const date = BARE_DATE.exec(src.slice(i))
    if (date) { out.push({ t: 'word', v: date[0] }); i += date[0].length; continue }
    const m = /^[^\s()[\],"<>=:!]+/.exec(src.slice(i))
    if (!m) throw new SearchQueryError(`unexpected character at position ${i}`)
    out.push({ t: 'word', v: m[0] })
    i += m[0].length
  }
  return out
}

const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" }

/** Reads a Go-quoted string starting at the opening quote; returns [value, index after the closing quote]. */
function readGoString(src: string, start: number): [string, number] {
  const bytes: number[] = []
  const pushText = (s: string) => { for (const b of Buffer.from(s, 'utf8')) bytes.push(b) }
  let i = start + 1
  while (i < src.length) {
    const c = src[i] as string
    if (c === '"') return [Buffer.from(bytes).toString('utf8'), i + 1]
    if (c !== '\\') {
      const cp = src.codePointAt(i) as number
      const ch = String.fromCodePoint(cp)
      pushText(ch)
      i += ch.length
      continue
    }
    const e = src[i + 1]
    if (e === undefined) break
    if (e in SIMPLE_ESCAPES) { pushText(SIMPLE_ESCAPES[e] as string); i += 2; continue }
    const hex = (len: number) => {
      const h = src.slice(i + 2, i + 2 + len)
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(h)) throw new SearchQueryError(`invalid escape \\${e} at position ${i}`)
      return Number.parseInt(h, 16)
    }
    if (e === 'x') { bytes.push(hex(2)); i += 4; continue }
    if (e === 'u') { pushText(String.fromCodePoint(hex(4))); i += 6; continue }
    if (e === 'U') { pushText(String.fromCodePoint(hex(8))); i += 10; continue }
    if (/[0-7]/.test(e)) {
      const o = src.slice(i + 1, i + 4)
      if (!/^[0-7]{3}$/.test(o)) throw new SearchQueryError(`invalid octal escape at position ${i}`)
      bytes.push(Number.parseInt(o, 8) & 0xff); i += 4; continue
    }
    throw new SearchQueryError(`invalid escape \\${e} at position ${i}`)
  }
  throw new SearchQueryError('unterminated string')
}

/** Reads a `'...'` string (a backslash keeps the next character as it is); returns [value, index after it]. */
function readSingleQuoted(src: string, start: number): [string, number] {
  let value = ''
  for (let i = start + 1; i < src.length; i++) {
    const c = src[i] as string
    if (c === "'") return [value, i + 1]
    if (c === '\\' && i + 1 < src.length) i++
    value += src[i]
  }
  throw new SearchQueryError('unterminated string')
}

// ---- parser

class Parser {
  #i = 0
  constructor(readonly tokens: Token[]) {}

  parse(): Node {
    if (this.tokens.length === 0) throw new SearchQueryError('empty query')
    const node = this.#or()
    const extra = this.tokens[this.#i]
    if (extra) throw new SearchQueryError(`unexpected "${extra.v}"`)
    return node
  }

  #peekWord(word: string): boolean {
    const t = this.tokens[this.#i]
    return t?.t === 'word' && t.v.toUpperCase() === word
  }

  #or(): Node {
    let left = this.#and()
    while (this.#peekWord('OR')) { this.#i++; left = { kind: 'or', left, right: this.#and() } }
    return left
  }

  #and(): Node {
    let left = this.#primary()
    while (this.#peekWord('AND')) { this.#i++; left = { kind: 'and', left, right: this.#primary() } }
    return left
  }

  #primary(): Node {
    const t = this.tokens[this.#i]
    if (!t) throw new SearchQueryError('query ends early')
    if (t.t === 'punct' && t.v === '(') {
      this.#i++
      const inner = this.#or()
      const close = this.tokens[this.#i++]
      if (close?.t !== 'punct' || close.v !== ')') throw new SearchQueryError('missing ")"')
      return inner
    }
    if (t.t !== 'word' && t.t !== 'string') throw new SearchQueryError(`expected a field name, got "${t.v}"`)
    this.#i++
    const field = t.v
    const fieldQuoted = t.t === 'string'
    const op = this.#op()
    if (op === 'EXISTS' || op === 'NOT EXISTS') return { kind: 'clause', field, fieldQuoted, op, values: [], list: false }
    const next = this.tokens[this.#i]
    if (next?.t === 'punct' && next.v === '[') {
      this.#i++
      const values: Value[] = []
      for (;;) {
        const v = this.tokens[this.#i++]
        if (v?.t === 'punct' && v.v === ']' && values.length === 0) break
        if (!v || (v.t !== 'word' && v.t !== 'string')) throw new SearchQueryError('expected a value in the list')
        // The docs: "All non-numeric values inside an array MUST be written within double-quotes."
        if (v.t === 'word' && !/^-?\d+(\.\d+)?$/.test(v.v)) throw new SearchQueryError(`a list value that is not a number must be in double quotes, got ${v.v}`)
        values.push({ text: v.v, quoted: v.t === 'string' })
        const sep = this.tokens[this.#i++]
        if (sep?.t === 'punct' && sep.v === ']') break
        if (sep?.t !== 'punct' || sep.v !== ',') throw new SearchQueryError('expected "," or "]" in the list')
      }
      if (op !== 'IN' && op !== 'NOT IN') throw new SearchQueryError(`a list needs IN or NOT IN (field ${field})`)
      return { kind: 'clause', field, fieldQuoted, op, values, list: true }
    }
    if (!next || (next.t !== 'word' && next.t !== 'string')) throw new SearchQueryError(`expected a value after ${field} ${op}`)
    this.#i++
    if (op === 'IN' || op === 'NOT IN') throw new SearchQueryError(`${op} needs a list in [...] (field ${field})`)
    return { kind: 'clause', field, fieldQuoted, op, values: [{ text: next.v, quoted: next.t === 'string' }], list: false }
  }

  #op(): Op {
    const t = this.tokens[this.#i++]
    if (!t) throw new SearchQueryError('expected an operator')
    if (t.t === 'op') {
      if (t.v === '!=') return 'NOT ='
      return t.v as Op
    }
    if (t.t === 'word') {
      const w = t.v.toUpperCase()
      if (w === 'IN') return 'IN'
      if (w === 'HAS' || w === 'EXISTS') return w
      if (w === 'NOT') {
        const n = this.tokens[this.#i++]
        if (n?.t === 'op' && n.v === '=') return 'NOT ='
        const next = n?.t === 'word' ? n.v.toUpperCase() : ''
        if (next === 'IN' || next === 'HAS' || next === 'EXISTS') return `NOT ${next}`
        throw new SearchQueryError('NOT must be followed by =, IN, HAS or EXISTS')
      }
    }
    throw new SearchQueryError(`unknown operator "${t.v}"`)
  }
}

/** The syntax tree of a query (or of upload checks); throws SearchQueryError. */
export function parseQuery(src: string, options: { singleQuotes?: boolean } = {}): QueryNode {
  return new Parser(tokenize(src, options.singleQuotes)).parse()
}

// ---- compiler

type Pred = (item: SearchItem) => boolean
const EQUALITY: Op[] = ['=', 'IN', 'NOT =', 'NOT IN']
const ORDERED: Op[] = ['=', '<', '<=', '>', '>=', 'IN', 'NOT =', 'NOT IN']
const TYPES = new Set(['file', 'file-version', 'folder'])
const RELATIVE_UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, m: 30 * 86_400_000, y: 365 * 86_400_000 }
const SIZE_UNIT: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }

export function allow(field: string, op: Op, ops: Op[]): void {
  if (!ops.includes(op)) throw new SearchQueryError(`operator ${op} is not supported for ${field}`)
}

/** Turns `=`/`IN`/`HAS`/`NOT ...` over a per-value test into one predicate. */
export function membership<T>(op: Op, values: Value[], test: (item: T, v: Value) => boolean): (item: T) => boolean {
  const any = (item: T) => values.some((v) => test(item, v))
  return op === 'NOT =' || op === 'NOT IN' || op === 'NOT HAS' ? (item) => !any(item) : any
}

export function ordered<T>(op: Op, get: (item: T) => number | undefined, values: number[]): (item: T) => boolean {
  const [first] = values
  const cmp = (x: number, v: number): boolean => {
    switch (op) {
      case '<': return x < v
      case '<=': return x <= v
      case '>': return x > v
      case '>=': return x >= v
      default: return x === v
    }
  }
  return (item) => {
    const x = get(item)
    if (x === undefined) return false
    if (op === 'IN' || op === '=') return values.some((v) => cmp(x, v))
    if (op === 'NOT IN' || op === 'NOT =') return !values.some((v) => cmp(x, v))
    return cmp(x, first as number)
  }
}

/**
 * Relative (`7d`: that long before now) or ISO dates (`T` or, as the docs also write, a space before the time), always in UTC: a bare date is that day at 00:00:00
 * UTC (the list-and-search docs), a date-time without a zone is UTC, not the host's zone.
 */
function parseDate(given: string, now: number): number {
  const rel = /^(\d+)([hdwmy])$/i.exec(given)
  if (rel) return now - Number(rel[1]) * (RELATIVE_UNIT_MS[(rel[2] as string).toLowerCase()] as number)
  const text = given.replace(/^(\d{4}-\d{2}-\d{2}) (?=\d{2}:)/, '$1T') // the docs' `YYYY-MM-DD HH:MM:SS`
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text)
  const withoutZone = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)
  if (!dateOnly && !/^\d{4}-\d{2}-\d{2}T/.test(text)) throw new SearchQueryError(`invalid date "${given}"`)
  const at = Date.parse(dateOnly ? text + 'T00:00:00.000Z' : withoutZone ? text + 'Z' : text)
  if (Number.isNaN(at)) throw new SearchQueryError(`invalid date "${given}"`)
  return at
}

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(text.trim())
  if (!m) throw new SearchQueryError(`invalid size "${text}"`)
  return Math.round(Number(m[1]) * (SIZE_UNIT[(m[2] ?? 'b').toLowerCase()] as number))
}

/** Seconds from `30sec`, `1.5min`, `2hr` (or `s`/`m`/`h`); a bare number is seconds. */
function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(sec|s|min|m|hr|h)?$/i.exec(text.trim())
  if (!m) throw new SearchQueryError(`invalid duration "${text}"`)
  const unit = (m[2] ?? 's').toLowerCase()
  return Number(m[1]) * (unit.startsWith('h') ? 3600 : unit.startsWith('m') ? 60 : 1)
}

export function parseNumber(field: string, text: string): number {
  if (!/^-?\d+(\.\d+)?$/.test(text)) throw new SearchQueryError(`${field} needs a number, got "${text}"`)
  return Number(text)
}

export function parseBool(field: string, text: string): boolean {
  if (text !== 'true' && text !== 'false') throw new SearchQueryError(`${field} needs true or false, got "${text}"`)
  return text === 'true'
}

/** Lower-case words of `text` (split on anything but letters and digits), as `HAS` compares them. */
function words(text: string): string[] {
  return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w !== '')
}

/**
 * `HAS` (the docs: case-insensitive full text, tokenized, the last token a prefix): every word of the value is
 * a word of `texts`, the last one may be the start of one. Needing every word is the emulator's reading.
 */
function hasWords(value: string, texts: readonly string[]): boolean {
  const wanted = words(value)
  const present = texts.flatMap(words)
  return wanted.length > 0 && wanted.every((w, i) => (i === wanted.length - 1 ? present.some((p) => p.startsWith(w)) : present.includes(w)))
}

/** A folder path in a query (`/a/b/`, `a/b`, `/`) as `SearchItem.folder` spells it. */
function folderOf(text: string): string {
  const trimmed = text.replace(/^\/+|\/+$/g, '')
  return trimmed === '' ? '/' : `/${trimmed}`
}

function compileClause(c: Extract<Node, { kind: 'clause' }>, now: number): Pred {
  const { field, op, values } = c
  switch (field) {
    case 'name':
      allow(field, op, [...EQUALITY, ':', 'HAS'])
      if (op === ':') { const prefix = (values[0] as Value).text; return (item) => item.name.startsWith(prefix) }
      if (op === 'HAS') { const text = (values[0] as Value).text; return (item) => hasWords(text, [item.name]) }
      return membership(op, values, (item, v) => item.name === v.text)
    case 'path': {
      // `=` the folder holding the item; `:` that folder or any below it (the docs: "folder + subfolders").
      allow(field, op, [...EQUALITY, ':'])
      if (op === ':') {
        const top = folderOf((values[0] as Value).text)
        return (item) => item.folder !== undefined && (top === '/' || item.folder === top || item.folder.startsWith(top + '/'))
      }
      return membership(op, values, (item, v) => item.folder === folderOf(v.text))
    }
    case 'id':
      allow(field, op, EQUALITY)
      return membership(op, values, (item, v) => item.id === v.text)
    case 'type':
      allow(field, op, EQUALITY)
      for (const v of values) if (!TYPES.has(v.text)) throw new SearchQueryError(`type must be file, file-version or folder, got "${v.text}"`)
      return membership(op, values, (item, v) => item.type === v.text)
    case 'tags':
    case 'AITags':
      allow(field, op, ['=', 'IN', 'NOT IN', 'NOT =', 'HAS', 'EXISTS', 'NOT EXISTS'])
      if (op === 'EXISTS' || op === 'NOT EXISTS') {
        const want = op === 'EXISTS'
        return (item) => (item.tags.length + item.aiTags.length > 0) === want
      }
      if (op === 'HAS') { const text = (values[0] as Value).text; return (item) => hasWords(text, [...item.tags, ...item.aiTags]) }
      return membership(op, values, (item, v) => item.tags.includes(v.text) || item.aiTags.includes(v.text))
    case 'format':
      allow(field, op, EQUALITY)
      return membership(op, values, (item, v) => item.format !== undefined && item.format === v.text.toLowerCase())
    case 'private':
    case 'published':
    case 'transparency': {
      allow(field, op, ['=', 'NOT ='])
      const want = parseBool(field, (values[0] as Value).text)
      const get = (item: SearchItem) => (field === 'private' ? item.isPrivateFile : field === 'published' ? item.isPublished : item.hasAlpha)
      return op === '=' ? (item) => get(item) === want : (item) => get(item) !== undefined && get(item) !== want
    }
    case 'createdAt':
    case 'updatedAt': {
      allow(field, op, ORDERED)
      return ordered(op, (item) => item[field], values.map((v) => parseDate(v.text, now)))
    }
    case 'size':
      allow(field, op, ORDERED)
      return ordered(op, (item) => item.size, values.map((v) => parseSize(v.text)))
    case 'width':
    case 'height':
      allow(field, op, ORDERED)
      return ordered(op, (item) => item[field], values.map((v) => parseNumber(field, v.text)))
    case 'videoDuration': // a file whose duration is unknown (not an ISO BMFF movie, video-info.ts) never matches
      allow(field, op, ORDERED)
      return ordered(op, (item) => item.duration, values.map((v) => parseDuration(v.text)))
    case 'createdBy': // uploads by key have no user: checked, never matched
      allow(field, op, EQUALITY)
      return membership(op, values, () => false)
    default:
      if (field.startsWith('customMetadata.') || field.startsWith('embeddedMetadata.')) {
        const [scope, ...rest] = field.split('.')
        const key = rest.join('.')
        const get = (item: SearchItem) => (scope === 'customMetadata' ? item.customMetadata : item.embeddedMetadata)?.[key]
        if (op === 'EXISTS' || op === 'NOT EXISTS') return (item) => (get(item) !== undefined) === (op === 'EXISTS')
        if (op === ':' || op === 'HAS' || op === 'NOT HAS') throw new SearchQueryError(`operator ${op} is not supported for ${field}`)
        if (EQUALITY.includes(op)) {
          return membership(op, values, (item, v) => {
            const x = get(item)
            return x !== undefined && (v.quoted ? String(x) === v.text : String(x) === v.text || x === Number(v.text))
          })
        }
        const n = parseNumber(field, (values[0] as Value).text)
        return ordered(op, (item) => { const x = get(item); return typeof x === 'number' ? x : undefined }, [n])
      }
      throw new SearchQueryError(`unknown field "${field}"`)
  }
}

function compileNode(node: Node, now: number): { pred: Pred; mentionsType: boolean } {
  if (node.kind === 'clause') return { pred: compileClause(node, now), mentionsType: node.field === 'type' }
  const l = compileNode(node.left, now)
  const r = compileNode(node.right, now)
  const pred: Pred = node.kind === 'and' ? (i) => l.pred(i) && r.pred(i) : (i) => l.pred(i) || r.pred(i)
  return { pred, mentionsType: l.mentionsType || r.mentionsType }
}

/** Parses and checks a query; `now` anchors relative dates (`7d` = seven days before now). */
export function compileSearchQuery(query: string, now: number): CompiledQuery {
  const { pred, mentionsType } = compileNode(parseQuery(query), now)
  return { matches: pred, mentionsType }
}
