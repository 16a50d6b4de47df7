/**
 * Mounting a Vfs with fuse-native, failing fast and leaving no dead mount behind.
 *
 * mountFuse(): checks /dev/fuse and the mountpoint (exists, is a folder, empty unless allowNonEmpty,
 * not a live FUSE mount), clears a dead mount (stat → ENOTCONN) with a lazy unmount, mounts with our
 * option string and fuse-native's hidden op timeout off, and waits for the kernel's INIT within a
 * deadline. If mounting fails half-way, the half-made mount is lazily unmounted before rejecting.
 *
 * FuseMount.detach() takes the mount out of the namespace: fusermount -u, then (busy) the lazy and forceful
 * steps of unmountPath(). After a lazy detach the kernel still sends the requests of files programs have
 * open, and the session goes on serving them until release. FuseMount.unmount() detaches and releases the
 * session (a request after that fails). Neither calls vfs.close(): ops already in flight may still finish,
 * so the caller (the CLI) awaits unmount() and then vfs.close().
 * FuseMount.detached resolves when the mount leaves /proc/self/mountinfo for any reason (our detach,
 * `fusermount -u` or `umount -l` by the user); its 1 s poll of mountinfo is also what keeps the daemon's loop
 * alive until then. A connection aborted from outside (/sys/fs/fuse/connections/N/abort) leaves a dead mount
 * in mountinfo: the session's end tells (with fuse-native, its /dev/fuse descriptor closing: fuse-device-watch.ts), and the dead mount is cleared, which detaches it too.
 */
import { MOUNT_READAHEAD_KB, setMountReadahead } from '../../native/readahead.js'
import { readdir, statfs } from 'node:fs/promises'
import type { Logger } from '../log.js'
import type { Vfs } from '../vfs/types.js'
import { fuseAvailable, loadFuseNative, loadFuseNativeBinding } from '../../native/load.js'
import {
  buildFuse3Args, buildFuseOptionString, FUSE3_MAX_REQUEST_BYTES, MAX_REQUEST_BYTES, type FuseOptions,
} from '../../native/fuse-options.js'
import { createIkfsFuseClass } from '../../native/ikfs-fuse.js'
import { answerSelfRenames, requestCallers } from '../../native/fuse2.js'
import { loadFuse3, startFuse3, type Fuse3Addon } from '../../native/fuse3.js'
import { NativeLoadError } from '../../native/load.js'
import { createFuseOps, type FuseOpsOptions } from './adapter.js'
import { BusyFolders } from './busy-folders.js'
import { FuseDeviceWatch, fuseDescriptors } from './fuse-device-watch.js'
import { freshenFolders } from './freshen-folders.js'
import { HIDE_SETTLE_MS, withHiddenNames } from './hidden-names.js'
import { refuseReplacedNames } from './replaced-names.js'
import { mapsSharedWritable } from './shared-maps.js'
import { MissingNames } from './missing-names.js'
import { OpCounters, OpGuard } from './guard.js'
import { mountpointState, type MountpointState } from './mountpoint-state.js'
import { canonicalMountpoint, findFuseMount, readMountInfo, type MountEntry } from './mountinfo.js'
import { unmountPath } from './unmount.js'

/** What fusermount3 requires of a user who is not root, for the error when it refused. */
const FUSERMOUNT_RULES = 'fusermount3 mounts for a user who is not root only on a folder that user may write to, ' +
  'with allow_other only when /etc/fuse.conf has user_allow_other, and while fewer than mount_max FUSE mounts exist'
/** fuse_mount + INIT normally take milliseconds; longer means fusermount or the kernel is stuck. */
export const DEFAULT_MOUNT_TIMEOUT_MS = 30_000
/** Listing the mountpoint, a folder that answered a stat, takes milliseconds. */
const MOUNTPOINT_LISTING_TIMEOUT_MS = 5_000
/** Notices an external `fusermount -u` within a second; reading mountinfo costs well under a millisecond. */
export const MOUNT_WATCH_INTERVAL_MS = 1_000
/** Kernel readahead and async reads in flight per connection (the kernel's default is 12). */
const FUSE3_MAX_BACKGROUND = 64
/** Each request waiting for JS holds a libfuse thread; uploads in flush can hold one for minutes. */
const FUSE3_MAX_THREADS = 1024

