/**
 * README against the CLI, for what the generated options tables (test/unit/config/options-doc.test.ts) do not
 * cover: every flag of a command's own (status, unmount, demo, the emulator) is in README, and every
 * `ikfs COMMAND ...` that README shows uses only flags that command takes. `npm start`'s --no-mount was in
 * no part of README.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DEMO_FLAGS } from '../../../src/cli/demo.js'
import { STATUS_FLAGS } from '../../../src/cli/status.js'
import { UNMOUNT_FLAGS } from '../../../src/cli/unmount.js'
import { EMULATOR_USAGE } from '../../../src/emulator/main.js'
import { flagsOf } from '../../../src/config/options-doc.js'
import { OPTION_KEYS, optionSpec } from '../../../src/config/options.js'
import { RCLONE_FLAGS_INSTEAD } from '../../../src/config/rclone-flags.js'

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')

const FLAG = /(?<![\w-])--[a-z][a-z0-9-]*/g
const OPTION_FLAGS = OPTION_KEYS.flatMap((key) => flagsOf(optionSpec(key)))
const EMULATOR_FLAGS = [...new Set(EMULATOR_USAGE.match(FLAG))].filter((flag) => flag !== '--help')

/** What each command takes besides --help: every command parses the option flags, some have flags of their own. */
const TAKES: Readonly<Record<string, readonly string[]>> = {
  mount: OPTION_FLAGS,
  doctor: OPTION_FLAGS,
  refresh: OPTION_FLAGS,
  status: [...OPTION_FLAGS, ...Object.keys(STATUS_FLAGS)],
  unmount: [...OPTION_FLAGS, ...Object.keys(UNMOUNT_FLAGS)],
  umount: [...OPTION_FLAGS, ...Object.keys(UNMOUNT_FLAGS)],
  demo: [...OPTION_FLAGS, ...Object.keys(DEMO_FLAGS)],
  emulator: EMULATOR_FLAGS,
}

/** Each `ikfs COMMAND ...` in README, continuation lines joined, up to the end of its code span, line or comment. */
function readmeCommands(): { command: string; text: string }[] {
  const joined = README.replace(/\\\n\s*/g, ' ')
  return [...joined.matchAll(/\bikfs (mount|unmount|umount|status|refresh|doctor|demo|emulator)\b([^`\n#]*)/g)]
    .map((m) => ({ command: m[1] as string, text: m[0] }))
}

describe('README and the CLI', () => {
  it('names every flag of a command\'s own and of the emulator', () => {
    const inReadme = new Set(README.match(FLAG))
    const missing = [...Object.keys(STATUS_FLAGS), ...Object.keys(UNMOUNT_FLAGS), ...Object.keys(DEMO_FLAGS), ...EMULATOR_FLAGS]
      .filter((flag) => !inReadme.has(flag))
    expect(missing).toEqual([])
  })

  it('shows no ikfs command with a flag that command does not take', () => {
    const commands = readmeCommands()
    expect(commands.length).toBeGreaterThan(40)
    const wrong = commands.flatMap(({ command, text }) => (text.match(FLAG) ?? [])
      // README shows how an rclone mount flag is refused.
      .filter((flag) => flag !== '--help' && !TAKES[command]?.includes(flag) && !(command === 'mount' && flag in RCLONE_FLAGS_INSTEAD))
      .map((flag) => `${flag} in: ${text.trim()}`))
    expect(wrong).toEqual([])
  })
})
