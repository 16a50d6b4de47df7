// Read path without FUSE: the VFS the daemon builds (config → ImageKitClient → createVfs), driven in-process
// the way the kernel drives it, against curl on the same emulator, side by side in one run. It measures
// everything between the HTTP socket and the Buffer vfs.read() returns, and nothing of the FUSE binding.
//   1 GiB sequential, cold (a fresh VFS per run): 1 MiB reads one at a time, and with 2 and 4 in flight
//     (kernel readahead issues several); 128 KiB reads one at a time (what fuse-native sends); each through
//     vfs.read (returns a Buffer) and vfs.readInto (copies into the caller's memory, as libfuse's buffer)
//   8 parallel readers over 200 files of 1 MiB: 8 curl processes vs 8 in-process loops of open/read/release
//   time to first byte of a 1 MiB file: curl vs open + 4 KiB read
// Beside MiB/s it prints this process's CPU time per GiB: steadier than wall time on a shared machine, and
// what decides throughput once the emulator and the reader compete for two cores.
// Runs against dist/ (`npm run build` first). Never asserts beyond byte counts.
// Each VFS case runs with both delivery readers (--delivery-client sockets, the default, and undici), side by
// side in one run.
//   node test/bench/vfs-read.mjs [--size-mib N] [--runs N] [--clients sockets,undici] [--profile]
//   (--profile writes a V8 CPU profile of the VFS runs to ./vfs-read-*.cpuprofile via node:inspector)
import { constants } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { benchKeys, ROOT, tempDir, writePatternFile, startBenchEmulator, timed, sh, printTable, median, cleanup } from './lib.mjs'

const MiB = 1024 ** 2
const GiB = 1024 ** 3
const argValue = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const BIG_BYTES = argValue('--size-mib', 1024) * MiB
/** Runs per sequential case; the median is printed. */
const RUNS = argValue('--runs', 3)
const PROFILE = process.argv.includes('--profile')
const clientsArg = process.argv.indexOf('--clients')
const CLIENTS = clientsArg > 0 ? process.argv[clientsArg + 1].split(',') : ['sockets', 'undici']
const PAR_FILES = 200
const PAR_WORKERS = 8
const TTFB_FILES = 7

const dist = (p) => import(pathToFileURL(join(ROOT, 'dist', 'src', p)).href)
const { loadConfig } = await dist('config/load.js')
const { clientSettings, vfsOptions } = await dist('cli/derive.js')
const { ImageKitClient } = await dist('imagekit/client.js')
const { createVfs } = await dist('vfs/vfs.js')
const { createLogger } = await dist('log.js')

const { privateKey, publicKey } = benchKeys()

/** A VFS wired as `ikfs mount` wires it (read-only, so no spool folder is needed). */
function buildVfs(base, deliveryClient = 'sockets') {
  const config = loadConfig({
    options: {
      endpoint: `${base}/demo`, apiUrl: base, uploadUrl: base, publicKey, readOnly: 'true', dirCacheTime: '1h', logLevel: 'warn',
      // Builds from before the socket reader know no such option: undici is all they have.
      ...(deliveryClient === 'sockets' ? {} : { deliveryClient }),
    },
    env: { IKFS_PRIVATE_KEY: privateKey },
    cwd: process.cwd(),
    home: homedir(),
  })
  const logger = createLogger({ level: 'warn', secrets: [privateKey] })
  const client = new ImageKitClient({ ...clientSettings(config), logger })
  const vfs = createVfs(client, vfsOptions(config), { logger })
  return {
    vfs,
    async close() {
      await vfs.close()
      await client.close()
    },
  }
}

/** One buffer per request in flight, reused from request to request as libfuse reuses its request memory. */
const slotsFor = (requestBytes, depth) => Array.from({ length: depth }, () => Buffer.alloc(requestBytes))

/**
 * Reads `size` bytes of `path` in `requestBytes` reads with up to `depth` in flight, in order, through
 * vfs.read or vfs.readInto (into `slots`).
 */
async function readSequential(vfs, path, size, requestBytes, depth, api = 'read', slots = slotsFor(requestBytes, depth)) {
  const fh = await vfs.open(path, constants.O_RDONLY)
  let next = 0
  let issued = 0
  let got = 0
  const inFlight = []
  const issue = () => {
    inFlight.push(api === 'readInto'
      ? vfs.readInto(path, fh, slots[issued % depth], next)
      : vfs.read(path, fh, requestBytes, next).then((buf) => buf.length))
    next += requestBytes
    issued++
  }
  while (next < size && inFlight.length < depth) issue()
  while (inFlight.length > 0) {
    got += await inFlight.shift()
    if (next < size) issue()
  }
  await vfs.release(path, fh)
  if (got !== size) throw new Error(`read ${got} of ${size} bytes from ${path}`)
}

