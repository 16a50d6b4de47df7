/**
 * Flags + environment + one rclone.conf remote + defaults → one frozen, typed Config, or a ConfigError.
 * Precedence: flag > environment > config file > default, per option. This is the only module that reads
 * the environment, and it reads the copy it is given (never `process.env` directly).
 *
 * Config files: `ikfs mount NAME: ...` reads section NAME of the `config` file (default
 * `$XDG_CONFIG_HOME/ikfs/ikfs.conf`). When that file was not chosen explicitly (--config / IKFS_CONFIG) and has
 * no such section, rclone's own config is searched too, so existing rclone remotes work as they are.
 */
import { readFileSync, statSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { mayHoldPrivateKey } from '../private-key-text.js'
import { closestName } from './closest-name.js'
import { ConfigError } from './config-error.js'
import {
  OPTION_KEYS, RCLONE_ENCODING_NAMES, optionSpec,
  type DefaultContext, type OptionKey, type OptionSpec, type OptionValues,
} from './options.js'
import { proxyEnv, type ProxyEnv } from './proxy-env.js'
import { findRemote, parseRcloneConf, type ConfSection } from './rclone-conf.js'
import {
  ValueProblem, formatDuration, formatSize, parseBool, parseDuration, parseEncoding, parseInteger, parseMode, parseSize, parseUrl,
} from './values.js'

export type ValueSource =
  | { readonly kind: 'flag'; readonly flag: string }
  | { readonly kind: 'env'; readonly variable: string }
  | { readonly kind: 'file'; readonly file: string; readonly section: string }
  | { readonly kind: 'program'; readonly by: string }
  | { readonly kind: 'default' }

export interface Config extends OptionValues {
  /** NAME of `ikfs mount NAME: ...`, when a config-file remote was used. */
  readonly remote?: string
  /** The file the remote was read from. */
  readonly configFile?: string
  /** Where each value came from (for `--debug` and error messages). */
  readonly sources: Readonly<Record<OptionKey, ValueSource>>
  /** Things worth a log line at start-up (loose file permissions, a key on the command line, unknown keys). */
  readonly warnings: readonly string[]
  /** HTTP(S)_PROXY and NO_PROXY from the environment (never flags or files: rclone reads them the same way). */
  readonly proxy: ProxyEnv
}

export interface ProcessIdentity {
  uid: number
  gid: number
  umask: number
}

export interface LoadInput {
  /** Option values as text, by key, from command-line flags (parseArgs). */
  readonly options?: Partial<Record<OptionKey, string>>
  /** Values the program itself sets, above every other source (`ikfs demo` points at its emulator). */
  readonly fixed?: { readonly by: string; readonly options: Partial<Record<OptionKey, string>> }
  /** NAME from `NAME:`: read that section of the config file. */
  readonly remote?: string
  /**
   * `ikfs doctor` checking this machine alone: with no NAME: and neither the endpoint nor the private key given
   * anywhere, the Config has both empty instead of a ConfigError. One of them alone is still an error.
   */
  readonly libraryOptional?: boolean
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  readonly home: string
  /** uid/gid/umask used for defaults; the current process's when omitted. */
  readonly identity?: ProcessIdentity
}

/** rclone.conf keys that are not options but are fine to find in a remote's section. */
const RCLONE_GENERIC_KEYS = new Set(['type', 'description'])

/** Group and others must not be able to read a file that holds a private key. */
const GROUP_OR_OTHER_READ = 0o044

export function loadConfig(input: LoadInput): Config {
  const identity = input.identity ?? currentIdentity()
  const ctx: DefaultContext = { home: input.home, env: input.env, ...identity }
  const warnings: string[] = []
  const given = input.options ?? {}

  const fixed = input.fixed
  const configPick = pickRaw('config', given, input.env, undefined, ctx, fixed)
  const configPath = expandPath(configPick.raw, input.cwd, input.home)
  let file: { path: string; section: ConfSection; name: string } | undefined
  if (input.remote !== undefined) {
    const explicit = configPick.source.kind !== 'default'
    file = findRemoteSection(input.remote, configPath, explicit, input.env, input.cwd, input.home, warnings)
  }

  const values: Record<string, unknown> = {}
  const sources = {} as Record<OptionKey, ValueSource>
  // Known before any other value is read: a message about another option must not quote it.
  const privateKey = pickRaw('privateKey', given, input.env, file, ctx, fixed).raw
  for (const key of OPTION_KEYS) {
    const spec = optionSpec(key)
    const picked = key === 'config' ? configPick : pickRaw(key, given, input.env, file, ctx, fixed)
    sources[key] = picked.source
    values[key] = parseValue(spec, picked.raw, picked.source, input, privateKey)
  }

  const required = OPTION_KEYS.filter((key) => optionSpec(key).required)
  const absent = required.filter((key) => values[key] === '')
  const noLibrary = input.libraryOptional === true && file === undefined && absent.length === required.length
  if (!noLibrary) {
    if (absent[0] !== undefined) throw missing(optionSpec(absent[0]))
    checkPrivateKey(values.privateKey as string, sources.privateKey, warnings)
    checkEndpoint(values.endpoint as string, sources.endpoint)
  }

  return Object.freeze({
    ...(values as unknown as OptionValues),
    ...(file ? { remote: file.name, configFile: file.path } : {}),
    sources: Object.freeze(sources),
    warnings: Object.freeze(warnings),
    proxy: proxyEnv(input.env),
  })
}

interface Picked {
  raw: string
  source: ValueSource
}

function pickRaw(
  key: OptionKey,
  given: Partial<Record<OptionKey, string>>,
  env: Readonly<Record<string, string | undefined>>,
  file: { path: string; section: ConfSection; name: string } | undefined,
  ctx: DefaultContext,
  fixed: LoadInput['fixed'],
): Picked {
  const spec = optionSpec(key)
  const fixedValue = fixed?.options[key]
  if (fixedValue !== undefined) return { raw: fixedValue, source: { kind: 'program', by: fixed?.by ?? 'ikfs' } }
  const flagValue = given[key]
  if (flagValue !== undefined) return { raw: flagValue, source: { kind: 'flag', flag: spec.flag } }
  for (const variable of spec.env) {
    const v = env[variable]
    // An empty variable counts as unset: `export IKFS_X=` is how shells clear a setting.
    if (v !== undefined && v !== '') return { raw: v, source: { kind: 'env', variable } }
  }
  if (file && !spec.notInFile) {
    const v = file.section.get(spec.name)
    if (v !== undefined) return { raw: v, source: { kind: 'file', file: file.path, section: file.name } }
  }
  const raw = typeof spec.default === 'function' ? spec.default(ctx) : spec.default
  return { raw, source: { kind: 'default' } }
}

/** "flag --x", "environment variable IKFS_X", "config file F [remote]", "the default". */
export function describeSource(source: ValueSource): string {
  switch (source.kind) {
    case 'flag':
      return `flag ${source.flag}`
    case 'env':
      return `environment variable ${source.variable}`
    case 'file':
      return `config file ${source.file} [${source.section}]`
    case 'program':
      return source.by
    case 'default':
      return 'the default'
  }
}

function parseValue(spec: OptionSpec, raw: string, source: ValueSource, input: LoadInput, privateKey: string): unknown {
  try {
    switch (spec.type) {
      case 'string':
        return raw
      case 'path':
        return raw === '' ? '' : expandPath(raw, input.cwd, input.home)
      case 'url':
        return raw.trim() === '' ? '' : parseUrl(raw)
      case 'bool':
        return parseBool(raw)
      case 'duration':
        return durationWithin(parseDuration(raw), spec.min, spec.max)
      case 'size':
        return sizeWithin(parseSize(raw), spec.max)
      case 'mode':
        return parseMode(raw, spec.max ?? 0o7777)
      case 'int':
        return parseInteger(raw, spec.min, spec.max)
      case 'enum': {
        const choice = raw.trim().toLowerCase()
        if (!spec.choices?.includes(choice)) throw new ValueProblem(`is not one of ${spec.choices?.join(', ')}`)
        return choice
      }
      case 'encoding':
        return parseEncoding(raw, RCLONE_ENCODING_NAMES)
    }
  } catch (e) {
    if (!(e instanceof ValueProblem)) throw e
    const shown = spec.secret
      ? 'the value (not shown)'
      : mayHoldPrivateKey(raw, privateKey) ? 'the value (not shown: it looks like a private key)' : JSON.stringify(raw)
    throw new ConfigError(`invalid ${spec.name} from ${describeSource(source)}: ${shown} ${e.message}`, {
      option: spec.name,
    })
  }
}

/** A duration option's bounds (`min`/`max` in ms), said the way durations are written. */
function durationWithin(ms: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (ms < min) throw new ValueProblem(`is shorter than ${formatDuration(min)}, the least it may be`)
  if (ms > max) throw new ValueProblem(`is longer than ${formatDuration(max)}, the most it may be`)
  return ms
}

/** A size option's upper bound, said the way sizes are written. */
function sizeWithin(bytes: number, max = Number.MAX_SAFE_INTEGER): number {
  if (bytes > max) throw new ValueProblem(`is larger than ${formatSize(max)}, the most it may be`)
  return bytes
}

function missing(spec: OptionSpec): ConfigError {
  return new ConfigError(
    `missing ${spec.name}: set ${spec.flag}, ${spec.env.join(' or ')}, or ${spec.name} in a config file remote ` +
      '(`ikfs mount NAME: MOUNTPOINT`)',
    { option: spec.name },
  )
}

function checkPrivateKey(key: string, source: ValueSource, warnings: string[]): void {
  const where = describeSource(source)
  if (key.startsWith('public_')) {
    throw new ConfigError(`private_key from ${where} is a public key (it starts with "public_")`, {
      option: 'private_key',
    })
  }
  if (/\s/.test(key)) {
    throw new ConfigError(`private_key from ${where} contains spaces or line breaks (value not shown)`, {
      option: 'private_key',
    })
  }
  if (source.kind === 'flag') {
    warnings.push(
      'the private key was given as a command-line flag, which other users can see in `ps`; ' +
        'prefer IKFS_PRIVATE_KEY or a config file remote',
    )
  }
}

/** The endpoint is the delivery URL (ik.imagekit.io/<id>); the API hosts are a common mix-up. */
function checkEndpoint(endpoint: string, source: ValueSource): void {
  const url = new URL(endpoint)
  const host = url.hostname
  // ImageKit's own delivery host serves every account under its id: without one, every read is a 404.
  if (host === 'ik.imagekit.io' && url.pathname.replace(/\/+/g, '') === '') {
    throw new ConfigError(
      `endpoint from ${describeSource(source)} has no ImageKit id; use your URL endpoint, e.g. https://ik.imagekit.io/your_id`,
      { option: 'endpoint' },
    )
  }
  if (host === 'api.imagekit.io' || host === 'upload.imagekit.io') {
    throw new ConfigError(
      `endpoint from ${describeSource(source)} is an API host (${host}); use your URL endpoint, ` +
        'e.g. https://ik.imagekit.io/your_id',
      { option: 'endpoint' },
    )
  }
}

function findRemoteSection(
  name: string,
  configPath: string,
  explicit: boolean,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  home: string,
  warnings: string[],
): { path: string; section: ConfSection; name: string } {
  if (name === '' || /[[\]\n]/.test(name)) throw new ConfigError(`invalid remote name "${name}"`)
  const candidates = explicit ? [configPath] : [configPath, ...rcloneConfigPaths(env, cwd, home)]
  const searched: string[] = []
  // What a "not found" can point at instead: the remotes that could be meant, and headers that name none.
  const others: string[] = []
  const unclosed: string[] = []
  for (const path of [...new Set(candidates)]) {
    const text = readIfExists(path)
    if (text === undefined) {
      if (explicit) throw new ConfigError(`config file ${path} does not exist`, { option: 'config' })
      continue
    }
    searched.push(path)
    const conf = parseRcloneConf(text, path)
    const section = findRemote(conf, name)
    if (!section) {
      for (const [other, keys] of conf.sections) {
        if ((keys.get('type') ?? 'imagekit') === 'imagekit' && !mayHoldPrivateKey(other)) others.push(other)
      }
      unclosed.push(...conf.unclosedHeaders.map((line) => `${path}:${line}`))
      continue
    }
    const type = section.get('type')
    if (type !== undefined && type !== 'imagekit') {
      throw new ConfigError(`remote "${name}" in ${path} has type = ${type}; ikfs mounts only type = imagekit`)
    }
    for (const key of section.keys()) {
      const spec = OPTION_KEYS.map(optionSpec).find((s) => s.name === key)
      if (RCLONE_GENERIC_KEYS.has(key)) continue
      // A key pasted on a line of its own reads as a key name (it ends in "="): never printed.
      if (!spec && mayHoldPrivateKey(key, section.get('private_key'))) {
        warnings.push(`${path} [${name}]: a line that looks like a private key, not a "key = value" setting, ignored (not shown)`)
      } else if (!spec) {
        const meant = closestName(key, FILE_KEYS)
        warnings.push(`${path} [${name}]: unknown key "${key}" ignored${meant ? ` (did you mean ${meant}?)` : ''}`)
      }
      else if (spec.notInFile) warnings.push(`${path} [${name}]: "${key}" cannot be set in a config file; ignored`)
    }
    if ((section.get('private_key') ?? '') !== '') {
      const mode = statSync(path).mode & 0o777
      if (mode & GROUP_OR_OTHER_READ) {
        warnings.push(
          `${path} holds a private key and is readable by group or others (mode 0${mode.toString(8)}); ` +
            `run: chmod 600 ${path}`,
        )
      }
    }
    return { path, section, name }
  }
  const where = searched.length > 0 ? `in ${searched.join(' or ')}` : `(no config file at ${candidates.join(' or ')})`
  const hints = [
    ...(searched.length > 0 ? [others.length > 0 ? `imagekit remotes there: ${[...new Set(others)].join(', ')}` : 'no imagekit remote there'] : []),
    ...(unclosed.length > 0 ? [`${unclosed.join(', ')} starts a section without its closing "]"`] : []),
  ]
  throw new ConfigError(`remote "${name}" not found ${where}${hints.length > 0 ? ` (${hints.join('; ')})` : ''}`)
}

/**
 * rclone's own config file locations, most specific first. RCLONE_CONFIG names the only one, as for rclone
 * (a relative one is from the working folder): a remote it lacks is not looked for in the default files.
 */
function rcloneConfigPaths(env: Readonly<Record<string, string | undefined>>, cwd: string, home: string): string[] {
  const explicit = env.RCLONE_CONFIG
  if (explicit) return [expandPath(explicit, cwd, home)]
  const paths: string[] = []
  const xdgConfig = env.XDG_CONFIG_HOME
  if (xdgConfig && isAbsolute(xdgConfig)) paths.push(`${xdgConfig}/rclone/rclone.conf`)
  paths.push(`${home}/.config/rclone/rclone.conf`)
  return paths
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw new ConfigError(`cannot read config file ${path}: ${code ?? (e as Error).message}`, { cause: e })
  }
}

function expandPath(p: string, cwd: string, home: string): string {
  if (p === '~') return home
  if (p.startsWith('~/')) return resolve(home, p.slice(2))
  return resolve(cwd, p)
}

/** The current process's uid, gid and umask (read from /proc so the umask is not changed to read it). */
export function currentIdentity(): ProcessIdentity {
  const uid = process.getuid?.() ?? 0
  const gid = process.getgid?.() ?? 0
  let umask: number | undefined
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) umask = parseInt(m[1] as string, 8)
  } catch {
    // not Linux, or /proc not mounted: fall back below
  }
  return { uid, gid, umask: umask ?? process.umask() }
}

/** The option keys a config file may set (for docs and tests). */
export const FILE_KEYS: readonly string[] = OPTION_KEYS.map(optionSpec)
  .filter((s) => !s.notInFile)
  .map((s) => s.name)

