// Runs the unit and contract tests under the other Node.js majors ikfs supports (22 and 24 by default; the
// machines have 20, which `npm test` covers). The Node binaries come from the npm registry's
// node-linux-<arch> packages, so this needs no network beyond what `npm ci` needs.
// What differs between Node versions shows there: the URL parser the SDKs build URLs with, undici and
// Node-API behaviour. Mount tests stay with `npm test` (the addon is Node-API, built once).
//   node test/tools/other-nodes.mjs [22 24 ...]
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..', '..')
const majors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['22', '24']
const pkg = `node-linux-${process.arch}`
const work = mkdtempSync(join(tmpdir(), 'ikfs-other-nodes-'))
const failed = []
try {
  for (const major of majors) {
    const dir = join(work, major)
    execFileSync('mkdir', ['-p', dir])
    const tarball = execFileSync('npm', ['pack', '--silent', `${pkg}@${major}`], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop()
    execFileSync('tar', ['xzf', tarball, '-C', dir], { cwd: dir })
    const node = join(dir, 'package', 'bin', 'node')
    const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()
    console.log(`\n== Node ${version}: unit and contract tests`)
    const run = spawnSync(node, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--project', 'unit', '--project', 'contract'], {
      cwd: ROOT, stdio: 'inherit',
    })
    if (run.status !== 0) failed.push(version)
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
if (failed.length > 0) {
  console.error(`\nfailed under Node ${failed.join(', ')}`)
  process.exit(1)
}
console.log(`\nunit and contract tests passed under Node ${majors.join(', ')}`)
