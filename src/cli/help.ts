/** `--help` texts, the option part generated from the option table. */
import { GROUP_ORDER, GROUP_TITLES, optionSpec, type OptionKey, type OptionSpec } from '../config/options.js'
import { TYPE_PLACEHOLDER, defaultText, flagsOf, specsInGroup } from '../config/options-doc.js'
import type { ExtraFlag } from '../config/flags.js'
import { flagLines, hanging, wrap } from '../help-layout.js'

export const COMMANDS: readonly { name: string; summary: string }[] = [
  { name: 'mount', summary: 'mount an ImageKit media library: ikfs mount [NAME:] MOUNTPOINT [flags]' },
  { name: 'unmount', summary: 'unmount a mountpoint (also a dead one left by a crash)' },
  { name: 'status', summary: 'what a running mount is doing: ikfs status MOUNTPOINT' },
  { name: 'refresh', summary: 'drop cached listings so remote changes show: ikfs refresh MOUNTPOINT [PATH]' },
  { name: 'doctor', summary: 'check FUSE, config, clock and keys: ikfs doctor [NAME:] [MOUNTPOINT]' },
  { name: 'demo', summary: 'start the emulator with demo media and mount it at ./mnt' },
  { name: 'emulator', summary: 'run the local ImageKit emulator alone' },
  { name: 'version', summary: 'print the version' },
  { name: 'help', summary: 'help for a command: ikfs help mount' },
]

export function generalHelp(width: number): string {
  const nameWidth = Math.max(...COMMANDS.map((c) => c.name.length))
  return [
    ...wrap('ikfs: mount an ImageKit.io media library as a local drive (FUSE)', width),
    '',
    'Usage: ikfs COMMAND [flags]',
    '',
    'Commands:',
    ...COMMANDS.flatMap((c) => hanging(`  ${c.name.padEnd(nameWidth)}  `, c.summary, width)),
    '',
    ...wrap('Run `ikfs COMMAND --help` for the flags of a command. --debug prints stack traces with errors.', width),
    '',
  ].join('\n')
}

/**
 * The layout of every command's help: its usage (`ikfs COMMAND ...`), then what it does (paragraphs, wrapped to `width`), then
 * its flags (already laid out), each part after a blank line.
 */
export function commandHelp(usage: string, paragraphs: readonly string[], width: number, ...flags: string[]): string {
  const parts = flags.map((f) => f.replace(/\n+$/, ''))
  return [...hanging('Usage: ', usage, width), '', ...paragraphs.flatMap((p) => wrap(p, width)), '', ...parts.flatMap((f) => [f, ''])].join('\n')
}

function optionLines(spec: OptionSpec, width: number): string[] {
  const value = spec.type === 'bool' ? '' : ` <${TYPE_PLACEHOLDER[spec.type]}>`
  const facts = [`default ${spec.secret ? '""' : defaultText(spec)}`]
  const aliases = flagsOf(spec).slice(1)
  if (aliases.length > 0) facts.push(`also ${aliases.join(', ')}`)
  if (spec.env.length > 0) facts.push(`env ${spec.env.join(', ')}`)
  if (spec.choices) facts.push(`one of ${spec.choices.join(', ')}`)
  if (!spec.notInFile) facts.push(`file key ${spec.name}`)
  return flagLines(`${spec.flag}${value}`, spec.help, width, facts.join('; '))
}

/** The options a command takes, by group; `without` those it sets itself. */
export function optionsHelp(width: number, without: readonly OptionKey[] = []): string {
  const out: string[] = []
  const skipped = new Set(without.map(optionSpec))
  for (const group of GROUP_ORDER) {
    const specs = specsInGroup(group).filter((spec) => !skipped.has(spec))
    if (specs.length === 0) continue
    out.push(`${GROUP_TITLES[group]}:`)
    for (const spec of specs) out.push(...optionLines(spec, width))
    out.push('')
  }
  return out.join('\n')
}

export function extraFlagsHelp(flags: Readonly<Record<string, ExtraFlag>>, width: number): string {
  return Object.entries(flags)
    .flatMap(([flag, f]) => flagLines(`${flag}${f.takesValue ? ` <${f.placeholder ?? 'value'}>` : ''}`, f.help, width))
    .join('\n')
}

export function mountHelp(width: number): string {
  return commandHelp('ikfs mount [NAME:] MOUNTPOINT [flags]', [
    'Mounts the media library at MOUNTPOINT (an existing, empty folder) and stays in the foreground until ' +
      'SIGINT/SIGTERM (Ctrl-C) unmounts it (files programs are still writing are served until they close them, ' +
      'and stored; a second Ctrl-C does not wait: it exits 130, logging the uploads left in the spool for the next mount), or with --daemon returns once the mount is live and leaves it ' +
      'running in the background (stop it with `ikfs unmount MOUNTPOINT`). SIGHUP drops cached listings.',
    'NAME: mounts the remote [NAME] of the config file (rclone.conf format; rclone\'s own config is searched ' +
      'too). Without NAME:, give at least --endpoint and the private key (IKFS_PRIVATE_KEY is safer than ' +
      '--private-key, which `ps` shows).',
    'Behind a proxy: HTTPS_PROXY (https URLs), HTTP_PROXY (http URLs) and NO_PROXY, read as rclone reads them; ' +
      'localhost and loopback addresses always go direct.',
  ], width, optionsHelp(width))
}
