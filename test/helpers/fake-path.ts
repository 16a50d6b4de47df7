/** PATH folders holding stand-in executables (`exit 0`), to see which helper programs ikfs finds. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface FakePaths {
  /** The folder they are all in (tests may keep other scratch files there). */
  readonly dir: string
  /** A folder (made once per set of names) holding executables with these names. */
  pathWith(...names: string[]): string
  remove(): void
}

export function fakePaths(prefix: string): FakePaths {
  const work = mkdtempSync(join(tmpdir(), prefix))
  return {
    dir: work,
    pathWith(...names) {
      const dir = join(work, names.join('+') || 'none')
      mkdirSync(dir, { recursive: true })
      for (const name of names) writeFileSync(join(dir, name), '#!/bin/sh\nexit 0\n', { mode: 0o755 })
      return dir
    },
    remove: () => rmSync(work, { recursive: true, force: true }),
  }
}
