/**
 * `ikfs mount [NAME:] MOUNTPOINT [flags]`: config → logger → preflight → client → Vfs → FUSE, then wait.
 *
 * Preflight (FUSE usable, mountpoint a directory, keys accepted by the API, URL endpoint and upload host
 * answering) runs under one deadline, before anything is mounted, so wrong keys or an unreachable host end
 * the command with a clear line and exit 1 instead of a mount that fails every operation. Once live, exactly
 * one line goes to stdout:
 * `ikfs: mounted <endpoint> at <mountpoint>` (scripts and the integration harness wait for it).
 *
 * Signals: before the mount is live, SIGINT/SIGTERM end the process with 130/143 (startup.ts). Once live they
 * unmount (lazily when programs use the mount), serve the files programs are still writing until they close
 * them, close the Vfs (waits for uploads) and the client, exit 0; a second one
 * while that runs forces a lazy unmount and ends the process at once with exit code 130 or 143 (CliContext.exit,
 * as a signal before the mount is live), logging the uploads not yet stored, which stay in the spool for the
 * next mount (W3). SIGHUP drops cached listings. A mount
 * removed from outside (`fusermount -u`), or whose FUSE connection was aborted, shuts down the same way and
 * exits 0 (after an abort, without waiting for files being written: they can no longer be closed). The
 * private key is never put on a command line (--daemon runs the same command again with the same arguments
 * and environment: daemon.ts) and the logger scrubs it.
 *
 * From before preflight until exit, a control socket (src/status) answers `ikfs status` / `ikfs refresh`
 * (state starting → mounted → stopping, so readiness probes and upload draining are visible); --metrics
 * ADDR also serves Prometheus text.
 */
