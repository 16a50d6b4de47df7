/**
 * The parts of fuse-native 2.2.6 (CommonJS, untyped) that ikfs uses. Only native/ and src/fuse/ see these.
 * Underscored members are private to fuse-native; the version is pinned to exactly 2.2.6 so they hold.
 */

/** fuse-native's callback: the first argument is 0, a negative errno, or (read/write) a byte count. */
export type FuseCallback = (code: number, ...values: unknown[]) => void

/** The per-request `signal` fuse-native hands to its `_op_*` methods: (result, ...out values). */
export type FuseSignal = (result: number, ...values: unknown[]) => void

/** The ops object fuse-native calls (loosely typed here: each op has its own argument list). */
export type FuseOpsObject = Record<string, (...args: never[]) => void>

/** Options of the Fuse constructor that ikfs uses (the `-o` string is built by native/fuse-options.ts). */
export interface FuseConstructorOptions {
  /** `false` turns off fuse-native's hidden 15 s per-op timeout (our guard enforces deadlines). */
  timeout: false
  force: boolean
  mkdir: boolean
}

/**
 * One of fuse-native's per-op handlers (private): called by its C side with the worker's thread locals (a
 * Buffer over fuse_thread_locals_t), the op number and the op's arguments, it calls `_op_<name>(signal, ...args)`.
 */
export type FuseHandler = (locals: Buffer, op: number, ...args: unknown[]) => void

export interface FuseInstance {
  readonly mnt: string
  readonly ops: FuseOpsObject
  mount(cb: (err: Error | null) => void): void
  unmount(cb: (err: Error | null) => void): void
  /** fuse_thread_t buffer (private): needed to release the native loop handle. */
  _thread: Buffer | null
  _fuseOptions(): string
  /** Called once by the constructor: the handlers, indexed by op number, that the mount hands the C side. */
  _makeHandlerArray(): FuseHandler[]
}

export interface FuseClass {
  new (mnt: string, ops: object, opts: FuseConstructorOptions): FuseInstance
  readonly prototype: FuseInstance
  /** Negative errno constants, e.g. Fuse.ENOENT === -2. */
  readonly ENOENT: number
  readonly EIO: number
}

/** The compiled addon (what fuse-native's index.js keeps in its private `binding`). */
export interface FuseBinding {
  /** Drops fuse-native's ref'd async handle (`mounted--`); does not touch the kernel mount. */
  fuse_native_unmount(mnt: string, thread: Buffer): void
  /** fuse-native's op numbers (its handler array's indexes). */
  readonly op_open: number
  readonly op_create: number
  readonly op_flush: number
}
