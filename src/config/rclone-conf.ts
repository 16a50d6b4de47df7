/**
 * A small reader for rclone.conf (INI): `[name]` sections, `key = value` lines, `#` and `;` comment lines.
 * rclone users already keep their imagekit remotes there, so `ikfs mount NAME:` reads the same text. Values are
 * taken verbatim (trimmed): the imagekit backend stores private_key in plain text, nothing is obscured.
 */
import { ConfigError } from './config-error.js'

export type ConfSection = ReadonlyMap<string, string>

export interface RcloneConf {
  /** Section name → its keys, in file order; a repeated section or key keeps the last value. */
  readonly sections: ReadonlyMap<string, ConfSection>
}

/** Parses rclone.conf text; `fileName` only labels errors (which never quote a line: it may hold a key). */
export function parseRcloneConf(text: string, fileName: string): RcloneConf {
  const sections = new Map<string, Map<string, string>>()
  let current: Map<string, string> | undefined
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  lines.forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return
    const header = /^\[(.+)\]$/.exec(line)
    if (header) {
      const name = (header[1] as string).trim()
      current = sections.get(name) ?? new Map<string, string>()
      sections.set(name, current)
      return
    }
    const eq = line.indexOf('=')
    if (eq <= 0) {
      throw new ConfigError(`${fileName}:${index + 1}: expected "[section]" or "key = value"`)
    }
    if (!current) {
      throw new ConfigError(`${fileName}:${index + 1}: "key = value" before any [section]`)
    }
    current.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim())
  })
  return { sections }
}

/** The section for `ikfs mount NAME:`, or undefined. Remote names are case-sensitive, as in rclone. */
export function findRemote(conf: RcloneConf, name: string): ConfSection | undefined {
  return conf.sections.get(name)
}
