/** "1 file", "3 files": a count and its noun, for the messages the CLI prints and logs. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}
