import { closeSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { openLogFile } from '../../../src/cli/log-file.js'
import { createLogger } from '../../../src/log.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ikfs-log-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('openLogFile', () => {
  it('whose folder cannot be made fails in one line naming the file and the flag, where mkdir -p in Node would never return', () => {
    // mkdir under /proc answers ENOENT although /proc exists, which Node's recursive mkdir retries forever.
    expect(() => openLogFile('/proc/ikfs-no-such-folder/ikfs.log')).toThrow(
      /^cannot write the log file \/proc\/ikfs-no-such-folder\/ikfs\.log: ENOENT.*ikfs-no-such-folder.* \(choose another with --log-file\)$/,
    )
  })

  it('makes its folder and the file readable by their owner only (it names the files written through the mount), as the --daemon log is', () => {
    const file = join(dir, 'logs', 'ikfs.log')
    closeSync(openLogFile(file))
    expect((statSync(join(dir, 'logs')).mode & 0o777).toString(8)).toBe('700')
    expect((statSync(file).mode & 0o777).toString(8)).toBe('600')
  })

  /** README "Watching a running mount": logrotate's copytruncate is how the log is rotated (SIGHUP does not reopen it). */
  it('truncated by logrotate\'s copytruncate, gets its next lines from its start, not after a hole as long as what was cut', async () => {
    const file = join(dir, 'ikfs.log')
    const fd = openLogFile(file)
    const log = createLogger({ fd })
    // The logger writes asynchronously: wait for what it was given to be in the file.
    const lines = (): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean)
    try {
      for (let i = 0; i < 50; i++) log.info({ i }, 'before the rotation')
      await vi.waitFor(() => expect(lines()).toHaveLength(50))
      truncateSync(file, 0)
      log.info('after the rotation')
      await vi.waitFor(() => expect(statSync(file).size).toBeGreaterThan(0))
      const text = readFileSync(file, 'utf8')
      expect(text).not.toContain('\0')
      expect(lines().map((l) => JSON.parse(l).msg)).toEqual(['after the rotation'])
    } finally {
      closeSync(fd)
    }
  })
})
