import { describe, expect, it } from 'vitest'
import { ClockSkew } from '../../../src/imagekit/clock-skew.js'

const AT = Date.parse('2026-01-02T03:04:05Z')
const dated = (ms: number) => new Date(ms).toUTCString()

describe('ClockSkew', () => {
  it('is unknown before a dated answer, and an undated or unreadable one changes nothing', () => {
    const skew = new ClockSkew()
    skew.observe(undefined, AT, AT)
    expect(skew.skewMs).toBeUndefined()
    expect(skew.signingOffsetMs).toBe(0)
    skew.observe(dated(AT + 7_200_000), AT, AT)
    skew.observe('not a date', AT, AT)
    skew.observe(['two', 'headers'], AT, AT)
    expect(skew.skewMs).toBe(7_200_500)
  })

  it('takes each new Date header (a step of this machine\'s clock), and keeps its figure for answers within the same second', () => {
    const skew = new ClockSkew()
    skew.observe(dated(AT + 7_200_000), AT, AT)
    expect(skew.signingOffsetMs).toBe(7_200_500)
    // The same header again, whatever the round trip: not derived again (one string compare per answer).
    skew.observe(dated(AT + 7_200_000), AT + 300, AT + 400)
    expect(skew.skewMs).toBe(7_200_500)
    // This machine's clock stepped 2 h forward: the next second's header shows the API level with it.
    skew.observe(dated(AT + 7_201_000), AT + 7_201_000, AT + 7_201_000)
    expect(skew.skewMs).toBe(500)
    expect(skew.signingOffsetMs).toBe(0)
  })

  it('takes the same Date header again once received in another second of this machine\'s clock: a step within one second of the API\'s shows', () => {
    const skew = new ClockSkew()
    skew.observe(dated(AT), AT, AT)
    expect(skew.skewMs).toBe(500)
    // This machine's clock stepped 2 h back, answered within the same second of the API's clock.
    skew.observe(dated(AT), AT - 7_200_000 + 200, AT - 7_200_000 + 300)
    expect(skew.skewMs).toBe(7_200_250)
    expect(skew.signingOffsetMs).toBe(7_200_250)
  })

  it('an answer after a long round trip (an upload\'s body) is not measured: the middle of 10 min is 5 min off', () => {
    const skew = new ClockSkew()
    skew.observe(dated(AT), AT, AT)
    skew.observe(dated(AT + 600_000), AT, AT + 600_000) // dated at its end: taken at the middle, 5 min "ahead"
    expect(skew.skewMs).toBe(500)
    expect(skew.signingOffsetMs).toBe(0)
  })

  it('an answer whose round trip this machine\'s clock stepped back during is not measured: its middle is half the step off', () => {
    const skew = new ClockSkew()
    skew.observe(dated(AT), AT, AT)
    // Sent at AT, the clock stepped 2 h back, received 100 ms later by the API's clock: the API is now 2 h ahead,
    // and the middle of the two readings would say 1 h, a figure that signs URLs already expired.
    skew.observe(dated(AT + 1000), AT, AT - 7_200_000 + 1100)
    expect(skew.skewMs).toBe(500) // was 3_600_950
    // The next answer, sent and received after the step, takes the new figure.
    skew.observe(dated(AT + 2000), AT - 7_200_000 + 2000, AT - 7_200_000 + 2000)
    expect(skew.skewMs).toBe(7_200_500)
  })
})
