// Soak: a mount under a mixed workload for many minutes, sampled every 10 s, to see that what it holds
// stays bounded (not a test, never asserted; run by hand: `node test/bench/soak.mjs [--minutes 12]
// [--write-back 2s]`, after `npm run build`). Many short-lived files are created, written, read back,
// appended to, renamed and deleted in rotating folders (each folder removed two rounds later), readers
// open and close files of a seeded library, `ls -l` lists the changing folders, `ikfs refresh` and
// SIGHUP drop the listings, and a few files stay open all along (one read now and then, one appended to).
// Each sample prints the daemon's RSS, open descriptors, CPU, the cache dir's bytes and files, and what
// `ikfs status --json` reports (listings, known inodes, handles, readers, block cache, buffers,
// uploads). After warm-up every column but CPU and ops should stay flat. `--fuse-binding fuse-native` mounts
// with the libfuse2 fallback; `--faults` has the emulator answer 1% of requests with a 5xx or 429 and reset
// 1% of connections, with a burst of 5xx (half the requests) for 8 s and a 429 storm for 5 s every minute.
// After the unmount it prints what is left: files in the cache dir, processes naming the run's folder, mounts.
import { appendFile, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { BIN, benchKeys, cleanup, cpuMs, execFileP, forceUnmount, printTable, sh, startBenchEmulator, startDaemon, tempDir } from './lib.mjs'

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '12' },
    'write-back': { type: 'string', default: '' },
    'sample-s': { type: 'string', default: '10' },
    'fuse-binding': { type: 'string', default: '' },
    faults: { type: 'boolean', default: false },
  },
})
const RUN_MS = Number(args.minutes) * 60_000
const SAMPLE_MS = Number(args['sample-s']) * 1000
const SEED_FOLDERS = 20
const SEED_FILES_PER_FOLDER = 100
const ROUND_MS = 20_000 // a new churn folder this often; the one three rounds old is removed
const REFRESH_EVERY_MS = 60_000
const SIGHUP_EVERY_MS = 90_000
const WRITERS = 3
const READERS = 2

const { privateKey, publicKey } = benchKeys()
const work = await tempDir('ikfs-bench-soak-')
const data = join(work, 'data')
const mnt = join(work, 'mnt')
const cacheDir = join(work, 'cache')
let emulator
let mount
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)]

/** Bytes and files under `dir` (the spool, its journal and anything else the daemon keeps there); `logBytes`: those of its *.log files (the journal, the kept times). */
function diskUse(dir) {
  let bytes = 0
  let files = 0
  let logBytes = 0
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else {
        files++
        try {
          const size = statSync(p).size
          bytes += size
          if (e.name.endsWith('.log')) logBytes += size
        } catch {
          /* gone meanwhile */
        }
      }
    }
  }
  try {
    walk(dir)
  } catch {
    /* not made yet */
  }
  return { bytes, files, logBytes }
}

function procOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return { rssMiB: kb('VmRSS') / 1024, threads: kb('Threads'), fds: readdirSync(`/proc/${pid}/fd`).length }
}

async function statusOf() {
  const { stdout } = await execFileP(process.execPath, [BIN, 'status', mnt, '--json'], { timeout: 20_000 })
  return JSON.parse(stdout)
}

let stopping = false
const counts = { created: 0, read: 0, renamed: 0, deleted: 0, appended: 0, listed: 0, refreshes: 0, sighups: 0, errors: 0 }
const errors = new Map()
function failed(what, e) {
  counts.errors++
  const key = `${what}: ${e.code ?? e.message}`
  errors.set(key, (errors.get(key) ?? 0) + 1)
}

let round = 0
const churnDir = (r) => join(mnt, 'churn', `r${r}`)
const live = [] // churn files that exist now

async function writer(id) {
  let n = 0
  while (!stopping) {
    const dir = churnDir(round)
    const path = join(dir, `w${id}-${n++}.bin`)
    try {
      const body = randomBytes(1024 + Math.floor(Math.random() * 256 * 1024))
      await writeFile(path, body)
      counts.created++
      live.push(path)
      const dice = Math.random()
      if (dice < 0.3) {
        const back = await readFile(path)
        if (!back.equals(body)) failed('read back', new Error('bytes differ'))
        counts.read++
      } else if (dice < 0.5) {
        const to = path.replace(/\.bin$/, '.moved.bin')
        await rename(path, to)
        const at = live.indexOf(path)
        if (at >= 0) live[at] = to
        counts.renamed++
      } else if (dice < 0.6) {
        await appendFile(path, randomBytes(4096))
        counts.appended++
      }
      if (live.length > 60) {
        // One of the oldest: a file another writer has just made may still be in its hands.
        const victim = live.splice(Math.floor(Math.random() * 20), 1)[0]
        await unlink(victim)
        counts.deleted++
      }
    } catch (e) {
      failed('write', e)
    }
  }
}

