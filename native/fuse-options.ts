/**
 * The whole `-o` mount option string, built from an allow-list (shared/fuse-native-notes.md, "Adding mount
 * options"). fuse-native's own builder sends uid/gid/umask in decimal and skips 0, and builds a broken
 * `user_id` string; an unknown option makes fuse_new fail after the kernel mount was made. So ikfs never
 * uses it: native/ikfs-fuse.ts overrides `_fuseOptions()` to return this string.
 */

export interface FuseOptions {
  /** Shown as the source in /proc/mounts and df; sanitised (no `,` `\` `=` or whitespace). */
  fsname: string
  subtype: 'ikfs'
  allowOther: boolean
  /** Let the kernel check permissions from our modes; forced on with allowOther. */
  defaultPermissions: boolean
  /** fusermount removes the mount when the daemon dies (even by kill -9). */
  autoUnmount: boolean
  bigWrites: true
  /** Bytes per write request; libfuse2 caps it at 128 KiB. */
  maxWrite: number
  maxRead: number
  entryTimeoutS: number
  attrTimeoutS: number
  negativeTimeoutS: number
  autoCache: boolean
  /** Every open bypasses the kernel's page cache (FOPEN_DIRECT_IO): reads all reach the daemon. */
  directIo?: boolean
  useIno: true
  readOnly: boolean
  /** Mount over a non-empty folder (libfuse2 refuses otherwise). */
  nonempty?: boolean
  uid?: number
  gid?: number
  /** Octal permission mask (e.g. 0o022); note libfuse applies it to every mode. */
  umask?: number
  noforget?: false
}

/** The C side copies the string into a 1,024-byte buffer (NUL included). */
export const MAX_OPTION_STRING_BYTES = 1023
/** libfuse2 clamps max_write to 128 KiB; asking for more only hides that. */
export const MAX_REQUEST_BYTES = 131072
/** libfuse3 negotiates max_pages with the kernel: requests of up to 1 MiB. */
export const FUSE3_MAX_REQUEST_BYTES = 1048576
/** One page: the smallest request size the kernel uses. */
const MIN_REQUEST_BYTES = 4096
const MAX_ID = 0xfffffffe

const ALLOWED_KEYS: ReadonlySet<string> = new Set<keyof FuseOptions>([
  'fsname', 'subtype', 'allowOther', 'defaultPermissions', 'autoUnmount', 'bigWrites', 'maxWrite', 'maxRead',
  'entryTimeoutS', 'attrTimeoutS', 'negativeTimeoutS', 'autoCache', 'directIo', 'useIno', 'readOnly', 'nonempty', 'uid',
  'gid', 'umask', 'noforget',
])

/** Rejects keys that FuseOptions does not have, also for non-literal arguments. */
export type ExactFuseOptions<T> = T & Record<Exclude<keyof T, keyof FuseOptions>, never>

export class FuseOptionsError extends Error {
  override name = 'FuseOptionsError'
}

/** `-osubtype=ikfs,fsname=...` (the form fuse-native passes to fuse_mount/fuse_new). */
export function buildFuseOptionString<T extends FuseOptions>(options: ExactFuseOptions<T>): string {
  const libfuse2Only = [
    ...(options.nonempty ? ['nonempty'] : []),
    ...(options.bigWrites ? ['big_writes'] : []),
    `max_write=${requestSize('maxWrite', options.maxWrite, MAX_REQUEST_BYTES)}`,
  ]
  const parts = commonParts(options, MAX_REQUEST_BYTES, libfuse2Only)
  const result = '-o' + parts.join(',')
  const bytes = Buffer.byteLength(result)
  if (bytes > MAX_OPTION_STRING_BYTES) {
    throw new FuseOptionsError(`mount option string is ${bytes} bytes; libfuse truncates at ${MAX_OPTION_STRING_BYTES}`)
  }
  return result
}

/**
 * The argv for libfuse3's fuse_new (native/fuse3.ts). libfuse3 has no big_writes, max_write or nonempty
 * options: writes are big by default, max_write is set at INIT, and mounting over a non-empty folder is allowed.
 */
export function buildFuse3Args<T extends FuseOptions>(options: ExactFuseOptions<T>): string[] {
  // Neither is an option in libfuse3: the binding sets use_ino in its init (fuse_config.use_ino) and direct_io
  // in each open's reply (native/fuse3.ts openReplyFor).
  const parts = commonParts(options, FUSE3_MAX_REQUEST_BYTES, []).filter((p) => p !== 'use_ino' && p !== 'direct_io')
  return ['ikfs', '-o', parts.join(',')]
}

/** `requestParts` go right before max_read (the order fuse-native's string always had). */
function commonParts(options: FuseOptions, maxRequestBytes: number, requestParts: string[]): string[] {
  for (const key of Object.keys(options)) {
    if (!ALLOWED_KEYS.has(key)) throw new FuseOptionsError(`unknown FUSE option ${JSON.stringify(key)}`)
  }
  if (options.subtype !== 'ikfs') throw new FuseOptionsError('subtype must be "ikfs"')

  const parts = [`subtype=${options.subtype}`, `fsname=${sanitizeFsname(options.fsname)}`]
  if (options.allowOther) parts.push('allow_other')
  if (options.allowOther || options.defaultPermissions) parts.push('default_permissions')
  if (options.autoUnmount) parts.push('auto_unmount')
  if (options.readOnly) parts.push('ro')
  parts.push(...requestParts)
  parts.push(`max_read=${requestSize('maxRead', options.maxRead, maxRequestBytes)}`)
  parts.push(`entry_timeout=${seconds('entryTimeoutS', options.entryTimeoutS)}`)
  parts.push(`attr_timeout=${seconds('attrTimeoutS', options.attrTimeoutS)}`)
  parts.push(`negative_timeout=${seconds('negativeTimeoutS', options.negativeTimeoutS)}`)
  if (options.autoCache) parts.push('auto_cache')
  if (options.directIo) parts.push('direct_io')
  if (options.useIno) parts.push('use_ino')
  if (options.uid !== undefined) parts.push(`uid=${id('uid', options.uid)}`)
  if (options.gid !== undefined) parts.push(`gid=${id('gid', options.gid)}`)
  if (options.umask !== undefined) parts.push(`umask=${octalMask(options.umask)}`)
  return parts
}

/** Characters that would end or escape an option, and whitespace/control characters, become `_`. */
export function sanitizeFsname(fsname: string): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = fsname.replace(/[,\\=\s\u0000-\u001f\u007f]/g, '_')
  return cleaned.length > 0 ? cleaned : 'ikfs'
}

function seconds(name: string, value: number): string {
  if (!Number.isFinite(value) || value < 0) throw new FuseOptionsError(`${name} must be a finite number >= 0`)
  return String(value)
}

function requestSize(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < MIN_REQUEST_BYTES || value > max) {
    throw new FuseOptionsError(`${name} must be an integer from ${MIN_REQUEST_BYTES} to ${max}`)
  }
  return value
}

function id(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_ID) {
    throw new FuseOptionsError(`${name} must be an integer from 0 to ${MAX_ID}`)
  }
  return value
}

function octalMask(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0o777) {
    throw new FuseOptionsError('umask must be an integer from 0 to 0o777')
  }
  return value.toString(8).padStart(4, '0')
}
