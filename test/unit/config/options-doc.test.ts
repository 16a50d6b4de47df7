import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  extractOptionsSection, renderOptionsMarkdown, spliceOptionsSection,
} from '../../../src/config/options-doc.js'
import { OPTION_KEYS, optionSpec } from '../../../src/config/options.js'

const README = new URL('../../../README.md', import.meta.url)

describe('README options table', () => {
  it('matches the table generated from src/config/options.ts', () => {
    const expected = renderOptionsMarkdown()
    const actual = extractOptionsSection(readFileSync(README, 'utf8'))
    if (actual !== expected) {
      // Paste this between <!-- options:start --> and <!-- options:end --> in README.md.
      console.log(`README.md options section is out of date; expected:\n${expected}`)
    }
    expect(actual).toBe(expected)
  })

  it('lists every option with its flag and every environment variable', () => {
    const table = renderOptionsMarkdown()
    for (const key of OPTION_KEYS) {
      const spec = optionSpec(key)
      expect(table).toContain(`| \`${spec.name}\` | \`${spec.flag}\` |`)
      for (const variable of spec.env) expect(table).toContain(`\`${variable}\``)
    }
  })

  it('splices a body between the markers and reads it back', () => {
    const readme = 'intro\n<!-- options:start -->\nold\n<!-- options:end -->\noutro\n'
    const spliced = spliceOptionsSection(readme, 'new table')
    expect(spliced).toBe('intro\n<!-- options:start -->\nnew table\n<!-- options:end -->\noutro\n')
    expect(extractOptionsSection(spliced)).toBe('new table')
    expect(() => spliceOptionsSection('no markers', 'x')).toThrow(/markers/)
  })
})
