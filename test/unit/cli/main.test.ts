import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { main } from '../../../src/cli/main.js'
import { notRunning, socketFor } from '../../../src/cli/status.js'
import { ControlError } from '../../../src/status/client.js'
import type { StatusSnapshot } from '../../../src/status/snapshot.js'
import { snapshotFixture } from '../status/fixtures.js'
import { OPTION_KEYS, optionSpec } from '../../../src/config/options.js'
import { EMULATOR_USAGE } from '../../../src/emulator/main.js'
import { testCli } from './fakes.js'
import { DEMO_SET_OPTIONS } from '../../../src/cli/demo.js'

const ENV = { IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_PRIVATE_KEY: 'private_mainTestKey123=' }

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ikfs-cli-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('exit code 2 for usage and configuration errors, one line on stderr', () => {
  it.each([
    [[], /Usage: ikfs COMMAND/],
    [['frobnicate'], /^ikfs: unknown command "frobnicate" \(commands: mount, unmount, status, refresh, doctor, demo, emulator, version, help\)\n$/],
    [['--frobnicate=secret'], /^ikfs: unknown command "--frobnicate" /],
    [['mount'], /^ikfs: missing MOUNTPOINT/],
    [['mount', 'a', 'b', 'c'], /^ikfs: too many arguments/],
    [['mount', 'photos:'], /^ikfs: missing MOUNTPOINT after photos:/],
    [['mount', 'photos:sub/dir', 'mnt'], /sub-folder/],
    [['mount', 'mnt', '--frobnicate'], /^ikfs: unknown flag --frobnicate \(see `ikfs mount --help`\)\n$/],
    // rclone mount flags ikfs does not take say what to do instead (and never echo their value).
    [['mount', 'mnt', '--vfs-cache-mode', 'writes'], /^ikfs: --vfs-cache-mode is an rclone mount flag ikfs does not take: ikfs always writes through its spool in --cache-dir .*; drop the flag\n$/],
    [['mount', 'mnt', '--vfs-cache-max-size=10G'], /^ikfs: --vfs-cache-max-size is an rclone mount flag ikfs does not take: [^\n]*README W9[^\n]*\n$/],
    [['mount', 'mnt', '--vfs-read-ahead', '1G'], /^ikfs: --vfs-read-ahead is an rclone mount flag ikfs does not take: read-ahead grows by itself/],
    [['mount', 'mnt', '-vv'], /^ikfs: -vv is an rclone mount flag ikfs does not take: use --log-level debug\n$/],
    [['mount', 'mnt', '--buffer-size', '32M'], /^ikfs: --buffer-size [^\n]*use --max-buffered/],
    [['mount', 'mnt', '--dir-cache-time'], /^ikfs: flag --dir-cache-time needs a value\n$/],
    [['mount', 'mnt', '--dir-cache-time', 'forever'], /^ikfs: invalid dir_cache_time from flag --dir-cache-time: "forever" is not a duration/],
    [['status', 'mnt', '--wait', 'forever'], /^ikfs: --wait: "forever" is not a duration \(examples: /],
    [['unmount'], /^ikfs: usage: ikfs unmount MOUNTPOINT/],
    // The commands that talk to a running mount take their own flags only.
    [['status', 'mnt', '--read-only'], /^ikfs: ikfs status takes no mount options\n$/],
    [['unmount', 'mnt', '--read-only'], /^ikfs: ikfs unmount takes no mount options\n$/],
    [['refresh', 'mnt', '--dir-cache-time', '1s'], /^ikfs: ikfs refresh takes no mount options\n$/],
    [['unmount', 'mnt', '--lazy=maybe'], /--lazy: "maybe" is not a boolean/],
    [['demo', 'extra'], /^ikfs: ikfs demo takes no arguments/],
    // The demo sets the endpoint and keys to its emulator's: a flag for them would be silently overridden.
    [['demo', '--endpoint', 'https://ik.imagekit.io/acme'], /^ikfs: ikfs demo sets --endpoint itself \(to its emulator's\): drop the flag\n$/],
    [['demo', '--private-key=private_x'], /^ikfs: ikfs demo sets --private-key itself \(to its emulator's\): drop the flag\n$/],
    [['version', 'extra'], /^ikfs: ikfs version takes no arguments \(see `ikfs version --help`\)\n$/],
    [['version', '--frobnicate'], /^ikfs: unknown flag --frobnicate \(see `ikfs version --help`\)\n$/],
    [['help', 'nope'], /^ikfs: no help for "nope"/],
  ])('%j', async (argv, stderr) => {
    const cli = testCli(ENV, dir)
    expect(await main(argv, cli.ctx)).toBe(2)
    expect(cli.stderr.text).toMatch(stderr)
    expect(cli.stdout.text).toBe('')
    expect(cli.runtime.calls).toEqual([])
  })

  it('reports a missing private key as a config error', async () => {
    const cli = testCli({ IKFS_ENDPOINT: 'https://ik.imagekit.io/acme' }, dir)
    expect(await main(['mount', dir], cli.ctx)).toBe(2)
    expect(cli.stderr.text).toMatch(/^ikfs: missing private_key: set --private-key, IKFS_PRIVATE_KEY/)
    expect(cli.stderr.text.split('\n').filter(Boolean)).toHaveLength(1)
  })

  it('prints the stack only with --debug', async () => {
    const plain = testCli(ENV, dir)
    await main(['mount', 'mnt', '--retries', 'x'], plain.ctx)
    expect(plain.stderr.text).not.toMatch(/\n\s+at /)
    const debug = testCli(ENV, dir)
    expect(await main(['mount', 'mnt', '--retries', 'x', '--debug'], debug.ctx)).toBe(2)
    expect(debug.stderr.text).toMatch(/ConfigError: invalid retries[\s\S]*\n\s+at /)
  })
})

describe('version and help', () => {
  it('prints the package version', async () => {
    const cli = testCli({}, dir)
    expect(await main(['version'], cli.ctx)).toBe(0)
    expect(cli.stdout.text).toMatch(/^ikfs \d+\.\d+\.\d+\n$/)
  })

  it('lists every command', async () => {
    const cli = testCli({}, dir)
    expect(await main(['--help'], cli.ctx)).toBe(0)
    for (const command of ['mount', 'unmount', 'demo', 'emulator', 'version', 'help']) {
      expect(cli.stdout.text).toMatch(new RegExp(`^  ${command} `, 'm'))
    }
  })

  it.each([[['help', '--help']], [['help', '-h']], [['--help', '--help']]])('%j is the general help, not "no help for --help"', async (argv) => {
    const cli = testCli({}, dir)
    expect(await main(argv, cli.ctx)).toBe(0)
    expect(cli.stdout.text).toMatch(/^ikfs: mount an ImageKit/)
    expect(cli.stderr.text).toBe('')
  })

  it.each([[['mount', '--help'], []], [['help', 'mount'], []], [['demo', '-h'], DEMO_SET_OPTIONS]])(
    '%j lists every option it takes with its flag, environment variables and default, and no other',
    async (argv, setByCommand: readonly string[]) => {
      const cli = testCli({}, dir)
      expect(await main(argv, cli.ctx)).toBe(0)
      for (const key of OPTION_KEYS) {
        const spec = optionSpec(key)
        const heading = new RegExp(`^  ${spec.flag}( <\\w+>)?$`, 'm')
        if (setByCommand.includes(key)) {
          expect(cli.stdout.text, `${spec.flag} is set by the command`).not.toMatch(heading)
          continue
        }
        expect(cli.stdout.text).toMatch(heading)
        for (const variable of spec.env) expect(cli.stdout.text).toContain(variable)
      }
      expect(cli.stdout.text).toContain('default 5m')
      expect(cli.runtime.calls).toEqual([])
    },
  )

  it('`ikfs version --help` is its help, as for the other commands', async () => {
    const cli = testCli({}, dir)
    expect(await main(['version', '--help'], cli.ctx)).toBe(0)
    expect(cli.stdout.text).toMatch(/^Usage: ikfs version\n\n[A-Z][a-z]/)
    expect(cli.stdout.text).not.toMatch(/^ikfs \d/)
  })

  const EVERY_HELP = [['--help'], ...['mount', 'unmount', 'status', 'refresh', 'doctor', 'demo', 'emulator', 'version', 'help'].map((c) => [c, '--help'])].map((argv) => [argv])

  it.each(EVERY_HELP)('%j has no line over 100 columns when not a terminal', async (argv) => {
    const cli = testCli({}, dir)
    expect(await main(argv, cli.ctx)).toBe(0)
    const lines = cli.stdout.text.split('\n')
    expect(lines.length).toBeGreaterThan(2)
    expect(lines.filter((line) => line.length > 100)).toEqual([])
  })

  it.each(EVERY_HELP)('%j fits a 60-column terminal', async (argv) => {
    const cli = testCli({}, dir)
    Object.assign(cli.stdout, { isTTY: true, columns: 60 })
    expect(await main(argv, cli.ctx)).toBe(0)
    const lines = cli.stdout.text.split('\n')
    // A single word longer than the line (a URL) may stand alone on its line.
    expect(lines.filter((line) => line.length > 60 && /\s\S/.test(line.trim()))).toEqual([])
  })

  it.each([[['emulator', '--help']], [['help', 'emulator']], [['emulator', '-h']]])(
    '%j lists every emulator flag the usage names, with its value, what it does and its default',
    async (argv) => {
      const cli = testCli({}, dir)
      expect(await main(argv, cli.ctx)).toBe(0)
      const flags = [...new Set(EMULATOR_USAGE.match(/--[a-z-]+/g))].filter((flag) => flag !== '--help')
      expect(flags.length).toBeGreaterThan(20)
      const lines = cli.stdout.text.split('\n')
      for (const flag of flags) {
        const at = lines.findIndex((line) => new RegExp(`^  ${flag}( <[^>]+>)?$`).test(line))
        expect(at, `${flag} in ikfs emulator --help`).toBeGreaterThan(-1)
        expect(lines[at + 1], `what ${flag} does`).toMatch(/^ {6}[^\s(]/)
        // What it does may take more than one line (wrapped to the width); its default follows.
        const entry = lines.slice(at + 1, lines.findIndex((line, i) => i > at && !/^ {6}\S/.test(line)))
        expect(entry.find((line) => line.startsWith('      (')), `${flag}'s default`).toMatch(/^ {6}\((default|required)/)
      }
      expect(cli.stdout.text).toContain('(default 0: a free port, printed once listening')
      expect(cli.stdout.text).toContain('IKFS_EMULATOR_PRIVATE_KEY')
    },
  )

  it.each(['mount', 'unmount', 'status', 'refresh', 'doctor', 'demo', 'emulator', 'version'])(
    '`ikfs %s --help` says what the command does before its flags',
    async (command) => {
      const cli = testCli({}, dir)
      expect(await main([command, '--help'], cli.ctx)).toBe(0)
      const [usage, blank, said] = cli.stdout.text.split('\n')
      expect(usage).toMatch(new RegExp(`^Usage: ikfs ${command}( |$)`))
      expect(blank).toBe('')
      expect(said, 'a sentence, not a flag').toMatch(/^[A-Z][a-z]/)
    },
  )

  it('`ikfs emulator` with a bad flag points at ikfs emulator --help after its short usage', async () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      expect(await main(['emulator', '--port', '1'], testCli({}, dir).ctx)).toBe(2)
      const text = write.mock.calls.map((call) => String(call[0])).join('')
      expect(text).toMatch(/^ikfs emulator: --data is required\nusage: ikfs emulator --data DIR /)
      expect(text).toMatch(/\nikfs emulator --help lists every flag with what it does and its default\n$/)
    } finally {
      write.mockRestore()
    }
  })

  it('`ikfs status` with both --json and --prometheus is a usage error, not one of them chosen silently', async () => {
    const cli = testCli({}, dir)
    expect(await main(['status', dir, '--json', '--prometheus'], cli.ctx)).toBe(2)
    expect(cli.stderr.text).toBe('ikfs: --json and --prometheus are two ways to print the status: give one (usage: ikfs status MOUNTPOINT [--json | --prometheus] [--wait DURATION])\n')
  })

  it.each([['status'], ['refresh']])('`ikfs %s` of a folder no daemon serves says so, and that it does not exist when it does not', async (command) => {
    mkdirSync(join(dir, 'empty'))
    const real = realpathSync(dir)
    const empty = testCli({}, dir)
    expect(await main([command, 'empty'], empty.ctx)).toBe(1)
    expect(empty.stderr.text).toBe(`ikfs: no ikfs daemon serves ${real}/empty (is it mounted by ikfs, as this user?)\n`)
    const typo = testCli({}, dir)
    expect(await main([command, 'emtpy'], typo.ctx)).toBe(1)
    expect(typo.stderr.text).toBe(`ikfs: no ikfs daemon serves ${real}/emtpy: it does not exist\n`)
  })

  // A daemon killed along with fusermount3's watcher leaves a dead mount, which status called "(is it mounted by
  // ikfs, as this user?)", sending people to look for another user's mount instead of running ikfs unmount.
  it('says of a dead mount that its daemon is gone, and that ikfs unmount clears it', async () => {
    const noDaemon = new ControlError('connect ENOENT', true)
    const said = await notRunning(noDaemon, dir, async () => ({ kind: 'dead', reason: 'ENOTCONN' }))
    expect((said as Error).message).toBe(
      `no ikfs daemon serves ${dir}: its daemon is gone and left a dead mount (Transport endpoint is not connected); run: ikfs unmount ${dir}`)
    expect((said as Error).cause).toBe(noDaemon)
    expect(((await notRunning(noDaemon, dir, async () => ({ kind: 'folder' }))) as Error).message).toBe(
      `no ikfs daemon serves ${dir} (is it mounted by ikfs, as this user?)`)
  })

  // A stopped daemon (SIGSTOP) took the question and never answered: status said only "no answer from SOCKET".
  it('says of a daemon that does not answer that it is stopped or stuck, and how to get the mount back', async () => {
    const hung = new ControlError('no answer from /run/ikfs/x.sock within 10s', false, { timedOut: true })
    const said = await notRunning(hung, dir, async () => ({ kind: 'folder' }))
    expect((said as Error).message).toBe(`the ikfs daemon serving ${dir} does not answer (no answer from /run/ikfs/x.sock within 10s): ` +
      `it is stopped (kill -CONT it) or stuck; \`ikfs unmount --lazy ${dir}\` detaches the mount, and its uploads not yet stored ` +
      'stay in the spool for the next mount if it has to be killed')
    expect((said as Error).cause).toBe(hung)
  })

  it('does not read the private key from the environment into help', async () => {
    const cli = testCli(ENV, dir)
    await main(['mount', '--help'], cli.ctx)
    expect(cli.stdout.text).not.toContain(ENV.IKFS_PRIVATE_KEY)
  })

  it('explains unmount flags', async () => {
    const cli = testCli({}, dir)
    expect(await main(['unmount', '--help'], cli.ctx)).toBe(0)
    expect(cli.stdout.text).toContain('--lazy')
  })
})

describe('status', () => {
  it('does not believe a socket in a control folder that others can use (another user may have made it)', async () => {
    const cli = testCli({}, dir)
    const socket = socketFor(join(dir, 'mnt'), cli.ctx)
    mkdirSync(dirname(socket), { mode: 0o755 })
    chmodSync(dirname(socket), 0o755)
    const impostor = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(snapshotFixture())))
    await new Promise<void>((resolve) => impostor.listen(socket, resolve))
    try {
      expect(await main(['status', 'mnt'], cli.ctx)).toBe(1)
    } finally {
      await new Promise((resolve) => impostor.close(resolve))
    }
    expect(cli.stdout.text).toBe('')
    expect(cli.stderr.text).toBe(`ikfs: ${dirname(socket)} is not safe for ikfs's control sockets: group or others may use it (mode 0755) (chmod 700 ${dirname(socket)})\n`)
  })
})

describe('unmount', () => {
  /** A CLI whose runtime sees a mount (live or dead) at the mountpoint. */
  function mountedCli(): ReturnType<typeof testCli> {
    const cli = testCli({}, dir)
    cli.runtime.mounted = true
    return cli
  }

  it('unmounts the resolved path, lazily on request', async () => {
    const cli = mountedCli()
    expect(await main(['unmount', 'mnt', '--lazy'], cli.ctx)).toBe(0)
    expect(cli.runtime.calls).toEqual(['unmountPath(lazy)'])
    expect(cli.stdout.text).toBe(`ikfs: unmounted ${join(dir, 'mnt')}\n`)
  })

  it("leaves another filesystem's mount alone, naming the command that unmounts it", async () => {
    const cli = mountedCli()
    cli.runtime.mountedFsType = 'fuse.sshfs'
    const mnt = join(realpathSync(dir), 'mnt')
    expect(await main(['unmount', 'mnt'], cli.ctx)).toBe(1)
    expect(cli.runtime.unmountedPaths).toEqual([])
    expect(cli.stderr.text).toBe(
      `ikfs: ${mnt} holds a fuse.sshfs mount, not an ikfs one: ikfs unmount leaves it alone; if it is no longer wanted, run fusermount3 -u ${mnt} (fusermount -u with FUSE 2)\n`,
    )
  })

  it('unmounts the folder a symlinked mountpoint names, without asking the mount itself', async () => {
    mkdirSync(join(dir, 'real'))
    const real = realpathSync(join(dir, 'real'))
    symlinkSync(join(dir, 'real'), join(dir, 'link'))
    const cli = testCli({}, dir)
    cli.runtime.mounted = real
    expect(await main(['unmount', 'link'], cli.ctx)).toBe(0)
    expect(cli.runtime.unmountedPaths).toEqual([real])
    expect(cli.stdout.text).toBe(`ikfs: unmounted ${real}\n`)
    // A missing mountpoint keeps the spelling it was given, for the message.
    const missing = testCli({}, dir)
    expect(await main(['unmount', 'nope'], missing.ctx)).toBe(1)
    expect(missing.stderr.text).toBe(`ikfs: nothing is mounted at ${realpathSync(dir)}/nope\n`)
  })

  /** A daemon's control socket answering GET /status with `snapshots` in turn, then going away. */
  async function fakeDaemon(cli: ReturnType<typeof testCli>, mountpoint: string, snapshots: StatusSnapshot[]): Promise<{ asked: () => number; close: () => Promise<void> }> {
    const socket = socketFor(mountpoint, cli.ctx)
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 })
    let asked = 0
    const server = createServer((req, res) => {
      const snapshot = snapshots[asked++]
      if (req.url !== '/status' || snapshot === undefined) {
        res.writeHead(503).end()
        server.close()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(snapshot))
    })
    await new Promise<void>((resolve) => server.listen(socket, resolve))
    return { asked: () => asked, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
  }

  it('leaves a live mount that programs use mounted, saying so; --lazy detaches it; a dead one is cleared anyway', async () => {
    const mnt = join(dir, 'mnt')
    const live = mountedCli()
    live.runtime.busy = true
    const lazy = mountedCli()
    lazy.runtime.busy = true
    const mounted = snapshotFixture({ pid: 777 })
    // One daemon for both commands: asked once by the refused unmount, then by the lazy one before and after.
    const daemon = await fakeDaemon(live, mnt, [mounted, mounted, { ...mounted, state: 'stopping' }])
    try {
      expect(await main(['unmount', 'mnt'], live.ctx)).toBe(1)
      expect(await main(['unmount', 'mnt', '--lazy'], lazy.ctx)).toBe(0)
    } finally {
      await daemon.close()
    }
    expect(live.runtime.calls).toEqual(['unmountPath(refuse busy)'])
    expect(live.stderr.text).toBe(`ikfs: ${mnt} is in use; close it (a shell: cd out), or detach the mount now: ikfs unmount --lazy ${mnt}\n`)
    expect(live.stdout.text).toBe('')
    expect(lazy.runtime.calls).toEqual(['unmountPath(lazy)(refuse busy)'])
    expect(lazy.stdout.text.split('\n')[0]).toBe(`ikfs: unmounted ${mnt}`)

    const dead = mountedCli() // no daemon answers: a crashed one's mount is cleared even while in use
    dead.runtime.busy = true
    expect(await main(['unmount', 'mnt'], dead.ctx)).toBe(0)
    expect(dead.runtime.calls).toEqual(['unmountPath'])
  })

  it('says when the daemon goes on storing uploads after the unmount, and what stays in the spool, once the daemon has noticed', async () => {
    const cli = mountedCli()
    const mnt = join(dir, 'mnt')
    const mounted = snapshotFixture({
      pid: 777,
      uploads: [
        { localPath: '/a.jpg', size: 10, sentBytes: 5, state: 'uploading', attempts: 1 },
        { localPath: '/b.jpg', size: 10, sentBytes: 0, state: 'waiting', attempts: 0 },
        { localPath: '/c.jpg', size: 10, sentBytes: 0, state: 'failed', attempts: 6, lastError: 'IK_NETWORK' },
        { localPath: '/new.txt', size: 0, sentBytes: 0, state: 'empty', attempts: 0 },
      ],
    })
    // The daemon still says 'mounted' twice after the unmount (it has not noticed yet), then 'stopping'.
    const daemon = await fakeDaemon(cli, mnt, [mounted, mounted, mounted, { ...mounted, state: 'stopping' }, mounted])
    try {
      expect(await main(['unmount', 'mnt'], cli.ctx)).toBe(0)
      expect(daemon.asked()).toBe(4)
    } finally {
      await daemon.close()
    }
    expect(cli.runtime.calls).toEqual(['unmountPath(refuse busy)'])
    expect(cli.stdout.text.split('\n')).toEqual([
      `ikfs: unmounted ${mnt}`,
      `ikfs: the daemon (pid 777) goes on until 2 uploads in flight are stored, then exits (\`ikfs status ${mnt}\` shows them; \`ikfs unmount --wait\` waits)`,
      'ikfs: 2 files stay in the spool (empty, or their upload failed or was refused): the next mount of this library (same --endpoint) with the same cache dir takes them up',
      '',
    ])
  })

  it('--wait returns once the daemon has stopped answering', async () => {
    const cli = mountedCli()
    const mnt = join(dir, 'mnt')
    const storing = snapshotFixture({ pid: 778, state: 'stopping', uploads: [{ localPath: '/a.jpg', size: 10, sentBytes: 5, state: 'uploading', attempts: 1 }] })
    const daemon = await fakeDaemon(cli, mnt, [snapshotFixture({ pid: 778, uploads: storing.uploads }), storing, storing, { ...storing, uploads: [] }])
    try {
      expect(await main(['unmount', mnt, '--wait'], cli.ctx)).toBe(0)
    } finally {
      await daemon.close().catch(() => undefined)
    }
    expect(daemon.asked()).toBe(5) // before the unmount, three times while storing, once more: gone
    expect(cli.stdout.text).toBe(`ikfs: unmounted ${mnt}\nikfs: the daemon (pid 778) has exited\n`)
  })

  it('says nothing of uploads in flight when the daemon exits as the mount goes', async () => {
    const cli = mountedCli()
    const mnt = join(dir, 'mnt')
    const daemon = await fakeDaemon(cli, mnt, [snapshotFixture({ pid: 780, uploads: [{ localPath: '/a.jpg', size: 10, sentBytes: 5, state: 'uploading', attempts: 1 }] })])
    try {
      expect(await main(['unmount', mnt], cli.ctx)).toBe(0)
    } finally {
      await daemon.close().catch(() => undefined)
    }
    expect(cli.stdout.text).toBe(`ikfs: unmounted ${mnt}\n`)
  })

  it('says nothing more when no daemon answers (a dead mount)', async () => {
    const cli = mountedCli()
    expect(await main(['unmount', 'mnt', '--wait'], cli.ctx)).toBe(0)
    expect(cli.stdout.text).toBe(`ikfs: unmounted ${join(dir, 'mnt')}\n`)
  })

  it('exits 1 when nothing is mounted there and no daemon answers', async () => {
    const cli = testCli({}, dir)
    expect(await main(['unmount', 'mnt'], cli.ctx)).toBe(1)
    expect(cli.runtime.calls).toEqual([])
    expect(cli.stdout.text).toBe('')
    expect(cli.stderr.text).toBe(`ikfs: nothing is mounted at ${join(dir, 'mnt')}\n`)
  })

  it('after an earlier unmount, reports on and waits for the daemon still storing uploads, without unmounting again', async () => {
    const cli = testCli({}, dir)
    const mnt = join(dir, 'mnt')
    const storing = snapshotFixture({ pid: 779, state: 'stopping', uploads: [{ localPath: '/a.jpg', size: 10, sentBytes: 5, state: 'uploading', attempts: 1 }] })
    const daemon = await fakeDaemon(cli, mnt, [storing, storing])
    try {
      expect(await main(['unmount', mnt, '--wait'], cli.ctx)).toBe(0)
    } finally {
      await daemon.close().catch(() => undefined)
    }
    expect(cli.runtime.calls).toEqual([])
    expect(cli.stdout.text).toBe(`ikfs: ${mnt} is already unmounted\nikfs: the daemon (pid 779) has exited\n`)
  })

  it('exits 1 when unmounting fails', async () => {
    const cli = mountedCli()
    cli.runtime.unmountPath = async () => {
      throw new Error('could not unmount /x: busy')
    }
    expect(await main(['umount', '/x'], cli.ctx)).toBe(1)
    expect(cli.stderr.text).toBe('ikfs: could not unmount /x: busy\n')
  })
})
