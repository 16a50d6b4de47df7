import { describe, expect, it } from 'vitest'
import { ByteBudget } from '../../../src/vfs/budget.js'
import { HandleTable, MAX_FH } from '../../../src/vfs/handles/handle-table.js'
import { KeyedMutex } from '../../../src/vfs/lock.js'

const tick = () => new Promise((r) => setImmediate(r))

describe('ByteBudget', () => {
  it('grants within the cap and makes the rest wait', async () => {
    const b = new ByteBudget(100)
    await b.reserve(60, () => false)
    let granted = false
    void b.reserve(60, () => true).then(() => (granted = true))
    await tick()
    expect(granted).toBe(false)
    b.release(60)
    await tick()
    expect(granted).toBe(true)
    expect(b.used).toBe(60)
    expect(b.peak).toBe(60)
  })

  it('serves a demanded reservation before earlier read-ahead', async () => {
    const b = new ByteBudget(100)
    await b.reserve(100, () => true)
    const order: string[] = []
    void b.reserve(50, () => false).then(() => order.push('ahead'))
    void b.reserve(50, () => true).then(() => order.push('demand'))
    b.release(100)
    await tick()
    expect(order).toEqual(['demand', 'ahead'])
  })

  it('read-ahead never overtakes a waiting reader, even when it would fit', async () => {
    const b = new ByteBudget(100)
    await b.reserve(60, () => true)
    let ahead = false
    let demand = false
    void b.reserve(50, () => true).then(() => (demand = true))
    void b.reserve(10, () => false).then(() => (ahead = true))
    await tick()
    expect(demand).toBe(false)
    expect(ahead).toBe(false)
    b.release(60)
    await tick()
    expect(demand && ahead).toBe(true)
  })

  it('grants an oversized demanded reservation when nothing else is held', async () => {
    const b = new ByteBudget(10)
    await b.reserve(50, () => true)
    expect(b.used).toBe(50)
  })

  it('tryReserve grants at once within the cap, but never ahead of a queued reservation', async () => {
    const b = new ByteBudget(100)
    expect(b.tryReserve(60)).toBe(true)
    expect(b.tryReserve(50)).toBe(false) // over the cap
    let queued = false
    void b.reserve(30, () => true).then(() => (queued = true))
    await tick()
    expect(queued).toBe(true)
    expect(b.used).toBe(90)
    void b.reserve(20, () => true) // waits: 110 > 100
    expect(b.tryReserve(5)).toBe(false) // it would fit, but a reader is queued
    b.release(90)
    await tick()
    expect(b.tryReserve(5)).toBe(true)
    expect(b.used).toBe(25)
    expect(b.peak).toBe(90)
  })

  it('drops an aborted waiter', async () => {
    const b = new ByteBudget(10)
    await b.reserve(10, () => true)
    const ac = new AbortController()
    const p = b.reserve(10, () => true, ac.signal)
    ac.abort(new Error('gone'))
    await expect(p).rejects.toThrow('gone')
    expect(b.waiting).toBe(0)
  })
})

describe('KeyedMutex', () => {
  it('runs one fn per key at a time, in order; other keys run freely', async () => {
    const m = new KeyedMutex()
    const log: string[] = []
    let release!: () => void
    const first = m.run('a', async () => {
      log.push('a1 start')
      await new Promise<void>((r) => (release = r))
      log.push('a1 end')
    })
    const second = m.run('a', async () => log.push('a2'))
    const other = m.run('b', async () => log.push('b'))
    await other
    await tick()
    expect(log).toEqual(['a1 start', 'b'])
    release()
    await Promise.all([first, second])
    expect(log).toEqual(['a1 start', 'b', 'a1 end', 'a2'])
    expect(m.size).toBe(0)
  })
})

describe('HandleTable', () => {
  it('numbers from 1 and does not reuse a released number at once', () => {
    const t = new HandleTable<{ fh: number }>()
    const a = t.add((fh) => ({ fh }))
    const b = t.add((fh) => ({ fh }))
    expect([a.fh, b.fh]).toEqual([1, 2])
    t.remove(1)
    expect(t.add((fh) => ({ fh })).fh).toBe(3)
    expect(() => t.get(1)).toThrow(expect.objectContaining({ code: 'EBADF' }))
  })

  it('wraps around after the largest number a FUSE binding takes back (int32), skipping numbers in use', () => {
    const t = new HandleTable<{ fh: number }>(MAX_FH - 1)
    t.add((fh) => ({ fh })) // MAX_FH - 1
    const last = t.add((fh) => ({ fh }))
    expect(last.fh).toBe(0x7fff_ffff)
    expect(t.add((fh) => ({ fh })).fh).toBe(1)
  })
})
