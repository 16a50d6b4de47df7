/** The ImageKitClient facade: routes and bodies of each call, delivery URLs, bulk-job polling, deletes. */
import { describe, expect, it } from 'vitest'
import { CLOCK_RECHECK_MS, ImageKitClient } from '../../../src/imagekit/client.js'
import { ManualClock, systemClock } from '../../../src/clock.js'
import { expiryFor, signUrl, stringToSign, urlSignature } from '../../../src/imagekit/sign.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { PRIVATE_KEY, capturingLogger, makeClient, readAll, sendJson, useClientPerTest, waitFor } from './helpers.js'

const FILE = { type: 'file', fileId: 'f1', name: 'a.jpg', filePath: '/a.jpg', size: 3, url: 'u', isPrivateFile: false }

const perTest = useClientPerTest()
const setup = perTest.setup

const bodyOf = (index: number): unknown => JSON.parse(perTest.server.requests[index]!.body.toString())

describe('endpoints', () => {
  it('getAccountUsage asks for the 89 days up to today: a span under the API\'s 90 days, end date excluded', async () => {
    const { client } = await setup((_req, res) =>
      sendJson(res, 200, { bandwidthBytes: 1, mediaLibraryStorageBytes: 2, videoProcessingUnitsCount: 0, extensionUnitsCount: 0, originalCacheStorageBytes: 0 }),
    )
    const usage = await client.getAccountUsage()
    expect(usage.mediaLibraryStorageBytes).toBe(2)
    // InstantClock starts at 2023-11-14T22:13:20Z.
    expect(perTest.server.requests[0]?.url).toBe('/v1/accounts/usage?startDate=2023-08-18&endDate=2023-11-15')
  })

  it('file calls use the documented routes and bodies', async () => {
    const { client } = await setup((req, res) => {
      if (req.url?.endsWith('/versions')) return sendJson(res, 200, [FILE, { ...FILE, type: 'file-version' }])
      if (req.method === 'PATCH') return sendJson(res, 200, { ...FILE, tags: ['x'] })
      if (req.method === 'DELETE') {
        res.writeHead(204)
        return res.end()
      }
      if (req.url === '/v1/folder') {
        res.writeHead(201)
        return res.end()
      }
      sendJson(res, 200, {})
    })
    expect(await client.listFileVersions('f 1')).toHaveLength(2)
    expect((await client.updateFileDetails('f1', { tags: ['x'], customCoordinates: null })).tags).toEqual(['x'])
    await client.deleteFile('f1')
    await client.moveFile('/a.jpg', '/b/')
    await client.createFolder('/parent/', 'child')
    await client.deleteFolder('/parent/child')
    expect(perTest.server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /v1/files/f%201/versions',
      'PATCH /v1/files/f1/details',
      'DELETE /v1/files/f1',
      'POST /v1/files/move',
      'POST /v1/folder',
      'DELETE /v1/folder',
    ])
    expect(bodyOf(1)).toEqual({ tags: ['x'], customCoordinates: null })
    expect(bodyOf(3)).toEqual({ sourceFilePath: '/a.jpg', destinationPath: '/b/' })
    expect(bodyOf(4)).toEqual({ folderName: 'child', parentFolderPath: '/parent/' })
    expect(bodyOf(5)).toEqual({ folderPath: '/parent/child' })
  })

  it('a delete whose first response was lost and whose retry gets 404 has succeeded', async () => {
    const { client } = await setup((_req, res, _body, index) => {
      if (index === 0) return res.socket?.destroy()
      sendJson(res, 404, { message: 'The requested file does not exist.' })
    })
    await expect(client.deleteFile('f1')).resolves.toBeUndefined()
    expect(perTest.server.requests).toHaveLength(2)
  })

  it('a copy answered 504 after its work is not repeated once `done` finds the copy; otherwise it is', async () => {
    const seen = new Set<string>()
    const { client } = await setup((_req, res, body) => {
      const to = (JSON.parse(body.toString()) as { destinationPath: string }).destinationPath
      sendJson(res, seen.has(to) ? 204 : 504, {})
      seen.add(to)
    })
    const sent = () => perTest.server.requests.length
    await client.copyFile('/a.jpg', '/b/', { done: async () => true })
    expect(sent()).toBe(1) // was 2: the repeat added a version to the copy
    await client.copyFile('/a.jpg', '/c/', { done: async () => false })
    expect(sent()).toBe(3)
    await client.copyFile('/a.jpg', '/d/', { done: () => Promise.reject(new Error('cannot tell')) })
    expect(sent()).toBe(5)
  })

  it('a folder delete answered 503 is repeated only when `done` says its work is not there (rmdir: the folder still empty)', async () => {
    const seen = new Set<string>()
    const { client } = await setup((_req, res, body) => {
      const folder = (JSON.parse(body.toString()) as { folderPath: string }).folderPath
      if (!seen.has(folder)) {
        seen.add(folder)
        return sendJson(res, 503, { message: 'busy' })
      }
      res.writeHead(204)
      res.end()
    })
    const sent = () => perTest.server.requests.length
    await client.deleteFolder('/full', { done: async () => true })
    expect(sent()).toBe(1) // was 2: the repeat deleted what was stored in the folder meanwhile
    await client.deleteFolder('/empty', { done: async () => false })
    expect(sent()).toBe(3)
  })

  it('every call passes RequestOptions.giveUp on: a caller that knows the library is down ends each call at its first failure', async () => {
    const { client } = await setup((_req, res) => sendJson(res, 503, { message: 'down' }))
    const giveUp = () => true
    const calls: Record<string, () => Promise<unknown>> = {
      getFileDetails: () => client.getFileDetails('f1', { giveUp }),
      listFileVersions: () => client.listFileVersions('f1', { giveUp }),
      getAccountUsage: () => client.getAccountUsage({ giveUp }),
      renameFile: () => client.renameFile('/a.jpg', 'b.jpg', { giveUp }),
      moveFile: () => client.moveFile('/a.jpg', '/b/', { giveUp }),
      copyFile: () => client.copyFile('/a.jpg', '/b/', { giveUp }),
      updateFileDetails: () => client.updateFileDetails('f1', { tags: ['x'] }, { giveUp }),
      createFolder: () => client.createFolder('/', 'c', { giveUp }),
      deleteFolder: () => client.deleteFolder('/c', { giveUp }),
      renameFolder: () => client.renameFolder('/c', 'd', { giveUp }),
      moveFolder: () => client.moveFolder('/c', '/e/', { giveUp }),
      deleteFile: () => client.deleteFile('f1', { giveUp }),
      // A read too (the read-back of a version an earlier upload attempt may have stored, upload/stored-copy.ts).
      readRange: () => client.readRange(`${perTest.server.url}/a.jpg`, 0, 9, { giveUp }),
    }
    const requests: Record<string, number> = {}
    for (const [name, call] of Object.entries(calls)) {
      const before = perTest.server.requests.length
      await expect(call(), name).rejects.toMatchObject({ code: 'IK_SERVER' })
      requests[name] = perTest.server.requests.length - before
    }
    expect(requests).toEqual(Object.fromEntries(Object.keys(calls).map((name) => [name, 1]))) // was 6 (every retry) for most
  })

  it('a delete that gets 404 on its first attempt is IK_NOT_FOUND', async () => {
    const { client } = await setup((_req, res) => sendJson(res, 404, { reason: 'FOLDER_NOT_FOUND', message: 'No folder found' }))
    await expect(client.deleteFolder('/nope')).rejects.toMatchObject({ code: 'IK_NOT_FOUND', reason: 'FOLDER_NOT_FOUND' })
  })

  it('a body of the wrong shape is IK_BAD_RESPONSE', async () => {
    const { client } = await setup((_req, res) => sendJson(res, 200, { hello: 'world' }))
    await expect(client.getFileDetails('f1')).rejects.toMatchObject({ code: 'IK_BAD_RESPONSE' })
  })
})

