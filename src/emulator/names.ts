/**
 * Name and path rules of the emulator (shared/imagekit-api.md §3, §5.1). `permissive` keeps names as sent
 * (what the service does in practice) except `/` and NUL; `strict` applies the documented `_` rewriting.
 * `.` and `..` are refused in both modes. Also the one place that percent-encodes paths for delivery URLs.
 */
import { badRequest } from './http-io.js'
import type { NameMode, UrlEncoding } from './options.js'

export class NameError extends Error {
  constructor(message: string, readonly reason: string) {
    super(message)
  }
}

/** Converts name-rule violations into the API's 400. */
export function nameErrorToApi<T>(fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    if (e instanceof NameError) throw badRequest(e.message, e.reason)
    throw e
  }
}

/**
 * §3, §4.18: "The nesting of folders can be at most 50 levels deep" (the upload API's `folder`, in ImageKit's
 * docs). That a folder create, a move or a copy is held to it too, and how the API refuses a deeper path, is
 * unconfirmed: the emulator refuses all of them alike (400, its own words), `--max-folder-depth` sets the number.
 */
export const MAX_FOLDER_DEPTH = 50

/** How many folders deep a folder path (`/a/b` → 2, `/` → 0) is. */
export function folderDepth(folderPath: string): number {
  return folderPath.split('/').filter((s) => s.length > 0).length
}

export function folderTooDeepMessage(maxDepth: number): string {
  return `Folder path can not be more than ${maxDepth} levels deep.`
}

/** Refuses a folder path deeper than `maxDepth` (what a create or a job would make). */
export function checkFolderDepth(folderPath: string, maxDepth: number, reason = 'INVALID_FOLDER_PATH'): void {
  if (folderDepth(folderPath) > maxDepth) throw new NameError(folderTooDeepMessage(maxDepth), reason)
}

export const DOT_FOLDER_MESSAGE = "'.' & '..' can not be used as folder-name"
const DOT_FILE_MESSAGE = "'.' & '..' can not be used as file-name"

/**
 * The emulator stores every file and folder name as a name on its disk, which holds at most 255 bytes (the
 * real service's limit is unconfirmed): a longer one is refused with a 400 in the emulator's own words.
 */
export const MAX_NAME_BYTES = 255
export const FILE_NAME_TOO_LONG_MESSAGE = `File name can not be longer than ${MAX_NAME_BYTES} bytes.`
export const FOLDER_NAME_TOO_LONG_MESSAGE = `Folder name can not be longer than ${MAX_NAME_BYTES} bytes.`
/** Each name fits, but a deep path may still not fit the disk's path limit (4096 bytes with its NUL). */
export const MAX_DISK_PATH_BYTES = 4095
export const PATH_TOO_LONG_MESSAGE = 'File path is too long.'

type NameKind = 'fileName' | 'newFileName' | 'folderSegment' | 'folderName' | 'newFolderName'

/** Characters each kind keeps in strict mode, besides Unicode letters, marks and numbers (§3 table). */
const STRICT_EXTRA: Record<NameKind, string> = {
  fileName: '.\\-_',
  newFileName: '.\\-_',
  folderSegment: '_\\-',
  folderName: '',
  newFolderName: '\\-',
}

function rewrite(name: string, kind: NameKind, mode: NameMode): string {
  // eslint-disable-next-line no-control-regex
  const permissive = name.replace(/[/\u0000]/g, '_')
  if (mode === 'permissive') return permissive
  return permissive.replace(new RegExp(`[^\\p{L}\\p{M}\\p{N}${STRICT_EXTRA[kind]}]`, 'gu'), '_')
}

/** Refuses a name longer than MAX_NAME_BYTES (a file name unless `isFolder`). */
export function checkNameLength(name: string, isFolder: boolean): void {
  if (Buffer.byteLength(name, 'utf8') <= MAX_NAME_BYTES) return
  throw isFolder ? new NameError(FOLDER_NAME_TOO_LONG_MESSAGE, 'INVALID_FOLDER_PATH') : new NameError(FILE_NAME_TOO_LONG_MESSAGE, 'INVALID_FILE_NAME')
}

