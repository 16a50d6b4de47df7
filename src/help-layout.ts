/** Help text laid out to the terminal's width, as every command of ikfs (the emulator's too) lays it out. */

/** Columns help is laid out for when the output is not a terminal (a pipe, a file, a test). */
export const DEFAULT_HELP_WIDTH = 80
/** Narrower terminals still get lines this long: fewer, longer lines read better than one word a line. */
const MIN_HELP_WIDTH = 40

/** The terminal's width when `out` is one, else DEFAULT_HELP_WIDTH. */
export function helpWidth(out: { isTTY?: boolean; columns?: number }): number {
  return out.isTTY && out.columns ? Math.max(MIN_HELP_WIDTH, out.columns) : DEFAULT_HELP_WIDTH
}

/**
 * `text` as lines of at most `width` columns, each starting with `indent`, broken between words. A word longer
 * than the line is broken after its commas (a list such as an encoding's); one with no comma left to break at
 * (a URL) stands alone on its line, whole.
 */
export function wrap(text: string, width: number, indent = ''): string[] {
  const room = width - indent.length
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const pieces = word.length > room ? word.split(/(?<=,)/) : [word]
    pieces.forEach((piece, i) => {
      const glue = line === '' ? '' : i === 0 ? ' ' : ''
      if (line !== '' && line.length + glue.length + piece.length > room) {
        lines.push(indent + line)
        line = piece
      } else {
        line += glue + piece
      }
    })
  }
  if (line !== '') lines.push(indent + line)
  return lines
}

/** `text` wrapped as wrap() does, after `prefix` on its first line and under it on the others. */
export function hanging(prefix: string, text: string, width: number): string[] {
  const lines = wrap(text, width, ' '.repeat(prefix.length))
  return lines.map((line, i) => (i === 0 ? prefix + line.slice(prefix.length) : line))
}

/** A flag's entry: the flag and its value, then what it does and, when given, its facts in parentheses. */
export function flagLines(heading: string, help: string, width: number, facts?: string): string[] {
  return [`  ${heading}`, ...wrap(help, width, '      '), ...(facts === undefined ? [] : wrap(`(${facts})`, width, '      '))]
}
