import { createHook } from 'node:async_hooks'

/** Async resources of the fs module made while `fn` runs: each is a request to the thread pool. */
export async function fsRequestsDuring(fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = []
  const hook = createHook({ init: (_id, type) => { if (/^(FSREQ|FILEHANDLE)/.test(type)) seen.push(type) } })
  hook.enable()
  try {
    await fn()
  } finally {
    hook.disable()
  }
  return seen
}
