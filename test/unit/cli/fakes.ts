/** In-process doubles for main(): captured output, signals we can raise, and a runtime that mounts nothing. */
import type { Logger } from '../../../src/log.js'
import type { ImageKitApi } from '../../../src/imagekit/api.js'
import type { UploadStatus, Vfs, VfsOptions, VfsStatus } from '../../../src/vfs/types.js'
import type { CliContext, SignalSource, StopSignal, TextSink } from '../../../src/cli/context.js'
import type { ClientSettings } from '../../../src/cli/derive.js'
import type { CrashSource } from '../../../src/cli/crash-report.js'
import type { FuseMountOptions } from '../../../src/fuse/mount.js'
import type { LiveMount, MountClient, MountRuntime } from '../../../src/cli/runtime.js'
import type { CheckedHost } from '../../../src/imagekit/client.js'
import { UnmountBusyError } from '../../../src/fuse/unmount.js'

export class Capture implements TextSink {
  text = ''
  isTTY = false
  write(chunk: string): boolean {
    this.text += chunk
    return true
  }
}

export class FakeSignals implements SignalSource {
  readonly listeners = new Map<StopSignal, Set<(s: StopSignal) => void>>()
  on(signal: StopSignal, listener: (s: StopSignal) => void): void {
    const set = this.listeners.get(signal) ?? new Set()
    set.add(listener)
    this.listeners.set(signal, set)
  }
  off(signal: StopSignal, listener: (s: StopSignal) => void): void {
    this.listeners.get(signal)?.delete(listener)
  }
  count(signal: StopSignal): number {
    return this.listeners.get(signal)?.size ?? 0
  }
  emit(signal: StopSignal): void {
    for (const l of [...(this.listeners.get(signal) ?? [])]) l(signal)
  }
}

/** Errors nothing caught, raised on demand. */
export class FakeCrashes implements CrashSource {
  readonly listeners = new Set<(err: unknown, origin: string) => void>()
  on(listener: (err: unknown, origin: string) => void): void {
    this.listeners.add(listener)
  }
  off(listener: (err: unknown, origin: string) => void): void {
    this.listeners.delete(listener)
  }
  emit(err: unknown, origin = 'unhandledRejection'): void {
    for (const l of [...this.listeners]) l(err, origin)
  }
}

/** Records what the mount command asked for, in order. */
export class FakeRuntime implements MountRuntime {
  readonly calls: string[] = []
  fuseReason: string | undefined = undefined
  verifyError: Error | undefined = undefined
  /** The file URL the key check resolves with (a file of the library), if any. */
  sampleFileUrl: string | undefined = undefined
  /** How far the key check finds the API's clock ahead of this machine's (negative: behind), if it says. */
  clockSkewMs: number | undefined = undefined
  /** When set, the key check waits for it (an API that has not answered yet). */
  verifyGate: Promise<void> | undefined = undefined
  /** When set, the check of the URL endpoint and upload host waits for it (hosts that have not answered yet). */
  hostsGate: Promise<void> | undefined = undefined
  /** What the client's check of the URL endpoint and upload host throws, if anything (not recorded in calls). */
  hostsError: Error | undefined = undefined
  /** Hosts the check reports as answered before it waits for hostsGate. */
  hostsAnsweringAtOnce: CheckedHost[] = []
  /** Which hosts the last check asked about. */
  hostsChecked: string | undefined
  /** When set, mountFuse waits for it before the mount is made (the kernel mount under way). */
  mountGate: Promise<void> | undefined = undefined
  /** When set, detach() never resolves (to test the second signal). */
  hangDetach = false
  /** When set, vfs.close() never resolves: an upload in flight that the stop waits for. */
  hangVfsClose = false
  /** What the vfs's status() reports as its upload queue (what stays in the spool when a stop is cut short). */
  uploads: UploadStatus[] = []
  /** What the vfs's filesBeingWritten() answers: files programs still write in (a stop waits for them). */
  beingWritten: string[] = []
  /** What filesWithUncommittedWrites() answers: of those, the ones with writes no close committed. */
  uncommitted: string[] | undefined
  /** What commitClosedFiles() answers: of those, the ones whose last close left its commit to a dropped release. */
  closedUncommitted: string[] = []
  clientSettings: ClientSettings | undefined
  vfsOptions: VfsOptions | undefined
  mountOptions: FuseMountOptions | undefined
  /** What mountFuse's mount says when it fell back to fuse-native. */
  fallback?: string
  /** Where mountFuse was asked to mount, and unmountPath to unmount. */
  mountedAt: string | undefined
  readonly unmountedPaths: string[] = []
  #resolveDetached: (() => void) | undefined
  #endSession: ((how: 'closed' | 'aborted') => void) | undefined

  /** What the mount's preflight asked the FUSE check about. */
  fuseCheck: { allowOther?: boolean; binding?: string } | undefined