async function reader() {
  while (!stopping) {
    const path = Math.random() < 0.7
      ? join(mnt, 'seed', `s${Math.floor(Math.random() * SEED_FOLDERS)}`, `f${Math.floor(Math.random() * SEED_FILES_PER_FOLDER)}.bin`)
      : pick(live)
    if (!path) {
      await sleep(100)
      continue
    }
    try {
      const fh = await open(path, 'r')
      try {
        await fh.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0)
      } finally {
        await fh.close()
      }
      counts.read++
    } catch (e) {
      if (e.code !== 'ENOENT' || !path.includes('churn')) failed('read', e) // a churn file may go meanwhile
    }
  }
}

async function lister() {
  while (!stopping) {
    try {
      await sh(`ls -l '${churnDir(round)}' '${join(mnt, 'churn')}' '${join(mnt, 'seed', `s${Math.floor(Math.random() * SEED_FOLDERS)}`)}' > /dev/null`)
      counts.listed++
    } catch (e) {
      if (!/No such file/.test(String(e.stderr))) failed('ls', e)
    }
    await sleep(2000)
  }
}

async function rotator() {
  while (!stopping) {
    await sleep(ROUND_MS)
    const next = round + 1
    try {
      await mkdir(churnDir(next), { recursive: true })
      round = next
      const old = round - 3
      if (old >= 0) {
        for (let i = live.length - 1; i >= 0; i--) if (live[i].startsWith(churnDir(old) + '/')) live.splice(i, 1)
        await rm(churnDir(old), { recursive: true, force: true })
      }
    } catch (e) {
      failed('rotate', e)
    }
  }
}

async function refresher() {
  let refreshAt = Date.now() + REFRESH_EVERY_MS
  let hupAt = Date.now() + SIGHUP_EVERY_MS
  while (!stopping) {
    await sleep(1000)
    try {
      if (Date.now() >= refreshAt) {
        refreshAt += REFRESH_EVERY_MS
        await execFileP(process.execPath, [BIN, 'refresh', mnt], { timeout: 60_000 })
        counts.refreshes++
      }
      if (Date.now() >= hupAt) {
        hupAt += SIGHUP_EVERY_MS
        process.kill(mount.child.pid, 'SIGHUP')
        counts.sighups++
      }
    } catch (e) {
      failed('refresh', e)
    }
  }
}

/** Files kept open all along: one read now and then, one appended to (and so uploaded at its close only), one idle. */
async function keepers() {
  const readKept = await open(join(mnt, 'seed', 's0', 'f0.bin'), 'r')
  const idleKept = await open(join(mnt, 'seed', 's1', 'f1.bin'), 'r')
  const appendKept = await open(join(mnt, 'kept-open.log'), 'a')
  try {
    while (!stopping) {
      await readKept.read(Buffer.alloc(4096), 0, 4096, Math.floor(Math.random() * 60_000))
      await appendKept.write(`${new Date().toISOString()} ${JSON.stringify(counts)}\n`)
      await sleep(5000)
    }
  } finally {
    await Promise.all([readKept, idleKept, appendKept].map((fh) => fh.close()))
  }
}

function title() {
  const parts = [args['write-back'] ? `--write-back ${args['write-back']}` : '', args['fuse-binding'] ? `--fuse-binding ${args['fuse-binding']}` : '', args.faults ? 'faults' : '']
  return parts.filter(Boolean).join(', ') || 'default'
}

