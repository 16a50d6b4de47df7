/**
 * The Upload API's `checks` (§4.18; the docs' "Upload API Checks" page): an expression in the searchQuery
 * syntax (search-query.ts) over the request (`request.*`), the file (`file.size`, `file.mime`) and its media
 * facts (`mediaMetadata.*`), compiled once per upload and run once the file's facts are known, before anything
 * is stored. Field names are quoted (`"file.size" < "1mb"`, or in single quotes, `'file.size' < '1mb'`, the form
 * every SDK's README and tests use); a bare value is a word or a plain number. `:`
 * is a prefix match (`"file.mime" : image`), `HAS` a tag or list member. Media facts the emulator cannot
 * read (a video's duration, bit rate and codecs outside an MP4/MOV/M4A with a `moov` box: video-info.ts) never match.
 */
import { badRequest } from './http-io.js'
import {
  allow, membership, ordered, parseBool, parseNumber, parseQuery, parseSize, SearchQueryError,
  type Op, type QueryNode, type Value,
} from './search-query.js'

/** The API's own message for a malformed expression (quoted in the SDKs' READMEs). */
export const CHECKS_SYNTAX_MESSAGE = 'Your request contains invalid syntax for the checks parameter.'
/** The emulator's wording: the real message for a file that fails its checks is unconfirmed. */
export const CHECKS_FAILED_MESSAGE = 'The file failed the upload checks.'

/** The request as the upload will act on it (defaults applied), and its `webhookUrl`. */
export interface CheckedRequest {
  fileName: string
  folder: string
  customCoordinates: string | undefined
  webhookUrl: string | undefined
  tags: readonly string[] | undefined
  customMetadata: Record<string, unknown> | undefined
  useUniqueFileName: boolean
  isPrivateFile: boolean
  isPublished: boolean
  overwriteFile: boolean
  overwriteAITags: boolean
  overwriteTags: boolean
  overwriteCustomMetadata: boolean
}

export interface CheckedFile {
  size: number
  mime: string
  width?: number
  height?: number
  duration?: number
  bitRate?: number
  videoCodec?: string
  audioCodec?: string
}

interface Subject {
  request: CheckedRequest
  file: CheckedFile
}

type Pred = (s: Subject) => boolean

const STRING_OPS: Op[] = ['=', 'NOT =', ':', 'IN', 'NOT IN']
const NUMBER_OPS: Op[] = ['=', '>', '>=', '<', '<=']
const BOOLEAN_OPS: Op[] = ['=', 'NOT =']
const TAG_OPS: Op[] = ['HAS', 'NOT HAS']
const STRING_REQUEST_FIELDS = ['fileName', 'folder', 'customCoordinates', 'webhookUrl'] as const
const BOOLEAN_REQUEST_FIELDS = [
  'useUniqueFileName', 'isPrivateFile', 'isPublished', 'overwriteFile', 'overwriteAITags', 'overwriteTags', 'overwriteCustomMetadata',
] as const
const NUMBER_MEDIA_FIELDS = ['width', 'height', 'duration', 'bitRate'] as const
const STRING_MEDIA_FIELDS = ['videoCodec', 'audioCodec'] as const

function includes<T extends string>(list: readonly T[], name: string): name is T {
  return (list as readonly string[]).includes(name)
}

/** `=`, `IN` (and their NOTs) compare whole strings; `:` is a prefix match. An absent value never matches. */
function stringOp(field: string, op: Op, values: Value[], get: (s: Subject) => string | undefined): Pred {
  allow(field, op, STRING_OPS)
  if (op === ':') {
    const prefix = (values[0] as Value).text
    return (s) => get(s)?.startsWith(prefix) ?? false
  }
  return membership(op, values, (s: Subject, v) => get(s) === v.text)
}

function numberOp(field: string, op: Op, values: Value[], get: (s: Subject) => number | undefined, parse = (t: string) => parseNumber(field, t)): Pred {
  allow(field, op, NUMBER_OPS)
  return ordered(op, get, values.map((v) => parse(v.text)))
}

/** A custom metadata field: lists take HAS, numbers compare in order, anything else as text. */
function customMetadataOp(field: string, op: Op, values: Value[], key: string): Pred {
  const get = (s: Subject): unknown => s.request.customMetadata?.[key]
  if (op === 'HAS' || op === 'NOT HAS') {
    return membership(op, values, (s: Subject, v) => {
      const x = get(s)
      return Array.isArray(x) && x.some((m) => String(m) === v.text)
    })
  }
  if (op === '>' || op === '>=' || op === '<' || op === '<=') {
    return numberOp(field, op, values, (s) => { const x = get(s); return typeof x === 'number' ? x : undefined })
  }
  return stringOp(field, op, values, (s) => { const x = get(s); return x === undefined || x === null ? undefined : String(x) })
}

function compileClause(c: Extract<QueryNode, { kind: 'clause' }>): Pred {
  const { field, op, values } = c
  if (!c.fieldQuoted) throw new SearchQueryError(`field ${field} is not quoted`)
  for (const v of values) if (!v.quoted && /^[-\d]/.test(v.text)) parseNumber(field, v.text)
  const [scope, ...rest] = field.split('.')
  const name = rest.join('.')
  if (scope === 'request') {
    if (includes(STRING_REQUEST_FIELDS, name)) return stringOp(field, op, values, (s) => s.request[name])
    if (includes(BOOLEAN_REQUEST_FIELDS, name)) {
      allow(field, op, BOOLEAN_OPS)
      const want = parseBool(field, (values[0] as Value).text)
      return op === '=' ? (s) => s.request[name] === want : (s) => s.request[name] !== want
    }
    if (name === 'tags') {
      allow(field, op, TAG_OPS)
      return membership(op, values, (s: Subject, v) => s.request.tags?.includes(v.text) ?? false)
    }
    if (name.startsWith('customMetadata.')) return customMetadataOp(field, op, values, name.slice('customMetadata.'.length))
  }
  if (scope === 'file' && name === 'size') return numberOp(field, op, values, (s) => s.file.size, parseSize)
  if (scope === 'file' && name === 'mime') return stringOp(field, op, values, (s) => s.file.mime)
  if (scope === 'mediaMetadata') {
    if (includes(NUMBER_MEDIA_FIELDS, name)) {
      return numberOp(field, op, values, (s) => s.file[name])
    }
    if (includes(STRING_MEDIA_FIELDS, name)) return stringOp(field, op, values, (s) => s.file[name])
  }
  throw new SearchQueryError(`unknown field "${field}"`)
}

function compileNode(node: QueryNode): Pred {
  if (node.kind === 'clause') return compileClause(node)
  const l = compileNode(node.left)
  const r = compileNode(node.right)
  return node.kind === 'and' ? (s) => l(s) && r(s) : (s) => l(s) || r(s)
}

/**
 * The gate of an upload with `checks`: given the file's facts once known, it throws the 400 when they fail.
 * Undefined without checks; a malformed expression is the API's 400 at once.
 */
export function uploadChecksGate(checks: string | undefined, request: CheckedRequest, size: number): ((facts: Omit<CheckedFile, 'size'>) => void) | undefined {
  if (checks === undefined || checks.trim() === '') return undefined
  let pred: Pred
  try {
    pred = compileNode(parseQuery(checks, { singleQuotes: true }))
  } catch (e) {
    if (e instanceof SearchQueryError) throw badRequest(CHECKS_SYNTAX_MESSAGE)
    throw e
  }
  return (facts) => {
    if (!pred({ request, file: { ...facts, size } })) throw badRequest(CHECKS_FAILED_MESSAGE)
  }
}
