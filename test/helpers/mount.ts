/**
 * Mount test harness: spawn a mounting daemon as a child process, wait until it is ready, and always
 * leave no mount and no process behind.
 *
 * How every integration test file uses it (vitest project `integration`, one mount per file):
 *
 *   const cleanup = new Cleanup()
 *   afterAll(() => cleanup.run())                          // registered first: runs even if beforeAll fails
 *   let daemon: Daemon
 *   beforeAll(async () => {
 *     const mp = cleanup.add(await makeTempMountpoint())   // cleanup order: last added, first run
 *     daemon = cleanup.add(await spawnDaemon(['mount', 'remote:', mp.path], { mountpoint: mp.path, timeoutMs: 20_000 }))
 *   })
 *
 * - spawnDaemon() resolves when `readyPattern` matches the output (or, without one, when
 *   `mountpoint` shows up in /proc/self/mountinfo); on early exit or timeout it kills the child, force-unmounts, and rejects with
 *   the collected output. Failures in tests should print `daemon.output()`.
 * - Daemon.stop(): SIGTERM (or the given signal), wait, then SIGKILL; always followed by forceUnmount().
 * - forceUnmount() never throws and never hangs; makeTempMountpoint().cleanup() only removes the folder
 *   once nothing is mounted on it (never a recursive delete through a live mount).
 * - No sleeps: waitFor(condition, deadline) polls.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rmdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { isMounted } from '../../src/fuse/mountinfo.js'
import { unmountPath } from '../../src/fuse/unmount.js'

export const REPO_ROOT = resolve(import.meta.dirname, '../..')
const POLL_INTERVAL_MS = 25
/** Each fusermount/umount step gets this long; the whole forceUnmount gets FORCE_UNMOUNT_BUDGET_MS. */
const UNMOUNT_STEP_TIMEOUT_MS = 5_000
const FORCE_UNMOUNT_BUDGET_MS = 30_000
/** After SIGKILL a process is gone within milliseconds unless stuck in the kernel. */
const KILL_WAIT_MS = 5_000

