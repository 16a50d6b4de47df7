/** Logs a warning once per key (hidden entries would otherwise log on every re-listing). */
import type { Logger } from '../log.js'

const MAX_REMEMBERED_KEYS = 10_000 // bounds memory if a library has very many odd names; later ones log again

export class WarnOnce {
  readonly #seen = new Set<string>()
  constructor(readonly logger: Logger) {}

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.#seen.has(key)) return
    if (this.#seen.size >= MAX_REMEMBERED_KEYS) this.#seen.clear()
    this.#seen.add(key)
    this.logger.warn(fields, message)
  }
}
