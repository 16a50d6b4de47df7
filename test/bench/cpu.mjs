// CPU benchmark (not in `npm run bench`): what the daemon, the emulator and the reader's or writer's kernel work
// cost per GiB read cold and per small file copied in, in CPU seconds rather than wall-clock time, which on a
// shared machine moves with everything else that runs. For comparing two builds of the daemon by hand:
//   node test/bench/cpu.mjs [--help] [--runs 3] [--only read|requests|files|write] [--files 500] [--file-kib 4]
//                           [--against DIR] [-- <mount options>]
//   --against DIR: another checkout, built (`npm run build` there: its bin/ikfs.js and dist/), mounted beside this
//     one on the same emulator; every timed run is made on both, in turns (this build first in odd runs, DIR's in
//     even ones), so both see the same host; both tables are printed, then the ratios of their daemon CPU
//     (this / DIR), per run and of the medians. Run it in a clone at the base commit: `git worktree add` or
//     `git clone`, then `npm run build` there (and `npm run build:native` for the libfuse3 binding).
//   cold GiB: `cat` of a 1 GiB file through the mount to /dev/null, a file of its own per run (nothing of it in
//     the daemon's block cache or the mount's page cache), after one untimed GiB (V8 compiles the read path);
//   read requests: 4 KiB reads with O_DIRECT (`dd iflag=direct`, one FUSE read request each) of a 4 MiB file
//     in the daemon's block cache, REQUEST_ROUNDS times per run: the daemon's cost of one request, bytes aside;
//   1 MiB files: `cat` of READ_FILES files of 1 MiB that the mount has not read, one after another (an HTTP
//     request, a stream and 3 FUSE requests each), a set of its own per run, after one untimed set;
//   small files: `cp -r` of `--files` files of `--file-kib` KiB into a new folder of the mount per run, after
//     one untimed copy of the same size.
// The emulator's data is on a tmpfs of the bench's own, so its disk's cost is not in the figures. Prints per run
// the daemon's and the emulator's CPU (/proc/PID/stat: user + system, all threads) and the reader's or `cp`'s
// (user + system, from /usr/bin/time), then the median of the runs. With IKFS_BENCH_CPU_PROF=DIR the daemon
// runs under `node --cpu-prof`, its profile written to DIR at unmount (wall-clock samples of the JavaScript
// thread: a call that wakes another thread is charged the time until this one runs again); with
// IKFS_BENCH_PERF=FILE, `perf record -g` samples the daemon's CPU (all its threads) during the timed runs
// into FILE, its JavaScript functions named (`node --perf-basic-prof`).
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  benchKeys, tempDir, writePatternFile, startBenchEmulator, forceUnmount, timedWithCpu, sh, printTable, median, cleanup,
  mountBenchLibrary,
} from './lib.mjs'

const GiB = 1024 ** 3
const KiB = 1024
const argv = process.argv.slice(2)
if (argv.includes('--help') || argv.includes('-h')) {
  // The usage is the comment at the top of this file.
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n')
  console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'))
  process.exit(0)
}
const dash = argv.indexOf('--')
const own = dash < 0 ? argv : argv.slice(0, dash)
const mountOptions = dash < 0 ? [] : argv.slice(dash + 1)
const option = (name, fallback) => {
  const i = own.indexOf(`--${name}`)
  return i < 0 ? fallback : own[i + 1]
}
const RUNS = Number(option('runs', 3))
const ONLY = option('only', undefined)
const FILES = Number(option('files', 500))
const FILE_BYTES = Number(option('file-kib', 4)) * KiB
const AGAINST = option('against', undefined)
const AGAINST_BIN = AGAINST === undefined ? undefined : join(resolve(AGAINST), 'bin', 'ikfs.js')
if (AGAINST_BIN !== undefined && !existsSync(AGAINST_BIN)) {
  console.error(`--against ${AGAINST}: no ${AGAINST_BIN} (a checkout of ikfs, built)`)
  process.exit(2)
}
/** The read-requests figure: a file in the block cache, read this many times per run. */
const REQUEST_FILE_BYTES = 4 * 1024 * KiB
const REQUEST_ROUNDS = 20
/** The 1 MiB files figure: files per run. */
const READ_FILES = 200
const PROFILE_DIR = process.env.IKFS_BENCH_CPU_PROF
const PERF_FILE = process.env.IKFS_BENCH_PERF
const { privateKey, publicKey } = benchKeys()