  async fuseUnavailableReason(options?: { allowOther?: boolean; binding?: string }): Promise<string | undefined> {
    this.calls.push('fuseAvailable')
    this.fuseCheck = options
    return this.fuseReason
  }
  async createClient(settings: ClientSettings, _logger: Logger): Promise<MountClient> {
    this.clientSettings = settings
    this.calls.push('createClient')
    return {
      api: {} as ImageKitApi,
      verifyCredentials: async () => {
        this.calls.push('verifyCredentials')
        await this.verifyGate
        if (this.verifyError) throw this.verifyError
        return {
          ...(this.sampleFileUrl === undefined ? {} : { sampleFileUrl: this.sampleFileUrl }),
          ...(this.clockSkewMs === undefined ? {} : { clockSkewMs: this.clockSkewMs }),
        }
      },
      checkHosts: async (_signal, uploads, onAnswered) => {
        this.hostsChecked = uploads === false ? 'endpoint' : 'endpoint and upload host'
        for (const host of this.hostsAnsweringAtOnce) onAnswered?.(host)
        await this.hostsGate
        if (this.hostsError) throw this.hostsError
      },
      close: async () => {
        this.calls.push('client.close')
      },
    }
  }
  /** What createVfs throws, if anything (the spool could not be set up). */
  vfsError: Error | undefined
  async createVfs(_api: ImageKitApi, options: VfsOptions, _logger: Logger): Promise<Vfs> {
    this.vfsOptions = options
    this.calls.push('createVfs')
    if (this.vfsError) throw this.vfsError
    const vfs: Partial<Vfs> & { status(): VfsStatus } = {
      forget: () => void this.calls.push('vfs.forget'),
      cachedFiles: () => new Map([['/photos', ['a.jpg']]]),
      filesBeingWritten: () => this.beingWritten,
      filesWithUncommittedWrites: () => this.uncommitted ?? this.beingWritten,
      commitClosedFiles: () => {
        this.calls.push('vfs.commitClosedFiles')
        return this.closedUncommitted
      },
      refuseNewWrites: () => void this.calls.push('vfs.refuseNewWrites'),
      status: () => ({ counters: {}, uploads: this.uploads }),
      close: () => {
        this.calls.push('vfs.close')
        return this.hangVfsClose ? new Promise<void>(() => undefined) : Promise.resolve()
      },
    }
    return vfs as Vfs
  }
  async mountFuse(_vfs: Vfs, mountpoint: string, options: FuseMountOptions, _logger: Logger): Promise<LiveMount> {
    this.mountOptions = options
    this.mountedAt = mountpoint
    this.calls.push('mountFuse')
    await this.mountGate
    const detached = new Promise<void>((resolve) => (this.#resolveDetached = resolve))
    const sessionEnded = new Promise<'closed' | 'aborted'>((resolve) => (this.#endSession = resolve))
    return {
      detached,
      sessionEnded,
      ...(this.fallback ? { fallback: this.fallback } : {}),
      detach: () => {
        this.calls.push('detach')
        if (this.hangDetach) return new Promise<void>(() => undefined)
        this.#resolveDetached?.()
        return Promise.resolve()
      },
      unmount: async () => {
        this.calls.push('unmount')
      },
      expireAttributes: async (files: Map<string, string[]>) => {
        this.calls.push(`expireAttributes(${[...files].map(([folder, names]) => `${folder}: ${names.join(' ')}`).join('; ')})`)
        return 0
      },
      forgetMissingNames: async (localPath?: string) => {
        this.calls.push(`forgetMissingNames(${localPath ?? ''})`)
        return 0
      },
    }
  }
  /** As if someone ran `fusermount -u` on the mountpoint. */
  unmountFromOutside(): void {
    this.#resolveDetached?.()
  }
  /** As if someone wrote 1 to /sys/fs/fuse/connections/N/abort: the session ends, and the dead mount is cleared. */
  abortConnection(): void {
    this.#endSession?.('aborted')
    this.#resolveDetached?.()
  }
  /** The last file open in the detached mount was closed: the kernel ends the session (dropping queued releases). */
  closeLastFile(): void {
    this.#endSession?.('closed')
  }
  async unmountPath(mountpoint: string, options: { lazy?: boolean; refuseBusy?: boolean }): Promise<void> {
    this.calls.push(`unmountPath${options.lazy ? '(lazy)' : ''}${options.refuseBusy ? '(refuse busy)' : ''}`)
    this.unmountedPaths.push(mountpoint)
    if (this.busy && options.refuseBusy && !options.lazy) throw new UnmountBusyError(`${mountpoint} is in use`)
  }
  /** Programs use the mount: an unmount that refuses a busy mount fails. */
  busy = false
  /** Whether a mount is there (live or dead): for every path, or for this one only. */
  mounted: boolean | string = false
  /** The type of the mount that is there. */
  mountedFsType = 'fuse.ikfs'
  async mountedType(mountpoint: string): Promise<string | undefined> {
    const there = typeof this.mounted === 'string' ? this.mounted === mountpoint : this.mounted
    return there ? this.mountedFsType : undefined
  }
}

export interface TestCli {
  ctx: CliContext
  stdout: Capture
  stderr: Capture
  signals: FakeSignals
  crashes: FakeCrashes
  runtime: FakeRuntime
  /** The codes ctx.exit() was called with (the process would have ended at the first). */
  exits: number[]
}

export function testCli(env: Record<string, string | undefined>, cwd: string): TestCli {
  const stdout = new Capture()
  const stderr = new Capture()
  const signals = new FakeSignals()
  const crashes = new FakeCrashes()
  const runtime = new FakeRuntime()
  const exits: number[] = []
  const ctx: CliContext = {
    stdout,
    stderr,
    // The mount's control socket goes under the test's folder, not /tmp/ikfs-1000 (uid 1000 has no runtime dir here).
    env: { XDG_RUNTIME_DIR: cwd, ...env },
    cwd,
    home: cwd,
    signals,
    crashes,
    identity: { uid: 1000, gid: 1000, umask: 0o022 },
    runtime,
    exit: (code) => void exits.push(code),
  }
  return { ctx, stdout, stderr, signals, crashes, runtime, exits }
}

/** Polls `condition` until it holds or the deadline passes (no fixed sleeps). */
export async function waitFor(condition: () => boolean, what: string, deadlineMs = 5_000): Promise<void> {
  const end = performance.now() + deadlineMs
  while (!condition()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
