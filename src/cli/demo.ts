/**
 * `ikfs demo [--dir ./.ikfs-demo] [--mountpoint ./mnt] [--no-mount] [mount flags]` (what `npm start` runs):
 * starts the emulator in this process with the demo library, then mounts it through exactly the code path
 * of `ikfs mount`. Keys are random, generated once and kept (mode 0600) in the demo folder, so the library
 * and its keys survive restarts; a keys file that cannot be read as one is set aside and replaced, saying so.
 * A demo folder or mountpoint it cannot make or write is one line naming the flag to change. Without
 * /dev/fuse (or with --no-mount) it only serves the emulator.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { extraBool, parseArgs, type ExtraFlag } from '../config/flags.js'
import { loadConfig } from '../config/load.js'
import { optionSpec, type OptionKey } from '../config/options.js'
import type { CliContext, StopSignal } from './context.js'
import { commandHelp, extraFlagsHelp, optionsHelp } from './help.js'
import { helpWidth } from '../help-layout.js'
import { flushLogger } from '../log.js'
import { DataDirInUseError } from '../emulator/data-lock.js'
import { folderProblem } from '../make-dirs.js'
import { loggerFor, runMountSession } from './mount.js'
import { UsageError } from './usage-error.js'

export const DEMO_FLAGS: Readonly<Record<string, ExtraFlag>> = {
  '--dir': { takesValue: true, placeholder: 'path', help: 'Folder for the demo library and its keys (default ./.ikfs-demo).' },
  '--mountpoint': { takesValue: true, placeholder: 'path', help: 'Where to mount (default ./mnt, created).' },
  '--no-mount': { takesValue: false, help: 'Only serve the emulator.' },
}

/** The options the demo sets to its emulator's: not flags it takes. */
export const DEMO_SET_OPTIONS = ['endpoint', 'apiUrl', 'uploadUrl', 'privateKey', 'publicKey'] as const satisfies readonly OptionKey[]

/** The emulator's ImageKit id: the URL endpoint ends with it. */
const DEMO_IMAGEKIT_ID = 'demo'
/** Random bytes per generated key: as long as ImageKit's own keys. */
const KEY_BYTES = 21

export interface DemoKeys {
  id: string
  publicKey: string
  privateKey: string
}

export function demoHelp(width: number): string {
  return commandHelp('ikfs demo [--dir PATH] [--mountpoint PATH] [--no-mount] [mount flags]', [
    'Starts the local ImageKit emulator with demo media and mounts it; Ctrl-C unmounts and stops both. It sets ' +
      'the ImageKit endpoint, API and upload URLs and the keys to its emulator\'s; it takes every other flag of ' +
      'ikfs mount.',
  ], width, extraFlagsHelp(DEMO_FLAGS, width), `Mount flags:\n${optionsHelp(width, DEMO_SET_OPTIONS)}`)
}

/** The demo's keys file in its folder. */
export const DEMO_KEYS_FILE = 'keys.json'
/** Where a keys file that cannot be read as one is kept when new keys replace it. */
export const CORRUPT_KEYS_FILE = 'keys.json.corrupt'

/**
 * Reads the demo keys from `dir/keys.json`, or makes them on first run. A file that is not a keys file
 * (not JSON, or a key missing) is kept as keys.json.corrupt and replaced by new keys, with one line to
 * `warn`: the demo library is local and its write spool is named after the folder, not the keys, so new keys
 * lose nothing. The keys file ends up 0600 whatever the mode of a file it replaces or was found with.
 */