import { constants as fsConstants } from 'node:fs'
import { access, readdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from '../config/flags.js'
import { mountpointState } from '../fuse/mountpoint-state.js'
import { loadConfig, type Config } from '../config/load.js'
import { isDiskFull } from '../full-disk.js'
import { createLogger, flushLogger, whenLogWritten, type Logger } from '../log.js'
import { startStatusServices, type StatusServices } from '../status/services.js'
import { controlSocketPath } from '../status/paths.js'
import type { ReportingVfs } from '../status/snapshot.js'
import type { Vfs } from '../vfs/types.js'
import { uidOf, type CliContext, type StopSignal } from './context.js'
import { checkCacheDir } from './cache-dir-check.js'
import { clockSkewWarning } from './clock-warning.js'
import { reportCrashes } from './crash-report.js'
import { defaultDaemonLogFile, isDaemonChild, runInBackground } from './daemon.js'
import { clientSettings, fuseMountOptions, routesOf, vfsOptions } from './derive.js'
import { endpointMismatch } from './endpoint-check.js'
import { isKeyRefused, KEY_FIX } from './key-fix.js'
import { leftInSpool } from './left-in-spool.js'
import { waitForFilesBeingWritten } from './files-being-written.js'
import { openLogFile } from './log-file.js'
import { mountHelp } from './help.js'
import { helpWidth } from '../help-layout.js'
import { foreignMountMessage, isIkfsMount, unmountCommand } from './mount-kind.js'
import { realMountpoint } from './real-mountpoint.js'
import type { LiveMount, MountClient, MountRuntime } from './runtime.js'
import type { CheckedHost } from '../imagekit/client.js'
import { UsageError, expectedRemote } from './usage-error.js'
import { PREFLIGHT_TIMEOUT_MS, signalExitCode, Startup } from './startup.js'
import { ikfsVersion } from './version.js'

/** A second signal waits this long for the forced unmount (each of its steps has its own 10 s limit), then exits anyway. */
const FORCED_UNMOUNT_WAIT_MS = 5_000
/** Before exiting at once, what the log file still buffers gets this long to be written. */
const LOG_DRAIN_MS = 1_000

/**
 * How a session ended; `forced` when a second signal cut its stop short (`code` is that signal's), `abandoned`
 * when that left work still under way.
 */
interface SessionEnd {
  code: number
  forced: boolean
  abandoned: boolean
}

export interface MountTarget {
  remote?: string
  mountpoint: string
}

/** `[NAME:] MOUNTPOINT` → parts. NAME:sub/path (a sub-folder of the remote) is not supported. */
export function mountTarget(positionals: readonly string[]): MountTarget {
  if (positionals.length === 0) throw new UsageError('missing MOUNTPOINT (usage: ikfs mount [NAME:] MOUNTPOINT)')
  if (positionals.length > 2) throw new UsageError('too many arguments (usage: ikfs mount [NAME:] MOUNTPOINT)')
  if (positionals.length === 1) {
    const only = positionals[0] as string
    if (/^[^/]+:$/.test(only)) throw new UsageError(`missing MOUNTPOINT after ${only}`)
    return { mountpoint: only }
  }
  const [remoteArg, mountpoint] = positionals as [string, string]
  const colon = remoteArg.indexOf(':')
  if (colon <= 0) throw expectedRemote(remoteArg)
  if (colon !== remoteArg.length - 1 && remoteArg.slice(colon + 1).replace(/\/+/g, '') !== '') {
    throw new UsageError('mounting a sub-folder of a remote (NAME:path) is not supported; use NAME:')
  }
  return { remote: remoteArg.slice(0, colon), mountpoint }
}

export async function runMount(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = parseArgs(args, {}, 'ikfs mount')
  if (parsed.help) {
    ctx.stdout.write(mountHelp(helpWidth(ctx.stdout)))
    return 0
  }
  const target = mountTarget(parsed.positionals)
  const config = loadConfig({
    options: parsed.options,
    ...(target.remote !== undefined ? { remote: target.remote } : {}),
    env: ctx.env,
    cwd: ctx.cwd,
    home: ctx.home,
    ...(ctx.identity ? { identity: ctx.identity } : {}),
  })
  const mountpoint = resolve(ctx.cwd, target.mountpoint)
  if (config.daemon && !isDaemonChild(ctx.env)) {
    const logFile = config.logFile || defaultDaemonLogFile(mountpoint, ctx, uidOf(ctx))
    return runInBackground({ args, logFile, logFileGiven: config.logFile !== '', timeoutMs: config.daemonWaitMs }, ctx)
  }
  // A daemon keeps no folder busy: every path it uses was made absolute with the config.
  if (ctx.background) process.chdir('/')
  const logger = loggerFor(config, ctx)
  try {
    return await runMountSession(config, mountpoint, ctx, {
      logger, onMounted: () => ctx.background?.ready(), onStep: (step) => ctx.background?.step(step),
    })
  } catch (e) {
    // The command prints why on stderr; a log file (a daemon's) must say it too, or it ends mid-way.
    if (config.logFile) logger.child({ component: 'cli.mount' }).error((e as Error).message)
    throw e
  } finally {
    flushLogger(logger)
  }
}

export function loggerFor(config: Config, ctx: Pick<CliContext, 'stderr'>): Logger {
  return createLogger({
    level: config.logLevel as 'info',
    // Opened here, once: a path that cannot be written is said as one line naming it (log-file.ts).
    ...(config.logFile ? { fd: openLogFile(config.logFile) } : { pretty: ctx.stderr.isTTY === true }),
    secrets: [config.privateKey],
  })
}

export interface SessionOptions {
  logger: Logger
  /** How the mountpoint is shown in the "mounted" line (default: the absolute path). */
  displayMountpoint?: string
  /** Called once the mount is live (demo prints "press Ctrl-C to stop"). */
  onMounted?: () => void
  /** Told what the mount waits for before it is live (startup.ts), as each step starts. */
  onStep?: (step: string) => void
  /**
   * What names this library's spool (default: the URL endpoint). The demo's emulator gets another port each
   * run while its library stays the same: its pending uploads must be found by the next run.
   */
  libraryId?: string
}

/** Preflight, mount, and serve until a signal or an outside unmount; returns the exit code. */
export async function runMountSession(
  config: Config,
  mountpointGiven: string,
  ctx: CliContext,
  options: SessionOptions,
): Promise<number> {
  const { logger } = options
  const log = logger.child({ component: 'cli.mount' })
  const warn = (warning: string): void => {
    log.warn(warning)
    // Nobody reads a log file (a --daemon's) at the terminal: the command says it there too.
    if (config.logFile) ctx.stderr.write(`ikfs: warning: ${warning}\n`)
  }
  for (const warning of config.warnings) warn(warning)
  // fusermount3 refuses a symlink, and `ikfs status` must find the socket by any spelling.
  const mountpoint = await realMountpoint(mountpointGiven, ctx.cwd, ctx.runtime)

  // Before preflight: the control socket answers "starting" (readiness waits) and a bad --metrics fails early.
  const status = await startStatusServices({
    version: ikfsVersion(),
    pid: process.pid,
    mountpoint,
    endpoint: config.endpoint,
    socketPath: controlSocketPath(mountpoint, { env: ctx.env, uid: uidOf(ctx) }),
    metrics: config.metrics,
    logger,
  })
  const stopReporting = reportCrashes(ctx.crashes, logger, mountpoint, ctx.exit, LOG_DRAIN_MS)
  const startup = new Startup({
    log,
    signals: ctx.signals,
    ...(options.onStep ? { report: options.onStep } : {}),
    stop: (code) => void whenLogWritten(logger, LOG_DRAIN_MS).then(() => ctx.exit(code)),
  })
  let end: SessionEnd
  try {
    end = await mountAndServe(config, mountpoint, ctx, options, status, startup, warn)
  } finally {
    startup.done()
    stopReporting()
    await status.close()
  }
  if (end.forced) log.warn(`stopped by a second signal: ${leftInSpool(status.board.snapshot().uploads)}`)
  if (end.abandoned) {
    // The first stop's vfs.close() may go on waiting minutes for an upload: it must not hold the process.
    await whenLogWritten(logger, LOG_DRAIN_MS)
    ctx.exit(end.code)
  }
  return end.code
}

async function mountAndServe(
  config: Config,
  mountpoint: string,
  ctx: CliContext,
  options: SessionOptions,
  status: StatusServices,
  startup: Startup,
  warn: (warning: string) => void,
): Promise<SessionEnd> {
  const { logger } = options
  const log = logger.child({ component: 'cli.mount' })
  const client = await preflight(config, mountpoint, ctx.runtime, logger, startup, warn)
  let vfs: Vfs | undefined
  let live: LiveMount
  try {
    startup.step(`mounting at ${mountpoint}`)
    const vfsConfig = vfsOptions(config)
    if (options.libraryId !== undefined) vfsConfig.libraryId = options.libraryId
    vfs = await ctx.runtime.createVfs(client.api, vfsConfig, logger)
    // preflight's checkMountpoint has looked at the mountpoint already.
    live = await startup.mounting(
      ctx.runtime.mountFuse(vfs, mountpoint, { ...fuseMountOptions(config), mountpointChecked: true }, logger),
      (made) => made.unmount(),
    )
  } catch (e) {
    await vfs?.close().catch((err: unknown) => log.warn({ err }, 'closing the vfs after a failed mount failed'))
    await client.close().catch(() => undefined)
    throw new Error(`cannot mount at ${mountpoint}: ${mountFailure(e, config)}`, { cause: e })
  }
  if (live.fallback) warn(live.fallback)
  status.board.attach(vfs as ReportingVfs, live.counters, (localPath) => refresh(vfs, live, localPath))
  status.board.mounted()
  log.info({
    endpoint: config.endpoint, mountpoint, ...routesOf(config), statusSocket: status.socketPath, metrics: status.metricsUrl,
  }, 'mounted')
  ctx.stdout.write(`ikfs: mounted ${config.endpoint} at ${options.displayMountpoint ?? mountpoint}\n`)
  startup.done()
  options.onMounted?.()
  return serve(live, vfs, client, mountpoint, ctx, log, () => status.board.stopping())
}

/** Why mounting failed, in the user's terms where the error is about the spool rather than FUSE or the API. */
function mountFailure(e: unknown, config: Config): string {
  if (isDiskFull(e)) return `the disk of the cache dir ${config.cacheDir} is full (free some space there, or choose another --cache-dir)`
  // The spool's lock (vfs/spool/spool.ts): one mount per library and cache dir.
  if ((e as { code?: unknown }).code === 'EBUSY') return `${(e as Error).message}: unmount that one, or give this one another --cache-dir`
  return (e as Error).message
}

async function preflight(
  config: Config,
  mountpoint: string,
  runtime: MountRuntime,
  logger: Logger,
  startup: Startup,
  warn: (warning: string) => void,
): Promise<MountClient> {
  const log = logger.child({ component: 'cli.preflight' })
  let client: MountClient | undefined
  const abort = new AbortController()
  // What a timeout names: the API until it has accepted the keys, then the hosts that have not answered yet.
  let keysAccepted = false
  const waitingFor = new Map<CheckedHost, string>([['endpoint', `the URL endpoint ${config.endpoint}`]])
  if (!config.readOnly) waitingFor.set('upload', `the upload host ${config.uploadUrl}`)
  const hostsWaitedFor = (): string => [...waitingFor.values()].join(' and ')
  const unanswered = (): string => keysAccepted ? `the API accepted the keys, but ${hostsWaitedFor()} did not answer` : `is ${config.apiUrl} reachable?`
  // What a stop signal or a --daemon-wait that runs out then names: not the API, which has answered.
  const waitForHosts = (): void => {
    if (waitingFor.size > 0) startup.step(`waiting for ${hostsWaitedFor()} to answer (the API accepted the keys)`)
  }
  const work = (async () => {
    startup.step(`checking FUSE and the mountpoint ${mountpoint}`)
    const reason = await runtime.fuseUnavailableReason({ allowOther: config.allowOther, binding: config.fuseBinding })
    if (reason !== undefined) throw new Error(`cannot mount: ${reason}`)
    // Before the API is asked anything; the spool would say it later in the words of a failed mkdir. Before the
    // mountpoint too: a cache dir made inside it by an earlier try is why it is not empty.
    const cacheDir = await checkCacheDir(config.cacheDir, mountpoint)
    if (cacheDir.state === 'FAIL') throw new Error(`cannot mount: the cache dir ${cacheDir.detail} (${cacheDir.fix})`)
    await checkMountpoint(mountpoint, config.allowNonEmpty, runtime, log)
    client = await runtime.createClient(clientSettings(config), logger)
    startup.step(`checking the keys with the Media API (${config.apiUrl}) and that the URL endpoint` +
      `${config.readOnly ? ' answers' : ' and the upload host answer'}`)
    // At the same time; a wrong key is the answer to give first when both fail.
    let hostsAnswered = false
    const answered = (host: CheckedHost): void => {
      waitingFor.delete(host)
      if (keysAccepted && !hostsAnswered) waitForHosts()
    }
    const hostsChecked = client.checkHosts(abort.signal, !config.readOnly, answered).then(() => undefined, (e: unknown) => e as Error)
      .finally(() => { hostsAnswered = true })
    try {
      const { sampleFileUrl, clockSkewMs } = await client.verifyCredentials(abort.signal)
      keysAccepted = true
      if (!hostsAnswered) waitForHosts()
      const mismatch = endpointMismatch(config.endpoint, sampleFileUrl)
      if (mismatch) warn(mismatch)
      const skewed = clockSkewWarning(clockSkewMs)
      if (skewed) warn(skewed)
    } catch (e) {
      throw new Error(`cannot mount: ${(e as Error).message}${isKeyRefused(e) ? ` (${KEY_FIX})` : ''}`, { cause: e })
    }
    const unreachable = await hostsChecked
    if (unreachable) {
      // The API took the key and the upload host did not: a key restricted to reading.
      const fix = isKeyRefused(unreachable) ? ` (${KEY_FIX}; a restricted key needs upload permission, or mount with --read-only)` : ''
      throw new Error(`cannot mount: ${unreachable.message}${fix}`, { cause: unreachable })
    }
    return client
  })()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort()
      reject(new Error(`checks before mounting did not finish within ${PREFLIGHT_TIMEOUT_MS / 1000}s (${unanswered()})`))
    }, PREFLIGHT_TIMEOUT_MS)
  })
  try {
    return await Promise.race([work, timeout])
  } catch (e) {
    // On a timeout the client may not exist yet: close it when it does, so no socket keeps the process up.
    if (client) await client.close().catch(() => undefined)
    else void work.then((c) => c.close(), () => undefined).catch(() => undefined)
    throw e
  } finally {
    clearTimeout(timer)
  }
}

