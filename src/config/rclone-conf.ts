/**
 * A small reader for rclone.conf (INI): `[name]` sections, `key = value` lines, `#` and `;` comment lines.
 * rclone users already keep their imagekit remotes there, so `ikfs mount NAME:` reads the same text. Values are
 * taken as rclone takes them: trimmed, and one pair of surrounding quotes ("…" or '…') removed; the imagekit
 * backend stores private_key in plain text, nothing is obscured.
 *
 * The file may hold remotes of other tools and other rclone versions, written in forms this reader does not
 * know: a line it cannot read fails only the section it is in, and only when that section is asked for.
 */
import { ConfigError } from './config-error.js'

export type ConfSection = ReadonlyMap<string, string>

export interface RcloneConf {
  /** Section name → its keys, in file order; a repeated section or key keeps the last value. */
  readonly sections: ReadonlyMap<string, ConfSection>
  /** Section name → the numbers of its lines that are neither "key = value" nor a comment. */
  readonly unreadable: ReadonlyMap<string, readonly number[]>
  /** The numbers of lines that start a section header without its closing "]" (that remote cannot be found). */
  readonly unclosedHeaders: readonly number[]
  /** Labels errors. */
  readonly fileName: string
}

/** What `rclone config encryption set` writes before the encrypted text. */
const ENCRYPTED_MARK = 'RCLONE_ENCRYPT_V'

/**
 * Parses rclone.conf text; `fileName` only labels errors (which never quote a line: it may hold a key).
 * Throws for an encrypted file, which holds no section this reader can see.
 */
export function parseRcloneConf(text: string, fileName: string): RcloneConf {
  const sections = new Map<string, Map<string, string>>()
  const unreadable = new Map<string, number[]>()
  const unclosedHeaders: number[] = []
  let current: { name: string; keys: Map<string, string> } | undefined
  let seenContent = false
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  lines.forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return
    // rclone decides as it does: the first line that is not blank or a comment.
    if (!seenContent && line.startsWith(ENCRYPTED_MARK)) throw encryptedConfig(fileName)
    seenContent = true
    const header = /^\[(.+)\]$/.exec(line)
    if (header) {
      const name = (header[1] as string).trim()
      const keys = sections.get(name) ?? new Map<string, string>()
      sections.set(name, keys)
      current = { name, keys }
      return
    }
    // A header without its "]" starts a section that cannot be named: its lines belong to no remote.
    if (line.startsWith('[')) {
      current = undefined
      unclosedHeaders.push(index + 1)
      return
    }
    // Nor do lines before any section (rclone puts them in DEFAULT).
    if (!current) return
    const eq = line.indexOf('=')
    if (eq <= 0) {
      unreadable.set(current.name, [...(unreadable.get(current.name) ?? []), index + 1])
      return
    }
    current.keys.set(line.slice(0, eq).trim(), unquote(line.slice(eq + 1).trim()))
  })
  return { sections, unreadable, unclosedHeaders, fileName }
}

/**
 * The section for `ikfs mount NAME:`, or undefined. Remote names are case-sensitive, as in rclone. A line of
 * that section that could not be read is a ConfigError naming its number.
 */
export function findRemote(conf: RcloneConf, name: string): ConfSection | undefined {
  const section = conf.sections.get(name)
  const bad = conf.unreadable.get(name)?.[0]
  if (section && bad !== undefined) {
    throw new ConfigError(`${conf.fileName}:${bad}: expected "[section]" or "key = value"`)
  }
  return section
}

/** rclone's parser drops one pair of matching quotes around a value. */
function unquote(value: string): string {
  const first = value[0]
  if (value.length >= 2 && (first === '"' || first === "'") && value.endsWith(first)) return value.slice(1, -1)
  return value
}

function encryptedConfig(fileName: string): ConfigError {
  return new ConfigError(
    `${fileName} is an encrypted rclone config, which ikfs cannot read: put the remote's settings ` +
      '(`rclone config show NAME` prints them) in an ikfs config file (~/.config/ikfs/ikfs.conf, or --config FILE), ' +
      'or set IKFS_ENDPOINT and IKFS_PRIVATE_KEY',
  )
}
