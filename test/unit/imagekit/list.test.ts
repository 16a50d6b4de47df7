/** GET /v1/files paging: skip/limit sent, every item yielded once in order, later pages requested several at a time. */
import { describe, expect, it } from 'vitest'
import { PAGES_IN_FLIGHT } from '../../../src/imagekit/list.js'
import { MAX_LIST_LIMIT } from '../../../src/imagekit/types.js'
import { sendJson, useClientPerTest } from './helpers.js'

const perTest = useClientPerTest()

const TOTAL = 2500
const file = (i: number) => ({
  type: 'file', fileId: `id${i}`, name: `f${String(i).padStart(5, '0')}.jpg`, filePath: `/dir/f${i}.jpg`, size: i, url: 'u',
  isPrivateFile: false,
})

describe('listFiles', () => {
  it('pages over 2,500 items with limit=1000 and skip at multiples of 1000, yielding each page as it arrives', async () => {
    const { client } = await perTest.setup((req, res) => {
      const query = new URL(req.url ?? '', 'http://x').searchParams
      const skip = Number(query.get('skip'))
      const limit = Number(query.get('limit'))
      const items = []
      for (let i = skip; i < Math.min(TOTAL, skip + limit); i++) items.push(file(i))
      sendJson(res, 200, items)
    })
    const seen: string[] = []
    const requestsWhenYielded: number[] = []
    for await (const item of client.listFiles({ path: '/my dir/sub', type: 'all' })) {
      seen.push(item.type === 'folder' ? item.folderPath : item.fileId)
      requestsWhenYielded.push(perTest.server.requests.length)
    }
    expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => `id${i}`))
    const skips = perTest.server.requests.map((r) => Number(new URL(r.url, 'http://x').searchParams.get('skip')))
    // Pages 0-2 hold the items; the one after the short page may have been sent before the end was known.
    expect(skips.slice(0, 3)).toEqual([0, 1000, 2000])
    expect(skips.length).toBeLessThanOrEqual(1 + PAGES_IN_FLIGHT)
    for (const skip of skips.slice(3)) expect([3000, 4000]).toContain(skip)
    for (const request of perTest.server.requests) {
      expect(request.url).toContain(`limit=${MAX_LIST_LIMIT}`)
      expect(request.url).toContain('sort=ASC_NAME')
      expect(request.url).toContain('type=all')
      // Trailing slash, and spaces as %20 (not +).
      expect(request.url).toContain('path=%2Fmy%20dir%2Fsub%2F')
    }
    // The first item came out before any other page was requested: a folder of one page costs one request.
    expect(requestsWhenYielded[0]).toBe(1)
  })

  it('after a full first page, asks for the next pages together and yields them in order, whichever answers first', async () => {
    const total = 6 * MAX_LIST_LIMIT + 10
    let inFlight = 0
    let mostInFlight = 0
    const { client } = await perTest.setup(async (req, res) => {
      const skip = Number(new URL(req.url ?? '', 'http://x').searchParams.get('skip'))
      inFlight++
      mostInFlight = Math.max(mostInFlight, inFlight)
      // Earlier pages answer later: the second page last of its group.
      if (skip > 0) await new Promise((r) => setTimeout(r, skip === MAX_LIST_LIMIT ? 60 : 5))
      inFlight--
      const items = []
      for (let i = skip; i < Math.min(total, skip + MAX_LIST_LIMIT); i++) items.push(file(i))
      sendJson(res, 200, items)
    })
    const seen: string[] = []
    let requestsWhenSecondPageYielded = 0
    for await (const item of client.listFiles({ path: '/big' })) {
      seen.push(item.type === 'folder' ? item.folderPath : item.fileId)
      if (seen.length === MAX_LIST_LIMIT + 1) requestsWhenSecondPageYielded = perTest.server.requests.length
    }
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => `id${i}`))
    // The pages after the first were requested together, never more than PAGES_IN_FLIGHT at once.
    expect(requestsWhenSecondPageYielded).toBe(1 + PAGES_IN_FLIGHT)
    expect(mostInFlight).toBe(PAGES_IN_FLIGHT)
  })

  it('a consumer that stops early aborts the pages still being fetched', async () => {
    const held: { skip: number; closed: Promise<void> }[] = []
    const { client } = await perTest.setup(async (req, res) => {
      const skip = Number(new URL(req.url ?? '', 'http://x').searchParams.get('skip'))
      if (skip <= MAX_LIST_LIMIT) return sendJson(res, 200, Array.from({ length: MAX_LIST_LIMIT }, (_, i) => file(skip + i)))
      // Later pages never answer on their own: only the client closing the request ends them.
      held.push({ skip, closed: new Promise((resolve) => res.on('close', () => resolve())) })
    })
    let count = 0
    for await (const _ of client.listFiles({ path: '/big' })) {
      if (++count === MAX_LIST_LIMIT + 10) break // within the second page
    }
    // The other pages asked for with the second one were still out: each request was closed by the client.
    await expect.poll(() => held.length).toBe(PAGES_IN_FLIGHT - 1)
    await Promise.all(held.map((h) => h.closed))
    expect(held.map((h) => h.skip).sort((a, b) => a - b)).toEqual(Array.from({ length: PAGES_IN_FLIGHT - 1 }, (_, i) => (i + 2) * MAX_LIST_LIMIT))
  })

  it('a page that fails fails the listing, after the items before it', async () => {
    const { client } = await perTest.setup((req, res) => {
      const skip = Number(new URL(req.url ?? '', 'http://x').searchParams.get('skip'))
      if (skip === 2 * MAX_LIST_LIMIT) return sendJson(res, 404, { message: 'gone' })
      sendJson(res, 200, Array.from({ length: MAX_LIST_LIMIT }, (_, i) => file(skip + i)))
    })
    let count = 0
    const consume = async () => {
      for await (const _ of client.listFiles({ path: '/big' })) count++
    }
    await expect(consume()).rejects.toMatchObject({ status: 404 })
    expect(count).toBe(2 * MAX_LIST_LIMIT)
  })

  it('stops after a short page, keeps a caller-chosen sort, and looks past a page that is exactly full', async () => {
    const { client } = await perTest.setup((req, res) => {
      const skip = Number(new URL(req.url ?? '', 'http://x').searchParams.get('skip'))
      sendJson(res, 200, skip === 0 ? Array.from({ length: MAX_LIST_LIMIT }, (_, i) => file(i)) : [])
    })
    let count = 0
    for await (const _ of client.listFiles({ sort: 'DESC_CREATED', searchQuery: 'name = "a b"' })) count++
    expect(count).toBe(MAX_LIST_LIMIT)
    const requests = perTest.server.requests
    expect(requests.length).toBeGreaterThanOrEqual(2)
    expect(requests.length).toBeLessThanOrEqual(1 + PAGES_IN_FLIGHT)
    expect(new URL(requests[1]?.url ?? '', 'http://x').searchParams.get('skip')).toBe(String(MAX_LIST_LIMIT))
    for (const request of requests) {
      expect(request.url).toContain('sort=DESC_CREATED')
      expect(request.url).toContain('searchQuery=name%20%3D%20%22a%20b%22')
    }
  })

  it('a body that is not a list of items is IK_BAD_RESPONSE', async () => {
    const { client } = await perTest.setup((_req, res) => sendJson(res, 200, { not: 'a list' }))
    const consume = async () => {
      for await (const _ of client.listFiles({})) void _
    }
    await expect(consume()).rejects.toMatchObject({ code: 'IK_BAD_RESPONSE' })
  })
})