async function checkMountpoint(mountpoint: string, allowNonEmpty: boolean, runtime: MountRuntime, log: Logger): Promise<void> {
  let found = await mountpointState(mountpoint)
  if (found.kind === 'dead') {
    // A FUSE mount whose daemon died: clear it, as R12 promises, then look again; another filesystem's is not ours to clear.
    const dead = await runtime.mountedType(mountpoint)
    if (dead !== undefined && !isIkfsMount(dead)) throw new Error(foreignMountMessage(dead, mountpoint, 'its daemon is gone and ikfs does not clear it'))
    log.warn({ mountpoint }, 'clearing a dead mount left by a crashed ikfs')
    await runtime.unmountPath(mountpoint, { lazy: true })
    found = await mountpointState(mountpoint)
  }
  switch (found.kind) {
    // Within seconds, instead of running out the checks' time with a message about the API.
    case 'hung': throw new Error(`cannot use mountpoint ${mountpoint}: it does not answer (a hung FUSE mount? run: ikfs unmount ${mountpoint})`)
    case 'absent': throw new Error(`mountpoint ${mountpoint} does not exist (create it with mkdir)`)
    case 'dead': case 'failed': throw new Error(`cannot use mountpoint ${mountpoint}: ${found.reason}`)
    case 'not-folder': throw new Error(`mountpoint ${mountpoint} is not a directory (mount on an empty folder)`)
  }
  const uid = process.getuid?.() ?? 0
  if (uid !== 0) {
    try {
      await access(mountpoint, fsConstants.W_OK)
    } catch {
      // fusermount3's own rule; libfuse would only report "fuse_mount failed".
      throw new Error(`mountpoint ${mountpoint} is not writable by you (uid ${uid}): a user who is not root can mount only on a folder they may write to`)
    }
  }
  const mounted = await runtime.mountedType(mountpoint)
  if (mounted !== undefined) throw new Error(`${mountpoint} is already mounted (${mounted}; run: ${unmountCommand(mounted, mountpoint)})`)
  if (!allowNonEmpty && (await readdir(mountpoint)).length > 0) {
    throw new Error(`mountpoint ${mountpoint} is not empty (use --allow-non-empty to hide its content)`)
  }
}

