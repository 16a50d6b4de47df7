import { describe, expect, it } from 'vitest'
import { runCommand } from '../../../src/fuse/run-command.js'

describe('runCommand', () => {
  it('never rejects: a command line too long to start (E2BIG, thrown by spawn) resolves as not started', async () => {
    const args = Array.from({ length: 3 }, () => 'x'.repeat(1024 * 1024))
    expect(await runCommand(process.execPath, ['-e', '0', ...args], 10_000)).toMatchObject({ code: null, stderr: expect.stringContaining('E2BIG'), timedOut: false })
  })

  it('writes `input` to the command\'s stdin and closes it', async () => {
    const script = "let n = 0; process.stdin.on('data', (c) => (n += c.length)).on('end', () => process.exit(n === 5 ? 0 : 3))"
    expect((await runCommand(process.execPath, ['-e', script], 10_000, undefined, 'hello')).code).toBe(0)
    expect((await runCommand(process.execPath, ['-e', script], 10_000, undefined, 'hi')).code).toBe(3)
  })
})
