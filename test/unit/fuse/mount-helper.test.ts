/**
 * native/mount.fuse.ikfs, the mount(8) helper for /etc/fstab, run for real with a stand-in for node that
 * records the command line it is given; that command line then goes through ikfs's own flag parser, so a
 * test passes only when the options arrive as ikfs reads them.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { parseArgs, type ParsedArgs } from '../../../src/config/flags.js'

const HELPER = resolve(import.meta.dirname, '../../../native/mount.fuse.ikfs')
const work = mkdtempSync(join(tmpdir(), 'ikfs-helper-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Stands in for node: writes its arguments, NUL-terminated, to $ARGS_FILE. */
const fakeNode = join(work, 'node')
writeFileSync(fakeNode, '#!/bin/sh\nfor a in "$@"; do printf \'%s\\0\' "$a"; done > "$ARGS_FILE"\n', { mode: 0o755 })

let runs = 0

/** Runs the helper as mount(8) would (in `cwd`), and parses the ikfs command line it ran. */
async function helper(args: string[], cwd = work): Promise<{ argv: string[]; parsed: ParsedArgs }> {
  const argsFile = join(work, `args-${++runs}`)
  await promisify(execFile)(HELPER, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', IKFS_NODE: fakeNode, ARGS_FILE: argsFile },
    timeout: 10_000,
  })
  const argv = readFileSync(argsFile, 'utf8').split('\0').slice(0, -1)
  expect(argv.slice(0, 2)).toEqual([resolve(HELPER, '../../bin/ikfs.js'), 'mount'])
  return { argv, parsed: parseArgs(argv.slice(2), {}, 'ikfs mount') }
}

describe('mount.fuse.ikfs', () => {
  const mp = join(work, 'mnt')

  it('passes boolean options with a value as ikfs reads them, so stream_uploads=false turns uploads while writing off', async () => {
    // Each used to become `--flag value`, and ikfs took the value for an argument of its own.
    const { parsed } = await helper(['photos:', mp, '-o', 'read_only=true,allow_other=1,direct_io=false,stream_uploads=false'])
    expect(parsed.positionals).toEqual(['photos:', mp])
    expect(parsed.options).toEqual({ readOnly: 'true', allowOther: '1', directIo: 'false', streamUploads: 'false', daemon: 'true' })
  })

  it('passes options with values, and flags without, under their ikfs flag names', async () => {
    const { parsed } = await helper(['ikfs', mp, '-o', 'dir_cache_time=10m,allow_other,uid=1000', '-oupload_tags=a=b'])
    expect(parsed.positionals).toEqual([mp])
    expect(parsed.options).toEqual({ dirCacheTimeMs: '10m', allowOther: 'true', uid: '1000', uploadTags: 'a=b', daemon: 'true' })
  })

  it('skips what only mount(8) and systemd read, takes ro for read_only and daemon_wait for --daemon-wait', async () => {
    // mount(8) turns `user` into user=NAME when a user mounts an fstab line that allows it.
    const options = 'defaults,auto,noauto,user,user=alice,users,nouser,_netdev,nofail,rw,noatime,comment=x-gvfs-show,' +
      'x-systemd.automount,x-systemd.mount-timeout=30,daemon,daemon_wait=2m,ro'
    const { parsed } = await helper(['photos:', mp, '-n', '-o', options])
    expect(parsed.positionals).toEqual(['photos:', mp])
    expect(parsed.options).toEqual({ daemonWaitMs: '2m', readOnly: 'true', daemon: 'true' })
  })

  it('expands no file names: * and ? reach ikfs as written', async () => {
    const cwd = join(work, 'glob')
    rmSync(cwd, { recursive: true, force: true })
    await promisify(execFile)('mkdir', [cwd])
    writeFileSync(join(cwd, 'upload_tags=matched'), '')
    writeFileSync(join(cwd, 'log_file=1'), '')
    const { parsed } = await helper(['ikfs', mp, '-o', 'upload_tags=*,log_file=?'], cwd)
    expect(parsed.options).toEqual({ uploadTags: '*', logFile: '?', daemon: 'true' })
  })

  it('passes values with spaces and shell characters as they are, and runs none of them', async () => {
    const cwd = join(work, 'inject')
    rmSync(cwd, { recursive: true, force: true })
    await promisify(execFile)('mkdir', [cwd])
    const value = `a  b;touch ran1 $(touch ran2) \`touch ran3\` "q' \\n $HOME |x &y >z`
    const { parsed } = await helper(['ikfs', mp, '-o', `upload_tags=${value}`], cwd)
    expect(parsed.options).toEqual({ uploadTags: value, daemon: 'true' })
    expect(readdirSync(cwd)).toEqual([])
    expect(existsSync(join(work, 'z'))).toBe(false)
  })
})
