/**
 * Group commit (src/vfs/spool/group-sync.ts), the module's own contract: callers arriving while a sync runs share
 * exactly one next sync; a failure reaches every caller that shared it; no caller is told "synced" by a sync
 * begun before its write. The journal's and the data folder's uses are tested in spool.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { GroupSync } from '../../../src/vfs/spool/group-sync.js'
import { waitFor } from './helpers.js'

/** A GroupSync whose syncs are held until the test ends them (done or fail), noting whether two ever overlapped. */
function heldSyncs(): { group: GroupSync; syncs: { done: () => void; fail: (e: Error) => void }[]; overlapped: () => boolean } {
  const syncs: { done: () => void; fail: (e: Error) => void }[] = []
  let running = 0
  let overlapped = false
  const group = new GroupSync(() => new Promise<void>((done, fail) => {
    overlapped ||= ++running > 1
    const end = (): void => { running-- }
    syncs.push({ done: () => { end(); done() }, fail: (e) => { end(); fail(e) } })
  }))
  return { group, syncs, overlapped: () => overlapped }
}

/** Lets every settled promise's callbacks run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Which of the promises have resolved so far, by name. */
function track(promises: Record<string, Promise<void>>): Set<string> {
  const resolved = new Set<string>()
  for (const [name, p] of Object.entries(promises)) void p.then(() => resolved.add(name), () => undefined)
  return resolved
}

describe('GroupSync', () => {
  it('callers arriving while a sync runs share exactly one next sync, begun once it ended; never two at once', async () => {
    const { group, syncs, overlapped } = heldSyncs()
    const first = group.sync()
    expect(syncs).toHaveLength(1)
    const arrivals = { b: group.sync(), c: group.sync(), d: group.sync() }
    const resolved = track({ first, ...arrivals })
    await turn()
    expect(syncs).toHaveLength(1) // queued, not begun: one sync at a time
    syncs[0]!.done()
    const late = group.sync() // the first has ended but its callbacks have not run: still the one queued next
    await first
    await waitFor(() => syncs.length === 2)
    await turn()
    expect([...resolved]).toEqual(['first']) // the first sync began before their calls
    syncs[1]!.done()
    await Promise.all([...Object.values(arrivals), late])
    await turn()
    expect(syncs).toHaveLength(2)
    expect(overlapped()).toBe(false)
  })

  it('a failed sync fails every caller that shared it; the next caller starts another', async () => {
    const { group, syncs } = heldSyncs()
    const first = group.sync()
    const shared = [group.sync(), group.sync(), group.sync()]
    syncs[0]!.done()
    await first
    await waitFor(() => syncs.length === 2)
    syncs[1]!.fail(new Error('EIO: disk gone'))
    for (const p of shared) await expect(p).rejects.toThrow(/disk gone/)
    // The running one's failure also reaches those whose writes it covered, and the queued one still begins.
    group.wrote()
    const covered = group.covered()
    group.wrote()
    const next = group.covered()
    syncs[2]!.fail(new Error('EIO: again'))
    await expect(covered).rejects.toThrow(/again/)
    await waitFor(() => syncs.length === 4)
    syncs[3]!.done()
    await next
    const after = group.sync()
    expect(syncs).toHaveLength(5)
    syncs[4]!.done()
    await after
  })

  it('no caller is told "synced" by a sync begun before its write; one begun after the writes covers them; none runs for nothing', async () => {
    const { group, syncs } = heldSyncs()
    await group.covered() // nothing written yet
    expect(syncs).toHaveLength(0)
    group.wrote()
    const a = group.covered() // begins a sync covering the write
    const b = group.covered() // no write of its own since: the running sync covers it
    group.wrote()
    const c = group.covered() // written while it runs: the next sync
    const resolved = track({ a, b, c })
    expect(syncs).toHaveLength(1)
    syncs[0]!.done()
    await Promise.all([a, b])
    await turn()
    expect([...resolved].sort()).toEqual(['a', 'b'])
    await waitFor(() => syncs.length === 2)
    syncs[1]!.done()
    await c
    await group.covered() // covered by the finished sync: at once
    expect(syncs).toHaveLength(2)
  })

  it('settled waits for the running sync and the one queued after it, failed or not', async () => {
    const { group, syncs } = heldSyncs()
    await group.settled() // none
    const first = group.sync().catch(() => undefined)
    const second = group.sync()
    let settled = false
    const waiting = group.settled().then(() => { settled = true })
    syncs[0]!.fail(new Error('EIO'))
    await first
    await waitFor(() => syncs.length === 2)
    await turn()
    expect(settled).toBe(false)
    syncs[1]!.done()
    await Promise.all([second, waiting])
  })
})
