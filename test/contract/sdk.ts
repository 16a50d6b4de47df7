/** The official SDKs pointed at a test emulator, plus small helpers the contract tests share. */
import { createRequire } from 'node:module'
import { ImageKit, toFile } from '@imagekit/nodejs'
import type { ClientOptions } from '@imagekit/nodejs'
import ImageKitV6 from 'imagekit'
import { afterAll, beforeAll, expect } from 'vitest'
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js'

/** No retries: a contract test must see the emulator's first answer, errors included. */
export function sdkFor(t: TestEmulator, options: Partial<ClientOptions> = {}): ImageKit {
  return new ImageKit({ privateKey: t.privateKey, baseURL: t.emu.url, maxRetries: 0, ...options })
}

/** One emulator and an SDK client on it for the whole test file: started before its tests, stopped after. */
export function useSdkEmulator(): { readonly t: TestEmulator; readonly ik: ImageKit } {
  const env = {} as { t: TestEmulator; ik: ImageKit }
  beforeAll(async () => {
    env.t = await startTestEmulator()
    env.ik = sdkFor(env.t)
  })
  afterAll(async () => {
    await env.t?.stop()
  })
  return env
}

/** `imagekit` 6 on the emulator: its upload endpoint is an option; URL building and signing use `urlEndpoint`. */
export function v6For(t: TestEmulator, privateKey = t.privateKey): ImageKitV6 {
  return new ImageKitV6({ publicKey: t.publicKey, privateKey, urlEndpoint: t.urlEndpoint, uploadEndpoint: `${t.emu.url}/api/v1/files/upload` })
}

/** The axios that `imagekit` 6 sends with (its own dependency, resolved from its package). */
interface AxiosLike {
  interceptors: { request: { use(f: (config: { url?: string }) => unknown): number; eject(id: number): void } }
}

/**
 * `imagekit` 6 hard-codes `https://api.imagekit.io` for the Media API (§7); this sends those calls to the
 * emulator instead, for the calling test file (run from beforeAll; the returned function undoes it).
 */
export function routeV6MediaApiTo(t: TestEmulator): () => void {
  const axios = createRequire(createRequire(import.meta.url).resolve('imagekit'))('axios') as AxiosLike
  const id = axios.interceptors.request.use((config) => {
    if (config.url?.startsWith('https://api.imagekit.io/')) config.url = t.emu.url + config.url.slice('https://api.imagekit.io'.length)
    return config
  })
  return () => axios.interceptors.request.eject(id)
}

export async function uploadBytes(
  ik: ImageKit,
  folder: string,
  fileName: string,
  bytes: Buffer,
  extra: Partial<ImageKit.FileUploadParams> = {},
): Promise<ImageKit.FileUploadResponse> {
  return ik.files.upload({ file: await toFile(bytes, fileName), fileName, folder, useUniqueFileName: false, ...extra })
}

export interface Fetched {
  status: number
  bytes: Buffer
  headers: Headers
}

export async function fetchBytes(url: string): Promise<Fetched> {
  const res = await fetch(url)
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers }
}

/** `url` with `tr=orig-true` added as a query parameter (keeps an existing query). */
export function withOrig(url: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}tr=orig-true`
}

/** Runs `call`, expects it to reject, and returns the rejection for closer checks. */
export async function rejectionOf(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call()
  } catch (error) {
    return error
  }
  throw new Error('expected the call to fail, but it succeeded')
}

/** The call answered 204 No Content; the SDK turns that into a `null` result. */
export async function noContent(call: { withResponse(): Promise<{ data: unknown; response: Response }> }): Promise<number> {
  const { data, response } = await call.withResponse()
  expect(data).toBeNull()
  return response.status
}

export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10)
}
