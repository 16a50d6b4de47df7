// The same comparisons as read.mjs and write.mjs, on an emulator that waits LATENCY_MS before answering each
// request, as a real ImageKit edge or upload API does (tens of milliseconds away, where loopback is
// microseconds). On loopback the round trip is nearly free and both cores are busy, so what decides the
// ratios there is CPU; here it is how many round trips each side waits for, one after another.
//   TTFB of a 1 MiB file: curl vs open+read through the mount
//   200 files of 64 KiB: a sequential curl loop vs `cp -r` into the mount (uploads at close) and with
//     --write-back (timed until the last file is stored)
//   8 parallel readers over 100 files of 1 MiB: 8 curls vs 8 cats through the mount
//   `ls -l` of a 10,000-file folder, cold: the raw paginated listing (curl, page after page) vs the mount
//   `find` of a tree of 40 folders, cold: the mount as it is vs a mount with --dir-prefetch 8
import { mkdir, open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  benchKeys, tempDir, writePatternFile, startBenchEmulator, forceUnmount, timed, sh, printTable, median, cleanup, mountBenchLibrary,
  storedCount, waitStored,
} from './lib.mjs'

const KiB = 1024
const MiB = 1024 * KiB
const LATENCY_MS = 20
const SMALL = 200
const PAR = 100
const MANY = 10_000
/** Folders of the tree walked by `find`: TREE top folders, each with one subfolder. */
const TREE = 20
const POLL_MS = 20
const { privateKey, publicKey } = benchKeys()

const work = await tempDir('ikfs-bench-latency-')
const data = join(work, 'data')
const local = join(work, 'local')
let emulator
const mounts = []

const mountAt = async (name, base, extra = []) => (await mountBenchLibrary(work, name, base, { privateKey, publicKey, extra, mounts })).mnt

async function mustBeStored(folder, n) {
  const stored = await storedCount(data, folder)
  if (stored !== n) throw new Error(`${folder}: ${stored} of ${n} files stored`)
}

