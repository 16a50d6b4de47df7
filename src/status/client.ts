/**
 * Talking to a running daemon's control socket (`ikfs status`, `ikfs refresh`, readiness waits). Only through
 * a folder that nobody but this user can use (private-dir.ts): another user's socket would answer for the daemon.
 */
import { request } from 'node:http'
import { dirname } from 'node:path'
import { checkPrivateDir, UnsafeFolderError } from './private-dir.js'
import type { StatusSnapshot } from './snapshot.js'

/** A daemon answers from memory; a slower answer means it is stuck. */
export const CONTROL_REQUEST_TIMEOUT_MS = 10_000

export class ControlError extends Error {
  override name = 'ControlError'
  /** ENOENT / ECONNREFUSED: no daemon serves this mountpoint. */
  readonly notRunning: boolean
  /** A daemon took the connection and did not answer in time: stopped (SIGSTOP) or stuck. */
  readonly timedOut: boolean
  constructor(message: string, notRunning: boolean, options?: { cause?: unknown; timedOut?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.notRunning = notRunning
    this.timedOut = options?.timedOut === true
  }
}

export interface ControlResponse {
  status: number
  body: string
}

export function controlRequest(socketPath: string, method: 'GET' | 'POST', path: string, timeoutMs = CONTROL_REQUEST_TIMEOUT_MS): Promise<ControlResponse> {
  try {
    checkPrivateDir(dirname(socketPath))
  } catch (e) {
    if (e instanceof UnsafeFolderError) return Promise.reject(new ControlError(e.message, false, { cause: e }))
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return Promise.reject(new ControlError(`no ikfs daemon answers on ${socketPath}`, true, { cause: e }))
    return Promise.reject(new ControlError(`cannot talk to ${socketPath}: ${code ?? (e as Error).message}`, false, { cause: e }))
  }
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new ControlError(`no answer from ${socketPath} within ${timeoutMs / 1000}s`, false, { timedOut: true })))
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e instanceof ControlError) reject(e)
      else if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') reject(new ControlError(`no ikfs daemon answers on ${socketPath}`, true, { cause: e }))
      else reject(new ControlError(`cannot talk to ${socketPath}: ${e.code ?? e.message}`, false, { cause: e }))
    })
    req.end()
  })
}

export async function fetchStatus(socketPath: string, timeoutMs?: number): Promise<StatusSnapshot> {
  const res = await controlRequest(socketPath, 'GET', '/status', timeoutMs)
  if (res.status !== 200) throw new ControlError(`status request failed (${res.status}): ${res.body.trim()}`, false)
  return JSON.parse(res.body) as StatusSnapshot
}

/** Asks again every `pollMs` until `settled` holds for the answer or `withinMs` has passed; the last answer. */
export async function askUntil<T>(ask: () => Promise<T>, settled: (answer: T) => boolean, withinMs: number, pollMs: number): Promise<T> {
  const deadline = Date.now() + withinMs
  for (;;) {
    const answer = await ask()
    if (settled(answer) || Date.now() >= deadline) return answer
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
}