describe('bulk jobs', () => {
  it('renameFolder starts the job and polls until Completed, with growing pauses', async () => {
    const { client, clock } = await setup((req, res, _body, index) => {
      if (req.method === 'POST') return sendJson(res, 200, { jobId: 'job 1' })
      sendJson(res, 200, { jobId: 'job 1', type: 'RENAME_FOLDER', status: index < 3 ? 'Pending' : 'Completed' })
    })
    const status = await client.renameFolder('/old', 'new')
    expect(status.status).toBe('Completed')
    expect(perTest.server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1/bulkJobs/renameFolder',
      'GET /v1/bulkJobs/job%201',
      'GET /v1/bulkJobs/job%201',
      'GET /v1/bulkJobs/job%201',
    ])
    expect(bodyOf(0)).toEqual({ folderPath: '/old', newFolderName: 'new', purgeCache: false })
    expect(clock.sleeps).toEqual([250, 375, 563])
  })

  it('a status other than Pending/Completed is IK_JOB_FAILED', async () => {
    const { client } = await setup((req, res) =>
      req.method === 'POST' ? sendJson(res, 200, { jobId: 'j' }) : sendJson(res, 200, { jobId: 'j', type: 'MOVE_FOLDER', status: 'Failed' }),
    )
    await expect(client.moveFolder('/a', '/b')).rejects.toMatchObject({ code: 'IK_JOB_FAILED' })
    expect(bodyOf(0)).toEqual({ sourceFolderPath: '/a', destinationPath: '/b' })
  })

  it('a job pending past the deadline is IK_TIMEOUT', async () => {
    const { client, clock } = await setup((req, res) =>
      req.method === 'POST' ? sendJson(res, 200, { jobId: 'j' }) : sendJson(res, 200, { jobId: 'j', type: 'MOVE_FOLDER', status: 'Pending' }),
    )
    await expect(client.moveFolder('/a', '/b')).rejects.toMatchObject({ code: 'IK_TIMEOUT' })
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(15 * 60_000)
  })
})

