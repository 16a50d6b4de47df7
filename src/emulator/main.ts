/**
 * Standalone entry: `ikfs emulator --port 0 --data DIR --private-key K --public-key P ...`. Prints one
 * `listening on <url>` line when ready, closes on SIGINT/SIGTERM and resolves 0; bad flags resolve 2; a port or
 * data folder it cannot use resolves 1 after one line saying what is wrong and what to do.
 * Keys may come from IKFS_EMULATOR_PRIVATE_KEY / IKFS_EMULATOR_PUBLIC_KEY so they stay out of `ps`.
 */
import { createLogger, type LogLevel } from '../log.js'
import { folderProblem } from '../make-dirs.js'
import { mayHoldPrivateKey, quotedUnlessKey } from '../private-key-text.js'
import { DataDirInUseError } from './data-lock.js'
import { RESET_PHASES, type FaultSettings, type ResetPhase } from './faults.js'
import { emulatorHelp } from './help.js'
import type { EmulatorOptions } from './options.js'
import { startEmulator, type EmulatorHandle } from './server.js'

export interface ParsedEmulatorArgs {
  options: EmulatorOptions
  logLevel: LogLevel
}

export class EmulatorArgsError extends Error {}

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const BOOLEAN_FLAGS = new Set(['--restrict-unsigned', '--no-url-uploads', '--no-webhooks'])
const VALUE_FLAGS = new Set([
  '--port', '--data', '--private-key', '--public-key', '--id', '--host', '--names', '--max-upload-bytes', '--max-video-upload-bytes', '--cdn-stale-ms', '--max-folder-depth',
  '--rate-limit', '--error-rate', '--error-statuses', '--latency-ms', '--reset-rate', '--reset-phase', '--fault-seed', '--range-ignore-rate',
  '--error-after-work-rate',
  '--public-url-base', '--url-encoding', '--seed', '--log-level', '--extensions', '--rate-limit-headers', '--custom-field-delete', '--non-image-metadata', '--usage-cache-ms', '--webhook-retry-ms',
  '--clock-offset-ms',
])

export const EMULATOR_USAGE = `usage: ikfs emulator --data DIR [--port 0] [--private-key K] [--public-key P] [--id demo] [--host 127.0.0.1]
  [--names permissive|strict] [--max-upload-bytes N] [--max-video-upload-bytes N] [--cdn-stale-ms N] [--max-folder-depth N] [--restrict-unsigned] [--no-url-uploads] [--rate-limit N]
  [--error-rate X] [--error-statuses 500,502,503,504] [--latency-ms N] [--reset-rate X] [--reset-phase both] [--fault-seed N]
  [--range-ignore-rate X] [--error-after-work-rate X] [--public-url-base URL] [--url-encoding uri|sdk] [--seed demo] [--log-level L]
  [--extensions pending|success|failed] [--no-webhooks]
  [--rate-limit-headers every|429] [--custom-field-delete 204|200] [--non-image-metadata 400|200] [--usage-cache-ms N]
  [--webhook-retry-ms N] [--clock-offset-ms N]
keys may also come from IKFS_EMULATOR_PRIVATE_KEY and IKFS_EMULATOR_PUBLIC_KEY
ikfs emulator --help lists every flag with what it does and its default`

// A bad value is quoted back unless it may be a private key (pasted after the wrong flag): `key` is the
// emulator's own, from --private-key or the environment.
function integer(flag: string, v: string, key: string, min = 0): number {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new EmulatorArgsError(`${flag} needs a whole number >= ${min}, got ${quotedUnlessKey(v, key)}`)
  return Number(v)
}

/** `v` if it is one of `allowed` (short words: never a key, so quoting back is not needed). */
function oneOf<const T extends string>(flag: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new EmulatorArgsError(`${flag} must be ${allowed.slice(0, -1).join(', ')}${allowed.length > 2 ? ',' : ''} or ${allowed.at(-1) as string}`)
  return v as T
}

function fraction(flag: string, v: string, key: string): number {
  const n = Number(v)
  if (v.trim() === '' || !(n >= 0 && n <= 1)) throw new EmulatorArgsError(`${flag} needs a number from 0 to 1, got ${quotedUnlessKey(v, key)}`)
  return n
}

