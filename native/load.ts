/**
 * Loads fuse-native 2.2.6 and makes its libfuse dependency resolvable.
 *
 * The prebuilt addon (prebuilds/<platform>-<arch>/node.napi.node) has DT_NEEDED libfuse.so.2 and no rpath.
 * fuse-native ships a copy beside it (libfuse.so, soname libfuse.so.2). When the system has no libfuse.so.2
 * we preload that copy with RTLD_GLOBAL: glibc then satisfies the addon's DT_NEEDED by soname with the
 * already-loaded library, all inside this process (no LD_LIBRARY_PATH, no re-exec).
 * process.dlopen() refuses a library that is not a Node addon ("did not self-register") and dlcloses it;
 * RTLD_NODELETE keeps it resident anyway, and /proc/self/maps tells whether that worked.
 */
import { createRequire } from 'node:module'
import { constants as fsConstants, existsSync, readFileSync, accessSync, statSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import type { FuseBinding, FuseClass } from './fuse-native-types.js'
import { buildNativeCommand } from './built-addon.js'
import { FUSE_DEVICE, fuseDeviceProblem } from './fuse-device.js'

// glibc's dlopen flags; os.constants.dlopen has no RTLD_NODELETE.
const RTLD_NOW = 0x2
const RTLD_GLOBAL = 0x100
const RTLD_NODELETE = 0x1000

const INSTALL_HINT =
  'install libfuse2 (Debian 12 / Ubuntu 22.04: apt install libfuse2; Debian 13 / Ubuntu 24.04: apt install libfuse2t64) ' +
  'and fuse3 for fusermount'

/** Speaks to people: one line saying what is missing and which package provides it. */
export class NativeLoadError extends Error {
  override name = 'NativeLoadError'
  readonly code = 'IKFS_NATIVE_LOAD'
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
  }
}

export interface LoadFuseNativeOptions {
  /** Module path or file URL that fuse-native is resolved from (default: this module). */
  resolveFrom?: string
}

interface FuseNativePackage {
  dir: string
  prebuildDir: string
  require: NodeJS.Require
}

/** The fuse-native class, with libfuse.so.2 made loadable first if the system lacks it. */
export function loadFuseNative(options: LoadFuseNativeOptions = {}): FuseClass {
  const pkg = locatePackage(options)
  try {
    return pkg.require('fuse-native') as FuseClass
  } catch (firstError) {
    if (!isDlopenFailure(firstError)) {
      throw new NativeLoadError(`fuse-native failed to load: ${firstLine(firstError)}`, { cause: firstError })
    }
    preloadShippedLibfuse(pkg, firstError)
    try {
      return pkg.require('fuse-native') as FuseClass
    } catch (secondError) {
      throw new NativeLoadError(
        `fuse-native's addon could not be loaded (${firstLine(secondError)}); ${INSTALL_HINT}`,
        { cause: secondError },
      )
    }
  }
}

/**
 * The compiled addon fuse-native's index.js uses (same file, so require's cache returns the same object).
 * Call after loadFuseNative().
 */
export function loadFuseNativeBinding(options: LoadFuseNativeOptions = {}): FuseBinding {
  const pkg = locatePackage(options)
  const nodeGypBuild = createRequire(join(pkg.dir, 'index.js'))('node-gyp-build') as (dir: string) => FuseBinding
  return nodeGypBuild(pkg.dir)
}

/** Path of the libfuse mapped into this process, if any (for `ikfs doctor`). */
export function libfuseInUse(): string | undefined {
  return mappedFiles().find((file) => /\/libfuse\.so(\.2)?[^/]*$/.test(file))
}

/**
 * The setuid helpers on PATH that libfuse runs to mount (as a user who is not root, and for auto_unmount,
 * which ikfs always asks for) and to unmount. Each libfuse runs its own by name: libfuse3, so ikfs's binding,
 * runs fusermount3; libfuse2, so the fuse-native fallback, runs fusermount. FUSE 3 alone (Fedora, openSUSE,
 * Arch) has only fusermount3; Debian's fuse3 adds fusermount as a link to it; FUSE 2 alone has fusermount.
 */
export interface Fusermounts {
  fusermount3?: string
  fusermount?: string
}

export type FuseBindingName = 'fuse3' | 'fuse-native'

export function findFusermounts(pathEnv: string | undefined = process.env.PATH): Fusermounts {
  const fusermount3 = findExecutable('fusermount3', pathEnv)
  const fusermount = findExecutable('fusermount', pathEnv)
  return { ...(fusermount3 ? { fusermount3 } : {}), ...(fusermount ? { fusermount } : {}) }
}

/** The one to unmount with (`-u` undoes a mount made by either): fusermount3 first, then fusermount. */
export function unmountFusermount(found: Fusermounts): string | undefined {
  return found.fusermount3 ?? found.fusermount
}

/** The helper a binding's libfuse runs to mount, if it is on PATH. */
export function mountFusermount(found: Fusermounts, binding: FuseBindingName): string | undefined {
  return binding === 'fuse3' ? found.fusermount3 : found.fusermount
}

