/**
 * The root pino logger. Built once by the CLI and handed down; components take a child
 * (`log.child({ component: 'vfs.reader' })`).
 *
 * Secrets: pino's redaction sees keys, not strings, so two layers keep them out of logs:
 * - `redact` paths for every key that can hold a private key or an Authorization header;
 * - the `url` serializer and `redactUrl()` strip URL signatures (`ik-s`, `ik-t`) and userinfo.
 */
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino'

export type { Logger } from 'pino'

export const REDACT_PATHS = [
  'privateKey',
  'private_key',
  'password',
  'authorization',
  '*.privateKey',
  '*.private_key',
  '*.password',
  '*.authorization',
  '*.headers.authorization',
  'headers.authorization',
  'req.headers.authorization',
]

const SIGNATURE_PARAMS = /([?&])(ik-s|ik-t|signature)=[^&#\s]*/gi

/** Removes URL signatures and credentials from a URL (or any string that contains URLs). */
export function redactUrl(text: string): string {
  return text
    .replace(SIGNATURE_PARAMS, '$1$2=[REDACTED]')
    .replace(/(https?:\/\/)[^/@\s]+@/gi, '$1[REDACTED]@')
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface LoggerSettings {
  level?: LogLevel
  /** Readable single lines instead of JSON (default: when stderr is a terminal). */
  pretty?: boolean
  /**
   * Write to this descriptor of a file open for appending instead of stderr: the --log-file, opened once by
   * cli/log-file.ts, which says a path that cannot be written as one line before any logger exists.
   */
  fd?: number
  /** Extra secret strings (e.g. the configured private key) scrubbed from every message. */
  secrets?: string[]
}

export function createLogger(settings: LoggerSettings = {}, destination?: DestinationStream): Logger {
  const secrets = (settings.secrets ?? []).filter((s) => s.length >= 4)
  const scrub = (s: string): string => {
    let out = redactUrl(s)
    for (const secret of secrets) out = out.split(secret).join('[REDACTED]')
    return out
  }
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    serializers: {
      url: (u: unknown) => (typeof u === 'string' ? scrub(u) : u),
      err: (e: unknown) => serializeError(e, scrub),
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? scrub(a) : a))
        return method.apply(this, scrubbed as Parameters<typeof method>)
      },
    },
  }
  const pretty = settings.pretty ?? (settings.fd === undefined && process.stderr.isTTY === true)
  const dest =
    destination ??
    (settings.fd !== undefined
      ? pino.destination({ fd: settings.fd, sync: false })
      : pretty
        ? prettyStream(scrub)
        : pino.destination({ fd: 2, sync: true }))
  return pino(options, dest)
}

interface SerializedError {
  type: string
  message: string
  code?: unknown
  status?: unknown
  requestId?: unknown
  stack?: string
  cause?: SerializedError
}

function serializeError(e: unknown, scrub: (s: string) => string, depth = 0): unknown {
  if (!(e instanceof Error)) return e
  const anyErr = e as Error & Record<string, unknown>
  const out: SerializedError = { type: e.name, message: scrub(e.message) }
  if (anyErr.code !== undefined) out.code = anyErr.code
  if (anyErr.status !== undefined) out.status = anyErr.status
  if (anyErr.requestId !== undefined) out.requestId = anyErr.requestId
  if (e.stack) out.stack = scrub(e.stack)
  if (depth < 3 && anyErr.cause instanceof Error) {
    out.cause = serializeError(anyErr.cause, scrub, depth + 1) as SerializedError
  }
  return out
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'component'])

/** A small line formatter for terminals: `12:00:01 INFO  vfs: mounted path=/x`. */
function prettyStream(scrub: (s: string) => string): DestinationStream {
  return {
    write(line: string) {
      let rec: Record<string, unknown>
      try {
        rec = JSON.parse(line) as Record<string, unknown>
      } catch {
        process.stderr.write(scrub(line))
        return
      }
      const time = new Date(typeof rec.time === 'number' ? rec.time : Date.now()).toISOString().slice(11, 19)
      const level = (LEVEL_NAMES[rec.level as number] ?? String(rec.level)).padEnd(5)
      const component = rec.component ? `${String(rec.component)}: ` : ''
      const extras = Object.entries(rec)
        .filter(([k]) => !OMIT.has(k))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ')
      process.stderr.write(scrub(`${time} ${level} ${component}${String(rec.msg ?? '')}${extras ? ' ' + extras : ''}\n`))
    },
  }
}

/**
 * Resolves once the log's destination has written every line logged so far (or after `timeoutMs`): for a
 * process about to exit at once. pino's file destination (sonic-boom) calls flush callbacks straight away when
 * it does not batch, while a write may still be in flight; its 'drain' comes once everything reached the file.
 */
export function whenLogWritten(logger: Logger, timeoutMs: number): Promise<void> {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
    | { _writing?: boolean; once?: (event: 'drain', listener: () => void) => unknown }
    | undefined
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs)
    const done = (): void => {
      clearTimeout(timer)
      resolve()
    }
    flushLogger(logger)
    if (stream?._writing === true && typeof stream.once === 'function') stream.once('drain', done)
    else done()
  })
}

/** Writes out what a file destination still buffers, before the process exits. */
export function flushLogger(logger: Logger): void {
  try {
    logger.flush()
  } catch {
    // a destination that cannot flush (a terminal stream) has nothing buffered
  }
}