export type FuseBindingChoice = 'auto' | 'fuse3' | 'fuse-native'
export type FuseBindingName = Exclude<FuseBindingChoice, 'auto'>

/** Request sizes are the binding's own: the largest each negotiates with the kernel. */
type BindingNeutralOptions = Omit<FuseOptions, 'nonempty' | 'bigWrites' | 'maxWrite' | 'maxRead'>

export interface FuseMountOptions {
  /** The allow-listed `-o` options (native/fuse-options.ts); `nonempty` is set from allowNonEmpty. */
  fuse: BindingNeutralOptions
  /** auto: the libfuse3 binding when it is built and loads, else fuse-native (libfuse2). */
  binding?: FuseBindingChoice
  /** Mount over a folder that has entries (hidden while mounted), like rclone --allow-non-empty. */
  allowNonEmpty?: boolean
  /**
   * The caller has just found the mountpoint a usable folder with mountpointState (`ikfs mount`'s checks before
   * mounting): not asked again, as that costs a child process.
   */
  mountpointChecked?: boolean
  mountTimeoutMs?: number
  /** Deadlines, counters and clock for the ops (guard.ts). */
  ops?: FuseOpsOptions
}

export type SessionEnd = 'closed' | 'aborted'

export interface FuseMount {
  /** Canonical absolute path, as in /proc/self/mountinfo. */
  mountpoint: string
  binding: FuseBindingName
  /** Set when `auto` fell back to fuse-native: one line saying so, why, and how to get the libfuse3 binding. */
  fallback?: string
  /** Out of the namespace (lazily when programs use it); the session goes on serving their open files. */
  detach(): Promise<void>
  /** Detaches, then ends the session: the process may exit, and a request from then on fails. */
  unmount(): Promise<void>
  /** Resolves when the mount has left the namespace, for any reason. */
  detached: Promise<void>
  /**
   * Resolves when no request can reach the daemon any more: the session ended, after the last
   * file open in a detached mount was closed (`closed`), or at once when the connection was aborted while
   * mounted (`aborted`: programs may still hold files in it).
   */
  sessionEnded?: Promise<SessionEnd>
  counters: OpCounters
  /**
   * Makes the kernel forget the "no such file" answers it keeps for names at or under `localPath` (all when
   * undefined), so that a refreshed listing shows new names at once; resolves with how many it had kept.
   * fuse-native (libfuse2) has no way to do it: there the kernel keeps them for negative_timeout.
   */
  forgetMissingNames(localPath?: string): Promise<number>
  /**
   * Makes the kernel ask again for the attributes of these files (local folder → names), which it would
   * otherwise keep for attr_timeout; resolves with how many it held. Never rejects. libfuse3 only.
   */
  expireAttributes(files: Map<string, string[]>): Promise<number>
}

export class FuseMountError extends Error {
  override name = 'FuseMountError'
  readonly code = 'IKFS_MOUNT'
}