const work = await tempDir('ikfs-bench-cpu-')
const data = join(work, 'data')
let tmpfsMounted = false
let emulator
const mounts = []

/** Runs `command` under /usr/bin/time; its user + system CPU in ms. */
async function commandCpuMs(command) {
  const { stderr } = await sh(`/usr/bin/time -f 'cpu %U %S' ${command}`)
  const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(stderr)
  if (!m) throw new Error(`no CPU figures from /usr/bin/time: ${stderr}`)
  return (Number(m[1]) + Number(m[2])) * 1000
}

/** One timed run: wall ms, the daemon's and the emulator's CPU ms, the command's CPU ms. */
async function measure(command, daemon) {
  const perf = PERF_FILE ? await startPerf(daemon.child.pid) : undefined
  const run = await timedWithCpu(() => commandCpuMs(command), [daemon, emulator])
  await perf?.stop()
  return { ms: run.ms, daemon: run.cpu[0], emulator: run.cpu[1], command: run.result }
}

let perfRuns = 0
/** `perf record` of process `pid` into PERF_FILE (the first run) or PERF_FILE.N, until stop(). */
async function startPerf(pid) {
  const out = perfRuns++ === 0 ? PERF_FILE : `${PERF_FILE}.${perfRuns - 1}`
  const perf = spawn('perf', ['record', '-q', '-F', '1999', '-g', '-p', String(pid), '-o', out], { stdio: 'ignore' })
  await new Promise((r) => setTimeout(r, 500)) // perf attached
  return { stop: () => new Promise((r) => { perf.once('exit', r); perf.kill('SIGINT') }) }
}

function report(title, unit, per, runs) {
  const row = (name, r) => [name, (r.ms / 1000).toFixed(2), ...[r.daemon, r.emulator, r.command].map((ms) => (ms / per).toFixed(unit === 's' ? 2 : unit === 'ms' ? 3 : 1))]
  const med = { ms: median(runs.map((r) => r.ms)), daemon: median(runs.map((r) => r.daemon)), emulator: median(runs.map((r) => r.emulator)), command: median(runs.map((r) => r.command)) }
  printTable(title, [
    ['run', 'wall s', `daemon CPU ${unit}`, `emulator CPU ${unit}`, `reader/writer CPU ${unit}`],
    ...runs.map((r, i) => row(String(i + 1), r)),
    row('median', med),
  ])
}

