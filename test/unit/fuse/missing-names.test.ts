import { describe, expect, it } from 'vitest'
import { BusyFolders } from '../../../src/fuse/busy-folders.js'
import { MissingNames } from '../../../src/fuse/missing-names.js'
import { captureLogger } from './log-capture.js'

/** The result with each folder's names sorted (their order is the cache's). */
function sorted(byFolder: Map<string, string[]>): Record<string, string[]> {
  return Object.fromEntries([...byFolder].map(([folder, names]) => [folder, [...names].sort()]))
}

describe('MissingNames: the names the kernel keeps as missing, for a refresh to forget', () => {
  it('gives the names at or under a path, grouped by folder, and gives each once', () => {
    const missing = new MissingNames(60_000)
    for (const path of ['/.hidden', '/photos/.directory', '/photos/new.jpg', '/photos/2024/a.jpg', '/photosx/b.jpg', '/photos']) {
      missing.add(path)
    }
    expect(sorted(missing.takeUnder('/photos'))).toEqual({
      '/photos': ['.directory', 'new.jpg'],
      '/photos/2024': ['a.jpg'],
      '/': ['photos'],
    })
    expect(missing.takeUnder('/photos').size).toBe(0)
    expect(sorted(missing.takeUnder('/'))).toEqual({ '/': ['.hidden'], '/photosx': ['b.jpg'] })
    expect(missing.takeUnder().size).toBe(0)
  })

  it('a trailing slash names the same folder; undefined and "/" name everything', () => {
    const missing = new MissingNames(60_000)
    missing.add('/a/x')
    missing.add('/b/y')
    expect(sorted(missing.takeUnder('/a/'))).toEqual({ '/a': ['x'] })
    expect(sorted(missing.takeUnder())).toEqual({ '/b': ['y'] })
  })

  it('lets a name go once the kernel has (negative_timeout), and keeps nothing when the kernel keeps nothing', () => {
    let now = 1_000
    const missing = new MissingNames(1_000, { now: () => now })
    missing.add('/old')
    now += 1_500
    missing.add('/new')
    expect(sorted(missing.takeUnder())).toEqual({ '/': ['new'] })
    const none = new MissingNames(0)
    none.add('/x')
    expect(none.takeUnder().size).toBe(0)
  })

  it('holds at most its bound, dropping the least recently missed', () => {
    const missing = new MissingNames(60_000, { max: 2 })
    missing.add('/a')
    missing.add('/b')
    missing.add('/c')
    expect(sorted(missing.takeUnder())).toEqual({ '/': ['b', 'c'] })
  })
})

describe('MissingNames.forget: has the kernel forget them through the binding', () => {
  const log = captureLogger().logger

  it('one call after another, folder by folder, adding up what the kernel held', async () => {
    const missing = new MissingNames(60_000)
    for (const path of ['/a/x', '/a/y', '/b/z', '/c/w']) missing.add(path)
    const calls: string[] = []
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const forgetNames = async (folder: string, names: string[]): Promise<number> => {
      calls.push(`${folder}:${[...names].sort().join(',')}`)
      if (folder === '/a') await held // a folder whose lock a long operation holds
      return names.length
    }
    const first = missing.forget('/a', forgetNames, log)
    const second = missing.forget(undefined, forgetNames, log)
    await new Promise((r) => setTimeout(r, 20))
    expect(calls).toEqual(['/a:x,y']) // the second waits for the first
    release()
    expect(await first).toBe(2)
    expect(await second).toBe(2)
    expect(calls.slice(1).sort()).toEqual(['/b:z', '/c:w'])
  })

  it('has the kernel look at the folders first, then forgets the deepest folders first (each forget ages its folder)', async () => {
    const freshened: string[][] = []
    const missing = new MissingNames(60_000, { freshen: async (folders) => { freshened.push(folders); return true } })
    for (const path of ['/top', '/a/x', '/a/b/c/y', '/a/b/z']) missing.add(path)
    const calls: string[] = []
    const forgetNames = async (folder: string, names: string[]): Promise<number> => {
      calls.push(folder)
      return names.length
    }
    expect(await missing.forget(undefined, forgetNames, log)).toBe(4)
    expect(freshened).toEqual([['/a/b/c', '/a/b', '/a', '/']])
    expect(calls).toEqual(['/a/b/c', '/a/b', '/a', '/'])
    expect(await missing.forget(undefined, forgetNames, log)).toBe(0)
    expect(freshened).toHaveLength(1) // nothing to forget: no child process either
  })

  it('never rejects: a folder that cannot be resolved is passed over, the others are forgotten', async () => {
    const missing = new MissingNames(60_000)
    missing.add('/gone/x')
    missing.add('/here/y')
    const forgetNames = async (folder: string): Promise<number> => {
      if (folder === '/gone') throw new Error('No such file or directory')
      return 1
    }
    expect(await missing.forget(undefined, forgetNames, log)).toBe(1)
    expect(await missing.forget(undefined, forgetNames, log)).toBe(0) // each name is taken once
  })

  it('waits until no request holds a folder, without holding up other folders', async () => {
    const busy = new BusyFolders()
    const missing = new MissingNames(60_000, { held: busy })
    missing.add('/busy/x')
    missing.add('/free/y')
    const calls: string[] = []
    const forgetNames = async (folder: string, names: string[]): Promise<number> => {
      calls.push(folder)
      return names.length
    }
    const renaming = busy.enter(['/busy']) // a rename in /busy that the API holds up
    const forgetting = missing.forget(undefined, forgetNames, log)
    await new Promise((r) => setTimeout(r, 20))
    expect(calls).toEqual(['/free'])
    renaming()
    expect(await forgetting).toBe(2)
    expect(calls).toEqual(['/free', '/busy'])
  })

  it('leaves a folder alone that stays busy until the kernel has forgotten by itself (negative_timeout)', async () => {
    const busy = new BusyFolders()
    const waits: number[] = []
    const held = { isBusy: (folder: string) => busy.isBusy(folder), idle: (folder: string, withinMs: number) => { waits.push(withinMs); return busy.idle(folder, withinMs) } }
    // Time stands still for the names (a loaded machine may pause this test longer than they are kept); the
    // wait for the folder is real.
    const now = 1_000
    const missing = new MissingNames(30, { held, now: () => now })
    missing.add('/busy/x')
    busy.enter(['/busy'])
    const calls: string[] = []
    expect(await missing.forget(undefined, async (folder) => { calls.push(folder); return 1 }, log)).toBe(0)
    expect(waits).toEqual([30])
    expect(calls).toEqual([])
  })

  it('looks at a folder again when its turn comes: one that a request took meanwhile waits again', async () => {
    const busy = new BusyFolders()
    const missing = new MissingNames(60_000, { held: busy })
    missing.add('/a/x')
    missing.add('/b/y')
    const calls: string[] = []
    let releaseFirst!: () => void
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve))
    const forgetNames = async (folder: string): Promise<number> => {
      calls.push(folder)
      if (calls.length === 1) await firstHeld
      return 1
    }
    const forgetting = missing.forget(undefined, forgetNames, log)
    await new Promise((r) => setTimeout(r, 10))
    expect(calls).toHaveLength(1) // the other folder waits for its turn
    const [first] = calls
    const second = first === '/a' ? '/b' : '/a'
    const creating = busy.enter([second]) // a create there starts before that turn
    releaseFirst()
    await new Promise((r) => setTimeout(r, 10))
    expect(calls).toEqual([first])
    creating()
    expect(await forgetting).toBe(2)
    expect(calls).toEqual([first, second])
  })
})
