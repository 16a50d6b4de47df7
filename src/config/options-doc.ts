/**
 * Documentation generated from the option table: README's options section (between the
 * `<!-- options:start -->` / `<!-- options:end -->` markers, checked by test/unit/config/options-doc.test.ts)
 * and the per-option lines of `ikfs mount --help`.
 */
import {
  GROUP_ORDER, GROUP_TITLES, OPTION_KEYS, optionSpec, type OptionGroup, type OptionSpec, type OptionType,
} from './options.js'

export const README_START_MARKER = '<!-- options:start -->'
export const README_END_MARKER = '<!-- options:end -->'

/** What a value looks like, per type (shown in help and docs). */
export const TYPE_PLACEHOLDER: Record<OptionType, string> = {
  string: 'string',
  path: 'path',
  url: 'url',
  bool: 'bool',
  duration: 'duration',
  size: 'size',
  mode: 'octal',
  int: 'int',
  enum: 'choice',
  encoding: 'encoding',
}

export function defaultText(spec: OptionSpec): string {
  if (spec.required) return 'required'
  if (typeof spec.default === 'function') return spec.defaultDoc ?? '(computed)'
  return spec.default === '' ? '""' : spec.default
}

export function specsInGroup(group: OptionGroup): OptionSpec[] {
  return OPTION_KEYS.map(optionSpec).filter((s) => s.group === group)
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|')
}

function code(text: string): string {
  return '`' + text + '`'
}

/** The flags an option is given by: its own, then rclone's spellings of it (`--vfs-write-back`, `--imagekit-endpoint`). */
export function flagsOf(spec: OptionSpec): string[] {
  return [spec.flag, ...(spec.flagAliases ?? [])]
}

/** Literal defaults as code; "required", "(empty)" and computed defaults as words. */
function defaultCell(spec: OptionSpec): string {
  if (spec.required || typeof spec.default === 'function') return defaultText(spec)
  return spec.default === '' ? '(empty)' : code(spec.default)
}

/** The markdown that goes between README's options markers (without the markers). */
export function renderOptionsMarkdown(): string {
  const out: string[] = [
    'Generated from `src/config/options.ts` (`npx vitest run --project unit test/unit/config/options-doc.test.ts`',
    'prints it when it drifts). Each option can be given as a flag, an environment variable or a key in a',
    'config-file remote (`ikfs mount NAME: MOUNTPOINT`, rclone.conf format, section `[NAME]` with',
    '`type = imagekit`); a flag beats the environment, which beats the file, which beats the default.',
    'Durations are written like rclone\'s (`500ms`, `10s`, `5m`, `1h30m`; a bare number is seconds), sizes',
    'in base 1024 (`512K`, `64M`, `1G`; a bare number is KiB), modes in octal (`0644`).',
  ]
  for (const group of GROUP_ORDER) {
    const specs = specsInGroup(group)
    if (specs.length === 0) continue
    out.push('', `### ${GROUP_TITLES[group]}`, '')
    out.push('| Option | Flag | Environment | Type | Default | Meaning |')
    out.push('| --- | --- | --- | --- | --- | --- |')
    for (const s of specs) {
      const fileNote = s.notInFile ? ' (not in config files)' : ''
      out.push(
        `| ${code(s.name)} | ${flagsOf(s).map(code).join('<br>')} | ${s.env.map(code).join('<br>') || '(none)'} | ${TYPE_PLACEHOLDER[s.type]} | ` +
          `${cell(defaultCell(s))} | ${cell(s.help + fileNote)} |`,
      )
    }
  }
  return out.join('\n')
}

/** Replaces the text between the markers in `readme` with `body`; throws when a marker is missing. */
export function spliceOptionsSection(readme: string, body: string): string {
  const start = readme.indexOf(README_START_MARKER)
  const end = readme.indexOf(README_END_MARKER)
  if (start === -1 || end === -1 || end < start) throw new Error('README.md lacks the options markers')
  return readme.slice(0, start + README_START_MARKER.length) + '\n' + body + '\n' + readme.slice(end)
}

/** The text currently between the markers (without the newlines next to them). */
export function extractOptionsSection(readme: string): string | undefined {
  const start = readme.indexOf(README_START_MARKER)
  const end = readme.indexOf(README_END_MARKER)
  if (start === -1 || end === -1 || end < start) return undefined
  return readme.slice(start + README_START_MARKER.length, end).replace(/^\n/, '').replace(/\n$/, '')
}