export function parseEmulatorArgs(argv: string[], env: Record<string, string | undefined> = {}): ParsedEmulatorArgs {
  const values = new Map<string, string>()
  const flags = new Set<string>()
  // Reported once the private key is known, so that a key left among the arguments is not printed back.
  let unknown: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const eq = arg.indexOf('=')
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg
    if (BOOLEAN_FLAGS.has(name)) {
      if (eq > 0) throw new EmulatorArgsError(`${name} takes no value`)
      flags.add(name)
      continue
    }
    if (!VALUE_FLAGS.has(name)) {
      unknown ??= arg
      continue
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i]
    if (value === undefined) throw new EmulatorArgsError(`${name} needs a value`)
    values.set(name, value)
  }
  const privateKey = values.get('--private-key') ?? env.IKFS_EMULATOR_PRIVATE_KEY
  if (unknown !== undefined) {
    throw new EmulatorArgsError(mayHoldPrivateKey(unknown, privateKey) ? 'unknown argument that looks like a private key (not shown)' : `unknown flag ${unknown}`)
  }
  const dataDir = values.get('--data')
  if (!dataDir) throw new EmulatorArgsError('--data is required')
  if (!privateKey) throw new EmulatorArgsError('--private-key (or IKFS_EMULATOR_PRIVATE_KEY) is required')
  const publicKey = values.get('--public-key') ?? env.IKFS_EMULATOR_PUBLIC_KEY ?? ''
  const options: EmulatorOptions = { dataDir, privateKey, publicKey }
  const v = (flag: string) => values.get(flag)
  if (v('--port') !== undefined) options.port = integer('--port', v('--port') as string, privateKey)
  if (options.port !== undefined && options.port > 65535) throw new EmulatorArgsError('--port must be at most 65535')
  if (v('--id') !== undefined) {
    if (!/^[A-Za-z0-9_-]+$/.test(v('--id') as string)) throw new EmulatorArgsError('--id must be letters, digits, _ or -')
    options.id = v('--id') as string
  }
  if (v('--host') !== undefined) options.host = v('--host') as string
  if (v('--names') !== undefined) options.names = oneOf('--names', v('--names') as string, ['strict', 'permissive'])
  if (v('--max-upload-bytes') !== undefined) options.maxUploadBytes = integer('--max-upload-bytes', v('--max-upload-bytes') as string, privateKey, 1)
  if (v('--max-video-upload-bytes') !== undefined) options.maxVideoUploadBytes = integer('--max-video-upload-bytes', v('--max-video-upload-bytes') as string, privateKey, 1)
  if (v('--cdn-stale-ms') !== undefined) options.cdnStaleMs = integer('--cdn-stale-ms', v('--cdn-stale-ms') as string, privateKey)
  if (v('--max-folder-depth') !== undefined) options.maxFolderDepth = integer('--max-folder-depth', v('--max-folder-depth') as string, privateKey, 1)
  if (flags.has('--restrict-unsigned')) options.restrictUnsigned = true
  if (v('--usage-cache-ms') !== undefined) options.usageCacheMs = integer('--usage-cache-ms', v('--usage-cache-ms') as string, privateKey)
  if (flags.has('--no-url-uploads')) options.urlUploads = false
  if (flags.has('--no-webhooks')) options.webhooks = false
  if (v('--webhook-retry-ms') !== undefined) options.webhookRetry = { firstDelayMs: integer('--webhook-retry-ms', v('--webhook-retry-ms') as string, privateKey) }
  if (v('--clock-offset-ms') !== undefined) {
    const offset = v('--clock-offset-ms') as string
    if (!/^-?\d+$/.test(offset)) throw new EmulatorArgsError(`--clock-offset-ms needs a whole number of ms (negative: behind), got ${quotedUnlessKey(offset, privateKey)}`)
    options.clockOffsetMs = Number(offset)
  }
  if (v('--rate-limit') !== undefined) options.rateLimit = { perSecond: integer('--rate-limit', v('--rate-limit') as string, privateKey) }
  if (v('--range-ignore-rate') !== undefined) options.rangeIgnoreRate = fraction('--range-ignore-rate', v('--range-ignore-rate') as string, privateKey)
  if (v('--url-encoding') !== undefined) options.urlEncoding = oneOf('--url-encoding', v('--url-encoding') as string, ['uri', 'sdk'])
  if (v('--extensions') !== undefined) options.extensions = oneOf('--extensions', v('--extensions') as string, ['pending', 'success', 'failed'])
  if (v('--rate-limit-headers') !== undefined) options.rateLimitHeaders = oneOf('--rate-limit-headers', v('--rate-limit-headers') as string, ['every', '429'])
  if (v('--custom-field-delete') !== undefined) options.customFieldDeleteStatus = Number(oneOf('--custom-field-delete', v('--custom-field-delete') as string, ['204', '200'])) as 204 | 200
  if (v('--non-image-metadata') !== undefined) options.nonImageMetadata = Number(oneOf('--non-image-metadata', v('--non-image-metadata') as string, ['400', '200'])) as 400 | 200
  if (v('--public-url-base') !== undefined) {
    const base = v('--public-url-base') as string
    if (!/^https?:\/\/\S+$/.test(base)) throw new EmulatorArgsError('--public-url-base must be an http(s) URL')
    options.publicUrlBase = base
  }
  if (v('--seed') !== undefined) {
    if (v('--seed') !== 'demo') throw new EmulatorArgsError('--seed must be demo')
    options.seed = 'demo'
  }
  const faults: Partial<FaultSettings> = {}
  if (v('--error-rate') !== undefined) faults.errorRate = fraction('--error-rate', v('--error-rate') as string, privateKey)
  if (v('--error-after-work-rate') !== undefined) {
    faults.errorAfterWorkRate = fraction('--error-after-work-rate', v('--error-after-work-rate') as string, privateKey)
  }
  if (v('--reset-rate') !== undefined) faults.resetRate = fraction('--reset-rate', v('--reset-rate') as string, privateKey)
  const phase = v('--reset-phase')
  if (phase !== undefined) {
    if (!RESET_PHASES.includes(phase as ResetPhase)) throw new EmulatorArgsError(`--reset-phase must be one of ${RESET_PHASES.join(', ')}`)
    faults.resetPhase = phase as ResetPhase
  }
  if (v('--latency-ms') !== undefined) faults.latencyMs = integer('--latency-ms', v('--latency-ms') as string, privateKey)
  if (v('--fault-seed') !== undefined) faults.seed = integer('--fault-seed', v('--fault-seed') as string, privateKey)
  if (v('--error-statuses') !== undefined) {
    const list = (v('--error-statuses') as string).split(',').map((s) => s.trim())
    if (list.some((s) => !/^[45]\d\d$/.test(s))) throw new EmulatorArgsError('--error-statuses needs a comma list of HTTP error statuses')
    faults.errorStatuses = list.map(Number)
  }
  if (Object.keys(faults).length > 0) options.faults = faults
  const logLevel = (v('--log-level') ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) throw new EmulatorArgsError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`)
  return { options, logLevel }
}

export async function runEmulator(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(emulatorHelp())
    return 0
  }
  let parsed: ParsedEmulatorArgs
  try {
    parsed = parseEmulatorArgs(argv, process.env)
  } catch (e) {
    if (!(e instanceof EmulatorArgsError)) throw e
    process.stderr.write(`ikfs emulator: ${e.message}\n${EMULATOR_USAGE}\n`)
    return 2
  }
  const { options } = parsed
  const logger = createLogger({ level: parsed.logLevel, secrets: [options.privateKey] })
  let handle: EmulatorHandle
  try {
    handle = await startEmulator({ ...options, logger })
  } catch (e) {
    const problem = startProblem(e, options)
    if (problem === undefined) throw e
    process.stderr.write(`ikfs emulator: ${problem}\n`)
    return 1
  }
  process.stdout.write(`ikfs emulator: listening on ${handle.url} (URL endpoint ${handle.urlEndpoint})\n`)
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  await handle.close()
  return 0
}

/**
 * One line for a start that failed on the port, the host or the data folder, or undefined for an error not
 * foreseen. Values the user gave are quoted unless they may hold the private key.
 */
export function startProblem(e: unknown, options: EmulatorOptions): string | undefined {
  const { code, syscall } = (e ?? {}) as NodeJS.ErrnoException
  const port = options.port ?? 0
  const host = quotedUnlessKey(options.host ?? '127.0.0.1', options.privateKey)
  if (code === 'EADDRINUSE') {
    return `port ${port} is in use (another emulator or program listens there): choose another with --port, or --port 0 for a free one`
  }
  if (code === 'EACCES' && syscall === 'listen') {
    return `port ${port} needs privileges this user lacks (ports below 1024 do): choose another with --port, or --port 0 for a free one`
  }
  if (code === 'EADDRNOTAVAIL') return `--host ${host} is not an address of this machine: give one of its addresses, or leave --host out for 127.0.0.1`
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || syscall === 'getaddrinfo') {
    return `--host ${host} is not a known host name or address: give an address of this machine, or leave --host out for 127.0.0.1`
  }
  const data = quotedUnlessKey(options.dataDir, options.privateKey)
  if (e instanceof DataDirInUseError) return `--data ${data} is in use by another emulator (pid ${e.pid}): stop that one, or choose another folder with --data`
  const problem = folderProblem(e, (path) => quotedUnlessKey(path, options.privateKey))
  if (problem === undefined) return undefined
  return `cannot keep the library in --data ${data}: ${problem}; choose another folder with --data`
}
