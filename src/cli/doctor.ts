/**
 * `ikfs doctor [NAME:] [MOUNTPOINT] [mount flags]`: checks, one line each, everything a mount needs and
 * says how to fix what is wrong. Exit code 0 when every check passed, 1 otherwise. Given no library (no NAME:,
 * neither the endpoint nor the private key anywhere), it checks this machine and skips the library's checks:
 * a fresh install passes before any key exists.
 *
 *   /dev/fuse, fusermount, libfuse (the library fuse-native loads), ikfs's addons (the libfuse3 binding, the
 *   fuse-native fallback's helper, the page-cache addon), /etc/fuse.conf (only with --allow-other),
 *   the configuration, the cache folder (and the free space on its disk), the mountpoint (when given), the clock against the API's Date
 *   header (signed URLs), the keys against the API, and the URL endpoint and the upload host (client.checkHosts).
 */
import { readdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { request } from 'undici'
import { parseArgs } from '../config/flags.js'
import { loadConfig, type Config } from '../config/load.js'
import { clockSkewOf } from '../imagekit/clock-skew.js'
import { networkPhrase } from '../imagekit/http.js'
import { OriginDispatchers } from '../imagekit/origin-dispatchers.js'
import { ProxyRules } from '../imagekit/proxy.js'
import { createLogger, redactUrl } from '../log.js'
import { buildNativeCommand } from '../../native/built-addon.js'
import { FUSE_DEVICE, FUSE_DEVICE_OK, fuseDeviceProblem } from '../../native/fuse-device.js'
import { uidOf, type CliContext } from './context.js'
import type { MountClient, MountRuntime } from './runtime.js'
import type { CheckedHost } from '../imagekit/client.js'
import { clientSettings } from './derive.js'
import { endpointMismatch } from './endpoint-check.js'
import { KEY_FIX } from './key-fix.js'
import { commandHelp, optionsHelp } from './help.js'
import { helpWidth } from '../help-layout.js'
import { checkCacheDir } from './cache-dir-check.js'
import { CLOCK_SKEW_TOLERANCE_MS, clockSkewProblem } from './clock-warning.js'
import { unmountCommand } from './mount-kind.js'
import { plural } from '../plural.js'
import { UsageError, expectedRemote } from './usage-error.js'
import { MOUNTPOINT_ANSWER_MS, mountpointState } from '../fuse/mountpoint-state.js'
import { ALLOW_OTHER_FIX, userAllowOther } from '../fuse/fuse-conf.js'
import type { FuseBindingName } from '../../native/load.js'
import type { Fuse3Load } from '../fuse/mount.js'

/** The clock and credential checks each get this long: a healthy API answers in well under a second. */
export const DOCTOR_NETWORK_TIMEOUT_MS = 10_000

export type CheckState = 'ok' | 'warn' | 'FAIL' | 'skip'

export interface CheckResult {
  name: string
  state: CheckState
  detail: string
  fix?: string
  /** The hosts check: the upload host refused the key (IK_UNAUTHORIZED). */
  keyRefused?: boolean
}

export function doctorHelp(width: number): string {
  return commandHelp('ikfs doctor [NAME:] [MOUNTPOINT] [mount flags]', [
    'Checks FUSE (/dev/fuse, fusermount, libfuse, ikfs\'s addons, /etc/fuse.conf for --allow-other), the configuration, the ' +
      'cache folder, MOUNTPOINT (when given), the clock, the keys, that the URL endpoint answers and that the ' +
      'upload URL is ImageKit\'s Upload API (unless --read-only); prints one line per check with a fix for each ' +
      'failure. Exit code 0 when all checks pass, 1 otherwise. Takes the same flags as ikfs mount.',
  ], width, optionsHelp(width))
}

export async function runDoctor(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = parseArgs(args, {}, 'ikfs doctor')
  if (parsed.help) {
    ctx.stdout.write(doctorHelp(helpWidth(ctx.stdout)))
    return 0
  }
  const { remote, mountpoint } = doctorTarget(parsed.positionals)
  const results: CheckResult[] = []
  const report = (r: CheckResult): void => {
    results.push(r)
    ctx.stdout.write(formatCheck(r))
  }

  // Read first (reported below): --fuse-binding decides which fusermount mounts need.
  let config: Config | undefined
  let configError: Error | undefined
  try {
    config = loadConfig({
      options: parsed.options,
      ...(remote !== undefined ? { remote } : {}),
      env: ctx.env,
      cwd: ctx.cwd,
      home: ctx.home,
      ...(ctx.identity ? { identity: ctx.identity } : {}),
      libraryOptional: true,
    })
  } catch (e) {
    configError = e as Error
  }
  const library = config !== undefined && config.endpoint !== ''

  report(checkDevFuse())
  const libfuse = await checkLibfuse()
  const choice = config?.fuseBinding ?? 'auto'
  const { loadFuse3Binding } = await import('../fuse/mount.js')
  const fuse3Load = loadFuse3Binding()
  const binding = bindingOfMounts(choice, fuse3Load.reason === undefined)
  report(await checkFusermount(ctx.env.PATH, binding, uidOf(ctx)))
  report(libfuse)
  report(checkFuse3Binding(choice, fuse3Load))
  report(await checkFuse2Helper(binding))
  report(await checkPageCacheAddon())

  if (config && !library) {
    report({ name: 'config', state: 'skip', detail: `no library given (${NO_LIBRARY_FIX}): checking this machine only` })
    for (const warning of config.warnings) report({ name: 'config', state: 'warn', detail: warning })
  } else if (config) {
    report({ name: 'config', state: 'ok', detail: `endpoint ${config.endpoint}${config.configFile ? ` from ${config.configFile} [${config.remote}]` : ''}` })
    for (const warning of config.warnings) report({ name: 'config', state: 'warn', detail: warning })
  } else {
    report({ name: 'config', state: 'FAIL', detail: configError?.message ?? 'not loaded', fix: 'see `ikfs mount --help` and README "Mounting your library"' })
  }

  if (config?.allowOther ?? parsed.options.allowOther !== undefined) report(await checkFuseConf(uidOf(ctx)))
  if (config) report(await checkCacheDir(config.cacheDir, mountpoint === undefined ? undefined : resolve(ctx.cwd, mountpoint)))
  if (mountpoint !== undefined) report(await checkMountpoint(resolve(ctx.cwd, mountpoint), config?.allowNonEmpty ?? false, ctx))
  if (config && !library) {
    // The clock is this machine's, compared with the API's: that needs no key.
    report(await checkClock(config.apiUrl, new ProxyRules(config.proxy)))
    for (const name of ['credentials', 'hosts']) report({ name, state: 'skip', detail: 'no library given' })
  } else if (config) {
    // At once: an API that never answers costs one network timeout, not one per check.
    const [clock, credentials, hosts] = await Promise.all([
      checkClock(config.apiUrl, new ProxyRules(config.proxy)),
      checkCredentials(config, ctx.runtime),
      checkHosts(config, ctx.runtime),
    ])
    report(clock)
    report(credentials)
    report(credentials.state === 'FAIL' ? sameKeyRefused(hosts, config) : hosts)
  } else {
    for (const name of ['clock', 'credentials', 'hosts']) report({ name, state: 'skip', detail: 'needs a valid configuration' })
  }

  const failed = results.filter((r) => r.state === 'FAIL').length
  const passed = config && !library ? `all checks of this machine passed; to check a library too, give ${NO_LIBRARY_FIX}` : 'all checks passed'
  ctx.stdout.write(failed === 0 ? `ikfs doctor: ${passed}\n` : `ikfs doctor: ${plural(failed, 'check')} failed\n`)
  return failed === 0 ? 0 : 1
}

/** What checks a library besides this machine. */
const NO_LIBRARY_FIX = 'NAME: of a config file remote, or --endpoint and IKFS_PRIVATE_KEY'

function doctorTarget(positionals: readonly string[]): { remote?: string; mountpoint?: string } {
  if (positionals.length > 2) throw new UsageError('usage: ikfs doctor [NAME:] [MOUNTPOINT] [flags]')
  const [first, second] = positionals
  if (first !== undefined && /^[^/]+:$/.test(first)) {
    return { remote: first.slice(0, -1), ...(second !== undefined ? { mountpoint: second } : {}) }
  }
  if (second !== undefined) throw expectedRemote(first as string)
  return first !== undefined ? { mountpoint: first } : {}
}

export function formatCheck(r: CheckResult): string {
  const line = `${r.state.padEnd(4)}  ${r.name.padEnd(11)}  ${r.detail}\n`
  return r.fix ? `${line}${' '.repeat(19)}fix: ${r.fix}\n` : line
}

/** `device`: the FUSE device's path (tests give another). */
export function checkDevFuse(device = FUSE_DEVICE): CheckResult {
  const unusable = fuseDeviceProblem(device)
  if (unusable) return { name: '/dev/fuse', state: 'FAIL', detail: unusable.problem, fix: unusable.fix }
  return { name: '/dev/fuse', state: 'ok', detail: FUSE_DEVICE_OK }
}

/** The binding mounts get, as src/fuse/mount.ts chooses it: the libfuse3 one unless it cannot load or fuse-native is asked for. */
export function bindingOfMounts(choice: string, fuse3Loads: boolean): FuseBindingName {
  if (choice === 'fuse-native') return 'fuse-native'
  if (choice === 'fuse3') return 'fuse3'
  return fuse3Loads ? 'fuse3' : 'fuse-native'
}

/** The fusermount the mounts' binding runs: fusermount3 for ikfs's libfuse3 binding, fusermount for fuse-native. */
export async function checkFusermount(pathEnv: string | undefined, binding: FuseBindingName, uid: number): Promise<CheckResult> {
  const { findFusermounts, fusermountProblem, mountFusermount } = await import('../../native/load.js')
  const found = findFusermounts(pathEnv)
  const missing = fusermountProblem(found, binding)
  if (missing) return { name: 'fusermount', state: 'FAIL', detail: missing.problem, fix: missing.fix }
  const file = mountFusermount(found, binding) as string
  const user = binding === 'fuse3' ? "ikfs's libfuse3 binding" : 'fuse-native (libfuse2)'
  const how = uid === 0 ? `used by ${user} to mount` : `setuid, used by ${user} to mount as this user`
  return { name: 'fusermount', state: 'ok', detail: `${file} (${how})` }
}

/** The fast path's line. `choice`: --fuse-binding, which makes mounts fail without the binding (fuse3) or not use it (fuse-native). */
export function checkFuse3Binding(choice: string, load: Fuse3Load): CheckResult {
  const name = 'libfuse3'
  if (load.reason === undefined) {
    const use = choice === 'fuse-native' ? 'mounts use fuse-native instead (--fuse-binding fuse-native)' : 'mounts use it'
    return { name, state: 'ok', detail: `ikfs's binding, built against libfuse ${Math.floor(load.version / 100)}.${load.version % 100}; ${use}` }
  }
  const fix = `apt install libfuse3-dev pkg-config gcc, then ${buildNativeCommand()}`
  if (choice === 'fuse3') return { name, state: 'FAIL', detail: `${load.reason}; mounts fail with --fuse-binding fuse3`, fix: `${fix}, or leave --fuse-binding out` }
  if (choice === 'fuse-native') return { name, state: 'ok', detail: `${load.reason}; mounts use fuse-native (--fuse-binding fuse-native)` }
  return { name, state: 'warn', detail: `${load.reason}; mounts fall back to fuse-native (libfuse2: 128 KiB requests, no READDIRPLUS)`, fix }
}

/**
 * Optional: the fuse-native fallback's answer to a rename of a file onto itself, on which libfuse2 hangs the
 * file's folder (native/fuse2.ts). Only a warning where mounts use that fallback. `path`: tests give another.
 */
export async function checkFuse2Helper(binding: FuseBindingName, path?: string): Promise<CheckResult> {
  const { loadFuse2Helper } = await import('../../native/fuse2.js')
  const { reason } = loadFuse2Helper(path)
  const name = 'fuse2 addon'
  if (!reason) return { name, state: 'ok', detail: "ikfs's fuse-native helper; the fallback answers a rename of a file onto itself instead of hanging its folder, and tells which process closes a file" }
  if (binding === 'fuse3') return { name, state: 'ok', detail: `${reason}; only the fuse-native fallback needs it, and mounts use ikfs's libfuse3 binding` }
  return {
    name,
    state: 'warn',
    detail: `${reason}; with the fuse-native fallback, a rename of a file onto itself that another machine deleted hangs its folder, and a file open for writing is stored anew at each exit of a process that inherited its descriptor`,
    fix: `apt install gcc, then ${buildNativeCommand()}`,
  }
}

/** Optional: lets large writes drop their spool pages from memory once uploaded (vfs/spool/page-trim.ts). */
async function checkPageCacheAddon(): Promise<CheckResult> {
  const { loadDropCachedPages } = await import('../../native/page-cache.js')
  const { reason } = loadDropCachedPages()
  if (!reason) return { name: 'page cache', state: 'ok', detail: "ikfs's addon; a large file's spool copy leaves memory as its upload reads it" }
  return {
    name: 'page cache',
    state: 'warn',
    detail: `${reason}; a large file's whole spool copy stays in the page cache until the kernel evicts it`,
    fix: `apt install gcc, then ${buildNativeCommand()}`,
  }
}

async function checkLibfuse(): Promise<CheckResult> {
  try {
    const { loadFuseNative, libfuseInUse } = await import('../../native/load.js')
    loadFuseNative()
    const lib = libfuseInUse()
    if (!lib) return { name: 'libfuse', state: 'warn', detail: 'fuse-native loaded, but no libfuse.so.2 is mapped (unexpected)' }
    const shipped = lib.includes('/node_modules/fuse-native/')
    return {
      name: 'libfuse',
      state: 'ok',
      detail: shipped ? `${lib} (the copy shipped with fuse-native; install libfuse2 or libfuse2t64 to use the system's)` : lib,
    }
  } catch (e) {
    return { name: 'libfuse', state: 'FAIL', detail: (e as Error).message, fix: 'Debian 12 / Ubuntu 22.04: apt install libfuse2; Debian 13 / Ubuntu 24.04: apt install libfuse2t64' }
  }
}

async function checkFuseConf(uid: number): Promise<CheckResult> {
  if (uid === 0) return { name: 'fuse.conf', state: 'ok', detail: 'root may use allow_other without user_allow_other' }
  return (await userAllowOther())
    ? { name: 'fuse.conf', state: 'ok', detail: 'user_allow_other is set (needed by --allow-other)' }
    : { name: 'fuse.conf', state: 'FAIL', detail: '--allow-other needs user_allow_other in /etc/fuse.conf', fix: ALLOW_OTHER_FIX }
}

export async function checkMountpoint(
  mountpoint: string, allowNonEmpty: boolean, ctx: CliContext, answerMs = MOUNTPOINT_ANSWER_MS,
): Promise<CheckResult> {
  const name = 'mountpoint'
  const found = await mountpointState(mountpoint, answerMs)
  switch (found.kind) {
    case 'hung':
      return { name, state: 'FAIL', detail: `${mountpoint} is a hung mount (no answer within ${answerMs / 1000}s: its daemon is stopped)`, fix: `ikfs unmount ${mountpoint}` }
    case 'absent': return { name, state: 'FAIL', detail: `${mountpoint} does not exist`, fix: `mkdir -p ${mountpoint}` }
    case 'dead':
      return { name, state: 'FAIL', detail: `${mountpoint} is a dead mount (Transport endpoint is not connected)`, fix: `ikfs unmount ${mountpoint}` }
    case 'failed': return { name, state: 'FAIL', detail: `${mountpoint}: ${found.reason}` }
    case 'not-folder': return { name, state: 'FAIL', detail: `${mountpoint} is not a directory`, fix: 'mount on an empty folder' }
  }
  const mounted = await ctx.runtime.mountedType(mountpoint).catch(() => undefined)
  if (mounted !== undefined) {
    return { name, state: 'FAIL', detail: `${mountpoint} is already mounted (${mounted})`, fix: unmountCommand(mounted, mountpoint) }
  }
  if (!allowNonEmpty && (await readdir(mountpoint)).length > 0) {
    return { name, state: 'FAIL', detail: `${mountpoint} is not empty`, fix: 'use an empty folder, or --allow-non-empty to hide its content' }
  }
  return { name, state: 'ok', detail: `${mountpoint} is an empty folder` }
}

/** What a network check says when the host took its connection but never answered within `timeoutMs`. */
function noAnswer(timeoutMs: number): string {
  return `no answer within ${timeoutMs / 1000}s`
}

const NETWORK_FIX = 'check the network, HTTPS_PROXY / HTTP_PROXY / NO_PROXY and --api-url'

/** Compares this machine's clock with the Date header of any answer from the API host. */
export async function checkClock(
  apiUrl: string,
  proxies: ProxyRules = new ProxyRules(),
  now: () => number = Date.now,
  timeoutMs = DOCTOR_NETWORK_TIMEOUT_MS,
): Promise<CheckResult> {
  const name = 'clock'
  const before = now()
  let dateHeader: string | null
  const dispatchers = new OriginDispatchers(proxies, {}, timeoutMs)
  const url = new URL(apiUrl + '/')
  const deadline = AbortSignal.timeout(timeoutMs)
  try {
    const res = await request(url, { method: 'HEAD', dispatcher: dispatchers.for(url), signal: deadline })
    await res.body.dump()
    const date = res.headers.date
    dateHeader = typeof date === 'string' ? date : null
  } catch (e) {
    const why = deadline.aborted ? noAnswer(timeoutMs) : networkPhrase(e)
    return { name, state: 'FAIL', detail: `cannot reach ${apiUrl}${proxies.throughProxy(url)} (${why})`, fix: NETWORK_FIX }
  } finally {
    await dispatchers.destroy().catch(() => undefined)
  }
  const skew = clockSkewOf(dateHeader, before, now())
  if (skew === undefined) return { name, state: 'warn', detail: `${apiUrl} sent no usable Date header; cannot compare clocks` }
  // What `ikfs mount` warns of, by the same measure and threshold (clock-warning.ts): a warning, as the mount
  // goes on with it (signing by ImageKit's time when behind), not a failure.
  const problem = clockSkewProblem(skew)
  if (problem) return { name, state: 'warn', detail: problem.what, fix: problem.fix }
  const text = `${skew >= 0 ? 'behind' : 'ahead of'} the API by ${(Math.abs(skew) / 1000).toFixed(1)}s`
  return { name, state: 'ok', detail: `within ${CLOCK_SKEW_TOLERANCE_MS / 1000}s of the API (${text})` }
}

/** The URL endpoint (reads) and the upload host (writes): each must answer, with anything, within `timeoutMs`. */
export async function checkHosts(config: Config, runtime: MountRuntime, timeoutMs = DOCTOR_NETWORK_TIMEOUT_MS): Promise<CheckResult> {
  const name = 'hosts'
  const endpoint = redactUrl(config.endpoint)
  const upload = redactUrl(config.uploadUrl)
  const deadline = AbortSignal.timeout(timeoutMs)
  // What the deadline names, if it runs out: the hosts that have not answered by then.
  const waitingFor = new Map<CheckedHost, string>([['endpoint', `the URL endpoint ${endpoint}`]])
  if (!config.readOnly) waitingFor.set('upload', `the upload host ${upload}`)
  try {
    await withClient(config, runtime, (client) => client.checkHosts(deadline, !config.readOnly, (host) => waitingFor.delete(host)))
    return { name, state: 'ok', detail: config.readOnly ? `the URL endpoint ${endpoint} answers` : `the URL endpoint ${endpoint} and the upload host ${upload} answer` }
  } catch (e) {
    const detail = deadline.aborted ? `${noAnswer(timeoutMs)} from ${[...waitingFor.values()].join(' and ')}` : (e as Error).message
    const code = (e as { code?: string }).code
    return { name, state: 'FAIL', detail, fix: hostsFix(code), ...(code === 'IK_UNAUTHORIZED' && !deadline.aborted ? { keyRefused: true } : {}) }
  }
}

/**
 * The hosts check when the credentials check failed: an upload host that refused the same key answered as the
 * Upload API does, so the key is the one thing to fix, said once (under credentials).
 */
function sameKeyRefused(hosts: CheckResult, config: Config): CheckResult {
  if (!hosts.keyRefused) return hosts
  const detail = `the URL endpoint ${redactUrl(config.endpoint)} and the upload host ${redactUrl(config.uploadUrl)} answer (the upload host refuses the key too: see credentials)`
  return { name: hosts.name, state: 'ok', detail }
}

/** What to do when the hosts check failed with an ImageKitError of `code`. */
function hostsFix(code: string | undefined): string {
  // Another server answered at the upload URL, or the upload host refused a key the API took (a restricted key).
  if (code === 'IK_BAD_RESPONSE') return 'leave --upload-url out (https://upload.imagekit.io), or point it at the Upload API (the emulator, a proxy of it)'
  if (code === 'IK_UNAUTHORIZED') return `${KEY_FIX}; a restricted key needs upload permission`
  return 'check the network, HTTPS_PROXY / HTTP_PROXY / NO_PROXY, --endpoint (the URL endpoint on the ImageKit dashboard) and --upload-url'
}

/** Runs `check` with a client of `config` (its log silent, the key hidden), closed afterwards. */
async function withClient(config: Config, runtime: MountRuntime, check: (client: MountClient) => Promise<void>): Promise<void> {
  const logger = createLogger({ level: 'silent', secrets: [config.privateKey] })
  let client: MountClient | undefined
  try {
    client = await runtime.createClient(clientSettings(config), logger)
    await check(client)
  } finally {
    await client?.close().catch(() => undefined)
  }
}

/** The keys against the API: one authenticated call, given `timeoutMs` to answer. */
export async function checkCredentials(config: Config, runtime: MountRuntime, timeoutMs = DOCTOR_NETWORK_TIMEOUT_MS): Promise<CheckResult> {
  const name = 'credentials'
  const deadline = AbortSignal.timeout(timeoutMs)
  try {
    let sampleFileUrl: string | undefined
    await withClient(config, runtime, async (client) => {
      ;({ sampleFileUrl } = await client.verifyCredentials(deadline))
    })
    const accepted = `${new URL(config.apiUrl).host} accepted the private key`
    const mismatch = endpointMismatch(config.endpoint, sampleFileUrl)
    if (mismatch) return { name, state: 'warn', detail: `${accepted}, but ${mismatch}`, fix: 'set --endpoint to the URL endpoint on the ImageKit dashboard' }
    return { name, state: 'ok', detail: accepted }
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === 'IK_UNAUTHORIZED') {
      return { name, state: 'FAIL', detail: (e as Error).message, fix: KEY_FIX }
    }
    // Our own deadline ended the call (`GET /v1/files: aborted` says nothing of why).
    const via = new ProxyRules(config.proxy).throughProxy(new URL(config.apiUrl))
    const detail = deadline.aborted ? `cannot reach ${redactUrl(config.apiUrl)}${via}: ${noAnswer(timeoutMs)}` : (e as Error).message
    return { name, state: 'FAIL', detail, fix: NETWORK_FIX }
  }
}
