/**
 * THE option table (rclone's `options.go` habit): every setting ikfs understands, once. Command-line flags,
 * environment variables, rclone.conf keys, `--help` and README's options table are all generated from it.
 *
 * Names follow rclone: the imagekit backend's own option names (`endpoint`, `private_key`, ...) and rclone
 * mount's / libfuse's spelling for mount options. Each option has a textual default that goes through the same
 * parser as user input, so a default can never have a type the loader would reject.
 */

export type OptionType =
  | 'string'
  /** A file or folder path: `~` expanded, relative paths resolved against the working directory. */
  | 'path'
  /** An http(s) URL, stored without a trailing slash. */
  | 'url'
  | 'bool'
  /** rclone style: "500ms", "10s", "5m", "1h30m", "1d"; a bare number is seconds. Stored in milliseconds. */
  | 'duration'
  /** rclone style, base 1024: "64M", "1G", "512k", "100B"; a bare number is KiB (as in rclone). Stored in bytes. */
  | 'size'
  /** Octal permission bits: "0644", "644", "0o644". */
  | 'mode'
  | 'int'
  | 'enum'
  /** A comma-separated list of rclone encoding names. */
  | 'encoding'

export type OptionGroup = 'backend' | 'mount' | 'vfs' | 'logging' | 'advanced'

/** What the loader knows when it computes a default that depends on the machine or the user. */
export interface DefaultContext {
  home: string
  env: Readonly<Record<string, string | undefined>>
  uid: number
  gid: number
  umask: number
}

export interface OptionSpec {
  /** rclone spelling, also the rclone.conf key. */
  readonly name: string
  readonly flag: string
  /** Extra flag spellings accepted (rclone's), listed after the flag in README's table and in help. */
  readonly flagAliases?: readonly string[]
  /** Environment variables, first one wins. */
  readonly env: readonly string[]
  readonly type: OptionType
  /** Textual default, parsed like user input; a function for defaults that depend on the machine. */
  readonly default: string | ((ctx: DefaultContext) => string)
  /** How the default reads in help and docs, when it is computed. */
  readonly defaultDoc?: string
  readonly help: string
  readonly group: OptionGroup
  readonly required?: boolean
  /** Never echoed in errors, help or logs. */
  readonly secret?: boolean
  readonly choices?: readonly string[]
  /** Bounds of an int, of a duration in ms, or of a size in bytes (max only). */
  readonly min?: number
  readonly max?: number
  /** Not read from a config file (only flags and environment). */
  readonly notInFile?: boolean
}

const env = (name: string): string[] => [`IKFS_${name.toUpperCase()}`]
const backendEnv = (name: string): string[] => [
  `IKFS_${name.toUpperCase()}`,
  `RCLONE_IMAGEKIT_${name.toUpperCase()}`,
]

/** rclone's imagekit backend default: what ImageKit refuses or mangles in a file name. */
export const RCLONE_IMAGEKIT_ENCODING =
  'Slash,LtGt,DoubleQuote,Dollar,Question,Hash,Percent,BackSlash,Del,Ctl,InvalidUtf8,Dot,SquareBracket'

/** rclone's encoder names (lib/encoder), so a typo is reported here instead of silently ignored. */
export const RCLONE_ENCODING_NAMES: readonly string[] = [
  'None', 'Raw', 'Slash', 'BackSlash', 'LtGt', 'SquareBracket', 'Semicolon', 'Exclamation', 'DoubleQuote',
  'SingleQuote', 'BackQuote', 'Dollar', 'Colon', 'Question', 'Asterisk', 'Pipe', 'Hash', 'Percent', 'CrLf',
  'Del', 'Ctl', 'LeftSpace', 'LeftPeriod', 'LeftTilde', 'LeftCrLfHtVt', 'RightSpace', 'RightPeriod',
  'RightCrLfHtVt', 'InvalidUtf8', 'Dot', 'Base32768',
]

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const MAX_ID = 0xffff_ffff

