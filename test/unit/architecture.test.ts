// The direction of imports (STYLE.md §2.1): cli → fuse → vfs → imagekit; config/, log.ts, clock.ts are
// leaves; only fuse/ and cli/doctor.ts touch native/, but for cli/'s loading of the page-cache addon that the
// spool is given (native/page-cache.ts); the emulator is its own program and shares only the
// wire types. A layer that reaches the wrong way fails here, naming the file and the import.
import { readdir, readFile } from 'node:fs/promises'
import { join, relative, resolve, dirname } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '..', '..')

async function sources(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await sources(path)))
    else if (entry.name.endsWith('.ts')) out.push(path)
  }
  return out
}

/** Every import of a file, as a repo-relative path for relative imports, or the bare package name. */
async function importsOf(file: string): Promise<string[]> {
  const text = await readFile(join(root, file), 'utf8')
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!)
  return specs.map((s) => (s.startsWith('.') ? relative(root, resolve(root, dirname(file), s)) : s))
}

const RULES: { layer: string; forbidden: RegExp; except?: RegExp }[] = [
  { layer: 'src/imagekit/', forbidden: /^(src\/(vfs|fuse|cli|emulator|status|config)\/|native\/|fuse-native$)/ },
  { layer: 'src/vfs/', forbidden: /^(src\/(fuse|cli|emulator|status|config)\/|native\/|fuse-native$)/ },
  { layer: 'src/fuse/', forbidden: /^(src\/(imagekit|cli|emulator|status|config)\/|undici$)/ },
  { layer: 'src/config/', forbidden: /^(src\/(imagekit|vfs|fuse|cli|emulator|status)\/|native\/)/ },
  { layer: 'src/emulator/', forbidden: /^(src\/(vfs|fuse|cli|status|config)\/|native\/|src\/imagekit\/(?!types\.js$))/ },
  { layer: 'src/cli/', forbidden: /^native\/(?!page-cache\.js$)/, except: /^src\/cli\/doctor\.ts$/ },
]

describe('import direction', () => {
  it('no layer imports against the direction', async () => {
    const violations: string[] = []
    for (const file of [...(await sources('src')), ...(await sources('native'))]) {
      for (const rule of RULES) {
        if (!file.startsWith(rule.layer) || rule.except?.test(file)) continue
        for (const imported of await importsOf(file)) {
          if (rule.forbidden.test(imported)) violations.push(`${file} imports ${imported}`)
        }
      }
    }
    expect(violations).toEqual([])
  })

  it('catches a wrong-way import (the check itself works)', async () => {
    const imports = await importsOf('src/fuse/mount.ts')
    expect(imports.some((i) => i.startsWith('native/'))).toBe(true)
    expect(RULES.find((r) => r.layer === 'src/vfs/')!.forbidden.test('native/load.js')).toBe(true)
  })
})