/**
 * How long a refresh waits for the kernel to forget missing names: each waits until no request holds its
 * folder (fuse/busy-folders.ts), and a long operation there (a rename held up by the API, a folder rename
 * through the bulk job API) holds it for as long as it runs. The forgetting goes on after the answer;
 * `ikfs refresh` answers within its own 10 s all the same.
 */
const REFRESH_KERNEL_WAIT_MS = 5_000

/**
 * `ikfs refresh` and SIGHUP: drops cached listings at or under `localPath` (all when undefined), makes the
 * kernel forget the names it was told are missing there, which it would otherwise keep for negative_timeout,
 * and ask again for the sizes and times of the files it knows there, which it would keep for attr_timeout.
 */
async function refresh(vfs: Vfs, live: LiveMount, localPath?: string): Promise<void> {
  const known = vfs.cachedFiles(localPath)
  vfs.forget(localPath)
  // Once the listings are gone: the kernel's next question about a file is answered from a new listing.
  const expiring = live.expireAttributes?.(known)
  const forgetting = live.forgetMissingNames?.(localPath)
  if (!forgetting && !expiring) return
  let timer: NodeJS.Timeout | undefined
  const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, REFRESH_KERNEL_WAIT_MS)))
  await Promise.race([Promise.all([forgetting, expiring]), waited]).finally(() => clearTimeout(timer))
}