export async function mountFuse(vfs: Vfs, mountpoint: string, options: FuseMountOptions, logger: Logger): Promise<FuseMount> {
  const log = logger.child({ component: 'fuse' })
  const binding = chooseBinding(options.binding ?? 'auto')
  // The fusermount the chosen binding runs (the libfuse2 fallback needs `fusermount`, which FUSE 3 alone lacks).
  const available = fuseAvailable(process.env.PATH, binding.name)
  if (!available.ok) throw new FuseMountError(`cannot mount: ${available.reason ?? 'FUSE unavailable'}`)

  const target = await canonicalMountpoint(mountpoint)
  const nonEmpty = await prepareMountpoint(target, options.allowNonEmpty === true, options.mountpointChecked === true, log)
  const counters = options.ops?.counters ?? options.ops?.guard?.counters ?? new OpCounters()
  const guard = options.ops?.guard ?? new OpGuard(log, { ...options.ops, counters })
  // Write buffers are pooled at the binding's largest request; a larger write would get a buffer of its own.
  const maxWriteBytes = binding.addon ? FUSE3_MAX_REQUEST_BYTES : MAX_REQUEST_BYTES
  // Only the libfuse3 binding can make the kernel forget names (a refresh); its notifications wait for idle folders.
  const busyFolders = binding.addon ? new BusyFolders() : undefined
  const freshen = (folders: string[]) => freshenFolders(target, folders)
  const missing = busyFolders && new MissingNames(options.fuse.negativeTimeoutS * 1000, { held: busyFolders, freshen })
  const onMissing = missing && ((path: string) => missing.add(path))
  // Only the libfuse3 binding names the process that closes a file (libfuse2 does not pass it).
  const mapsShared = binding.addon ? (caller: number, path: string) => mapsSharedWritable(caller, target + path) : undefined
  const ops = createFuseOps(vfs, log, { maxWriteBytes, ...options.ops, guard, ...(onMissing ? { onMissing, busyFolders } : {}), ...(mapsShared ? { mapsShared } : {}) })
  const timeoutMs = options.mountTimeoutMs ?? DEFAULT_MOUNT_TIMEOUT_MS

  let native: NativeMount
  try {
    native = binding.addon
      ? await mountFuse3(binding.addon, target, options.fuse, ops, vfs.xattrNamespace ?? '', timeoutMs)
      : await mountFuseNative(target, { ...options.fuse, ...(nonEmpty ? { nonempty: true } : {}) }, withHiddenNames(refuseReplacedNames(ops), log, HIDE_SETTLE_MS, (fh) => vfs.readsOldVersion?.(fh) === true), timeoutMs, log)
  } catch (err) {
    if (await findFuseMount(target)) {
      await unmountPath(target, { lazy: true }).catch((e: unknown) =>
        log.error({ err: e, mountpoint: target }, 'could not remove the half-made mount'),
      )
    }
    const reason = err instanceof Error ? err.message : String(err)
    // As another user than root, fusermount3 does the mount, and libfuse passes on none of its reasons.
    const hint = (process.getuid?.() ?? 0) === 0 ? '' : ` (${FUSERMOUNT_RULES})`
    throw new FuseMountError(`mounting ${target} failed: ${reason}${hint}`, { cause: err })
  }

  const entry = await findFuseMount(target)
  const readaheadKb = entry && (await setMountReadahead(entry)) ? MOUNT_READAHEAD_KB : undefined
  log.info({ mountpoint: target, binding: binding.name, options: native.options, readaheadKb }, 'mounted')
  const mount = createMountHandle(target, binding.name, native, entry, counters, missing, log)
  return binding.fallback ? { ...mount, fallback: binding.fallback } : mount
}

/** What mountFuse keeps of a binding once mounted. */
interface NativeMount {
  /** For the log: the options the binding was given. */
  options: string
  /** After the kernel mount is gone: lets the process exit (idempotent). */
  release(): void
  /** Resolves when the session's loop has ended: the kernel sends nothing more. */
  ended?: Promise<void>
  /** The kernel forgets these names in this folder (a path inside the mount); libfuse3 only. */
  forgetNames?(folder: string, names: string[]): Promise<number>
  /** The kernel asks again for the attributes of these files in this folder; libfuse3 only. */
  expireAttrs?(folder: string, names: string[]): Promise<number>
}

function chooseBinding(choice: FuseBindingChoice): { name: FuseBindingName; addon?: Fuse3Addon; fallback?: string } {
  if (choice === 'fuse-native') return { name: 'fuse-native' }
  try {
    return { name: 'fuse3', addon: loadFuse3() }
  } catch (e) {
    if (choice === 'fuse3' || !(e instanceof NativeLoadError)) throw e
    return { name: 'fuse-native', fallback: `mounted with the slower fuse-native fallback (libfuse2: 128 KiB requests, no READDIRPLUS): ${e.message}` }
  }
}

