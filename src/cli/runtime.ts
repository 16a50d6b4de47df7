/**
 * The layers `ikfs mount` wires together, behind one small interface so tests can drive the session with
 * fakes. The real modules are imported lazily: `ikfs --help`, config errors and `ikfs emulator` never load
 * the native FUSE addon (which fails to load on machines without libfuse2) or the HTTP client.
 */
import type { Logger } from '../log.js'
import type { ImageKitApi } from '../imagekit/api.js'
import type { CheckedHost } from '../imagekit/client.js'
import type { Vfs, VfsOptions } from '../vfs/types.js'
import type { FuseMountOptions } from '../fuse/mount.js'
import type { ClientSettings } from './derive.js'

export interface MountClient {
  readonly api: ImageKitApi
  /**
   * Rejects with an ImageKitError (IK_UNAUTHORIZED, IK_NETWORK, IK_TIMEOUT) whose message says what is wrong;
   * resolves with the URL of a file of the library, if it has one, and how far the API's clock is ahead of
   * this machine's (negative: behind), when its answer said.
   */
  verifyCredentials(signal?: AbortSignal): Promise<{ sampleFileUrl?: string; clockSkewMs?: number }>
  /**
   * Rejects with an ImageKitError (IK_NETWORK, IK_TIMEOUT) when the URL endpoint, or the upload host unless
   * `uploads` is false (a read-only mount), does not answer (as the Upload API, for the upload host).
   * `onAnswered` hears of each host that passed, as it does.
   */
  checkHosts(signal?: AbortSignal, uploads?: boolean, onAnswered?: (host: CheckedHost) => void): Promise<void>
  close(): Promise<void>
}

export interface LiveMount {
  /**
   * Takes the mount out of the namespace, lazily when programs use it: their open files are still served
   * (until unmount()), nothing new can be opened. Resolves when the mount is gone from the namespace.
   */
  detach(): Promise<void>
  /** Detaches, then ends the FUSE session: files still open fail from then on. */
  unmount(): Promise<void>
  /** Settles when the mount has left the namespace for any reason (our detach, or `fusermount -u` or `umount -l` from outside). */
  readonly detached: Promise<unknown>
  /**
   * Settles when no request can reach the daemon any more: the FUSE session ended (its connection aborted from
   * outside: `aborted`, or the last open file of a detached mount closed: `closed`). fuse/mount.ts FuseMount
   * has it with either binding.
   */
  readonly sessionEnded?: Promise<unknown>
  /** Why the mount uses the fuse-native fallback, and how to get the libfuse3 binding (fuse/mount.ts FuseMount). */
  readonly fallback?: string
  /** Per-op FUSE counters, for `ikfs status` and /metrics (fuse/mount.ts FuseMount has them). */
  readonly counters?: { snapshot(): Record<string, { calls: number; errors: number; timeouts: number; late: number; inFlight: number }> }
  /** The kernel forgets its "no such file" answers at or under `localPath` (fuse/mount.ts FuseMount has it). */
  forgetMissingNames?(localPath?: string): Promise<number>
  /** The kernel asks again for these files' attributes (fuse/mount.ts FuseMount has it). */
  expireAttributes?(files: Map<string, string[]>): Promise<number>
}

export interface MountRuntime {
  /**
   * undefined when FUSE can be used here, else the reason it cannot (no /dev/fuse, no libfuse2, allow_other
   * that fusermount would refuse ...).
   */
  fuseUnavailableReason(options?: { allowOther?: boolean; binding?: string }): Promise<string | undefined>
  createClient(settings: ClientSettings, logger: Logger): Promise<MountClient>
  createVfs(api: ImageKitApi, options: VfsOptions, logger: Logger): Promise<Vfs>
  mountFuse(vfs: Vfs, mountpoint: string, options: FuseMountOptions, logger: Logger): Promise<LiveMount>
  unmountPath(mountpoint: string, options: { lazy?: boolean; refuseBusy?: boolean }): Promise<void>
  /** The type of the FUSE filesystem mounted at `mountpoint`, live or dead ('fuse.ikfs' for ikfs's), if any. */
  mountedType(mountpoint: string): Promise<string | undefined>
}

/** `fuseDevice`: the FUSE device's path; `fuse3Addon`: the libfuse3 binding's (tests give others). */
export function realRuntime(settings: { fuseDevice?: string; fuse3Addon?: string } = {}): MountRuntime {
  return {
    async fuseUnavailableReason(options = {}) {
      const { fuseAvailable, loadFuse3Binding } = await import('../fuse/mount.js')
      const answer = fuseAvailable(process.env.PATH, undefined, settings.fuseDevice)
      if (!answer.ok) return answer.reason ?? 'FUSE is not available'
      // --fuse-binding fuse3 has no fallback: a binding that does not load is said before the network is asked.
      const refusal = options.binding === 'fuse3' ? loadFuse3Binding(settings.fuse3Addon).reason : undefined
      if (refusal !== undefined) return `${refusal}, or leave --fuse-binding fuse3 out`
      if (!options.allowOther) return undefined
      const { allowOtherRefusal } = await import('../fuse/fuse-conf.js')
      return allowOtherRefusal(process.getuid?.() ?? 0)
    },
    async createClient(settings, logger) {
      const { ImageKitClient } = await import('../imagekit/client.js')
      const client = new ImageKitClient({ ...settings, logger })
      return {
        api: client,
        verifyCredentials: (signal) => client.verifyCredentials(signal ? { signal } : {}),
        checkHosts: (signal, uploads, onAnswered) =>
          client.checkHosts({ ...(signal ? { signal } : {}), ...(uploads === false ? { uploads } : {}), ...(onAnswered ? { onAnswered } : {}) }),
        close: async () => {
          await client.close()
        },
      }
    },
    async createVfs(api, options, logger) {
      const { createVfs } = await import('../vfs/vfs.js')
      const { loadDropCachedPages } = await import('../../native/page-cache.js')
      const pageCache = loadDropCachedPages()
      if (pageCache.reason) logger.debug({ reason: pageCache.reason }, 'large writes keep their spool copies in the page cache')
      return createVfs(api, options, { logger, dropCachedPages: pageCache.drop })
    },
    async mountFuse(vfs, mountpoint, options, logger) {
      const { mountFuse } = await import('../fuse/mount.js')
      return mountFuse(vfs, mountpoint, options, logger)
    },
    async unmountPath(mountpoint, options) {
      const { unmountPath } = await import('../fuse/unmount.js')
      await unmountPath(mountpoint, options)
    },
    async mountedType(mountpoint) {
      const { fuseMountType } = await import('../fuse/mountinfo.js')
      return fuseMountType(mountpoint)
    },
  }
}
