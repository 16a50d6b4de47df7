import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { removeStaleSockets } from '../../../src/status/stale-sockets.js'

let dir: string | undefined
const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** A socket file whose daemon was killed (kill -9): the file stays, nothing listens. */
async function deadSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`])
  await new Promise((r) => child.once('exit', r))
  expect(existsSync(path)).toBe(true)
}

describe('removeStaleSockets', () => {
  it('removes the sockets nothing listens at, and keeps live ones, its own and other files', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ikfs-sockets-'))
    await deadSocket(join(dir, 'dead.sock'))
    await deadSocket(join(dir, 'own.sock'))
    const live = createServer()
    servers.push(live)
    await new Promise<void>((r) => live.listen(join(dir!, 'live.sock'), r))
    await writeFile(join(dir, 'notes.txt'), 'x')
    expect(await removeStaleSockets(dir, join(dir, 'own.sock'))).toBe(1)
    expect(['dead.sock', 'own.sock', 'live.sock', 'notes.txt'].map((n) => existsSync(join(dir!, n)))).toEqual([false, true, true, true])
    expect(await removeStaleSockets(join(dir, 'missing'), '')).toBe(0)
  })
})
