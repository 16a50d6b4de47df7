/**
 * Command-line flags from the option table: `--name value`, `--name=value`, and for booleans `--name`
 * (true) or `--name=false`, as rclone (pflag) spells them. `--` ends the flags. Unknown flags are a
 * ConfigError that names the flag but never its value (a mistyped `--privat-key=...` must not be echoed).
 */
import { closestName } from './closest-name.js'
import { ConfigError } from './config-error.js'
import { OPTIONS, OPTION_KEYS, type OptionKey } from './options.js'
import { rcloneFlagAdvice } from './rclone-flags.js'
import { quotedUnlessKey } from '../private-key-text.js'
import { parseBool } from './values.js'

/** A flag that belongs to one subcommand only (demo's --dir, unmount's --lazy). */
export interface ExtraFlag {
  readonly takesValue: boolean
  readonly help: string
  /** Placeholder shown in help, for flags with a value. */
  readonly placeholder?: string
}

export interface ParsedArgs {
  /** Option values as typed (text), by option key; parsed and checked by loadConfig. */
  readonly options: Partial<Record<OptionKey, string>>
  /** Subcommand-specific flags: value text, or "true" for flags without a value. */
  readonly extras: ReadonlyMap<string, string>
  readonly positionals: readonly string[]
  readonly help: boolean
}

const FLAG_TO_KEY: ReadonlyMap<string, OptionKey> = (() => {
  const map = new Map<string, OptionKey>()
  for (const key of OPTION_KEYS) {
    const spec = OPTIONS[key]
    map.set(spec.flag, key)
    for (const alias of 'flagAliases' in spec ? spec.flagAliases : []) map.set(alias, key)
  }
  return map
})()

export function parseArgs(
  argv: readonly string[],
  extraFlags: Readonly<Record<string, ExtraFlag>> = {},
  command = 'ikfs',
): ParsedArgs {
  const options: Partial<Record<OptionKey, string>> = {}
  const extras = new Map<string, string>()
  const positionals: string[] = []
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (arg === '-h' || arg === '--help') {
      help = true
      continue
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    const inline = eq === -1 ? undefined : arg.slice(eq + 1)
    const key = FLAG_TO_KEY.get(flag)
    const extra = extraFlags[flag]
    if (key === undefined && extra === undefined) {
      const meant = closestName(flag, [...FLAG_TO_KEY.keys(), ...Object.keys(extraFlags)])
      throw new ConfigError(rcloneFlagAdvice(flag) ?? `unknown flag ${flag} (${meant ? `did you mean ${meant}? ` : ''}see \`${command} --help\`)`)
    }
    const takesValue = key !== undefined ? OPTIONS[key].type !== 'bool' : (extra as ExtraFlag).takesValue
    let value: string
    if (inline !== undefined) {
      value = inline
    } else if (!takesValue) {
      value = 'true'
    } else {
      const next = argv[i + 1]
      if (next === undefined || next.startsWith('--')) throw new ConfigError(`flag ${flag} needs a value`)
      value = next
      i++
    }
    if (key !== undefined) options[key] = value
    else extras.set(flag, value)
  }
  return { options, extras, positionals, help }
}

/** A subcommand's boolean flag (`--lazy`, `--no-mount`), false when absent. */
export function extraBool(parsed: ParsedArgs, flag: string): boolean {
  const value = parsed.extras.get(flag)
  if (value === undefined) return false
  try {
    return parseBool(value)
  } catch {
    throw new ConfigError(`flag ${flag}: ${quotedUnlessKey(value)} is not a boolean (true or false)`)
  }
}
