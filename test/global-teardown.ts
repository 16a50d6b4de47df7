// Vitest global setup: after the whole run, clear what a crashed test process left behind (helpers/leftovers.ts).
import { clearLeftovers } from './helpers/leftovers.js'

export async function teardown(): Promise<void> {
  const cleared = await clearLeftovers()
  if (cleared.length === 0) return
  console.error(`\n[test teardown] a test process left these behind (it probably crashed; see above):\n  ${cleared.join('\n  ')}`)
}
