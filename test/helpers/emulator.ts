/**
 * One emulator per test file (or per test): a fresh temp data dir, random keys, port 0. `stop()` closes the
 * server and removes the data dir; call it from afterAll/afterEach.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEmulator } from '../../src/emulator/server.js'

type StartOptions = Parameters<typeof startEmulator>[0]
export type EmulatorHandle = Awaited<ReturnType<typeof startEmulator>>
export type TestEmulatorOverrides = Partial<Omit<StartOptions, 'dataDir' | 'privateKey' | 'publicKey'>>

export interface TestEmulator {
  emu: EmulatorHandle
  privateKey: string
  publicKey: string
  dataDir: string
  /** `<url>/<id>`, the URL endpoint the SDKs sign against. */
  urlEndpoint: string
  stop(): Promise<void>
}

export async function startTestEmulator(overrides: TestEmulatorOverrides = {}): Promise<TestEmulator> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ikfs-emu-test-'))
  // Same shape as real keys (`private_…` / `public_…`, base64-ish, may contain '=' and '/').
  const privateKey = `private_${randomBytes(21).toString('base64')}`
  const publicKey = `public_${randomBytes(21).toString('base64')}`
  try {
    // Tests fire calls back to back; the default per-second budget would turn them into 429s.
    const emu = await startEmulator({ rateLimit: { perSecond: 0 }, ...overrides, dataDir, privateKey, publicKey })
    return {
      emu,
      privateKey,
      publicKey,
      dataDir,
      urlEndpoint: emu.urlEndpoint,
      stop: async () => {
        try {
          await emu.close()
        } finally {
          await rm(dataDir, { recursive: true, force: true })
        }
      },
    }
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true })
    throw error
  }
}

/** Polls `check` until it returns a value other than undefined, or throws after `deadlineMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined>, what: string, deadlineMs = 10_000): Promise<T> {
  const until = performance.now() + deadlineMs
  let pauseMs = 20
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, pauseMs))
    pauseMs = Math.min(pauseMs * 2, 200)
  }
}
