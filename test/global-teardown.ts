// Vitest global setup: gives this run an id that the daemons it spawns inherit, and after the whole run clears
// what a crashed test process of this run left behind (helpers/leftovers.ts), not what another run beside it has.
import { randomUUID } from 'node:crypto'
import { clearLeftovers, TEST_RUN_ENV } from './helpers/leftovers.js'

export function setup(): void {
  process.env[TEST_RUN_ENV] = randomUUID()
}

export async function teardown(): Promise<void> {
  const cleared = await clearLeftovers(process.env[TEST_RUN_ENV])
  if (cleared.length === 0) return
  console.error(`\n[test teardown] a test process left these behind (it probably crashed; see above):\n  ${cleared.join('\n  ')}`)
}
