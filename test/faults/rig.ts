// The set-up every fault test file shares: a work dir, an emulator library (optionally behind an upload
// counter), and the mounts a test makes; after the file all are stopped, and nothing may stay mounted.
import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, expect } from 'vitest'
import {
  leftMounted, mountLibrary, startLibrary, startUploadCounter, tempDir, type Library, type Mounted, type UploadCounter,
} from '../integration/harness.js'

export interface FaultRigOptions {
  emulatorArgs?: string[]
  /** An upload counter (a proxy that records uploads) between the mounts and the emulator's upload API. */
  uploadCounter?: boolean
}

export interface FaultRig {
  readonly work: string
  readonly lib: Library
  /** Only with `uploadCounter: true`. */
  readonly counter: UploadCounter
  /** A mount of the library, stopped after the file (also when the test killed it). */
  mount(args: string[]): Promise<Mounted>
}

/** Registers beforeAll/afterAll for the calling describe block; the rig's fields are set once beforeAll ran. */
export function useFaultRig(prefix: string, options: FaultRigOptions = {}): FaultRig {
  let work: string | undefined
  let lib: Library | undefined
  let counter: UploadCounter | undefined
  const mounts: Mounted[] = []
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`fault rig: no ${what} (before beforeAll, or not asked for)`)
    return value
  }

  beforeAll(async () => {
    work = await tempDir(prefix)
    lib = await startLibrary(options.emulatorArgs ? { emulatorArgs: options.emulatorArgs } : {})
    if (options.uploadCounter) counter = await startUploadCounter(lib.url)
  })
  afterAll(async () => {
    for (const m of mounts) await m.stop()
    await counter?.stop()
    await lib?.stop()
    expect(await leftMounted(mounts.map((m) => m.path))).toEqual([])
    if (work) await rm(work, { recursive: true, force: true })
  }, 120_000) // a hung mount takes up to 30 s of SIGTERM before SIGKILL

  return {
    get work() { return ready(work, 'work dir') },
    get lib() { return ready(lib, 'library') },
    get counter() { return ready(counter, 'upload counter') },
    async mount(args) {
      const m = await mountLibrary(ready(lib, 'library'), { args })
      mounts.push(m)
      return m
    },
  }
}
