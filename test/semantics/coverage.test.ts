// Every promise in README.md's Semantics section (ids like R3, W5, O2) must have a test whose title starts
// with that id under test/semantics/. This test fails on a promise without a test, and on a test that names
// an id the README does not have.
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')
const ID = /^\s*\d*\.?\s*\*\*([A-Z]\d+)\*\*/

async function promiseIds(): Promise<string[]> {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const section = readme.split('<!-- semantics:start -->')[1]?.split('<!-- semantics:end -->')[0] ?? ''
  return section.split('\n').map((l) => ID.exec(l)?.[1]).filter((x): x is string => Boolean(x))
}

async function testedIds(): Promise<Set<string>> {
  const dir = join(root, 'test', 'semantics')
  const ids = new Set<string>()
  for (const file of await readdir(dir)) {
    if (!file.endsWith('.test.ts') || file === 'coverage.test.ts') continue
    const text = await readFile(join(dir, file), 'utf8')
    for (const m of text.matchAll(/\bit(?:\.\w+)?\(\s*['"`]([A-Z]\d+):/g)) ids.add(m[1]!)
  }
  return ids
}

describe('README semantics coverage', () => {
  it('lists promises, each with its own test', async () => {
    const ids = await promiseIds()
    expect(ids.length).toBeGreaterThan(0)
    const tested = await testedIds()
    expect(ids.filter((id) => !tested.has(id)), 'promises without a test').toEqual([])
  })
  it('has no test for a promise the README does not make', async () => {
    const ids = new Set(await promiseIds())
    expect([...(await testedIds())].filter((id) => !ids.has(id)), 'tests naming unknown ids').toEqual([])
  })
})
