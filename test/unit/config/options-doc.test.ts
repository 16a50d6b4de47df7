import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  extractOptionsSection, flagsOf, renderOptionsMarkdown, spliceOptionsSection,
} from '../../../src/config/options-doc.js'
import { parseArgs } from '../../../src/config/flags.js'
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

  it('lists every option with every flag that gives it (rclone\'s spellings too) and every environment variable', () => {
    const table = renderOptionsMarkdown()
    for (const key of OPTION_KEYS) {
      const spec = optionSpec(key)
      const flags = flagsOf(spec)
      expect(table).toContain(`| \`${spec.name}\` | ${flags.map((f) => `\`${f}\``).join('<br>')} |`)
      for (const flag of flags) expect(Object.keys(parseArgs([flag, 'x']).options), flag).toEqual([key])
      for (const variable of spec.env) expect(table).toContain(`\`${variable}\``)
    }
    expect(table).toContain('| `--write-back`<br>`--vfs-write-back` |')
    expect(table).toContain('| `--endpoint`<br>`--imagekit-endpoint` |')
  })

  it('splices a body between the markers and reads it back', () => {
    const readme = 'intro\n<!-- options:start -->\nold\n<!-- options:end -->\noutro\n'
    const spliced = spliceOptionsSection(readme, 'new table')
    expect(spliced).toBe('intro\n<!-- options:start -->\nnew table\n<!-- options:end -->\noutro\n')
    expect(extractOptionsSection(spliced)).toBe('new table')
    expect(() => spliceOptionsSection('no markers', 'x')).toThrow(/markers/)
  })
})
