/** `ikfs demo`'s keys file and the folders it is given: bad ones are one line each, and nothing is lost. */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadOrCreateDemoKeys } from '../../../src/cli/demo.js'
import { main } from '../../../src/cli/main.js'
import { ikfsAsNobody, isRoot } from '../as-nobody.js'
import { testCli, waitFor } from './fakes.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ikfs-demo-'))
})
afterEach(() => {
  chmodSync(dir, 0o700)
  rmSync(dir, { recursive: true, force: true })
})

const modeOf = (path: string): number => statSync(path).mode & 0o777

describe('loadOrCreateDemoKeys', () => {
  it('makes keys 0600 on first run and reads the same ones back, tightening a file others may read', () => {
    const keys = loadOrCreateDemoKeys(dir)
    expect(keys).toMatchObject({ id: 'demo', publicKey: expect.stringMatching(/^public_/), privateKey: expect.stringMatching(/^private_/) })
    expect(modeOf(join(dir, 'keys.json'))).toBe(0o600)
    chmodSync(join(dir, 'keys.json'), 0o644)
    expect(loadOrCreateDemoKeys(dir)).toEqual(keys)
    expect(modeOf(join(dir, 'keys.json'))).toBe(0o600)
  })

  it.each([
    ['not JSON', '{"privateKey": "private_oldSecret', /keys\.json is not valid JSON: kept it as keys\.json\.corrupt and made new keys/],
    ['a key missing', '{"id": "demo", "privateKey": "private_oldSecret"}', /keys\.json lacks one of id, publicKey and privateKey: kept it as keys\.json\.corrupt/],
    ['not an object', 'null', /keys\.json lacks one of/],
  ])('a keys file that is %s: one line, kept aside (0600), replaced by new keys 0600', (_what, text, line) => {
    writeFileSync(join(dir, 'keys.json'), text, { mode: 0o644 })
    chmodSync(join(dir, 'keys.json'), 0o644)
    const warnings: string[] = []
    const keys = loadOrCreateDemoKeys(dir, (l) => warnings.push(l))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(line)
    expect(warnings[0]).not.toMatch(/oldSecret/)
    expect(JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8'))).toEqual(keys)
    expect(modeOf(join(dir, 'keys.json'))).toBe(0o600)
    expect(readFileSync(join(dir, 'keys.json.corrupt'), 'utf8')).toBe(text)
    expect(modeOf(join(dir, 'keys.json.corrupt'))).toBe(0o600)
  })

  it('a folder where the keys file goes: an error naming it, nothing changed', () => {
    mkdirSync(join(dir, 'keys.json'))
    expect(() => loadOrCreateDemoKeys(dir, () => undefined, './demo')).toThrow(
      /^\.\/demo\/keys\.json is a folder, not the demo's keys file: move it away, or choose another --dir$/,
    )
    expect(statSync(join(dir, 'keys.json')).isDirectory()).toBe(true)
  })
})

describe('ikfs demo: folders it cannot use', () => {
  function expectOneLine(stderr: string, message: RegExp): void {
    expect(stderr).toMatch(message)
    expect(stderr.split('\n').filter(Boolean)).toHaveLength(1)
    expect(stderr).not.toMatch(/\bE[A-Z]+:|\n\s+at /)
  }

  it.each([
    [['--dir', 'file'], /^ikfs: cannot use --dir \.\/file: \.\/file is a file, not a folder; choose another with --dir\n$/],
    [['--dir', 'file/below'], /^ikfs: cannot use --dir \.\/file\/below: \.\/file is a file, not a folder; choose another with --dir\n$/],
  ])('%j: one line, exit 1, the file untouched', async (flags, message) => {
    writeFileSync(join(dir, 'file'), 'kept')
    const cli = testCli({}, dir)
    expect(await main(['demo', '--no-mount', ...flags], cli.ctx)).toBe(1)
    expectOneLine(cli.stderr.text, message)
    expect(readFileSync(join(dir, 'file'), 'utf8')).toBe('kept')
  })

  it('a file where the library goes (data/ in the demo folder): one line naming it', async () => {
    mkdirSync(join(dir, 'demo'))
    writeFileSync(join(dir, 'demo', 'data'), 'kept')
    const cli = testCli({}, dir)
    expect(await main(['demo', '--no-mount', '--dir', 'demo', '--log-level', 'silent'], cli.ctx)).toBe(1)
    expectOneLine(cli.stderr.text, /^ikfs: cannot use --dir \.\/demo: \.\/demo\/data is a file, not a folder; choose another with --dir\n$/)
    expect(readFileSync(join(dir, 'demo', 'data'), 'utf8')).toBe('kept')
  })

  it('a file where the mountpoint goes: one line naming --mountpoint', async () => {
    writeFileSync(join(dir, 'file'), 'kept')
    const cli = testCli({}, dir)
    expect(await main(['demo', '--dir', 'demo', '--mountpoint', 'file', '--log-level', 'silent'], cli.ctx)).toBe(1)
    expectOneLine(cli.stderr.text, /^ikfs: cannot use --mountpoint \.\/file: \.\/file is a file, not a folder; choose another with --mountpoint\n$/)
    expect(readFileSync(join(dir, 'file'), 'utf8')).toBe('kept')
  }, 40_000)

  it('a demo folder this user may not write: one line, exit 1 (as nobody when root)', async () => {
    mkdirSync(join(dir, 'ro'), { mode: 0o555 })
    chmodSync(join(dir, 'ro'), 0o555)
    chmodSync(dir, 0o755)
    if (isRoot) {
      const { code, stderr } = await ikfsAsNobody(['demo', '--no-mount', '--dir', 'ro'], dir)
      expect(code).toBe(1)
      expectOneLine(stderr, /^ikfs: cannot use --dir \.\/ro: no permission to write .*; choose another with --dir\n$/)
      return
    }
    const cli = testCli({}, dir)
    expect(await main(['demo', '--no-mount', '--dir', 'ro'], cli.ctx)).toBe(1)
    expectOneLine(cli.stderr.text, /^ikfs: cannot use --dir \.\/ro: no permission to write .*; choose another with --dir\n$/)
  })

  it('a demo folder another demo is serving: one line naming --dir, and the running demo goes on', async () => {
    const first = testCli({}, dir)
    const running = main(['demo', '--no-mount', '--dir', 'demo', '--log-level', 'silent'], first.ctx)
    await waitFor(() => first.stdout.text.includes('press Ctrl-C'), 'the first demo to serve', 30_000)
    const second = testCli({}, dir)
    expect(await main(['demo', '--no-mount', '--dir', 'demo', '--log-level', 'silent'], second.ctx)).toBe(1)
    expectOneLine(second.stderr.text, new RegExp(`^ikfs: cannot use --dir \\./demo: another ikfs demo or emulator \\(pid ${process.pid}\\) uses it; stop that one, or choose another with --dir\n$`))
    expect(second.stdout.text).toBe('')
    first.signals.emit('SIGINT')
    expect(await running).toBe(0)
  }, 40_000)

  it('a corrupt keys file: the demo says so in one line and serves the library with new keys', async () => {
    mkdirSync(join(dir, 'demo'))
    writeFileSync(join(dir, 'demo', 'keys.json'), 'private_pastedHere', { mode: 0o644 })
    const cli = testCli({}, dir)
    const done = main(['demo', '--no-mount', '--dir', 'demo', '--log-level', 'silent'], cli.ctx)
    await waitFor(() => cli.stdout.text.includes('press Ctrl-C'), 'the demo to serve', 30_000)
    cli.signals.emit('SIGINT')
    expect(await done).toBe(0)
    expect(cli.stderr.text).toBe(
      'ikfs: ./demo/keys.json is not valid JSON: kept it as keys.json.corrupt and made new keys (the demo library is local: nothing is lost)\n',
    )
    expect(modeOf(join(dir, 'demo', 'keys.json'))).toBe(0o600)
  }, 40_000)
})
