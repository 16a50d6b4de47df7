import { describe, expect, it } from 'vitest'
import { BusyFolders } from '../../../src/fuse/busy-folders.js'

describe('BusyFolders: which folders requests in flight hold in the kernel', () => {
  it('is idle at once for a folder nothing holds', async () => {
    const busy = new BusyFolders()
    expect(busy.isBusy('/a')).toBe(false)
    expect(await busy.idle('/a', 10)).toBe(true)
  })

  it('becomes idle when the last request holding a folder ends, not before', async () => {
    const busy = new BusyFolders()
    const first = busy.enter(['/a', '/b'])
    const second = busy.enter(['/a'])
    let idle: boolean | undefined
    void busy.idle('/a', 60_000).then((v) => { idle = v })
    first()
    first() // a second release of the same request changes nothing
    await new Promise((r) => setTimeout(r, 5))
    expect(idle).toBeUndefined()
    expect(busy.isBusy('/a')).toBe(true)
    expect(busy.isBusy('/b')).toBe(false)
    second()
    await new Promise((r) => setTimeout(r, 0))
    expect(idle).toBe(true)
    expect(busy.isBusy('/a')).toBe(false)
  })

  it('answers false when the folder stays busy longer than the wait, and other folders are not affected', async () => {
    const busy = new BusyFolders()
    const release = busy.enter(['/slow'])
    expect(await busy.idle('/slow', 20)).toBe(false)
    expect(await busy.idle('/other', 20)).toBe(true)
    release()
    expect(await busy.idle('/slow', 20)).toBe(true)
  })
})