describe('deliveryUrl', () => {
  const endpoint = 'https://ik.imagekit.io/demo'
  const make = (onlySigned: boolean) =>
    new ImageKitClient({
      urlEndpoint: endpoint,
      privateKey: PRIVATE_KEY,
      onlySigned,
      logger: capturingLogger().logger,
      clock: { now: () => 1_700_000_000_000, sleep: () => Promise.resolve() },
    })

  it('keeps the API url as is and adds tr=orig-true for public files', async () => {
    const client = make(false)
    const url = `${endpoint}/dir/a%20b.jpg?ik-obj-version=AbC.d_1&updatedAt=1700000000000`
    expect(client.deliveryUrl({ filePath: '/dir/a b.jpg', url, isPrivateFile: false })).toBe(`${url}&tr=orig-true`)
    const custom = 'https://media.example.com/dir/a%20b.jpg?updatedAt=1'
    expect(client.deliveryUrl({ filePath: '/dir/a b.jpg', url: custom, isPrivateFile: false })).toBe(`${custom}&tr=orig-true`)
    await client.close()
  })

  it('signs private files (and every file with onlySigned), expiring within the window, never "forever"', async () => {
    for (const [onlySigned, isPrivateFile] of [[false, true], [true, false]] as const) {
      const client = make(onlySigned)
      const url = `${endpoint}/dir/a.jpg?updatedAt=1`
      const signed = client.deliveryUrl({ filePath: '/dir/a.jpg', url, isPrivateFile })
      const match = /^(.*)&ik-t=(\d+)&ik-s=([0-9a-f]{40})$/.exec(signed)
      expect(match, signed).not.toBeNull()
      const [, unsigned, expiry, signature] = match!
      expect(unsigned).toBe(`${url}&tr=orig-true`)
      expect(Number(expiry)).toBeGreaterThanOrEqual(1_700_000_000 + 3600)
      expect(Number(expiry)).toBeLessThan(1_700_000_000 + 3600 + 300)
      expect(stringToSign(unsigned!, endpoint, Number(expiry))).toBe(`dir/a.jpg?updatedAt=1&tr=orig-true${expiry}`)
      expect(signature).toBe(urlSignature({ url: unsigned!, urlEndpoint: endpoint, privateKey: PRIVATE_KEY, expiresAt: Number(expiry) }))
      await client.close()
    }
  })

  it('signs an older version\'s URL (ik-obj-version, R5: a version stored over elsewhere is read on there) over its whole query', async () => {
    for (const [onlySigned, isPrivateFile] of [[false, true], [true, false]] as const) {
      const client = make(onlySigned)
      const url = `${endpoint}/dir/a%20b.jpg?ik-obj-version=AbC.d_1&updatedAt=1700000000000`
      const signed = client.deliveryUrl({ filePath: '/dir/a b.jpg', url, isPrivateFile, versionId: 'v1' })
      const match = /^(.*)&ik-t=(\d+)&ik-s=([0-9a-f]{40})$/.exec(signed)
      expect(match, signed).not.toBeNull()
      const [, unsigned, expiry, signature] = match!
      expect(unsigned).toBe(`${url}&tr=orig-true`)
      expect(stringToSign(unsigned!, endpoint, Number(expiry))).toBe(`dir/a%20b.jpg?ik-obj-version=AbC.d_1&updatedAt=1700000000000&tr=orig-true${expiry}`)
      expect(signature).toBe(urlSignature({ url: unsigned!, urlEndpoint: endpoint, privateKey: PRIVATE_KEY, expiresAt: Number(expiry) }))
      await client.close()
    }
  })

  it('signs on the configured endpoint when the API url names another one (a custom domain), keeping its query', async () => {
    const client = make(true)
    const custom = 'https://media.example.com/dir/a%20b.jpg?ik-obj-version=AbC.d_1&updatedAt=1'
    const signed = client.deliveryUrl({ filePath: '/dir/a b.jpg', url: custom, isPrivateFile: false })
    const match = /^(.*)&ik-t=(\d+)&ik-s=([0-9a-f]{40})$/.exec(signed)
    expect(match, signed).not.toBeNull()
    const [, unsigned, expiry, signature] = match!
    expect(unsigned).toBe(`${endpoint}/dir/a%20b.jpg?ik-obj-version=AbC.d_1&updatedAt=1&tr=orig-true`)
    expect(signature).toBe(urlSignature({ url: unsigned!, urlEndpoint: endpoint, privateKey: PRIVATE_KEY, expiresAt: Number(expiry) }))
    await client.close()
  })

  it('pins a url without a version of its own (an upload response) to the version, and leaves versioned urls alone', async () => {
    const client = make(false)
    const bare = `${endpoint}/dir/new.jpg`
    expect(client.deliveryUrl({ filePath: '/dir/new.jpg', url: bare, isPrivateFile: false, versionId: 'v2abc' }))
      .toBe(`${bare}?ikfs-version=v2abc&tr=orig-true`)
    const listed = `${endpoint}/dir/new.jpg?updatedAt=1700000000000`
    expect(client.deliveryUrl({ filePath: '/dir/new.jpg', url: listed, isPrivateFile: false, versionId: 'v2abc' })).toBe(`${listed}&tr=orig-true`)
    const old = `${endpoint}/dir/new.jpg?ik-obj-version=AbC.d_1&updatedAt=1`
    expect(client.deliveryUrl({ filePath: '/dir/new.jpg', url: old, isPrivateFile: false, versionId: 'v1' })).toBe(`${old}&tr=orig-true`)
    await client.close()
  })

  it('builds the URL from filePath when the API gave none', async () => {
    const client = make(false)
    expect(client.deliveryUrl({ filePath: '/a b/c#d.jpg', url: '', isPrivateFile: false })).toBe(`${endpoint}/a%20b/c%23d.jpg?tr=orig-true`)
    await client.close()
  })
})

