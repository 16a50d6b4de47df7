/**
 * The known name a mistyped one was most likely meant as (`--dir-cache-tim`, `dir_cach_time`): the one
 * closest by edits (insert, delete, replace, swap of neighbours), when it is close enough and alone at that
 * distance. Messages add "did you mean …?" with it.
 */

/** At most this many edits, and at most a third of the name: `--ro` is not a typo of `--rc`. */
const MAX_EDITS = 2

export function closestName(typed: string, known: Iterable<string>): string | undefined {
  const limit = Math.min(MAX_EDITS, Math.floor(typed.length / 3))
  let best: string | undefined
  let bestDistance = limit + 1
  let tie = false
  for (const name of known) {
    const d = editDistance(typed, name)
    if (d < bestDistance) {
      best = name
      bestDistance = d
      tie = false
    } else if (d === bestDistance && name !== best) {
      tie = true
    }
  }
  return best !== undefined && !tie && bestDistance > 0 ? best : undefined
}

/** Damerau–Levenshtein (optimal string alignment) distance. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) (rows[0] as number[])[j] = j
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[]
    const above = rows[i - 1] as number[]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((rows[i - 2] as number[])[j - 2] as number) + 1)
      }
    }
  }
  return (rows[a.length] as number[])[b.length] as number
}