/** What is missing for mounting, and how to get it. */
export interface FusermountProblem {
  problem: string
  fix: string
}

/**
 * Why `binding` cannot mount with the helpers found, or undefined when it can. Without a binding (not chosen
 * yet), either helper will do for one of them.
 */
export function fusermountProblem(found: Fusermounts, binding?: FuseBindingName): FusermountProblem | undefined {
  if (!found.fusermount3 && !found.fusermount) {
    return {
      problem: 'neither fusermount3 nor fusermount is on PATH (ikfs\'s libfuse3 binding mounts through fusermount3, ' +
        'the fuse-native fallback through fusermount)',
      fix: 'install fuse3 (apt, dnf, zypper or pacman install fuse3)',
    }
  }
  if (binding === 'fuse3' && !found.fusermount3) {
    return {
      problem: 'ikfs\'s libfuse3 binding mounts through fusermount3, which is not on PATH (only FUSE 2\'s fusermount is)',
      fix: 'install fuse3, or mount with --fuse-binding fuse-native',
    }
  }
  if (binding === 'fuse-native' && !found.fusermount) {
    return {
      problem: 'the fuse-native fallback (libfuse2) mounts through fusermount, which is not on PATH (only FUSE 3\'s fusermount3 is)',
      fix: `build ikfs's libfuse3 binding (libfuse3 headers, pkg-config and gcc, then ${buildNativeCommand()}), ` +
        'or install FUSE 2\'s fusermount (Fedora, openSUSE: package fuse; Arch: fuse2)',
    }
  }
  return undefined
}

/**
 * Whether this process can mount at all: `device` is the FUSE device and opens read-write (fuse-device.ts), and
 * a fusermount is on PATH (the one `binding` runs, when given).
 */
export function fuseAvailable(
  pathEnv: string | undefined = process.env.PATH,
  binding?: FuseBindingName,
  device: string = FUSE_DEVICE,
): { ok: boolean; reason?: string } {
  const unusable = fuseDeviceProblem(device)
  if (unusable) return { ok: false, reason: `${unusable.problem}: ${unusable.fix}` }
  const missing = fusermountProblem(findFusermounts(pathEnv), binding)
  return missing ? { ok: false, reason: `${missing.problem}: ${missing.fix}` } : { ok: true }
}

function locatePackage(options: LoadFuseNativeOptions): FuseNativePackage {
  const req = createRequire(options.resolveFrom ?? import.meta.url)
  let packageJson: string
  try {
    packageJson = req.resolve('fuse-native/package.json')
  } catch (e) {
    throw new NativeLoadError('fuse-native is not installed (run npm install in the ikfs folder)', { cause: e })
  }
  const dir = dirname(packageJson)
  const prebuildDir = join(dir, 'prebuilds', `${process.platform}-${process.arch}`)
  const hasPrebuild = existsSync(join(prebuildDir, 'node.napi.node'))
  const hasOwnBuild = existsSync(join(dir, 'build', 'Release'))
  if (!hasPrebuild && !hasOwnBuild) {
    throw new NativeLoadError(
      `fuse-native has no prebuilt addon for ${process.platform}-${process.arch}: ` +
        'apt install build-essential libfuse-dev, then npm rebuild fuse-native',
    )
  }
  return { dir, prebuildDir, require: req }
}

function preloadShippedLibfuse(pkg: FuseNativePackage, loadError: unknown): void {
  const shipped = join(pkg.prebuildDir, 'libfuse.so')
  if (!existsSync(shipped)) {
    throw new NativeLoadError(`libfuse.so.2 could not be loaded (${firstLine(loadError)}); ${INSTALL_HINT}`, {
      cause: loadError,
    })
  }
  try {
    process.dlopen({ exports: {} }, shipped, RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE)
  } catch {
    // Expected: "Module did not self-register" (it is a plain library). Residency is checked below.
  }
  if (!mappedFiles().includes(shipped)) {
    throw new NativeLoadError(
      `libfuse.so.2 could not be loaded, nor fuse-native's own copy at ${shipped}; ${INSTALL_HINT}`,
      { cause: loadError },
    )
  }
}

function isDlopenFailure(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ERR_DLOPEN_FAILED'
}

function mappedFiles(): string[] {
  let maps: string
  try {
    maps = readFileSync('/proc/self/maps', 'utf8')
  } catch {
    return []
  }
  const files = new Set<string>()
  for (const line of maps.split('\n')) {
    const slash = line.indexOf('/')
    if (slash !== -1) files.add(line.slice(slash))
  }
  return [...files]
}

/** Where to look when PATH is unset (mount(8) runs its helpers so): the usual system folders. */
const DEFAULT_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(delimiter)

function findExecutable(name: string, pathEnv: string | undefined): string | undefined {
  for (const dir of (pathEnv || DEFAULT_PATH).split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, fsConstants.X_OK)
      if (statSync(candidate).isFile()) return candidate // a folder passes X_OK too
    } catch {
      // not here
    }
  }
  return undefined
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e)
  return text.split('\n')[0] ?? text
}