async function withProfile(name, fn) {
  if (!PROFILE) return fn()
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  try {
    return await fn()
  } finally {
    const { profile } = await session.post('Profiler.stop')
    await writeFile(`vfs-read-${name}.cpuprofile`, JSON.stringify(profile))
    session.disconnect()
  }
}

const work = await tempDir('ikfs-bench-vfs-read-')
const data = join(work, 'data')
let emulator
try {
  console.log(`preparing data set in ${work}`)
  await writePatternFile(join(data, 'files', 'big', 'big.bin'), BIG_BYTES, 1)
  for (let i = 0; i < PAR_FILES; i++) await writePatternFile(join(data, 'files', 'par', `p${i}.bin`), MiB, i + 10)
  for (let i = 0; i < PAR_FILES; i++) await writePatternFile(join(data, 'files', 'par-warm', `p${i}.bin`), MiB, i + 1000)
  for (let i = 0; i < TTFB_FILES; i++) await writePatternFile(join(data, 'files', 'ttfb', `t${i}.bin`), MiB, i + 500)

  emulator = await startBenchEmulator(data, { privateKey, publicKey })
  const base = emulator.match[1]
  const endpoint = `${base}/demo`
  const curl = (path, fmt) => sh(`curl -sf -o /dev/null -w '${fmt}' '${endpoint}${path}?tr=orig-true'`).then((r) => r.stdout)
  const mibps = (bytes, ms) => bytes / MiB / (ms / 1000)

  // ---- 1 GiB sequential, cold ----
  const allCases = [
    ['read, 1 MiB, 1 in flight', MiB, 1, 'read'],
    ['read, 1 MiB, 2 in flight', MiB, 2, 'read'],
    ['read, 1 MiB, 4 in flight', MiB, 4, 'read'],
    ['read, 128 KiB, 1 in flight', 128 * 1024, 1, 'read'],
    ['readInto, 1 MiB, 1 in flight', MiB, 1, 'readInto'],
    ['readInto, 1 MiB, 4 in flight', MiB, 4, 'readInto'],
  ]
  // Older builds have no readInto: their table shows read() only.
  const probe = buildVfs(base)
  const hasReadInto = typeof probe.vfs.readInto === 'function'
  await probe.close()
  const cases = allCases
    .filter(([, , , api]) => api === 'read' || hasReadInto)
    .flatMap(([name, ...rest]) => CLIENTS.map((client) => [`${name} (${client})`, ...rest, client]))
  const times = { curl: [] }
  const cpu = {}
  for (const [name] of cases) {
    times[name] = []
    cpu[name] = []
  }
  for (let run = 0; run < RUNS; run++) {
    // Interleaved, so drift in the machine's load hits every reader alike.
    times.curl.push((await timed(() => curl('/big/big.bin', '%{size_download}'))).ms)
    for (const [name, requestBytes, depth, api, client] of cases) {
      const { vfs, close } = buildVfs(base, client)
      await vfs.getattr('/big/big.bin') // listing outside the timing, as `cat` after `ls` would
      const before = process.cpuUsage()
      const { ms } = await timed(() => withProfile(`seq-${api}-${requestBytes}-${depth}-${run}`, () =>
        readSequential(vfs, '/big/big.bin', BIG_BYTES, requestBytes, depth, api)))
      const used = process.cpuUsage(before)
      times[name].push(ms)
      cpu[name].push((used.user + used.system) / 1000 / (BIG_BYTES / GiB))
      await close()
    }
  }
  const curlMs = median(times.curl)
  printTable(`${BIG_BYTES / MiB} MiB sequential read, cold, no FUSE (median of ${RUNS})`, [
    ['reader', 'MiB/s', 'ratio to curl', 'CPU ms/GiB (this process)'],
    ['curl', mibps(BIG_BYTES, curlMs).toFixed(0), '1.00', ''],
    ...cases.map(([name]) => [
      `vfs.${name}`, mibps(BIG_BYTES, median(times[name])).toFixed(0), (curlMs / median(times[name])).toFixed(2), median(cpu[name]).toFixed(0),
    ]),
  ])

  // ---- 8 parallel readers, 200 x 1 MiB ----
  const names = Array.from({ length: PAR_FILES }, (_, i) => `p${i}.bin`)
  const workers = Array.from({ length: PAR_WORKERS }, (_, w) => names.filter((_, i) => i % PAR_WORKERS === w))
  const curlX8 = () => sh(workers.map((list) => `curl -sf ${list.map((n) => `-o /dev/null '${endpoint}/par/${n}?tr=orig-true'`).join(' ')} &`).join('\n') + '\nwait')
  // Untimed first, as in read.mjs: the emulator's first request for a file costs it more than later ones, and
  // the VFS rows below would otherwise be compared with a curl that paid for them.
  await curlX8()
  const readAll = (vfs, folder, api) => Promise.all(workers.map(async (list) => {
    const slots = slotsFor(MiB, 1)
    for (const n of list) await readSequential(vfs, `${folder}/${n}`, MiB, MiB, 1, api, slots)
  }))
  const parallel = async (api, client) => {
    const par = buildVfs(base, client)
    await par.vfs.readdir('/par')
    await par.vfs.readdir('/par-warm')
    // Untimed first, over other files: the VFS's connections open and its read path is compiled by V8, as in
    // a mount that has run for a while (read.mjs does the same for the mounts).
    await readAll(par.vfs, '/par-warm', api)
    const { ms } = await timed(() => withProfile(`par-${api}`, () => readAll(par.vfs, '/par', api)))
    await par.close()
    return ms
  }
  // Each VFS row is paired with a curl run right before or after it (in turns), and compared with that one:
  // curl alone moves ±30% from run to run here.
  const parRows = []
  const curlRuns = []
  for (const api of hasReadInto ? ['read', 'readInto'] : ['read']) {
    for (const client of CLIENTS) {
      const curlFirst = parRows.length % 2 === 0
      const curlBefore = curlFirst ? (await timed(curlX8)).ms : undefined
      const ms = await parallel(api, client)
      const curlMs = curlBefore ?? (await timed(curlX8)).ms
      curlRuns.push(curlMs)
      parRows.push([`vfs open/${api}/release x${PAR_WORKERS} (${client})`, mibps(PAR_FILES * MiB, ms).toFixed(0), (curlMs / ms).toFixed(2), mibps(PAR_FILES * MiB, curlMs).toFixed(0)])
    }
  }
  const curlMiBps = curlRuns.map((ms) => mibps(PAR_FILES * MiB, ms))
  printTable(`${PAR_WORKERS} parallel readers, ${PAR_FILES} files of 1 MiB, no FUSE (each row against its own curl run)`, [
    ['reader', 'MiB/s', 'ratio to curl', 'that curl run, MiB/s'],
    [`curl x${PAR_WORKERS} (median of ${curlRuns.length})`, median(curlMiBps).toFixed(0), '1.00', `${Math.min(...curlMiBps).toFixed(0)}–${Math.max(...curlMiBps).toFixed(0)}`],
    ...parRows,
  ])

  // ---- time to first byte ----
  const ttfb = buildVfs(base)
  await ttfb.vfs.readdir('/ttfb')
  const curlTtfb = []
  const vfsTtfb = []
  for (let i = 0; i < TTFB_FILES; i++) {
    curlTtfb.push(Number((await curl(`/ttfb/t${i}.bin`, '%{time_starttransfer}')).trim()) * 1000)
    const { ms } = await timed(async () => {
      const fh = await ttfb.vfs.open(`/ttfb/t${i}.bin`, constants.O_RDONLY)
      await ttfb.vfs.read(`/ttfb/t${i}.bin`, fh, 4096, 0)
      await ttfb.vfs.release(`/ttfb/t${i}.bin`, fh)
    })
    vfsTtfb.push(ms)
  }
  await ttfb.close()
  printTable(`Time to first byte, 1 MiB file, no FUSE (median of ${TTFB_FILES})`, [
    ['reader', 'ms', 'ratio to curl'],
    ['curl', median(curlTtfb).toFixed(2), '1.00'],
    ['vfs open + 4 KiB read', median(vfsTtfb).toFixed(2), (median(vfsTtfb) / median(curlTtfb)).toFixed(2)],
  ])
} finally {
  if (emulator) await emulator.stop()
  await cleanup(work)
}