/** With --faults: every minute, 8 s in which half the requests get a 5xx, then 5 s of 429 storm on the Media API. */
async function faultBursts() {
  const setFaults = async (settings) => {
    try {
      const res = await fetch(`${emulator.match[1]}/_emulator/faults`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${privateKey}:`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify(settings),
      })
      if (!res.ok) failed('faults', new Error(`HTTP ${res.status}`))
    } catch (e) {
      failed('faults', e)
    }
  }
  while (!stopping) {
    await sleep(20_000)
    if (stopping) break
    await setFaults({ errorRate: 0.5, errorStatuses: [500, 502, 503, 504] })
    await sleep(8_000)
    await setFaults({ errorRate: 0.01, errorStatuses: [429, 500, 502, 503, 504] })
    await sleep(20_000)
    if (stopping) break
    await setFaults({ rateLimitStorm: true })
    await sleep(5_000)
    await setFaults({ rateLimitStorm: false })
  }
  await setFaults({ errorRate: 0, resetRate: 0 }) // the quiet end: the uploads left can finish
}

/** Processes other than this one whose command line names the run's folder (the daemon's children included). */
function processesNaming(dir) {
  const found = []
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')
      if (cmd.includes(dir)) found.push(`${pid} ${cmd.trim()}`)
    } catch {
      /* gone */
    }
  }
  return found
}

/** Files left under `dir`, relative to it. */
function filesUnder(dir, rel = '') {
  try {
    return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? filesUnder(dir, join(rel, e.name)) : [`${join(rel, e.name)} (${statSync(join(dir, rel, e.name)).size} B)`])
  } catch {
    return []
  }
}

const rows = [['t s', 'rss MiB', 'fds', 'thr', 'cpu s', 'cache dir', 'files', '*.log', 'listings', 'inodes', 'handles', 'readers', 'blocks', 'buffered', 'uploads', 'log KiB', 'ops']]
async function sample(t0, cpu0) {
  const proc = procOf(mount.child.pid)
  const disk = diskUse(cacheDir)
  let s
  try {
    s = await statusOf()
  } catch (e) {
    failed('status', e)
    return
  }
  const v = s.vfs
  const ops = counts.created + counts.read + counts.renamed + counts.deleted + counts.appended + counts.listed
  const row = [
    ((Date.now() - t0) / 1000).toFixed(0), proc.rssMiB.toFixed(0), proc.fds, proc.threads,
    ((cpuMs(mount.child.pid) - cpu0) / 1000).toFixed(1),
    `${(disk.bytes / 1024).toFixed(0)} KiB`, disk.files, `${(disk.logBytes / 1024).toFixed(0)} KiB`, v.cachedDirs, v.knownInodes,
    v.openHandles, v.openReaders, `${(v.blockCacheBytes / 1024 ** 2).toFixed(1)} MiB`, `${(v.bufferedBytes / 1024).toFixed(0)} KiB`,
    s.uploads.length, (mount.log().length / 1024).toFixed(0), ops,
  ]
  rows.push(row)
  console.log(row.join('\t'))
}

try {
  console.log(`preparing ${SEED_FOLDERS * SEED_FILES_PER_FOLDER} seed files in ${work}`)
  for (let f = 0; f < SEED_FOLDERS; f++) {
    const dir = join(data, 'files', 'seed', `s${f}`)
    await mkdir(dir, { recursive: true })
    for (let i = 0; i < SEED_FILES_PER_FOLDER; i++) await writeFile(join(dir, `f${i}.bin`), randomBytes(8 * 1024 + ((f * 131 + i * 17) % 120) * 1024))
  }
  await mkdir(mnt, { recursive: true })
  emulator = await startBenchEmulator(data, {
    privateKey, publicKey,
    args: ['--rate-limit', '0', ...(args.faults ? ['--error-rate', '0.01', '--error-statuses', '429,500,502,503,504', '--reset-rate', '0.01'] : [])],
  })
  const base = emulator.match[1]
  mount = await startDaemon(
    ['mount', mnt, '--api-url', base, '--upload-url', base, '--endpoint', `${base}/demo`, '--public-key', publicKey,
      '--cache-dir', cacheDir, '--log-level', 'warn', ...(args['write-back'] ? ['--write-back', args['write-back']] : []),
      ...(args['fuse-binding'] ? ['--fuse-binding', args['fuse-binding']] : [])],
    /mounted .* at /,
    { env: { IKFS_PRIVATE_KEY: privateKey } },
  )
  await mkdir(churnDir(0), { recursive: true })
  console.log(`soak for ${args.minutes} min (${title()}), a sample every ${SAMPLE_MS / 1000} s`)
  console.log(rows[0].join('\t'))
  const t0 = Date.now()
  const cpu0 = cpuMs(mount.child.pid)
  const workers = [
    ...Array.from({ length: WRITERS }, (_, i) => writer(i)),
    ...Array.from({ length: READERS }, () => reader()),
    lister(), rotator(), refresher(), keepers(), ...(args.faults ? [faultBursts()] : []),
  ]
  const sampler = (async () => {
    while (!stopping) {
      await sample(t0, cpu0)
      await sleep(SAMPLE_MS)
    }
  })()
  await sleep(RUN_MS)
  stopping = true
  await Promise.all(workers)
  await sampler
  // Quiet again: what remains once the workload has stopped and the uploads are done.
  await sh(`ls -lR '${mnt}' > /dev/null`)
  await sleep(Math.max(SAMPLE_MS, 15_000))
  await sample(t0, cpu0)
  printTable(`soak, ${args.minutes} min, ${title()}`, rows)
  console.log('\nops', JSON.stringify(counts))
  if (errors.size > 0) console.log('errors', JSON.stringify(Object.fromEntries(errors)))
  const stored = await readdir(join(data, 'files', 'churn')).catch(() => [])
  console.log(`churn folders left on the emulator: ${stored.length}; kept-open.log ${(await stat(join(data, 'files', 'kept-open.log')).catch(() => ({ size: 'missing' }))).size} bytes`)
} finally {
  stopping = true
  if (mount) await mount.stop()
  await forceUnmount(mnt)
  if (emulator) await emulator.stop()
  if (mount) {
    const mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(` ${mnt} `))
    console.log(`after the unmount: mounts ${mounted.length}; cache dir files: ${filesUnder(cacheDir).join(', ') || 'none'}`)
    console.log(`processes naming ${work}: ${processesNaming(work).join('; ') || 'none'}`)
    const log = mount.log()
    if (log.length > 0) console.log(`the daemon's log (${log.length} B), its last 4 KiB:\n${log.slice(-4096)}`)
  }
  await cleanup(work)
}
