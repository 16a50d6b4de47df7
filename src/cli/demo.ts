/**
 * `ikfs demo [--dir ./.ikfs-demo] [--mountpoint ./mnt] [--no-mount] [mount flags]` (what `npm start` runs):
 * starts the emulator in this process with the demo library, then mounts it through exactly the code path
 * of `ikfs mount`. Keys are random, generated once and kept (mode 0600) in the demo folder, so the library
 * and its keys survive restarts. Without /dev/fuse (or with --no-mount) it only serves the emulator.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { extraBool, parseArgs, type ExtraFlag } from '../config/flags.js'
import { loadConfig } from '../config/load.js'
import type { CliContext, StopSignal } from './context.js'
import { extraFlagsHelp, optionsHelp } from './help.js'
import { flushLogger } from '../log.js'
import { loggerFor, runMountSession } from './mount.js'
import { UsageError } from './usage-error.js'

export const DEMO_FLAGS: Readonly<Record<string, ExtraFlag>> = {
  '--dir': { takesValue: true, placeholder: 'path', help: 'Folder for the demo library and its keys (default ./.ikfs-demo).' },
  '--mountpoint': { takesValue: true, placeholder: 'path', help: 'Where to mount (default ./mnt, created).' },
  '--no-mount': { takesValue: false, help: 'Only serve the emulator.' },
}

/** The emulator's ImageKit id: the URL endpoint ends with it. */
const DEMO_IMAGEKIT_ID = 'demo'
/** Random bytes per generated key: as long as ImageKit's own keys. */
const KEY_BYTES = 21

export interface DemoKeys {
  id: string
  publicKey: string
  privateKey: string
}

export function demoHelp(): string {
  return [
    'Usage: ikfs demo [--dir ./.ikfs-demo] [--mountpoint ./mnt] [--no-mount] [mount flags]',
    '',
    'Starts the local ImageKit emulator with demo media and mounts it; Ctrl-C unmounts and stops both.',
    '',
    extraFlagsHelp(DEMO_FLAGS),
    '',
    'Mount flags (the ImageKit endpoint and keys are set by the demo):',
    optionsHelp(),
  ].join('\n')
}

/** Reads the demo keys from `dir/keys.json`, or makes them (0600) on first run. */
export function loadOrCreateDemoKeys(dir: string): DemoKeys {
  const file = join(dir, 'keys.json')
  try {
    const keys = JSON.parse(readFileSync(file, 'utf8')) as Partial<DemoKeys>
    if (keys.id && keys.publicKey && keys.privateKey) return keys as DemoKeys
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !(e instanceof SyntaxError)) throw e
  }
  const keys: DemoKeys = {
    id: DEMO_IMAGEKIT_ID,
    publicKey: `public_${randomBytes(KEY_BYTES).toString('base64url')}`,
    privateKey: `private_${randomBytes(KEY_BYTES).toString('base64url')}`,
  }
  writeFileSync(file, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600 })
  return keys
}

export async function runDemo(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = parseArgs(args, DEMO_FLAGS, 'ikfs demo')
  if (parsed.help) {
    ctx.stdout.write(demoHelp())
    return 0
  }
  if (parsed.positionals.length > 0) throw new UsageError('ikfs demo takes no arguments (see ikfs demo --help)')
  const dir = resolve(ctx.cwd, parsed.extras.get('--dir') ?? '.ikfs-demo')
  const mountpoint = resolve(ctx.cwd, parsed.extras.get('--mountpoint') ?? 'mnt')
  let serveOnly = extraBool(parsed, '--no-mount')

  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const keys = loadOrCreateDemoKeys(dir)
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
  const emulator = await startEmulator({
    port: 0,
    dataDir: join(dir, 'data'),
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    id: keys.id,
    seed: 'demo',
    logger,
  })
  try {
    ctx.stdout.write(`ikfs: emulator serving at ${emulator.url} (URL endpoint ${emulator.urlEndpoint})\n`)
    ctx.stdout.write(`ikfs: demo library and keys in ${display(ctx.cwd, dir)}\n`)
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
    mkdirSync(mountpoint, { recursive: true })
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