async function mountFuse3(
  addon: Fuse3Addon,
  target: string,
  fuse: BindingNeutralOptions,
  ops: ReturnType<typeof createFuseOps>,
  xattrNamespace: string,
  timeoutMs: number,
): Promise<NativeMount> {
  const args = buildFuse3Args({ ...fuse, bigWrites: true, maxWrite: FUSE3_MAX_REQUEST_BYTES, maxRead: FUSE3_MAX_REQUEST_BYTES })
  const session = startFuse3(addon, target, args, {
    maxWrite: FUSE3_MAX_REQUEST_BYTES,
    maxRead: FUSE3_MAX_REQUEST_BYTES,
    maxReadahead: FUSE3_MAX_REQUEST_BYTES,
    maxBackground: FUSE3_MAX_BACKGROUND,
    maxThreads: FUSE3_MAX_THREADS,
    writebackCache: false,
    directIo: fuse.directIo ?? false,
    xattrNamespace,
  }, ops)
  try {
    await withDeadline(session.initialized, timeoutMs, 'mount did not complete (no INIT from the kernel)')
    // libfuse can still refuse the INIT after our init ran; a request through the mount proves it is served.
    // statfs, because the kernel does not cache it (a cached root stat would outlive a dead daemon).
    await withDeadline(statfs(target), timeoutMs, 'the mount does not answer after INIT')
  } catch (e) {
    session.exit()
    throw e
  }
  return {
    options: args.slice(1).join(' '),
    release: () => session.release(),
    ended: session.closed,
    forgetNames: (folder, names) => session.forgetNames(folder, names),
    expireAttrs: (folder, names) => session.expireAttrs(folder, names),
  }
}

async function mountFuseNative(
  target: string,
  fuse: Omit<FuseOptions, 'bigWrites' | 'maxWrite' | 'maxRead'>,
  ops: ReturnType<typeof createFuseOps>,
  timeoutMs: number,
  log: Logger,
): Promise<NativeMount> {
  const optionString = buildFuseOptionString({ ...fuse, bigWrites: true, maxWrite: MAX_REQUEST_BYTES, maxRead: MAX_REQUEST_BYTES })
  const Fuse = loadFuseNative()
  const IkfsFuse = createIkfsFuseClass(Fuse, loadFuseNativeBinding(), optionString, requestCallers())
  const instance = new IkfsFuse(target, ops, { timeout: false, force: false, mkdir: false })
  const before = await fuseDescriptors()
  await withDeadline(
    new Promise<void>((resolve, reject) => instance.mount((err) => (err ? reject(err) : resolve()))),
    timeoutMs,
    'mount did not complete (no INIT from the kernel)',
  )
  // libfuse2 would hang a rename of a name onto itself, and its folder after it (README W9).
  const unanswered = answerSelfRenames(instance._thread, target)
  if (unanswered !== undefined) log.warn({ mountpoint: target, reason: unanswered }, 'a rename of a file onto itself that another machine deleted will hang its folder, and a file open for writing is stored anew at each exit of a process that inherited its descriptor')
  // The descriptor fuse_mount opened: closed by fuse-native's thread once the session has ended (fuse-device-watch.ts).
  const opened = [...(await fuseDescriptors())].filter((fd) => !before.has(fd))
  const watch = opened.length > 0 ? new FuseDeviceWatch(opened) : undefined
  return {
    options: optionString,
    release: () => {
      watch?.close()
      instance.releaseNative()
    },
    ...(watch ? { ended: watch.ended } : {}),
  }
}

