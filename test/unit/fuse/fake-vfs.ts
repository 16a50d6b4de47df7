/** A Vfs double for adapter tests: every method records its call and answers from `impl` (or rejects ENOSYS). */
import { VfsError } from '../../../src/vfs/errors.js'
import type { Attr, Vfs } from '../../../src/vfs/types.js'

export type Call = { op: string; args: unknown[] }

export function makeAttr(over: Partial<Attr> = {}): Attr {
  return {
    ino: 7, kind: 'file', perm: 0o644, size: 5, nlink: 1, uid: 1000, gid: 1000,
    atimeMs: 1_000, mtimeMs: 2_000, ctimeMs: 3_000, birthtimeMs: 500, blksize: 4096, blocks: 1,
    ...over,
  }
}

/** Vfs methods that are optional: absent from the fake unless `impl` provides them. */
const OPTIONAL: ReadonlySet<string> = new Set(['readInto', 'bypassesPageCache', 'closesWithoutFlush'])

export function createFakeVfs(impl: Partial<Record<keyof Vfs, (...args: never[]) => unknown>> = {}): { vfs: Vfs; calls: Call[] } {
  const calls: Call[] = []
  const vfs = new Proxy({} as Vfs, {
    get(_target, op: string) {
      if (OPTIONAL.has(op) && !impl[op as keyof Vfs]) return undefined
      return (...args: unknown[]) => {
        calls.push({ op, args })
        const fn = impl[op as keyof Vfs] as ((...a: unknown[]) => unknown) | undefined
        if (fn) return fn(...args)
        return Promise.reject(new VfsError('ENOSYS', `${op} not faked`))
      }
    },
  })
  return { vfs, calls }
}
