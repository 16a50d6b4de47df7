/** "1 file", "3 files": a count and its noun, for the messages the CLI and `ikfs status` print. */
export function plural(n: number, one: string, many = `${one}s`, show: (n: number) => string = String): string {
  return `${show(n)} ${n === 1 ? one : many}`
}
