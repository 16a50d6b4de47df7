import { closeSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openLogFile } from '../../../src/cli/log-file.js'

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
})
