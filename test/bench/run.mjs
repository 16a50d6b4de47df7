// `npm run bench`: every benchmark in one run, printed side by side. Not part of `npm test`.
import { spawnSync } from 'node:child_process'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const only = process.argv.slice(2)
const benches = ['emulator.mjs', 'read.mjs', 'vfs-read.mjs', 'write.mjs', 'latency.mjs', 'scale.mjs'].filter((b) => only.length === 0 || only.some((o) => b.startsWith(o)))
let failed = 0
for (const bench of benches) {
  console.log(`\n# ${bench}`)
  const r = spawnSync(process.execPath, [join(here, bench)], { stdio: 'inherit' })
  if (r.status !== 0) failed++
}
process.exitCode = failed ? 1 : 0
