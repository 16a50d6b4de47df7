/**
 * A usage counter by UTC day (§4.16): the usage API reports what was used from `startDate` up to, not
 * including, `endDate`. Counted since the emulator started (the counts are not persisted).
 */
export class DailyCounter {
  readonly #byDay = new Map<string, number>()

  add(nowMs: number, amount: number): void {
    const day = new Date(nowMs).toISOString().slice(0, 10)
    this.#byDay.set(day, (this.#byDay.get(day) ?? 0) + amount)
  }

  /** The total of the days from `startDate` to before `endDate` (both `YYYY-MM-DD`). */
  within(startDate: string, endDate: string): number {
    let sum = 0
    for (const [day, amount] of this.#byDay) if (day >= startDate && day < endDate) sum += amount
    return sum
  }
}