export function loadOrCreateDemoKeys(dir: string, warn: (line: string) => void = () => undefined, shownDir = dir): DemoKeys {
  const file = join(dir, DEMO_KEYS_FILE)
  const shown = `${shownDir}/${DEMO_KEYS_FILE}`
  let problem: string | undefined
  try {
    const text = readFileSync(file, 'utf8')
    let keys: Partial<DemoKeys> | undefined
    try {
      keys = JSON.parse(text) as Partial<DemoKeys>
    } catch {
      // The parser's message quotes the text, which may hold a key: it is not shown.
      problem = 'is not valid JSON'
    }
    if (keys !== undefined) {
      if (typeof keys === 'object' && keys !== null && isKey(keys.id) && isKey(keys.publicKey) && isKey(keys.privateKey)) {
        tighten(file)
        return { id: keys.id, publicKey: keys.publicKey, privateKey: keys.privateKey }
      }
      problem = 'lacks one of id, publicKey and privateKey'
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EISDIR') throw new Error(`${shown} is a folder, not the demo's keys file: move it away, or choose another --dir`)
    if (code !== 'ENOENT') throw e
  }
  const keys: DemoKeys = {
    id: DEMO_IMAGEKIT_ID,
    publicKey: `public_${randomBytes(KEY_BYTES).toString('base64url')}`,
    privateKey: `private_${randomBytes(KEY_BYTES).toString('base64url')}`,
  }
  if (problem !== undefined) {
    const kept = join(dir, CORRUPT_KEYS_FILE)
    renameSync(file, kept)
    tighten(kept)
    writeKeys(file, keys)
    warn(`${shown} ${problem}: kept it as ${CORRUPT_KEYS_FILE} and made new keys (the demo library is local: nothing is lost)`)
  } else {
    writeKeys(file, keys)
  }
  return keys
}

function isKey(value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

/** Writes a new file (0600 from its creation) and renames it over `file`, so no older file's mode survives. */
function writeKeys(file: string, keys: DemoKeys): void {
  const temp = `${file}.tmp`
  rmSync(temp, { force: true })
  const fd = openSync(temp, 'wx', 0o600)
  try {
    writeFileSync(fd, JSON.stringify(keys, null, 2) + '\n')
  } finally {
    closeSync(fd)
  }
  renameSync(temp, file)
}

/** A keys file others may read becomes 0600 (best effort: a file of another user's stays as it is). */
function tighten(file: string): void {
  try {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
  } catch {
    // not ours to change
  }
}

export async function runDemo(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = parseArgs(args, DEMO_FLAGS, 'ikfs demo')
  if (parsed.help) {
    ctx.stdout.write(demoHelp(helpWidth(ctx.stdout)))
    return 0
  }
  if (parsed.positionals.length > 0) throw new UsageError('ikfs demo takes no arguments (see ikfs demo --help)')
  const set = DEMO_SET_OPTIONS.find((key) => parsed.options[key] !== undefined)
  if (set !== undefined) throw new UsageError(`ikfs demo sets ${optionSpec(set).flag} itself (to its emulator's): drop the flag`)
  const dir = resolve(ctx.cwd, parsed.extras.get('--dir') ?? '.ikfs-demo')
  const mountpoint = resolve(ctx.cwd, parsed.extras.get('--mountpoint') ?? 'mnt')
  let serveOnly = extraBool(parsed, '--no-mount')

  const shownDir = display(ctx.cwd, dir)
  // A demo folder (or mountpoint) it cannot make or write is one line naming the flag to change.
  const folderError = (e: unknown, flag: string, path: string): unknown => {
    if (e instanceof DataDirInUseError) {
      return new Error(`cannot use ${flag} ${display(ctx.cwd, path)}: another ikfs demo or emulator (pid ${e.pid}) uses it; stop that one, or choose another with ${flag}`)
    }
    const problem = folderProblem(e, (p) => display(ctx.cwd, p))
    return problem === undefined ? e : new Error(`cannot use ${flag} ${display(ctx.cwd, path)}: ${problem}; choose another with ${flag}`)
  }
  let keys: DemoKeys
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    keys = loadOrCreateDemoKeys(dir, (line) => ctx.stderr.write(`ikfs: ${line}\n`), shownDir)
  } catch (e) {
    throw folderError(e, '--dir', dir)
  }
  // The demo's spool lives beside its library (unless a cache dir is given): removing the demo folder resets
  // both, and its name does not depend on the emulator's port (see libraryId below).
  const options = parsed.options.cacheDir === undefined && ctx.env.IKFS_CACHE_DIR === undefined
    ? { ...parsed.options, cacheDir: join(dir, 'cache') }
    : parsed.options
  // Checked before the emulator starts, so a bad flag costs nothing.
  const config = (endpoint: string, url: string) =>
    loadConfig({
      options,
      fixed: {
        by: 'ikfs demo',
        options: { endpoint, apiUrl: url, uploadUrl: url, privateKey: keys.privateKey, publicKey: keys.publicKey },
      },
      env: ctx.env,
      cwd: ctx.cwd,
      home: ctx.home,
      ...(ctx.identity ? { identity: ctx.identity } : {}),
    })
  const checked = config('http://127.0.0.1/demo', 'http://127.0.0.1')
  const logger = loggerFor(checked, ctx)

  const { startEmulator } = await import('../emulator/server.js')
  // Port 0: the emulator takes a free port, so no port of the demo's can be in use.
  const emulator = await startEmulator({
    port: 0,
    dataDir: join(dir, 'data'),
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    id: keys.id,
    seed: 'demo',
    logger,
  }).catch((e: unknown) => {
    throw folderError(e, '--dir', dir)
  })
  try {
    ctx.stdout.write(`ikfs: emulator serving at ${emulator.url} (URL endpoint ${emulator.urlEndpoint})\n`)
    ctx.stdout.write(`ikfs: demo library and keys in ${shownDir}\n`)
    if (!serveOnly) {
      const reason = await ctx.runtime.fuseUnavailableReason()
      if (reason !== undefined) {
        ctx.stdout.write(`ikfs: not mounting: ${reason}\n`)
        serveOnly = true
      }
    }
    if (serveOnly) {
      ctx.stdout.write('ikfs: press Ctrl-C to stop\n')
      await nextStopSignal(ctx)
      return 0
    }
    try {
      mkdirSync(mountpoint, { recursive: true })
    } catch (e) {
      throw folderError(e, '--mountpoint', mountpoint)
    }
    return await runMountSession(config(emulator.urlEndpoint, emulator.url), mountpoint, ctx, {
      logger,
      displayMountpoint: display(ctx.cwd, mountpoint),
      onMounted: () => ctx.stdout.write('ikfs: press Ctrl-C to stop (unmounts and stops the emulator)\n'),
      libraryId: `ikfs-demo:${dir}`,
    })
  } finally {
    await emulator.close()
    flushLogger(logger)
  }
}

/** `./mnt` for a path under the working folder, else the absolute path. */
function display(cwd: string, path: string): string {
  const rel = relative(cwd, path)
  return rel === '' ? '.' : rel.startsWith('..') ? path : `./${rel}`
}

function nextStopSignal(ctx: CliContext): Promise<StopSignal> {
  return new Promise((resolveSignal) => {
    const on = (signal: StopSignal): void => {
      ctx.signals.off('SIGINT', on)
      ctx.signals.off('SIGTERM', on)
      resolveSignal(signal)
    }
    ctx.signals.on('SIGINT', on)
    ctx.signals.on('SIGTERM', on)
  })
}

