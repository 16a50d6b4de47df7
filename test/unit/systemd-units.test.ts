/**
 * What the shipped systemd units make of ikfs's `umask` option. Its default is the process umask, which the
 * units set; they once set UMask=0077, so every file showed as 0600 and every folder as 0700, and
 * allow_other let other users see names they could not open. ikfs's spool, journal and control socket get
 * private modes of their own, whatever the umask.
 * (test/integration/ops.test.ts checks the units with systemd-analyze verify.)
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parseArgs } from '../../src/config/flags.js'
import { loadConfig, type Config } from '../../src/config/load.js'

const SYSTEMD = resolve(import.meta.dirname, '../../systemd')
/** systemd's own default for system services, and user managers' unless configured otherwise. */
const SYSTEMD_DEFAULT_UMASK = 0o022

interface Unit {
  umask: number
  env: Record<string, string>
  /** ExecStart's arguments after `mount`. */
  mountArgs: string[]
}

/** The [Service] settings that reach ikfs, with %i (instance) and %h (home) expanded. */
function readUnit(file: string, instance: string, home: string): Unit {
  const expand = (s: string): string => s.replaceAll('%i', instance).replaceAll('%h', home)
  const unit: Unit = { umask: SYSTEMD_DEFAULT_UMASK, env: {}, mountArgs: [] }
  for (const line of readFileSync(join(SYSTEMD, file), 'utf8').split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line)
    if (!m) continue
    const [, key, value] = m as unknown as [string, string, string]
    if (key === 'UMask') unit.umask = parseInt(value, 8)
    if (key === 'Environment') {
      for (const assignment of value.split(/\s+/)) {
        const eq = assignment.indexOf('=')
        unit.env[assignment.slice(0, eq)] = expand(assignment.slice(eq + 1))
      }
    }
    if (key === 'ExecStart') {
      const words = value.split(/\s+/).map(expand)
      unit.mountArgs = words.slice(words.indexOf('mount') + 1)
    }
  }
  return unit
}

let root: string
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ikfs-units-'))
})
afterEach(() => rmSync(root, { recursive: true, force: true }))

const UNITS = ['ikfs@.service', 'user/ikfs@.service']

/** The config `ikfs mount` gets in the unit, for a remote [photos] with these extra lines. */
function configInUnit(file: string, extraLines: string[]): Config {
  const home = join(root, 'home')
  const unit = readUnit(file, 'photos', home)
  expect(unit.mountArgs[0]).toBe('photos:')
  // The unit's config file (/etc/ikfs/ikfs.conf, or the user's own), stood in for by one in the test's folder.
  const conf = join(home, '.config/ikfs/ikfs.conf')
  mkdirSync(join(conf, '..'), { recursive: true })
  writeFileSync(conf, ['[photos]', 'type = imagekit', 'endpoint = https://ik.imagekit.io/acme', 'private_key = private_x', ...extraLines, ''].join('\n'))
  chmodSync(conf, 0o600)
  const env = { ...unit.env, ...(unit.env.IKFS_CONFIG !== undefined ? { IKFS_CONFIG: conf } : {}) }
  const parsed = parseArgs(unit.mountArgs, {}, 'ikfs mount')
  return loadConfig({ options: parsed.options, remote: 'photos', env, cwd: '/', home, identity: { uid: 0, gid: 0, umask: unit.umask } })
}

const modes = (c: Config): string[] => [(c.fileMode & ~c.umask).toString(8), (c.dirMode & ~c.umask).toString(8)]

describe('systemd units', () => {
  for (const file of UNITS) {
    it(`${file}: files show as 0644 and folders as 0755 by default`, () => {
      const config = configInUnit(file, [])
      expect(config.umask.toString(8)).toBe('22')
      expect(modes(config)).toEqual(['644', '755'])
    })

    it(`${file}: a umask in the remote's section of the config file is the one the mount gets`, () => {
      const config = configInUnit(file, ['umask = 027'])
      expect(modes(config)).toEqual(['640', '750'])
    })
  }
})
