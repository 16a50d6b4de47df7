import { readFileSync } from 'node:fs'

/**
 * ikfs's version from package.json, found by walking up from this module (it runs from src/ under vitest
 * and from dist/src/ when built).
 */
export function ikfsVersion(): string {
  let dir = new URL('.', import.meta.url)
  for (let depth = 0; depth < 5; depth++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'ikfs' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // no package.json at this level: keep walking up
    }
    dir = new URL('..', dir)
  }
  return 'unknown'
}
