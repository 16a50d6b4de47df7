/**
 * native/load.ts for real: in a private mount namespace (unshare -m) the system's libfuse.so.2 is hidden
 * by bind-mounting /dev/null over it. There, plain require('fuse-native') must fail (proving the setup
 * bites) and loadFuseNative() must still load, using fuse-native's shipped copy. The child runs
 * native/load.ts (and what it imports) transpiled to plain JS in a temp dir (Node 20 cannot run .ts).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import ts from 'typescript'
import { afterAll, describe, expect, it } from 'vitest'
import { fuseAvailable, libfuseInUse, loadFuseNative } from '../../../native/load.js'

const repo = resolve(import.meta.dirname, '../../..')
const shippedLibfuse = join(repo, 'node_modules/fuse-native/prebuilds/linux-x64/libfuse.so')

function systemLibfusePaths(): string[] {
  try {
    const out = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' })
    return [...out.matchAll(/^\s*libfuse\.so\.2 \(.*x86-64.*\) => (\S+)$/gm)].map((m) => m[1]!)
  } catch {
    return []
  }
}

function unshareUnusable(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `prebuilds are linux-x64 only (this is ${process.platform}-${process.arch})`
  const probe = spawnSync('unshare', ['-m', 'true'], { encoding: 'utf8', timeout: 10_000 })
  if (probe.status !== 0) return `unshare -m is not permitted here: ${(probe.stderr || probe.error?.message || '').trim()}`
  return undefined
}

const skipReason = unshareUnusable()
if (skipReason) console.log(`skipping native-load namespace tests: ${skipReason}`)

const work = mkdtempSync(join(tmpdir(), 'ikfs-load-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Runs `script` (ESM) with the system libfuse.so.2 hidden; returns its parsed JSON stdout. */
function runHidden(script: string): { ok: boolean; error?: string; code?: string; libfuse?: string } {
  const file = join(work, `child-${Math.random().toString(36).slice(2)}.mjs`)
  writeFileSync(file, script)
  const hide = systemLibfusePaths().map((p) => `mount --bind /dev/null '${p}' && `).join('')
  const res = spawnSync('unshare', ['-m', 'sh', '-c', `${hide}exec '${process.execPath}' '${file}'`], {
    encoding: 'utf8',
    timeout: 30_000,
  })
  if (res.status !== 0) throw new Error(`child failed (${res.status}): ${res.stderr}`)
  return JSON.parse(res.stdout) as { ok: boolean; error?: string; code?: string; libfuse?: string }
}

describe.skipIf(skipReason !== undefined)('loadFuseNative without a system libfuse.so.2', () => {
  it('plain require fails there (the test can fail)', () => {
    const result = runHidden(`
      import { createRequire } from 'node:module'
      try {
        createRequire(${JSON.stringify(join(repo, 'package.json'))})('fuse-native')
        console.log(JSON.stringify({ ok: true }))
      } catch (e) { console.log(JSON.stringify({ ok: false, code: e.code, error: e.message })) }
    `)
    expect(result).toMatchObject({ ok: false, code: 'ERR_DLOPEN_FAILED' })
  })

  it('the loader preloads the shipped copy and fuse-native loads', () => {
    // load.ts and the modules it imports, as plain ESM beside each other (their imports name .js files)
    writeFileSync(join(work, 'package.json'), '{"type":"module"}')
    const pending = ['load']
    for (const done = new Set<string>(); pending.length > 0;) {
      const name = pending.pop()!
      if (done.has(name)) continue
      done.add(name)
      const source = readFileSync(join(repo, `native/${name}.ts`), 'utf8')
      const js = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      }).outputText
      writeFileSync(join(work, `${name}.js`), js)
      // the value imports left after transpiling (type-only ones are gone), each a sibling in native/
      for (const m of js.matchAll(/from '\.\/([\w-]+)\.js'/g)) pending.push(m[1]!)
    }
    const result = runHidden(`
      import { loadFuseNative, libfuseInUse } from ${JSON.stringify(join(work, 'load.js'))}
      try {
        const Fuse = loadFuseNative({ resolveFrom: ${JSON.stringify(join(repo, 'package.json'))} })
        console.log(JSON.stringify({ ok: typeof Fuse === 'function' && Fuse.ENOENT === -2, libfuse: libfuseInUse() }))
      } catch (e) { console.log(JSON.stringify({ ok: false, error: e.message })) }
    `)
    expect(result).toEqual({ ok: true, libfuse: shippedLibfuse })
  })
})

describe('loadFuseNative in this process', () => {
  it('loads fuse-native and reports which libfuse it mapped', () => {
    const Fuse = loadFuseNative()
    expect(typeof Fuse).toBe('function')
    expect(Fuse.EIO).toBe(-5)
    const system = systemLibfusePaths()
    expect(libfuseInUse()).toMatch(system.length > 0 ? /libfuse\.so\.2/ : /prebuilds\/linux-x64\/libfuse\.so$/)
  })

  it('fuseAvailable explains a missing fusermount', () => {
    const result = fuseAvailable('/nonexistent-dir')
    if (result.ok === false && result.reason?.startsWith('/dev/fuse')) return // no /dev/fuse here: nothing more to check
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('fuse3') })
  })
})
