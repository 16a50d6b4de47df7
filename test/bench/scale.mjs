// Scale check (issues 2, 3 and 4): a folder of 100,000 files and a 5 GiB file, without loading either into
// memory. Prints the emulator's start-up (adoption) time and RSS, the mount daemon's RSS after `ls -l` of
// the 100,000-file folder, and a fresh daemon's peak RSS after writing a 3 GiB file through the mount (memory
// must not grow with a file's size), next to the bounds README.md states.
import { mkdir, open, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { benchKeys, tempDir, startDaemon, startBenchEmulator, forceUnmount, timed, sh, printTable, cleanup } from './lib.mjs'

const FILES = 100_000
const BIG = 5 * 1024 ** 3
const WRITTEN_MIB = 3 * 1024
const DAEMON_RSS_BOUND_MIB = 400
const EMULATOR_RSS_BOUND_MIB = 400
const { privateKey } = benchKeys()

const rssMiB = async (pid) => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return { rss: (kb('VmRSS') / 1024).toFixed(0), peak: (kb('VmHWM') / 1024).toFixed(0) }
}

const work = await tempDir('ikfs-bench-scale-')
const data = join(work, 'data')
const mnt = join(work, 'mnt')
let emulator
let mount
try {
  console.log(`preparing ${FILES} files and a sparse 5 GiB file in ${work}`)
  await mkdir(join(data, 'files', 'huge'), { recursive: true })
  for (let i = 0; i < FILES; i++) await writeFile(join(data, 'files', 'huge', `f${String(i).padStart(6, '0')}.txt`), 'x')
  const fh = await open(join(data, 'files', 'big5g.bin'), 'w')
  await fh.truncate(BIG)
  await fh.write(Buffer.from('the end\n'), 0, 8, BIG - 8)
  await fh.close()
  await mkdir(mnt, { recursive: true })

  const start = await timed(async () => {
    emulator = await startBenchEmulator(data, {
      privateKey, publicKey: 'pub', args: ['--rate-limit', '0', '--max-upload-bytes', String(4 * 1024 ** 3)], timeoutMs: 600_000,
    })
  })
  const base = emulator.match[1]
  const emuAfterStart = await rssMiB(emulator.child.pid)
  const tail = await sh(`curl -sf -r ${BIG - 8}-${BIG - 1} '${base}/demo/big5g.bin?tr=orig-true'`)
  const whole = await timed(() => sh(`curl -sf -o /dev/null '${base}/demo/big5g.bin?tr=orig-true'`))
  const emuAfterBig = await rssMiB(emulator.child.pid)

  mount = await startDaemon(
    ['mount', mnt, '--api-url', base, '--upload-url', base, '--endpoint', `${base}/demo`, '--public-key', 'pub', '--log-level', 'warn',
      '--cache-dir', join(work, 'cache-ls')],
    /mounted .* at /,
    { env: { IKFS_PRIVATE_KEY: privateKey } },
  )
  const ls = await timed(() => sh(`ls -l '${mnt}/huge' | grep -c '^-'`))
  const daemon = await rssMiB(mount.child.pid)
  const mountTail = await sh(`tail -c 8 '${mnt}/big5g.bin'`)
  await mount.stop()
  await forceUnmount(mnt)

  // A fresh daemon, so that its peak RSS is the write's alone.
  mount = await startDaemon(
    ['mount', mnt, '--api-url', base, '--upload-url', base, '--endpoint', `${base}/demo`, '--public-key', 'pub', '--log-level', 'warn',
      '--cache-dir', join(work, 'cache')],
    /mounted .* at /,
    { env: { IKFS_PRIVATE_KEY: privateKey } },
  )
  const written = await timed(() => sh(`dd if=/dev/zero of='${mnt}/written3g.bin' bs=1M count=${WRITTEN_MIB} status=none`))
  const writer = await rssMiB(mount.child.pid)
  const stored = (await sh(`stat -c %s '${join(data, 'files', 'written3g.bin')}'`)).stdout.trim()

  printTable('100,000 files and a 5 GiB file', [
    ['what', 'result', 'bound'],
    ['emulator start-up (adopting 100,001 files)', `${(start.ms / 1000).toFixed(1)} s`, ''],
    ['emulator RSS after start-up (peak)', `${emuAfterStart.rss} MiB (${emuAfterStart.peak})`, `${EMULATOR_RSS_BOUND_MIB} MiB`],
    ['5 GiB through the URL endpoint', `${(BIG / 1024 ** 2 / (whole.ms / 1000)).toFixed(0)} MiB/s, last bytes ${JSON.stringify(tail.stdout)}`, ''],
    ['emulator RSS after serving 5 GiB (peak)', `${emuAfterBig.rss} MiB (${emuAfterBig.peak})`, `${EMULATOR_RSS_BOUND_MIB} MiB`],
    ['ls -l of 100,000 files via the mount', `${ls.result.stdout.trim()} entries in ${(ls.ms / 1000).toFixed(1)} s`, ''],
    ['mount daemon RSS after ls -l (peak)', `${daemon.rss} MiB (${daemon.peak})`, `${DAEMON_RSS_BOUND_MIB} MiB`],
    ['tail -c 8 of the 5 GiB file via the mount', JSON.stringify(mountTail.stdout), ''],
    [`dd of ${WRITTEN_MIB / 1024} GiB into the mount (close included)`, `${(WRITTEN_MIB / (written.ms / 1000)).toFixed(0)} MiB/s, ${stored} bytes stored`, ''],
    ['that mount daemon\'s RSS after it (peak)', `${writer.rss} MiB (${writer.peak})`, `${DAEMON_RSS_BOUND_MIB} MiB`],
  ])
} finally {
  if (mount) await mount.stop()
  await forceUnmount(mnt)
  if (emulator) await emulator.stop()
  await cleanup(work)
}
