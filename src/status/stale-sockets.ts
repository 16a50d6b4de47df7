/**
 * Control sockets left by daemons that did not end cleanly (kill -9, a crash, a machine that lost power
 * with /run kept) pile up in the socket folder. A new daemon, once listening, removes those nothing
 * listens at any more: a refused connection means no process has the socket open. One that answers,
 * or gives any other error, stays.
 */
import { readdir, unlink } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'

/** Removes the `*.sock` files in `dir` other than `own` that refuse connections; resolves with how many went. */
export async function removeStaleSockets(dir: string, own: string): Promise<number> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return 0
  }
  let removed = 0
  for (const name of names) {
    const path = join(dir, name)
    if (!name.endsWith('.sock') || path === own) continue
    if ((await probe(path)) !== 'ECONNREFUSED') continue
    await unlink(path).then(() => removed++, () => undefined)
  }
  return removed
}

/** 'ECONNREFUSED' when nothing listens at `path`; 'answered' or another error code otherwise. */
function probe(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path)
    socket.once('connect', () => {
      socket.destroy()
      resolve('answered')
    })
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
  })
}