/** Waits for a stop signal or an outside unmount, shuts down, and returns the exit code. */
function serve(
  live: LiveMount,
  vfs: Vfs,
  client: MountClient,
  mountpoint: string,
  ctx: CliContext,
  log: Logger,
  onStopping: () => void,
): Promise<SessionEnd> {
  return new Promise<SessionEnd>((resolveEnd) => {
    let stopping = false
    let finished = false
    const finish = (code: number, abandoned = false): void => {
      if (finished) return
      finished = true
      ctx.signals.off('SIGINT', onStop)
      ctx.signals.off('SIGTERM', onStop)
      ctx.signals.off('SIGHUP', onHangup)
      resolveEnd({ code, forced: forced.signal.aborted, abandoned })
    }
    const forced = new AbortController()
    // Once the session has ended (its connection aborted from outside), no file being written can be closed.
    const sessionGone = new AbortController()
    // Ended by the last close (no program holds a file in the mount), not by an abort from outside.
    let closedAll = false
    live.sessionEnded?.then((how) => {
      closedAll = how === 'closed'
      sessionGone.abort()
    }, () => sessionGone.abort())
    /** Detached by now: files still being written are served until closed, then the session ends (files-being-written.ts). */
    const shutDown = async (): Promise<void> => {
      await waitForFilesBeingWritten(vfs, log, {
        stop: AbortSignal.any([forced.signal, sessionGone.signal]), sessionGone: sessionGone.signal, closedAll: () => closedAll,
      })
      await live.unmount()
      await vfs.close()
      await client.close()
    }
    // Once a second signal has forced the stop: what the process exits with, as for a signal before the mount was live.
    let forcedCode = 0
    const onStop = (signal: StopSignal): void => {
      if (stopping) {
        if (forced.signal.aborted) return
        log.warn({ signal }, 'second signal: forcing a lazy unmount without waiting for open files or uploads')
        forcedCode = signalExitCode(signal)
        forced.abort()
        const unmounted = ctx.runtime.unmountPath(mountpoint, { lazy: true }).then(() => live.unmount())
        within(unmounted, FORCED_UNMOUNT_WAIT_MS)
          .catch((err: unknown) => log.error({ err }, 'forced unmount failed'))
          .finally(() => finish(forcedCode, true))
        return
      }
      stopping = true
      onStopping()
      log.info({ signal }, 'unmounting')
      live
        .detach()
        .then(shutDown)
        .then(
          () => {
            log.info({ mountpoint }, 'unmounted')
            finish(forcedCode)
          },
          (err: unknown) => {
            log.error({ err }, 'unmount failed')
            finish(1)
          },
        )
    }
    const onHangup = (): void => {
      refresh(vfs, live).then(
        () => log.info('SIGHUP: cached listings dropped'),
        (err: unknown) => log.error({ err }, 'SIGHUP: refresh failed'),
      )
    }
    ctx.signals.on('SIGINT', onStop)
    ctx.signals.on('SIGTERM', onStop)
    ctx.signals.on('SIGHUP', onHangup)
    const gone = (): void => {
      if (stopping) return
      stopping = true
      onStopping()
      log.info({ mountpoint }, 'the mount was removed from outside; shutting down')
      shutDown().then(
        () => finish(forcedCode),
        (err: unknown) => {
          log.error({ err }, 'shutting down after an outside unmount failed')
          finish(1)
        },
      )
    }
    live.detached.then(gone, gone)
  })
}

/** Rejects when `work` takes longer than `ms`. */
function within(work: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms / 1000}s`)), ms)
  })
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}