try {
  console.log(`preparing data set in ${work}; the emulator answers every request after ${LATENCY_MS} ms`)
  const small = join(local, 'small')
  for (let i = 0; i < SMALL; i++) await writePatternFile(join(small, `s${String(i).padStart(3, '0')}.bin`), 64 * KiB, i + 100)
  for (let i = 0; i < PAR; i++) await writePatternFile(join(data, 'files', 'par', `p${i}.bin`), MiB, i + 10)
  for (let i = 0; i < 7; i++) await writePatternFile(join(data, 'files', 'ttfb', `t${i}.bin`), MiB, i + 500)
  await mkdir(join(data, 'files', 'many'), { recursive: true })
  for (let i = 0; i < TREE; i++) {
    await mkdir(join(data, 'files', 'tree', `d${i}`, 'sub'), { recursive: true })
    await writeFile(join(data, 'files', 'tree', `d${i}`, 'a.txt'), `a ${i}\n`)
    await writeFile(join(data, 'files', 'tree', `d${i}`, 'sub', 'b.txt'), `b ${i}\n`)
  }
  for (let i = 0; i < MANY; i++) await writeFile(join(data, 'files', 'many', `f${String(i).padStart(5, '0')}.txt`), `file ${i}\n`)

  emulator = await startBenchEmulator(data, { privateKey, publicKey, args: ['--latency-ms', String(LATENCY_MS)] })
  const base = emulator.match[1]
  const endpoint = `${base}/demo`
  const mnt = await mountAt('mnt', base)
  const wbMnt = await mountAt('mnt-wb', base, ['--write-back', '1ms'])
  const prefetchMnt = await mountAt('mnt-prefetch', base, ['--dir-prefetch', '8'])

  // TTFB of 1 MiB files (the folder listed first, as a file manager would have)
  await sh(`ls '${mnt}/ttfb' > /dev/null`)
  const curlTtfb = []
  const mountTtfb = []
  for (let i = 0; i < 7; i++) {
    const out = await sh(`curl -sf -o /dev/null -w '%{time_starttransfer}' '${endpoint}/ttfb/t${i}.bin?tr=orig-true'`)
    curlTtfb.push(Number(out.stdout.trim()) * 1000)
    const { ms } = await timed(async () => {
      const fh = await open(join(mnt, 'ttfb', `t${i}.bin`), 'r')
      await fh.read(Buffer.alloc(4096), 0, 4096, 0)
      await fh.close()
    })
    mountTtfb.push(ms)
  }
  printTable(`Time to first byte, 1 MiB file, ${LATENCY_MS} ms away (median of 7)`, [
    ['reader', 'ms', 'ratio to curl'],
    ['curl', median(curlTtfb).toFixed(1), '1.00'],
    ['open+read via mount', median(mountTtfb).toFixed(1), (median(mountTtfb) / median(curlTtfb)).toFixed(2)],
  ])

  // 200 x 64 KiB
  const withKey = { env: { ...process.env, BENCH_KEY: privateKey } }
  const curlSmall = await timed(() =>
    sh(`cd '${small}' && for f in *.bin; do curl -sf -o /dev/null -F "file=@$f" -F "fileName=$f" -F folder=/curlsmall -F useUniqueFileName=false -u "$BENCH_KEY:" '${base}/api/v1/files/upload' || exit 1; done`, withKey),
  )
  await mustBeStored('curlsmall', SMALL)
  const cpSmall = await timed(() => sh(`cp -r '${small}' '${mnt}/cpsmall'`))
  await mustBeStored('cpsmall', SMALL)
  const wbSmall = await timed(async () => {
    await sh(`cp -r '${small}' '${wbMnt}/wbsmall'`)
    await waitStored(data, 'wbsmall', SMALL, { pollMs: POLL_MS })
  })
  const perSecond = (run) => (SMALL / (run.ms / 1000)).toFixed(0)
  printTable(`${SMALL} files of 64 KiB, ${LATENCY_MS} ms away`, [
    ['writer', 'files/s', 'speed-up over curl loop', 'target on loopback'],
    ['curl, one after another', perSecond(curlSmall), '1.00', ''],
    ['cp -r into the mount (close waits for the upload)', perSecond(cpSmall), (curlSmall.ms / cpSmall.ms).toFixed(2), ''],
    ['cp -r, --write-back 1ms, until stored', perSecond(wbSmall), (curlSmall.ms / wbSmall.ms).toFixed(2), '≥ 4'],
  ])

  // 8 parallel readers, 100 x 1 MiB
  await sh(`ls '${mnt}/par' > /dev/null`)
  const names = Array.from({ length: PAR }, (_, i) => `p${i}.bin`)
  const workers = Array.from({ length: 8 }, (_, w) => names.filter((_, i) => i % 8 === w))
  const curlX8 = () => sh(workers.map((list) => `curl -sf ${list.map((n) => `-o /dev/null '${endpoint}/par/${n}?tr=orig-true'`).join(' ')} &`).join('\n') + '\nwait')
  await curlX8() // the emulator's first request for a file costs it more (read.mjs): untimed
  const curlPar = await timed(curlX8)
  const catPar = await timed(() => sh(`cd '${mnt}/par' && printf '%s\\n' ${names.join(' ')} | xargs -P8 -n${Math.ceil(PAR / 8)} cat > /dev/null`))
  const mibps = (run) => (PAR / (run.ms / 1000)).toFixed(0)
  printTable(`8 parallel readers, ${PAR} files of 1 MiB, ${LATENCY_MS} ms away`, [
    ['reader', 'MiB/s', 'ratio to curl', 'target on loopback'],
    ['curl x8', mibps(curlPar), '1.00', ''],
    ['cat x8 via mount', mibps(catPar), (curlPar.ms / catPar.ms).toFixed(2), '≥ 0.8'],
  ])

  // ls -l of 10,000 files, cold
  const auth = Buffer.from(privateKey + ':').toString('base64')
  const skips = Array.from({ length: Math.floor(MANY / 1000) + 1 }, (_, i) => i * 1000).join(' ')
  const rawList = await timed(() =>
    sh(`for s in ${skips}; do curl -sf -o /dev/null -H 'Authorization: Basic ${auth}' "${base}/v1/files?path=/many/&type=all&sort=ASC_NAME&limit=1000&skip=$s"; done`),
  )
  const lsCold = await timed(() => sh(`ls -l '${mnt}/many' | wc -l`))
  printTable(`ls -l of a ${MANY.toLocaleString('en')}-file folder, cold, ${LATENCY_MS} ms away`, [
    ['what', 'ms', 'ratio to the raw listing'],
    [`raw API listing (${skips.split(' ').length} pages, curl, one after another)`, rawList.ms.toFixed(0), '1.00'],
    ['ls -l via mount', lsCold.ms.toFixed(0), (lsCold.ms / rawList.ms).toFixed(2)],
  ])
  // find over a tree of 2 x TREE folders, cold on both mounts
  const findIn = (at) => timed(() => sh(`find '${at}/tree' | wc -l`))
  const findPlain = await findIn(mnt)
  const findPrefetch = await findIn(prefetchMnt)
  printTable(`find over ${2 * TREE + 1} folders, cold, ${LATENCY_MS} ms away`, [
    ['mount', 'ms', 'ratio'],
    ['as it is (one listing after another)', findPlain.ms.toFixed(0), '1.00'],
    ['--dir-prefetch 8', findPrefetch.ms.toFixed(0), (findPrefetch.ms / findPlain.ms).toFixed(2)],
  ])
} finally {
  for (const { daemon, mnt } of mounts) {
    await daemon.stop()
    await forceUnmount(mnt)
  }
  if (emulator) await emulator.stop()
  await cleanup(work)
}
