// Shared plumbing for the benchmarks: temp dirs, child daemons (emulator, mount), timing, table printing.
// Benchmarks print ratios measured side by side in one run; they never assert.
import { spawn, execFile } from 'node:child_process'
import { mkdtemp, rm, mkdir, open, readdir } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'

export const execFileP = promisify(execFile)
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'bin', 'ikfs.js')

/** The key pair a benchmark's emulator and mounts share: a private key made up for the run (never a real one). */
export function benchKeys() {
  return { privateKey: `private_bench_${randomBytes(6).toString('hex')}`, publicKey: 'public_bench' }
}

export async function tempDir(prefix) {
  return mkdtemp(join(tmpdir(), prefix))
}

/** Writes `size` bytes of a repeating random pattern to `path`, 4 MiB at a time (never in memory whole). */
export async function writePatternFile(path, size, seed = 1) {
  await mkdir(dirname(path), { recursive: true })
  const chunk = randomBytes(4 * 1024 * 1024)
  chunk.writeUInt32LE(seed, 0)
  const fh = await open(path, 'w')
  try {
    for (let off = 0; off < size; off += chunk.length) {
      await fh.write(chunk, 0, Math.min(chunk.length, size - off), off)
    }
  } finally {
    await fh.close()
  }
}

/** Spawns `node bin/ikfs.js ...args`, resolves with the first match of `ready` on stdout/stderr. */
/**
 * `ikfs emulator` on a free port over `data` (the private key through the environment, never in `ps`);
 * resolves with the daemon, whose `match[1]` is the emulator's base URL.
 */
export function startBenchEmulator(data, { privateKey, publicKey, args = [], timeoutMs = 300_000 }) {
  return startDaemon(
    ['emulator', '--port', '0', '--data', data, '--public-key', publicKey, '--log-level', 'warn', ...args],
    /listening on (http:\/\/127\.0\.0\.1:\d+)/,
    { env: { IKFS_EMULATOR_PRIVATE_KEY: privateKey }, timeoutMs },
  )
}

/** `bin`: another build's bin/ikfs.js (cpu.mjs --against), else this checkout's. */
export function startDaemon(args, ready, { env = {}, timeoutMs = 60_000, nodeArgs = [], bin = BIN } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, bin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`timed out waiting for ${ready}`)), timeoutMs)
    const onData = (d) => {
      log += d.toString()
      const m = ready.exec(log)
      if (m) {
        clearTimeout(timer)
        resolve({ child, match: m, log: () => log, stop: () => stopChild(child) })
      }
    }
    const fail = (err) => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(new Error(`${err.message}\n${log}`))
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code) => fail(new Error(`exited with ${code}`)))
  })
}

export async function stopChild(child, timeoutMs = 30_000) {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  await new Promise((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      resolve()
    }, timeoutMs)
    child.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
  })
}

export async function forceUnmount(mountpoint) {
  for (const cmd of [['fusermount3', ['-uz', mountpoint]], ['umount', ['-l', mountpoint]]]) {
    try {
      await execFileP(cmd[0], cmd[1], { timeout: 10_000 })
      return
    } catch {
      /* try the next one */
    }
  }
}

export async function timed(fn) {
  const t0 = process.hrtime.bigint()
  const result = await fn()
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result }
}

const CLK_TCK = 100 // sysconf(_SC_CLK_TCK) on Linux

/** CPU time (user + system, all threads) a process has used so far, in ms. */
export function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK
}

/**
 * Like timed(), and the CPU ms each of `children` (daemons: emulator, mount) spent meanwhile. On a shared
 * 2-core machine wall-clock ratios move ±30% between runs; CPU per byte moves much less and shows where the
 * cores went.
 */
export async function timedWithCpu(fn, children) {
  const before = children.map((c) => cpuMs(c.child.pid))
  const run = await timed(fn)
  return { ...run, cpu: children.map((c, i) => cpuMs(c.child.pid) - before[i]) }
}

export async function sh(command, opts = {}) {
  return execFileP('bash', ['-c', command], { maxBuffer: 64 * 1024 * 1024, ...opts })
}

export async function dropPageCache() {
  try {
    await sh('sync; echo 3 > /proc/sys/vm/drop_caches')
    return true
  } catch {
    return false
  }
}

export function printTable(title, rows) {
  console.log(`\n## ${title}`)
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  for (const [i, row] of rows.entries()) {
    console.log('| ' + row.map((c, j) => String(c).padEnd(widths[j])).join(' | ') + ' |')
    if (i === 0) console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
  }
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

export async function cleanup(dir) {
  await rm(dir, { recursive: true, force: true })
}

/**
 * `ikfs mount` of the bench emulator at `base` on `<work>/<name>`, its spool in `<work>/cache-<name>` (removed
 * with the bench's folder, never in ~/.cache/ikfs); `mounts` collects it for the bench's teardown.
 */
export async function mountBenchLibrary(work, name, base, { privateKey, publicKey, extra = [], mounts, nodeArgs = [], bin }) {
  const mnt = join(work, name)
  await mkdir(mnt, { recursive: true })
  const daemon = await startDaemon(
    ['mount', mnt, '--api-url', base, '--upload-url', base, '--endpoint', `${base}/demo`, '--public-key', publicKey,
      '--cache-dir', join(work, `cache-${name}`), '--dir-cache-time', '1h', '--log-level', 'warn', ...extra],
    /mounted .* at /,
    { env: { IKFS_PRIVATE_KEY: privateKey }, nodeArgs, bin },
  )
  mounts.push({ daemon, mnt })
  return { mnt, daemon }
}

/** Files the emulator stores in `folder` of its library at `data`. */
export async function storedCount(data, folder) {
  return (await readdir(join(data, 'files', folder)).catch(() => [])).length
}

/** Polls until `folder` holds `n` files (background uploads finishing). */
export async function waitStored(data, folder, n, { deadlineMs = 600_000, pollMs = 50 } = {}) {
  const start = Date.now()
  while ((await storedCount(data, folder)) < n) {
    if (Date.now() - start > deadlineMs) throw new Error(`timed out waiting for ${n} files in ${folder}`)
    await new Promise((r) => setTimeout(r, pollMs))
  }
}
