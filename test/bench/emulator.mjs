// Emulator delivery benchmark: one 1 GiB file read through the URL endpoint (`curl`, `tr=orig-true`) against
// `cat FILE > /dev/null` of the same file on disk, 3 runs each, interleaved, in one run. Prints a table of
// MiB/s and the ratio emulator/cat; never asserts. Runs against dist/ (`npm run build` first).
//   node test/bench/emulator.mjs [--size-mib N]   (N defaults to 1024; smaller only to smoke-test the script)
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { benchKeys, BIN, ROOT, tempDir, writePatternFile, startBenchEmulator, timed, sh, printTable, median, cleanup } from './lib.mjs'

const MiB = 1024 ** 2
const sizeArg = process.argv.indexOf('--size-mib')
const FILE_BYTES = (sizeArg > 0 ? Number(process.argv[sizeArg + 1]) : 1024) * MiB
if (!Number.isInteger(FILE_BYTES) || FILE_BYTES <= 0) throw new Error('--size-mib needs a positive whole number')
/** Three runs per reader: enough for a median, short enough for a 1 GiB file on a shared 2-core box. */
const RUNS = 3
/** The emulator adopts (probes) the 1 GiB file at start; give it time on a slow disk. */
const START_TIMEOUT_MS = 300_000

const { privateKey, publicKey } = benchKeys()
const cliBuilt = existsSync(BIN) && existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))
const serverModule = join(ROOT, 'dist', 'src', 'emulator', 'server.js')

/** Starts the built emulator over `dataDir`: the CLI as a child process, or the server module in-process. */
async function startBuiltEmulator(dataDir) {
  if (cliBuilt) {
    const daemon = await startBenchEmulator(dataDir, { privateKey, publicKey, timeoutMs: START_TIMEOUT_MS })
    return { how: 'bin/ikfs.js emulator (child process)', url: daemon.match[1], stop: daemon.stop }
  }
  if (!existsSync(serverModule)) throw new Error('no built emulator: run `npm run build` first')
  const { startEmulator } = await import(pathToFileURL(serverModule).href)
  const emu = await startEmulator({ port: 0, dataDir, privateKey, publicKey, rateLimit: { perSecond: 0 } })
  return { how: 'dist/src/emulator/server.js (in-process)', url: emu.url, stop: () => emu.close() }
}

/** One curl download; returns bytes/s as curl measured it, after checking the whole file came back. */
async function curlOnce(url) {
  const { stdout } = await sh(`curl -sf -o /dev/null -w '%{speed_download} %{size_download}' '${url}'`)
  const [speed, size] = stdout.trim().split(/\s+/).map(Number)
  if (size !== FILE_BYTES) throw new Error(`curl got ${size} bytes, expected ${FILE_BYTES}`)
  return speed
}

/** One `cat`; returns bytes/s from the wall-clock time of the shell command. */
async function catOnce(file) {
  const { ms } = await timed(() => sh(`cat '${file}' > /dev/null`))
  return FILE_BYTES / (ms / 1000)
}

const work = await tempDir('ikfs-bench-emulator-')
const dataDir = join(work, 'data')
const file = join(dataDir, 'files', 'bench', 'big.bin')
let emulator
try {
  console.log(`writing a ${FILE_BYTES / MiB} MiB file in ${work}`)
  await writePatternFile(file, FILE_BYTES, 7)
  emulator = await startBuiltEmulator(dataDir)
  console.log(`emulator: ${emulator.how}`)
  const url = `${emulator.url}/demo/bench/big.bin?tr=orig-true`

  // One unmeasured cat so both readers start from the same (warm) page cache.
  await catOnce(file)
  const curlSpeeds = []
  const catSpeeds = []
  for (let i = 0; i < RUNS; i++) {
    curlSpeeds.push(await curlOnce(url))
    catSpeeds.push(await catOnce(file))
  }

  const mibps = (bytesPerSecond) => (bytesPerSecond / MiB).toFixed(0)
  const catMedian = median(catSpeeds)
  const curlMedian = median(curlSpeeds)
  printTable(`${FILE_BYTES / MiB} MiB sequential read: emulator URL endpoint vs cat (MiB/s)`, [
    ['reader', ...curlSpeeds.map((_, i) => `run ${i + 1}`), 'median', 'ratio emulator/cat'],
    ['curl via emulator (tr=orig-true)', ...curlSpeeds.map(mibps), mibps(curlMedian), (curlMedian / catMedian).toFixed(2)],
    ['cat FILE > /dev/null', ...catSpeeds.map(mibps), mibps(catMedian), '1.00'],
  ])
} finally {
  await emulator?.stop()
  await cleanup(work)
}