describe('signing by the API\'s clock', () => {
  /** The lifetime signed URLs get in these tests (the default, 1 h). */
  const LIFETIME_S = 3600
  const expiryOf = (signed: string): number => Number(/[?&]ik-t=(\d+)&/.exec(signed)?.[1])

  it.each([
    ['2 h ahead of this machine (its clock is behind): by the API\'s time', 7_200_000, 7_200_000],
    ['30 s ahead (noise, within a minute): by this machine\'s', 30_000, 0],
    ['2 h behind (this machine is ahead): by this machine\'s, never earlier, so no URL expires early', -7_200_000, 0],
  ])('the key check finds the API\'s clock %s', async (_what, apiAheadMs, signedAheadMs) => {
    const { client, clock } = await setup((_req, res) => sendJson(res, 200, [FILE], { date: new Date(clock.now() + apiAheadMs).toUTCString() }))
    const target = { filePath: '/a.jpg', url: `${perTest.server.url}/demo/a.jpg`, isPrivateFile: true }
    expect(expiryOf(client.deliveryUrl(target))).toBe(expiryFor(clock.now(), LIFETIME_S))
    const { clockSkewMs } = await client.verifyCredentials()
    // The header's second: the API's time is taken as the middle of it.
    expect(clockSkewMs).toBe(apiAheadMs + 500)
    const signed = client.deliveryUrl(target)
    const expiresAt = expiryOf(signed)
    expect(expiresAt).toBe(expiryFor(clock.now() + (signedAheadMs && signedAheadMs + 500), LIFETIME_S))
    // The same signature the SDKs make for that URL and expiry (sign.ts, checked against them).
    const unsigned = signed.replace(/&ik-t=.*$/, '')
    expect(signed).toBe(signUrl({ url: unsigned, urlEndpoint: `${perTest.server.url}/demo`, privateKey: PRIVATE_KEY, expiresAt }))
  })

  // A long-lived mount whose clock NTP steps later (here: the API's answers move 2 h ahead of it, then back)
  // kept signing by the offset the key check measured at mount: every signed read refused after such a step.
  it('follows a step of this machine\'s clock after the key check: signs by the latest answers\' figure', async () => {
    let apiAheadMs = 0
    const { client, clock } = await setup((_req, res) => sendJson(res, 200, [FILE], { date: new Date(clock.now() + apiAheadMs).toUTCString() }))
    const target = { filePath: '/a.jpg', url: `${perTest.server.url}/demo/a.jpg`, isPrivateFile: true }
    expect((await client.verifyCredentials()).clockSkewMs).toBe(500)
    expect(expiryOf(client.deliveryUrl(target))).toBe(expiryFor(clock.now(), LIFETIME_S))
    apiAheadMs = 7_200_000
    await client.listFiles({ path: '/' })[Symbol.asyncIterator]().next() // any API answer after the step
    expect(expiryOf(client.deliveryUrl(target))).toBe(expiryFor(clock.now() + apiAheadMs + 500, LIFETIME_S))
    apiAheadMs = 0
    await client.listFiles({ path: '/' })[Symbol.asyncIterator]().next()
    expect(expiryOf(client.deliveryUrl(target))).toBe(expiryFor(clock.now(), LIFETIME_S))
  })

  it('reads a private file from an emulator 2 h ahead: refused before any API answer measured the clocks, the read measures them and signs again', async () => {
    const emulator = await startTestEmulator({ clockOffsetMs: 7_200_000 })
    const { client } = makeClient(emulator.emu.url, { clock: systemClock, privateKey: emulator.privateKey, urlEndpoint: emulator.urlEndpoint })
    try {
      const form = new FormData()
      form.set('file', new Blob(['private bytes']), 'p.txt')
      for (const [k, v] of Object.entries({ fileName: 'p.txt', useUniqueFileName: 'false', isPrivateFile: 'true' })) form.set(k, v)
      const uploaded = await fetch(`${emulator.emu.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { authorization: `Basic ${Buffer.from(`${emulator.privateKey}:`).toString('base64')}` } })
      expect(uploaded.status).toBe(200)
      const { url } = (await uploaded.json()) as { url: string }
      const target = { filePath: '/p.txt', url, isPrivateFile: true }
      // Signed by this machine's clock (no skew known yet): past by the emulator's. The refusal costs one API call.
      const first = await client.readRange(client.deliveryUrl(target), 0, undefined)
      expect((await readAll(first.body)).toString()).toBe('private bytes')
      expect((await client.verifyCredentials()).clockSkewMs).toBeGreaterThan(7_100_000)
      const read = await client.readRange(client.deliveryUrl(target), 0, undefined)
      expect((await readAll(read.body)).toString()).toBe('private bytes')
      // A URL refused for another reason (its signature) is not signed again: refused, with the likely cause.
      const forged = client.deliveryUrl(target).replace(/ik-s=[0-9a-f]+$/, 'ik-s=' + '0'.repeat(40))
      await expect(client.readRange(forged, 0, undefined)).rejects.toMatchObject({ code: 'IK_FORBIDDEN', message: expect.stringContaining('a signed URL was refused') })
    } finally {
      await client.close()
      await emulator.stop()
    }
  })
})

describe('a clock stepped while reading', () => {
  it('R7: the first read after this machine\'s clock steps 2 h back is refused by ImageKit\'s clock, measures the clocks again and succeeds', async () => {
    const emulator = await startTestEmulator()
    const clock = new ManualClock(Date.now())
    const { client } = makeClient(emulator.emu.url, { clock, privateKey: emulator.privateKey, urlEndpoint: emulator.urlEndpoint })
    try {
      const form = new FormData()
      form.set('file', new Blob(['private bytes']), 'p.txt')
      for (const [k, v] of Object.entries({ fileName: 'p.txt', useUniqueFileName: 'false', isPrivateFile: 'true' })) form.set(k, v)
      const uploaded = await fetch(`${emulator.emu.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { authorization: `Basic ${Buffer.from(`${emulator.privateKey}:`).toString('base64')}` } })
      const target = { filePath: '/p.txt', url: ((await uploaded.json()) as { url: string }).url, isPrivateFile: true }
      expect(Math.abs((await client.verifyCredentials()).clockSkewMs ?? Number.NaN)).toBeLessThan(60_000)
      clock.advance(-7_200_000) // stepped back: a URL signed for 1 h is 1 h past by ImageKit's clock
      const read = await client.readRange(client.deliveryUrl(target), 0, undefined)
      expect((await readAll(read.body)).toString()).toBe('private bytes')
      // Signed by ImageKit's time from now on, without another refusal.
      const expiresAt = Number(/ik-t=(\d+)/.exec(client.deliveryUrl(target))?.[1])
      expect(expiresAt * 1000).toBeGreaterThan(Date.now() + 3_500_000)
    } finally {
      await client.close()
      await emulator.stop()
    }
  })
})

