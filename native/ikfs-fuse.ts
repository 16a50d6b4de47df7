/**
 * ikfs's subclass of fuse-native's Fuse class: the one place that overrides fuse-native's private methods
 * (safe only because fuse-native is pinned to exactly 2.2.6).
 * - `_fuseOptions()` returns our allow-listed option string (native/fuse-options.ts), ignoring $DEBUG.
 * - `_op_getxattr` / `_op_listxattr` follow the Linux xattr size protocol, which 2.2.6 gets wrong: a size-0
 *   request must answer the exact length, and a value larger than the kernel's buffer must answer ERANGE
 *   (2.2.6 copies a truncated value and reports the full length, so libfuse would read past its buffer).
 * - `releaseNative()` drops the ref'd libuv handle that fuse-native's own unmount drops, for when ikfs
 *   unmounted the kernel side itself.
 * - `_makeHandlerArray()` and `_op_open` / `_op_create` / `_op_flush` pass the caller's process to the ops, as the
 *   libfuse3 binding does (`requestCaller`, native/fuse2.ts; 0 when unknown): fuse-native 2.2.6 does not, and
 *   without it every close of a file written counts as the opener's, so each command a shell starts with its
 *   output in a file uploaded it again at its exit (README W2).
 */
import { constants as osConstants } from 'node:os'
import type { FuseBinding, FuseClass, FuseHandler, FuseInstance, FuseSignal } from './fuse-native-types.js'

const ENODATA = -osConstants.errno.ENODATA
const ERANGE = -osConstants.errno.ERANGE

type XattrValueCallback = (code: number, value?: Buffer) => void
type XattrListCallback = (code: number, names?: string[]) => void

interface XattrOps {
  getxattr(path: string, name: string, position: number, cb: XattrValueCallback): void
  listxattr(path: string, cb: XattrListCallback): void
}

type HandleCallback = (code: number, fh?: number) => void

/** The ops told their caller (native/binding-types.ts FuseOps): `caller` is 0 or undefined when unknown. */
interface CallerOps {
  open(path: string, flags: number, cb: HandleCallback, caller?: number): void
  create(path: string, mode: number, cb: HandleCallback, caller?: number): void
  flush(path: string, fh: number, cb: (code: number) => void, caller?: number): void
}

export interface IkfsFuseInstance extends FuseInstance {
  /** After the kernel mount is gone: lets the process exit (idempotent; only after a successful mount). */
  releaseNative(): void
}

export type IkfsFuseClass = new (
  ...args: ConstructorParameters<FuseClass>
) => IkfsFuseInstance

/**
 * Subclass of `Base` (fuse-native's Fuse, or a stand-in in tests). `requestCaller`: the process whose request
 * a worker's thread locals stand for (native/fuse2.ts requestCallers); without it the ops are told no caller.
 */
export function createIkfsFuseClass(
  Base: FuseClass,
  binding: FuseBinding,
  optionString: string,
  requestCaller?: (locals: Buffer) => number,
): IkfsFuseClass {
  class IkfsFuse extends Base implements IkfsFuseInstance {
    #released = false

    override _fuseOptions(): string {
      return optionString
    }

    /** Called by Base's constructor: the handlers of open, create and flush add the caller to their arguments. */
    override _makeHandlerArray(): FuseHandler[] {
      const handlers = super._makeHandlerArray()
      if (!requestCaller) return handlers
      for (const op of [binding.op_open, binding.op_create, binding.op_flush]) {
        const handler = handlers[op]
        if (handler) handlers[op] = (locals, opCode, ...args) => handler(locals, opCode, ...args, requestCaller(locals))
      }
      return handlers
    }

    _op_open(signal: FuseSignal, path: string, flags: number, caller?: number): void {
      ;(this.ops as unknown as CallerOps).open(path, flags, (code, fh) => signal(code, fh), caller)
    }

    _op_create(signal: FuseSignal, path: string, mode: number, caller?: number): void {
      ;(this.ops as unknown as CallerOps).create(path, mode, (code, fh) => signal(code, fh), caller)
    }

    _op_flush(signal: FuseSignal, path: string, fh: number, caller?: number): void {
      ;(this.ops as unknown as CallerOps).flush(path, fh, (code) => signal(code), caller)
    }

    _op_getxattr(signal: FuseSignal, path: string, name: string, valueBuf: Buffer, position: number): void {
      ;(this.ops as unknown as XattrOps).getxattr(path, name, position, (code, value) => {
        if (code !== 0) return signal(code, valueBuf.buffer)
        if (!value) return signal(ENODATA, valueBuf.buffer)
        signal(fitInto(valueBuf, value), valueBuf.buffer)
      })
    }

    _op_listxattr(signal: FuseSignal, path: string, listBuf: Buffer): void {
      ;(this.ops as unknown as XattrOps).listxattr(path, (code, names) => {
        if (code !== 0) return signal(code, listBuf.buffer)
        const encoded = Buffer.concat((names ?? []).map((n) => Buffer.from(`${n}\0`)))
        signal(fitInto(listBuf, encoded), listBuf.buffer)
      })
    }

    releaseNative(): void {
      if (this.#released || !this._thread) return
      this.#released = true
      binding.fuse_native_unmount(this.mnt, this._thread)
    }
  }
  return IkfsFuse
}

/** The Linux xattr size protocol: size 0 asks for the length; too small a buffer is ERANGE. */
export function fitInto(target: Buffer, value: Buffer): number {
  if (target.length === 0) return value.length
  if (value.length > target.length) return ERANGE
  value.copy(target)
  return value.length
}
