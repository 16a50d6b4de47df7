/** WebhookSender: an extension's final status, retried as the docs describe (spaced tries for at most 24 h). */
import { afterEach, describe, expect, it } from 'vitest'
import { WebhookSender, type ExtensionWebhook } from '../../../src/emulator/webhooks.js'
import { createLogger } from '../../../src/log.js'
import { waitFor, WatchedClock, webhookReceiver, type WebhookReceiver } from './helpers.js'

const PAYLOAD: ExtensionWebhook = { service: 'google-auto-tagging', status: 'FAILURE', fileId: 'f1', error: { message: 'gone' } }

describe('WebhookSender', () => {
  let hook: WebhookReceiver | undefined
  let sender: WebhookSender | undefined
  afterEach(async () => {
    sender?.close()
    await hook?.close()
  })

  /** Lets the sender reach its next sleep (or finish), then advances the clock past it. */
  async function nextTry(clock: WatchedClock, sleepsBefore: number): Promise<number> {
    await waitFor(() => clock.sleeps.length > sleepsBefore)
    const ms = clock.sleeps[sleepsBefore] as number
    clock.advance(ms)
    return ms
  }

  it('waits firstDelayMs, doubling up to maxDelayMs, and gives up when the next try would come after forMs', async () => {
    hook = await webhookReceiver([500, 500, 500, 500, 500, 500])
    const clock = new WatchedClock(0)
    sender = new WebhookSender(clock, createLogger({ level: 'silent' }), true, { firstDelayMs: 1_000, maxDelayMs: 4_000, forMs: 10_000 })
    sender.send(hook.url, PAYLOAD)
    const waits: number[] = []
    for (let i = 0; i < 3; i++) {
      waits.push(await nextTry(clock, i))
      await waitFor(() => hook!.bodies.length === i + 2)
    }
    // The 4th try failed at 7 s; the next would start at 11 s, past the 10 s: given up, no 4th wait.
    expect(waits).toEqual([1_000, 2_000, 4_000])
    expect(hook.bodies.map((b) => b.body)).toEqual([PAYLOAD, PAYLOAD, PAYLOAD, PAYLOAD])
    sender.close()
    expect(clock.sleeps).toHaveLength(3)
  })

  it('retries a receiver that does not answer at all (connection refused)', async () => {
    const clock = new WatchedClock(0)
    sender = new WebhookSender(clock, createLogger({ level: 'silent' }), true, { firstDelayMs: 1_000, maxDelayMs: 1_000, forMs: 10_000 })
    sender.send('http://127.0.0.1:9/hook', PAYLOAD) // port 9 (discard) is closed here
    await waitFor(() => clock.sleeps.length === 1)
    expect(clock.sleeps).toEqual([1_000])
  })

  it('firstDelayMs 0 tries once; close() ends a wait for a retry, so nothing is sent after the emulator stops', async () => {
    hook = await webhookReceiver([500, 500])
    const once = new WatchedClock(0)
    sender = new WebhookSender(once, createLogger({ level: 'silent' }), true, { firstDelayMs: 0, maxDelayMs: 0, forMs: 86_400_000 })
    sender.send(hook.url, PAYLOAD)
    await waitFor(() => hook!.bodies.length === 1)
    expect(once.sleeps).toEqual([])

    const clock = new WatchedClock(0)
    const closing = new WebhookSender(clock, createLogger({ level: 'silent' }), true)
    closing.send(hook.url, PAYLOAD)
    await waitFor(() => clock.sleeps.length === 1)
    closing.close()
    clock.advance(86_400_000)
    const other = await webhookReceiver()
    try {
      // A marker sent after the close by a live sender: once it arrived, the closed one's retry would have too.
      const marker = new WebhookSender(clock, createLogger({ level: 'silent' }), true)
      marker.send(other.url, PAYLOAD)
      await waitFor(() => other.bodies.length === 1)
      marker.close()
    } finally {
      await other.close()
    }
    expect(hook.bodies).toHaveLength(2)
  })
})
