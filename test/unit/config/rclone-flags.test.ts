import { describe, expect, it } from 'vitest'
import { OPTIONS, OPTION_KEYS } from '../../../src/config/options.js'
import { RCLONE_FLAGS_INSTEAD, rcloneFlagAdvice } from '../../../src/config/rclone-flags.js'

const ikfsFlags = new Set<string>(OPTION_KEYS.flatMap((key): string[] => {
  const spec = OPTIONS[key]
  return [spec.flag, ...('flagAliases' in spec && spec.flagAliases ? spec.flagAliases : [])]
}))

describe('rclone mount flags ikfs refuses', () => {
  it('are none of the flags ikfs takes (those are aliases, not refusals)', () => {
    for (const flag of Object.keys(RCLONE_FLAGS_INSTEAD)) expect(ikfsFlags.has(flag), flag).toBe(false)
  })

  it('point only to flags ikfs has', () => {
    for (const [flag, advice] of Object.entries(RCLONE_FLAGS_INSTEAD)) {
      for (const named of advice.match(/--[a-z][a-z-]*/g) ?? []) expect(ikfsFlags.has(named), `${flag} names ${named}`).toBe(true)
    }
  })

  it('give advice for those flags only', () => {
    expect(rcloneFlagAdvice('--vfs-cache-mode')).toMatch(/^--vfs-cache-mode is an rclone mount flag ikfs does not take: /)
    expect(rcloneFlagAdvice('--frobnicate')).toBeUndefined()
    expect(rcloneFlagAdvice('constructor')).toBeUndefined()
    expect(rcloneFlagAdvice('--dir-cache-time')).toBeUndefined()
  })
})
