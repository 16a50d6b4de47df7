/** `seed: 'demo'` fills an empty library once (the seed itself lives in src/emulator/seed/). */
import { describe, expect, it } from 'vitest'
import { startTestEmulator } from './helpers.js'

describe('demo seed wiring', () => {
  it('seeds an empty library before start resolves, and not again on restart', async () => {
    const t = await startTestEmulator({ seed: 'demo' })
    try {
      const count = async () => ((await (await t.api('GET', '/v1/files?type=all')).json()) as unknown[]).length
      const seeded = await count()
      expect(seeded).toBeGreaterThan(0)
      await t.restart()
      expect(await count()).toBe(seeded)
    } finally {
      await t.stop()
    }
  })
})
