/**
 * Config → the options each layer takes. Kept in cli/ (not config/) because config/ is a leaf and these
 * shapes belong to imagekit/, vfs/ and fuse/.
 */
import type { Config } from '../config/load.js'
import type { FuseBindingChoice, FuseMountOptions } from '../fuse/mount.js'
import type { ImageKitClientOptions } from '../imagekit/client.js'
import { describeProxy, ProxyRules } from '../imagekit/proxy.js'
import { readerFor, type DeliveryClient } from '../imagekit/read.js'
import type { VfsOptions } from '../vfs/types.js'
import { ikfsVersion } from './version.js'

/** ImageKitClient's options without the logger, clock and jitter source (added by the runtime). */
export type ClientSettings = Omit<ImageKitClientOptions, 'logger' | 'clock' | 'random'>

export function clientSettings(config: Config): ClientSettings {
  return {
    apiUrl: config.apiUrl,
    uploadUrl: config.uploadUrl,
    urlEndpoint: config.endpoint,
    privateKey: config.privateKey,
    ...(config.publicKey ? { publicKey: config.publicKey } : {}),
    onlySigned: config.onlySigned,
    signedUrlExpirySeconds: Math.max(1, Math.round(config.signedUrlExpiryMs / 1000)),
    requestTimeoutMs: config.requestTimeoutMs,
    maxRetries: config.retries,
    maxConnectionsPerOrigin: config.maxConnections,
    deliveryClient: config.deliveryClient as DeliveryClient,
    proxy: config.proxy,
    userAgent: `ikfs/${ikfsVersion()}`,
  }
}

/**
 * How each host is reached, for the "mounted" log line: `direct` or the proxy (credentials left out), and
 * the reader that delivery URLs get (the socket reader connects directly, so proxied reads use undici).
 */
export function routesOf(config: Config): { deliveryClient: DeliveryClient; proxies?: Record<'api' | 'upload' | 'delivery', string> } {
  const rules = new ProxyRules(config.proxy)
  const via = (url: string): string => {
    const proxy = rules.proxyFor(new URL(url))
    return proxy ? describeProxy(proxy) : 'direct'
  }
  const delivery = via(config.endpoint)
  return {
    deliveryClient: readerFor(config.deliveryClient as DeliveryClient, delivery !== 'direct'),
    ...(rules.any ? { proxies: { api: via(config.apiUrl), upload: via(config.uploadUrl), delivery } } : {}),
  }
}

export function vfsOptions(config: Config): VfsOptions {
  return {
    readOnly: config.readOnly,
    dirCacheTimeMs: config.dirCacheTimeMs,
    filePerm: config.fileMode,
    dirPerm: config.dirMode,
    uid: config.uid,
    gid: config.gid,
    umask: config.umask,
    versions: config.versions,
    encoding: config.encoding,
    blockCacheBytes: config.blockCacheBytes,
    writtenCacheBytes: config.writtenCacheBytes,
    maxBufferedBytes: config.maxBufferedBytes,
    maxCachedDirs: config.maxCachedDirs,
    dirPrefetch: config.dirPrefetch,
    statfsTotalBytes: config.statfsTotalBytes,
    statfsCacheTimeMs: config.statfsCacheTimeMs,
    cacheDir: config.cacheDir,
    writeBackDelayMs: config.writeBackMs,
    uploadTags: config.uploadTags.split(',').map((t) => t.trim()).filter((t) => t.length > 0),
    maxParallelUploads: config.transfers,
    streamUploads: config.streamUploads,
    directIo: config.directIo,
    prefetchOnOpen: true,
    libraryId: config.endpoint,
  }
}

export function fuseMountOptions(config: Config): FuseMountOptions {
  return {
    fuse: {
      fsname: `ikfs:${fsLabel(config)}`,
      subtype: 'ikfs',
      allowOther: config.allowOther,
      // The VFS already answers getattr with --uid/--gid/--file-mode minus --umask; with allow_other the
      // kernel must enforce those modes (fuse-options.ts forces default_permissions then).
      defaultPermissions: false,
      // A daemon killed with -9 leaves no dead "transport endpoint is not connected" mount behind: fusermount3's
      // watcher clears it (with the libfuse3 binding also on a loaded machine: ikfs_fuse3.c keep_device_last).
      // `ikfs unmount` and the next `ikfs mount` clear what it may leave.
      autoUnmount: true,
      // rclone mount uses its --attr-timeout for entries too: names and attributes age together.
      entryTimeoutS: config.attrTimeoutMs / 1000,
      attrTimeoutS: config.attrTimeoutMs / 1000,
      // Capped at dir_cache_time so that a new remote name shows within dir_cache_time + negative_timeout.
      negativeTimeoutS: Math.min(config.negativeTimeoutMs, config.dirCacheTimeMs) / 1000,
      // Drop the page cache of a file whose size or mtime changed since it was last opened (remote edits).
      autoCache: true,
      directIo: config.directIo,
      useIno: true,
      readOnly: config.readOnly,
      // uid/gid/umask are not passed: libfuse's umask= overrides every mode (fuse-native-notes.md), and the
      // VFS already reports owner and modes from these options.
    },
    allowNonEmpty: config.allowNonEmpty,
    binding: config.fuseBinding as FuseBindingChoice,
  }
}

/**
 * A short name for `mount`/`df` output: the remote name, else the ImageKit id (last path segment of the
 * endpoint), else its host. Only characters that cannot break libfuse's comma-separated `-o` string.
 */
export function fsLabel(config: Pick<Config, 'remote' | 'endpoint'>): string {
  const url = new URL(config.endpoint)
  const segment = url.pathname.split('/').filter((s) => s !== '').pop()
  const label = config.remote ?? segment ?? url.hostname
  return label.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64) || 'imagekit'
}