export async function waitFor<T>(
  condition: () => T | Promise<T>,
  deadlineMs: number,
  what: string,
): Promise<NonNullable<T>> {
  const start = performance.now()
  let lastError: unknown
  for (;;) {
    try {
      const value = await condition()
      if (value) return value as NonNullable<T>
    } catch (e) {
      lastError = e
    }
    if (performance.now() - start > deadlineMs) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${cause}`)
    }
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS))
  }
}

/** Unmounts whatever FUSE mount is at `mountpoint` (lazy, then abort); never throws, never hangs. */
export async function forceUnmount(mountpoint: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const budget = new Promise<void>((r) => (timer = setTimeout(r, FORCE_UNMOUNT_BUDGET_MS)))
  const attempt = (async () => {
    try {
      if (await isMounted(mountpoint)) await unmountPath(mountpoint, { lazy: true, commandTimeoutMs: UNMOUNT_STEP_TIMEOUT_MS })
    } catch (e) {
      console.error(`forceUnmount(${mountpoint}) failed: ${(e as Error).message}`)
    }
  })()
  await Promise.race([attempt, budget])
  clearTimeout(timer)
}

export interface TempMountpoint {
  path: string
  cleanup(): Promise<void>
}

export async function makeTempMountpoint(prefix = 'ikfs-mnt-'): Promise<TempMountpoint> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return {
    path,
    async cleanup() {
      await forceUnmount(path)
      if (await isMounted(path).catch(() => true)) return // never delete through a mount
      await rmdir(path).catch(() => undefined) // only if empty
    },
  }
}

export interface DaemonExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface Daemon {
  readonly child: ChildProcess
  readonly mountpoint: string | undefined
  /** stdout and stderr so far, interleaved in arrival order. */
  output(): string
  stdout(): string
  stderr(): string
  readonly exited: Promise<DaemonExit>
  hasExited(): boolean
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<DaemonExit>
  cleanup(): Promise<void>
}

export interface SpawnDaemonOptions {
  /** Program and leading arguments (default: node bin/ikfs.js). */
  command?: string[]
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Ready when this matches the output. */
  readyPattern?: RegExp
  /**
   * Force-unmounted on stop; without readyPattern, ready when it appears as a FUSE mount in mountinfo
   * (not used with readyPattern: a stale or other mount there would look ready).
   */
  mountpoint?: string
  timeoutMs: number
}

const live = new Set<Daemon>()

/** Stops every daemon this process spawned and has not stopped (a last-resort afterAll). */
export async function stopAllDaemons(): Promise<void> {
  await Promise.all([...live].map((d) => d.stop('SIGKILL')))
}

export async function spawnDaemon(args: string[], options: SpawnDaemonOptions): Promise<Daemon> {
  if (!options.readyPattern && !options.mountpoint) throw new Error('spawnDaemon needs readyPattern or mountpoint')
  const [program, ...lead] = options.command ?? [process.execPath, join(REPO_ROOT, 'bin/ikfs.js')]
  const child = spawn(program!, [...lead, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let all = ''
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => ((out += s), (all += s)))
  child.stderr!.setEncoding('utf8').on('data', (s: string) => ((err += s), (all += s)))
  let exitInfo: DaemonExit | undefined
  const exited = new Promise<DaemonExit>((resolveExit) => {
    child.on('exit', (code, signal) => resolveExit((exitInfo = { code, signal })))
    child.on('error', (e) => {
      all += `\n[spawn error] ${e.message}\n`
      resolveExit((exitInfo = { code: null, signal: null }))
    })
  })

  const daemon: Daemon = {
    child,
    mountpoint: options.mountpoint,
    output: () => all,
    stdout: () => out,
    stderr: () => err,
    exited,
    hasExited: () => exitInfo !== undefined,
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000) {
      try {
        if (!exitInfo) {
          child.kill(signal)
          const graceful = await Promise.race([exited, delay(timeoutMs)])
          if (!graceful) {
            child.kill('SIGKILL')
            await Promise.race([exited, delay(KILL_WAIT_MS)])
          }
        }
      } finally {
        if (options.mountpoint) await forceUnmount(options.mountpoint)
        live.delete(daemon)
      }
      return exitInfo ?? { code: null, signal: null }
    },
    async cleanup() {
      await daemon.stop()
    },
  }
  live.add(daemon)

  let failure: string | undefined
  try {
    const state = await waitFor(
      async () => {
        if (options.readyPattern) {
          if (options.readyPattern.test(all)) return 'ready'
        } else if (options.mountpoint && (await isMounted(options.mountpoint))) {
          return 'ready'
        }
        return exitInfo ? 'exited' : undefined
      },
      options.timeoutMs,
      `daemon ready (${options.readyPattern ?? options.mountpoint})`,
    )
    if (state === 'exited') failure = `daemon exited early (code ${exitInfo?.code}, signal ${exitInfo?.signal})`
  } catch (e) {
    failure = (e as Error).message
  }
  if (failure) {
    await daemon.stop('SIGKILL')
    throw new Error(`daemon did not become ready: ${failure}\n--- output ---\n${all}`)
  }
  return daemon
}

/** Runs registered cleanups in reverse order; each failure is logged, none stops the others. */
export class Cleanup {
  #items: { cleanup(): Promise<void> }[] = []
  add<T extends { cleanup(): Promise<void> }>(item: T): T {
    this.#items.push(item)
    return item
  }
  /** Then stops every daemon still live: for a file's last teardown (afterAll). */
  async run(): Promise<void> {
    await this.runOwn()
    await stopAllDaemons()
  }
  /** Only what was registered here: for a test inside a describe whose shared emulator must live on. */
  async runOwn(): Promise<void> {
    for (const item of this.#items.reverse()) {
      await item.cleanup().catch((e: unknown) => console.error(`cleanup failed: ${(e as Error).message}`))
    }
    this.#items = []
  }
}

function delay(ms: number): Promise<undefined> {
  return new Promise((r) => setTimeout(() => r(undefined), ms).unref())
}