function xdg(ctx: DefaultContext, variable: string, fallback: string, ...rest: string[]): string {
  const base = ctx.env[variable]
  const root = base && base.startsWith('/') ? base : `${ctx.home}/${fallback}`
  return [root, ...rest].join('/')
}

export const OPTIONS = {
  // ---- backend: rclone's imagekit backend options, same names and meaning
  endpoint: {
    name: 'endpoint', flag: '--endpoint', flagAliases: ['--imagekit-endpoint'], env: backendEnv('endpoint'),
    type: 'url', default: '', group: 'backend', required: true,
    help: 'ImageKit URL endpoint, e.g. https://ik.imagekit.io/your_id (dashboard → Developer options).',
  },
  publicKey: {
    name: 'public_key', flag: '--public-key', flagAliases: ['--imagekit-public-key'], env: backendEnv('public_key'),
    type: 'string', default: '', group: 'backend',
    help: 'ImageKit public key (not needed by ikfs; accepted so rclone remotes work unchanged).',
  },
  privateKey: {
    name: 'private_key', flag: '--private-key', flagAliases: ['--imagekit-private-key'],
    env: backendEnv('private_key'), type: 'string', default: '', group: 'backend', required: true, secret: true,
    help: 'ImageKit private key. Prefer the config file or the environment: a flag is visible in `ps`.',
  },
  onlySigned: {
    name: 'only_signed', flag: '--only-signed', flagAliases: ['--imagekit-only-signed'],
    env: backendEnv('only_signed'), type: 'bool', default: 'false', group: 'backend',
    help: 'Read every file through a signed URL (set when the account restricts unsigned URLs).',
  },
  versions: {
    name: 'versions', flag: '--versions', flagAliases: ['--imagekit-versions'], env: backendEnv('versions'),
    type: 'bool', default: 'false', group: 'backend',
    help: 'Show older versions of each file beside it, read-only, named like rclone does.',
  },
  uploadTags: {
    name: 'upload_tags', flag: '--upload-tags', flagAliases: ['--imagekit-upload-tags'],
    env: backendEnv('upload_tags'), type: 'string', default: '', group: 'backend',
    help: 'Comma-separated tags given to every uploaded file.',
  },
  encoding: {
    name: 'encoding', flag: '--encoding', flagAliases: ['--imagekit-encoding'], env: backendEnv('encoding'),
    type: 'encoding', default: RCLONE_IMAGEKIT_ENCODING, group: 'backend',
    help: 'How names are mapped between local and ImageKit (rclone encoding names, comma-separated).',
  },
  apiUrl: {
    name: 'api_url', flag: '--api-url', env: env('api_url'), type: 'url', default: 'https://api.imagekit.io',
    group: 'advanced', help: 'Base URL of the Media API (change only for the emulator or a proxy).',
  },
  uploadUrl: {
    name: 'upload_url', flag: '--upload-url', env: env('upload_url'), type: 'url',
    default: 'https://upload.imagekit.io', group: 'advanced',
    help: 'Base URL of the Upload API (change only for the emulator or a proxy).',
  },

  // ---- mount: rclone mount / libfuse spelling
  readOnly: {
    name: 'read_only', flag: '--read-only', env: env('read_only'), type: 'bool', default: 'false', group: 'mount',
    help: 'Mount read-only: every change answers "read-only file system".',
  },
  allowOther: {
    name: 'allow_other', flag: '--allow-other', env: env('allow_other'), type: 'bool', default: 'false',
    group: 'mount', help: 'Let other users access the mount (needs user_allow_other in /etc/fuse.conf).',
  },
  daemon: {
    // A flag only: from a config file or the environment it would also background a systemd unit's or
    // mount.fuse.ikfs's daemon, which then look exited.
    name: 'daemon', flag: '--daemon', env: [], type: 'bool', default: 'false', group: 'mount', notInFile: true,
    help: 'Run in the background: return once the mount is live (exit 0), or with the error that stopped it. ' +
      'The log goes to --log-file, by default /var/log/ikfs/MOUNTPOINT.log (root) or ~/.local/state/ikfs/MOUNTPOINT.log ($XDG_STATE_HOME/ikfs when set).',
  },
  daemonWaitMs: {
    // IKFS_MOUNT_TIMEOUT: the name native/mount.fuse.ikfs documented first (a bare number is seconds).
    name: 'daemon_wait', flag: '--daemon-wait', env: [...env('daemon_wait'), 'IKFS_MOUNT_TIMEOUT'], type: 'duration',
    default: '1m', min: 1_000, group: 'mount',
    help: 'With --daemon: how long to wait for the mount to be live before stopping the daemon and failing.',
  },
  directIo: {
    name: 'direct_io', flag: '--direct-io', env: env('direct_io'), type: 'bool', default: 'false', group: 'mount',
    help: 'Bypass the kernel\'s page cache: every read is served by ikfs (from its block cache or the CDN), and ' +
      'files read once leave no copy in memory; small reads each cost a request, and shared memory maps of files ' +
      'are refused (ENODEV).',
  },
  allowNonEmpty: {
    name: 'allow_non_empty', flag: '--allow-non-empty', env: env('allow_non_empty'), type: 'bool',
    default: 'false', group: 'mount', help: 'Allow mounting over a folder that is not empty (hides its content).',
  },
  fuseBinding: {
    name: 'fuse_binding', flag: '--fuse-binding', env: env('fuse_binding'), type: 'enum',
    choices: ['auto', 'fuse3', 'fuse-native'], default: 'auto', group: 'advanced',
    help: 'FUSE library: fuse3 (ikfs\'s libfuse3 binding: 1 MiB requests, READDIRPLUS), fuse-native (libfuse2), ' +
      'or auto (fuse3 when it was built at install, else fuse-native).',
  },
  deliveryClient: {
    name: 'delivery_client', flag: '--delivery-client', env: env('delivery_client'), type: 'enum',
    choices: ['sockets', 'undici'], default: 'sockets', group: 'advanced',
    help: 'HTTP client for reading files from the CDN: sockets (ikfs\'s own reader: bytes go from the socket ' +
      'straight into the read cache) or undici.',
  },
  dirCacheTimeMs: {
    name: 'dir_cache_time', flag: '--dir-cache-time', env: env('dir_cache_time'), type: 'duration',
    default: '5m', group: 'mount',
    help: 'How long a folder listing is trusted; changes made elsewhere show up at most this late.',
  },
  attrTimeoutMs: {
    name: 'attr_timeout', flag: '--attr-timeout', env: env('attr_timeout'), type: 'duration',
    // rclone's 1s expires before a second `ls -l` of a large folder starts, so every entry costs a FUSE round
    // trip again; 5s keeps repeated listings cheap and adds little to the dir cache's own staleness.
    default: '5s',
    group: 'mount', help: 'How long the kernel caches names and attributes before asking ikfs again (adds to how stale a changed file can look).',
  },
  negativeTimeoutMs: {
    name: 'negative_timeout', flag: '--negative-timeout', env: env('negative_timeout'), type: 'duration',
    // Shorter than dir_cache_time on purpose: a refresh makes the kernel forget these answers only with the
    // libfuse3 binding (fuse/missing-names.ts), so with fuse-native a long value would hide refreshed files; a
    // minute still absorbs file managers' repeated probes (.hidden, .directory, autorun.inf) in every folder.
    default: '1m', group: 'mount',
    help: 'How long the kernel remembers that a name does not exist (absorbs file-manager probes); at most dir_cache_time.',
  },
  uid: {
    name: 'uid', flag: '--uid', env: env('uid'), type: 'int', min: 0, max: MAX_ID,
    default: (ctx) => String(ctx.uid), defaultDoc: 'current user', group: 'mount',
    help: 'Owner shown for every file and folder.',
  },
  gid: {
    name: 'gid', flag: '--gid', env: env('gid'), type: 'int', min: 0, max: MAX_ID,
    default: (ctx) => String(ctx.gid), defaultDoc: 'current group', group: 'mount',
    help: 'Group shown for every file and folder.',
  },
  umask: {
    name: 'umask', flag: '--umask', env: env('umask'), type: 'mode', max: 0o777,
    default: (ctx) => '0' + ctx.umask.toString(8).padStart(3, '0'), defaultDoc: 'current umask', group: 'mount',
    help: 'Permission bits removed from --file-mode and --dir-mode.',
  },
  fileMode: {
    name: 'file_mode', flag: '--file-mode', flagAliases: ['--file-perms'], env: env('file_mode'), type: 'mode',
    max: 0o7777, default: '0644', group: 'mount', help: 'Permission bits of files.',
  },
  dirMode: {
    name: 'dir_mode', flag: '--dir-mode', flagAliases: ['--dir-perms'], env: env('dir_mode'), type: 'mode',
    max: 0o7777, default: '0755', group: 'mount', help: 'Permission bits of folders.',
  },

  // ---- vfs: caching, buffering, writing
  cacheDir: {
    name: 'cache_dir', flag: '--cache-dir', env: env('cache_dir'), type: 'path',
    default: (ctx) => xdg(ctx, 'XDG_CACHE_HOME', '.cache', 'ikfs'), defaultDoc: '~/.cache/ikfs ($XDG_CACHE_HOME/ikfs when set)', group: 'vfs',
    help: 'Folder for spooled writes and their journal (kept private, mode 0700).',
  },
  writeBackMs: {
    name: 'write_back', flag: '--write-back', flagAliases: ['--vfs-write-back'], env: env('write_back'),
    type: 'duration', default: '0', group: 'vfs',
    help: 'Delay after the last close before a changed file is uploaded in the background; 0 = off (close waits for the upload).',
  },
  transfers: {
    name: 'transfers', flag: '--transfers', env: env('transfers'), type: 'int', min: 1, max: 64,
    // rclone's default is 4; small-file copies (cp -r) gain most from more, and the API client caps connections anyway.
    default: '8', group: 'vfs', help: 'Number of uploads that run at once.',
  },
  streamUploads: {
    name: 'stream_uploads', flag: '--stream-uploads', env: env('stream_uploads'), type: 'bool', default: 'true', group: 'vfs',
    help: 'Upload a large file (4 MiB and up) written sequentially from empty while it is being written, so close waits only for the rest (chunked request body; not with write-back). Any other write, or a server refusing it, falls back to the upload at close. `--stream-uploads=false` turns it off.',
  },
  blockCacheBytes: {
    name: 'block_cache_size', flag: '--block-cache-size', env: env('block_cache_size'), type: 'size',
    default: '64M', group: 'vfs', help: 'Memory for recently read file blocks, shared by all open files (the kernel page cache keeps what was read; this serves concurrent and re-reads, and bounds read-ahead to a quarter of it).',
  },
  writtenCacheBytes: {
    name: 'written_cache_size', flag: '--written-cache-size', env: env('written_cache_size'), type: 'size',
    default: '64M', max: 1024 ** 3, group: 'vfs',
    help: 'Memory for the bytes of small files (up to 1 MiB) just uploaded, kept 5 minutes after their upload so reading them back (thumbnails, `git add`, `rsync -c`) downloads nothing; 0 = off (at most 1G).',
  },
  maxBufferedBytes: {
    name: 'max_buffered', flag: '--max-buffered', env: env('max_buffered'), type: 'size', default: '512M',
    group: 'vfs', help: 'Memory for read-ahead and write buffers of all open files together.',
  },
  maxCachedDirs: {
    name: 'max_cached_dirs', flag: '--max-cached-dirs', env: env('max_cached_dirs'), type: 'int', min: 1,
    default: '1000', group: 'vfs', help: 'Number of folder listings kept in memory.',
  },
  dirPrefetch: {
    name: 'dir_prefetch', flag: '--dir-prefetch', env: env('dir_prefetch'), type: 'int', min: 0, max: 64,
    default: '0', group: 'vfs',
    help: 'When a folder is read, list in the background up to this many of its subfolders (and theirs, two levels down) and of the folders after it, two at a time, so `find`, `du` and copies out of the mount do not wait for each folder in turn; 0 = off. Each is a Media API call.',
  },
  statfsTotalBytes: {
    name: 'statfs_total', flag: '--statfs-total', env: env('statfs_total'), type: 'size', default: '0',
    group: 'vfs', help: 'Total size `df` reports (ImageKit does not publish the plan limit); 0 = unknown.',
  },
  statfsCacheTimeMs: {
    name: 'statfs_cache_time', flag: '--statfs-cache-time', env: env('statfs_cache_time'), type: 'duration',
    default: '1m', group: 'vfs', help: 'How long the account usage shown by `df` is cached.',
  },

  // ---- advanced: HTTP behaviour
  maxConnections: {
    name: 'max_connections', flag: '--max-connections', env: env('max_connections'), type: 'int', min: 1,
    max: 1024, default: '32', group: 'advanced', help: 'Maximum HTTP connections per host (API, upload, CDN).',
  },
  requestTimeoutMs: {
    name: 'request_timeout', flag: '--request-timeout', env: env('request_timeout'), type: 'duration', min: 1_000,
    default: '60s', group: 'advanced', help: 'Give up on an HTTP request that makes no progress for this long (at least 1s).',
  },
  retries: {
    name: 'retries', flag: '--retries', env: env('retries'), type: 'int', min: 0, max: 100, default: '5',
    group: 'advanced', help: 'Retries of a failed request (429, 5xx, dropped connection) before giving up.',
  },
  signedUrlExpiryMs: {
    name: 'signed_url_expiry', flag: '--signed-url-expiry', env: env('signed_url_expiry'), type: 'duration', min: 60_000,
    default: '1h', group: 'advanced',
    help: 'Lifetime of signed delivery URLs (at least 1m: the CDN checks it by its own clock, and a shorter one fails with any skew of this one).',
  },

  // ---- logging
  logLevel: {
    name: 'log_level', flag: '--log-level', env: env('log_level'), type: 'enum', choices: LOG_LEVELS,
    default: 'info', group: 'logging', help: 'Least important log level written.',
  },
  logFile: {
    name: 'log_file', flag: '--log-file', env: env('log_file'), type: 'path', default: '', group: 'logging',
    help: 'Write the log (JSON lines) to this file instead of stderr.',
  },
  metrics: {
    name: 'metrics', flag: '--metrics', env: env('metrics'), type: 'string', default: '', group: 'logging',
    help: 'Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9100 (":9100" is loopback); off when empty.',
  },
  debug: {
    name: 'debug', flag: '--debug', env: env('debug'), type: 'bool', default: 'false', group: 'logging',
    notInFile: true, help: 'Print stack traces with errors.',
  },
  config: {
    name: 'config', flag: '--config', env: env('config'), type: 'path',
    default: (ctx) => xdg(ctx, 'XDG_CONFIG_HOME', '.config', 'ikfs', 'ikfs.conf'),
    defaultDoc: '~/.config/ikfs/ikfs.conf ($XDG_CONFIG_HOME/ikfs/ikfs.conf when set)', group: 'advanced', notInFile: true,
    help: 'Config file (rclone.conf format) holding the remote named in `ikfs mount NAME: ...`.',
  },
} as const satisfies Record<string, OptionSpec>

export type OptionKey = keyof typeof OPTIONS

type ValueOf<T extends OptionType> = T extends 'bool'
  ? boolean
  : T extends 'duration' | 'size' | 'mode' | 'int'
    ? number
    : string

/** Parsed values, one per option: durations in ms, sizes in bytes, modes as numbers. */
export type OptionValues = { readonly [K in OptionKey]: ValueOf<(typeof OPTIONS)[K]['type']> }

export const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[]

export function optionSpec(key: OptionKey): OptionSpec {
  return OPTIONS[key]
}

export const GROUP_ORDER: readonly OptionGroup[] = ['backend', 'mount', 'vfs', 'logging', 'advanced']

export const GROUP_TITLES: Record<OptionGroup, string> = {
  backend: 'ImageKit (rclone imagekit backend options)',
  mount: 'Mount',
  vfs: 'Caching and writing',
  logging: 'Logging',
  advanced: 'Advanced',
}