/** Exported for unit tests. */
export function createMountHandle(
  target: string,
  binding: FuseBindingName,
  native: NativeMount,
  entry: MountEntry | undefined,
  counters: OpCounters,
  missing: MissingNames | undefined,
  log: Logger,
): FuseMount {
  let resolveDetached!: () => void
  const detachedPromise = new Promise<void>((resolve) => (resolveDetached = resolve))
  let detached = false
  let released = false
  const markDetached = (): void => {
    if (detached) return
    detached = true
    clearInterval(watch)
    log.info({ mountpoint: target }, 'unmounted')
    resolveDetached()
  }
  const release = (): void => {
    markDetached()
    if (released) return
    released = true
    native.release()
  }
  const stillMounted = async (): Promise<boolean> => {
    const mounts = await readMountInfo()
    return mounts.some((m) =>
      entry ? m.major === entry.major && m.minor === entry.minor : m.mountPoint === target,
    )
  }
  const watch = setInterval(() => {
    stillMounted().then(
      (mounted) => (mounted ? undefined : markDetached()),
      (err: unknown) => log.warn({ err }, 'could not read mountinfo'),
    )
  }, MOUNT_WATCH_INTERVAL_MS)
  // The session ended while the mount is still there: only an abort does that, and leaves the mount dead.
  const sessionEnded = native.ended?.then(async (): Promise<SessionEnd> => {
    if (detached || !(await stillMounted().catch(() => true))) {
      markDetached()
      return 'closed'
    }
    log.warn({ mountpoint: target }, 'the FUSE connection was aborted from outside; clearing the dead mount')
    await unmountPath(target, { lazy: true }).catch((err: unknown) =>
      log.error({ err, mountpoint: target }, `could not clear the dead mount (run: ikfs unmount ${target})`),
    )
    markDetached()
    return 'aborted'
  })

  let detaching: Promise<void> | undefined
  const detach = (): Promise<void> => {
    detaching ??= (async () => {
      if (!detached && (await stillMounted())) await unmountPath(target)
      markDetached()
    })()
    return detaching
  }
  const unmount = async (): Promise<void> => {
    await detach()
    release()
  }
  const forgetMissingNames = (localPath?: string): Promise<number> =>
    missing && native.forgetNames && !detached ? missing.forget(localPath, native.forgetNames, log) : Promise.resolve(0)
  const expireAttributes = async (files: Map<string, string[]>): Promise<number> => {
    const expire = native.expireAttrs
    if (!expire || detached) return 0
    // One folder at a time: a refresh of everything would otherwise start a thread per folder at once.
    let expired = 0
    for (const [folder, names] of files) {
      expired += await expire(folder, names).catch((err: unknown) => {
        log.debug({ err, folder }, 'attributes not expired (the kernel holds nothing there)')
        return 0
      })
    }
    return expired
  }
  return {
    mountpoint: target, binding, detach, unmount, detached: detachedPromise, counters, forgetMissingNames, expireAttributes,
    ...(sessionEnded ? { sessionEnded } : {}),
  }
}

/** Returns whether the folder has entries; throws FuseMountError when it cannot be used. */
async function prepareMountpoint(target: string, allowNonEmpty: boolean, checked: boolean, log: Logger): Promise<boolean> {
  let found: MountpointState = checked ? { kind: 'folder' } : await mountpointState(target)
  if (found.kind === 'dead') {
    log.warn({ mountpoint: target }, 'clearing a dead FUSE mount left at the mountpoint')
    await unmountPath(target, { lazy: true })
    found = await mountpointState(target)
  }
  switch (found.kind) {
    case 'hung': throw new FuseMountError(`mountpoint ${target} does not answer (a hung FUSE mount? run: ikfs unmount ${target})`)
    case 'absent': throw new FuseMountError(`mountpoint ${target} does not exist`)
    case 'dead': case 'failed': throw new FuseMountError(`mountpoint ${target} cannot be used: ${found.reason}`)
    case 'not-folder': throw new FuseMountError(`mountpoint ${target} is not a folder`)
  }
  if (await findFuseMount(target)) {
    throw new FuseMountError(`${target} is already a FUSE mount (another ikfs? run: ikfs unmount ${target})`)
  }
  const entries = await withDeadline(readdir(target), MOUNTPOINT_LISTING_TIMEOUT_MS, `listing ${target} hung`)
  if (entries.length > 0 && !allowNonEmpty) {
    throw new FuseMountError(`mountpoint ${target} is not empty (use --allow-non-empty to mount over it)`)
  }
  return entries.length > 0
}

function withDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FuseMountError(message)), ms)
  })
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}

// The CLI reaches native/ only through the FUSE layer (STYLE §2.1): what it needs is re-exported here.
export { fuseAvailable } from '../../native/load.js'

/** ikfs's libfuse3 binding, built at npm install when libfuse3-dev was there: its libfuse version, or why it does not load. */
export type Fuse3Load = { version: number; reason?: undefined } | { reason: string }

/** `addonPath`: tests give one. */
export function loadFuse3Binding(addonPath?: string): Fuse3Load {
  try {
    return { version: loadFuse3(addonPath).libfuseVersion }
  } catch (e) {
    return { reason: (e as Error).message }
  }
}