try {
  await mkdir(data, { recursive: true })
  await sh(`mount -t tmpfs -o size=${(RUNS + 3) * GiB},mode=0700 ikfs-bench-cpu '${data}'`)
  tmpfsMounted = true
  const doRead = ONLY === undefined || ONLY === 'read'
  const doRequests = ONLY === undefined || ONLY === 'requests'
  const doFiles = ONLY === undefined || ONLY === 'files'
  const doWrite = ONLY === undefined || ONLY === 'write'
  if (doRead) for (let i = 0; i <= RUNS; i++) await writePatternFile(join(data, 'files', 'big', `g${i}.bin`), GiB, i + 1)
  if (doFiles) {
    for (let r = 0; r <= RUNS; r++) {
      for (let i = 0; i < READ_FILES; i++) await writePatternFile(join(data, 'files', 'mib', `s${r}`, `f${i}.bin`), 1024 * KiB, 1000 + r * READ_FILES + i)
    }
  }
  if (doRequests) await writePatternFile(join(data, 'files', 'req', 'r.bin'), REQUEST_FILE_BYTES, 99)
  const local = join(work, 'local')
  if (doWrite) {
    for (let i = 0; i < FILES; i++) {
      await mkdir(join(local, 'small'), { recursive: true })
      await writeFile(join(local, 'small', `s${String(i).padStart(4, '0')}.bin`), Buffer.alloc(FILE_BYTES, i % 251))
    }
  }
  emulator = await startBenchEmulator(data, { privateKey, publicKey })
  const base = emulator.match[1]
  const nodeArgs = [...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), ...(PERF_FILE ? ['--perf-basic-prof'] : [])]
  /** The builds measured: this one, and with --against the other one (its folders in the library prefixed). */
  const builds = []
  {
    const { mnt, daemon } = await mountBenchLibrary(work, 'mnt', base, { privateKey, publicKey, extra: mountOptions, mounts, nodeArgs })
    builds.push({ label: 'this build', mnt, daemon, prefix: '' })
    console.log(`daemon pid ${daemon.child.pid}, mount options: ${mountOptions.join(' ') || '(default)'}`)
  }
  if (AGAINST_BIN !== undefined) {
    const { mnt, daemon } = await mountBenchLibrary(work, 'mnt-against', base, { privateKey, publicKey, extra: mountOptions, mounts, nodeArgs, bin: AGAINST_BIN })
    builds.push({ label: `--against ${AGAINST}`, mnt, daemon, prefix: 'against-' })
    console.log(`--against ${AGAINST}: daemon pid ${daemon.child.pid}`)
  }
  /**
   * RUNS timed runs of `command(build, run)` on every build, in turns (the first build leads in odd runs);
   * `untimed(build)` first on each. Prints a table per build, and with two builds the ratios of their daemon CPU.
   */
  async function section(title, unit, per, untimed, command) {
    for (const b of builds) await untimed(b)
    const runs = builds.map(() => [])
    for (let i = 1; i <= RUNS; i++) {
      const order = i % 2 === 1 ? builds.map((_, k) => k) : builds.map((_, k) => k).reverse()
      for (const k of order) runs[k].push(await measure(command(builds[k], i), builds[k].daemon))
    }
    builds.forEach((b, k) => report(builds.length > 1 ? `${title} (${b.label})` : title, unit, per, runs[k]))
    if (builds.length > 1) {
      const ratios = runs[0].map((r, i) => (r.daemon / runs[1][i].daemon).toFixed(3))
      const medians = runs.map((rs) => median(rs.map((r) => r.daemon)))
      console.log(`daemon CPU, this build / ${AGAINST}: runs ${ratios.join(', ')}; medians ${(medians[0] / medians[1]).toFixed(3)}`)
    }
  }

  if (doRead) {
    await section('cold 1 GiB `cat` through the mount: CPU s per GiB', 's', 1000,
      (b) => sh(`cat '${join(b.mnt, 'big', 'g0.bin')}' > /dev/null`),
      (b, i) => `cat '${join(b.mnt, 'big', `g${i}.bin`)}' > /dev/null`)
  }
  if (doRequests) {
    const rounds = (b) => `for i in ${Array.from({ length: REQUEST_ROUNDS }, (_, i) => i).join(' ')}; do dd if='${join(b.mnt, 'req', 'r.bin')}' of=/dev/null bs=4k iflag=direct 2>/dev/null; done`
    await section(`4 KiB O_DIRECT reads from the block cache: CPU µs per read request`, 'µs', (REQUEST_ROUNDS * REQUEST_FILE_BYTES) / (4 * KiB) / 1000,
      (b) => sh(rounds(b)), // fills the block cache, compiles the path
      (b) => `bash -c "${rounds(b)}"`)
  }
  if (doFiles) {
    await section(`\`cat\` of ${READ_FILES} files of 1 MiB, one after another: CPU ms per file`, 'ms', READ_FILES,
      (b) => sh(`cat '${join(b.mnt, 'mib', 's0')}'/* > /dev/null`),
      (b, i) => `cat '${join(b.mnt, 'mib', `s${i}`)}'/* > /dev/null`)
  }
  if (doWrite) {
    await section(`\`cp -r\` of ${FILES} × ${FILE_BYTES / KiB} KiB into the mount: CPU ms per file`, 'ms', FILES,
      (b) => sh(`cp -r '${join(local, 'small')}' '${join(b.mnt, `${b.prefix}warm`)}'`),
      (b, i) => `cp -r '${join(local, 'small')}' '${join(b.mnt, `${b.prefix}run${i}`)}'`)
    for (const b of builds) {
      const stored = join(data, 'files', `${b.prefix}run${RUNS}`)
      await sh(`diff -rq '${join(local, 'small')}' '${stored}'`).catch(async () => {
        // with --write-back the last uploads may still be under way
        await new Promise((r) => setTimeout(r, 3000))
        await sh(`diff -rq '${join(local, 'small')}' '${stored}'`)
      })
    }
  }
} finally {
  for (const { daemon, mnt } of mounts) {
    await daemon.stop() // SIGTERM: the daemon unmounts (and writes its CPU profile)
    await forceUnmount(mnt)
  }
  if (emulator) await emulator.stop()
  if (tmpfsMounted) await sh(`umount '${data}'`).catch(() => sh(`umount -l '${data}'`))
  await cleanup(work)
}