function checkNotDots(name: string, isFolder: boolean): void {
  if (name === '.' || name === '..') {
    throw isFolder ? new NameError(DOT_FOLDER_MESSAGE, 'INVALID_FOLDER_PATH') : new NameError(DOT_FILE_MESSAGE, 'INVALID_FILE_NAME')
  }
}

export function sanitizeFileName(name: string, mode: NameMode, kind: 'fileName' | 'newFileName' = 'fileName'): string {
  checkNotDots(name, false)
  const out = rewrite(name, kind, mode)
  checkNotDots(out, false)
  checkNameLength(out, false)
  return out
}

export function sanitizeFolderName(name: string, mode: NameMode, kind: 'folderName' | 'newFolderName'): string {
  checkNotDots(name, true)
  const out = rewrite(name, kind, mode)
  checkNotDots(out, true)
  checkNameLength(out, true)
  return out
}

/**
 * A folder path from a request (`/a/b/`, `a/b`, `a//b`, `/`) → `/a/b` (root `/`). Empty segments are dropped;
 * `sanitize` applies the upload-folder rewriting to each segment (lookups pass false: paths must match as sent).
 */
export function normalizeFolderPath(input: string, mode: NameMode, sanitize: boolean, maxDepth = MAX_FOLDER_DEPTH): string {
  const segments = input.split('/').filter((s) => s.length > 0)
  for (const s of segments) checkNotDots(s, true)
  if (segments.length > maxDepth) throw new NameError(folderTooDeepMessage(maxDepth), 'INVALID_FOLDER_PATH')
  const out = sanitize ? segments.map((s) => rewrite(s, 'folderSegment', mode)) : segments
  return '/' + out.join('/')
}

/** `/a/b.jpg` → `/a`; `/b.jpg` → `/`. */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/')
  return slash <= 0 ? '/' : path.slice(0, slash)
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

export function joinPath(folder: string, name: string): string {
  return folder === '/' ? '/' + name : folder + '/' + name
}

/** Whether `path` is `folder` itself or inside it. */
export function isWithin(path: string, folder: string): boolean {
  return folder === '/' || path === folder || path.startsWith(folder + '/')
}

/** `name_<suffix>.ext` (§4.18). */
export function withUniqueSuffix(name: string, suffix: string): string {
  const dot = name.lastIndexOf('.')
  return dot > 0 ? `${name.slice(0, dot)}_${suffix}${name.slice(dot)}` : `${name}_${suffix}`
}

/**
 * The URL Standard added `^` to the path percent-encode set in 2024: Node 24's URL encodes it, Node 20 and 22
 * keep it (the SDKs build their URLs with the runtime's URL).
 */
const CARET_KEPT_BY_URL = new URL('http://x/^').pathname === '/^'
/** What `encodeURI` escapes but the SDKs' URLs keep (`%` and `\` stay escaped: raw, they name another path). */
const KEPT_BY_SDKS = CARET_KEPT_BY_URL ? /%(5B|5D|5E|7C)/g : /%(5B|5D|7C)/g

/**
 * Percent-encodes a file path for a delivery URL the way real URLs read (§2.1 [ik-urls]): like encodeURI
 * (spaces, non-ASCII, `%` encoded; `(),` kept) plus `?` and `#`, which would end the path. Whether the API
 * also escapes `| ^ [ ]` (encodeURI does, the SDKs' URLs do not) is unconfirmed: `sdk` keeps them.
 */
export function encodeFilePath(filePath: string, encoding: UrlEncoding = 'uri'): string {
  const uri = encodeURI(filePath).replace(/\?/g, '%3F').replace(/#/g, '%23')
  return encoding === 'sdk' ? uri.replace(KEPT_BY_SDKS, (escape) => decodeURIComponent(escape)) : uri
}

/** Inverse of any reasonable encoding of a path: decodes each segment; undefined when malformed. */
export function decodeFilePath(rawPath: string): string | undefined {
  const segments = rawPath.split('/').map(decodeComponent)
  return segments.every((s) => s !== undefined) ? segments.join('/') : undefined
}

/** `decodeURIComponent`, undefined instead of a throw when an escape is malformed. */
export function decodeComponent(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw)
  } catch {
    return undefined
  }
}