describe('R7: refused signed reads measure the clocks once for a burst', () => {
  // Each signed read refused made its own API call to measure the clocks, unless one was still in flight: a
  // burst of readers (8 at once, a refusal for another cause read over and over) cost one Media API call each.
  it('8 readers refused at once share one measurement; refusals within CLOCK_RECHECK_MS of it reuse it; a later one measures again', async () => {
    const apiAheadMs = 7_200_000 // ImageKit's clock, 2 h ahead: a URL signed by this machine's time is past by ImageKit's
    /** Refusals held until the first measurement has been answered, so that they reach the client after it ended. */
    const held: (() => void)[] = []
    let measured = false
    let refusedOnce = false
    const { client, clock } = await setup((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname.startsWith('/v1/files')) {
        res.on('finish', () => {
          measured = true
          for (const release of held.splice(0)) release()
        })
        return sendJson(res, 200, [FILE], { date: new Date(clock.now() + apiAheadMs).toUTCString() })
      }
      const expiresAt = Number(url.searchParams.get('ik-t'))
      const forged = url.pathname.endsWith('/forbidden.jpg')
      if (!forged && expiresAt * 1000 > clock.now() + apiAheadMs) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '5' })
        return res.end('bytes')
      }
      const refuse = () => sendJson(res, 401, { message: 'The signed URL has expired.' })
      if (measured || !refusedOnce) {
        refusedOnce = true
        return refuse()
      }
      held.push(refuse)
    })
    const apiCalls = () => perTest.server.requests.filter((r) => r.url.startsWith('/v1/files')).length
    const target = { filePath: '/a.jpg', url: `${perTest.server.url}/demo/a.jpg`, isPrivateFile: true }
    const read = async (url: string) => (await readAll((await client.readRange(url, 0, undefined)).body)).toString()

    const reads = await Promise.all(Array.from({ length: 8 }, () => read(client.deliveryUrl(target))))
    expect(reads).toEqual(Array(8).fill('bytes')) // each signed again by ImageKit's time, and read
    expect(apiCalls()).toBe(1)
    // Refused for another cause (its signature), read over and over: the measurement just made holds.
    const forbidden = { filePath: '/forbidden.jpg', url: `${perTest.server.url}/demo/forbidden.jpg`, isPrivateFile: true }
    for (let i = 0; i < 5; i++) await expect(read(client.deliveryUrl(forbidden))).rejects.toMatchObject({ code: 'IK_FORBIDDEN' })
    expect(apiCalls()).toBe(1)
    // Once CLOCK_RECHECK_MS has passed, a refusal measures again (a clock stepped since would show).
    await clock.sleep(CLOCK_RECHECK_MS)
    await expect(read(client.deliveryUrl(forbidden))).rejects.toMatchObject({ code: 'IK_FORBIDDEN' })
    expect(apiCalls()).toBe(2)
  })

  it('a reader that gives up (its signal) while the shared measurement runs does not end it for the others', async () => {
    const apiAheadMs = 7_200_000
    let answer!: () => void
    const answered = new Promise<void>((resolve) => { answer = resolve })
    const { client, clock } = await setup(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname.startsWith('/v1/files')) {
        await answered
        return sendJson(res, 200, [FILE], { date: new Date(clock.now() + apiAheadMs).toUTCString() })
      }
      if (Number(url.searchParams.get('ik-t')) * 1000 > clock.now() + apiAheadMs) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '5' })
        return res.end('bytes')
      }
      sendJson(res, 401, { message: 'The signed URL has expired.' })
    })
    const target = { filePath: '/a.jpg', url: `${perTest.server.url}/demo/a.jpg`, isPrivateFile: true }
    const quitter = new AbortController()
    const first = client.readRange(client.deliveryUrl(target), 0, undefined, { signal: quitter.signal })
    await waitFor(() => perTest.server.requests.some((r) => r.url.startsWith('/v1/files')))
    const second = client.readRange(client.deliveryUrl(target), 0, undefined)
    await waitFor(() => perTest.server.requests.filter((r) => r.url.startsWith('/demo/')).length === 2)
    quitter.abort()
    await expect(first).rejects.toBeDefined()
    answer()
    expect((await readAll((await second).body)).toString()).toBe('bytes')
    expect(perTest.server.requests.filter((r) => r.url.startsWith('/v1/files'))).toHaveLength(1)
  })
})

describe('close', () => {
  // After `ikfs unmount`, a daemon whose API went silent waited out its account-usage call (a `df` nobody
  // waits for any more) before exiting: close() gives up reads, and still waits for calls that change the library.
  it('gives up a read still waiting on a silent API, and waits for a delete in flight', async () => {
    let deleteAnswered = false
    const { client } = await setup((req, res) => {
      if (req.method === 'DELETE') {
        setTimeout(() => {
          deleteAnswered = true
          res.writeHead(204)
          res.end()
        }, 300)
      } // anything else: never answered
    }, { requestTimeoutMs: 60_000 })
    const usage = client.getAccountUsage().then(() => 'answered', (e: { code?: string }) => e.code)
    const deleted = client.deleteFile('f1')
    while (perTest.server.requests.length < 2) await new Promise((r) => setTimeout(r, 10))
    const started = performance.now()
    await client.close()
    expect(performance.now() - started).toBeLessThan(5_000)
    expect(await usage).toBe('IK_ABORTED')
    expect(deleteAnswered).toBe(true)
    await expect(deleted).resolves.toBeUndefined()
  })
})
