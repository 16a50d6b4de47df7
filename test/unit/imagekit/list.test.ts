/** GET /v1/files paging: skip/limit sent, every item yielded once in order, one page at a time. */
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_LIST_LIMIT } from '../../../src/imagekit/types.js'
import { makeClient, sendJson, startServer, type TestServer } from './helpers.js'

let server: TestServer | undefined
let closeClient: (() => Promise<void>) | undefined
afterEach(async () => {
  await closeClient?.()
  closeClient = undefined
  await server?.close()
})

const TOTAL = 2500
const file = (i: number) => ({
  type: 'file', fileId: `id${i}`, name: `f${String(i).padStart(5, '0')}.jpg`, filePath: `/dir/f${i}.jpg`, size: i, url: 'u',
  isPrivateFile: false,
})

describe('listFiles', () => {
  it('pages over 2,500 items with limit=1000 and skip += page length, yielding each page as it arrives', async () => {
    server = await startServer((req, res) => {
      const query = new URL(req.url ?? '', 'http://x').searchParams
      const skip = Number(query.get('skip'))
      const limit = Number(query.get('limit'))
      const items = []
      for (let i = skip; i < Math.min(TOTAL, skip + limit); i++) items.push(file(i))
      sendJson(res, 200, items)
    })
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    const seen: string[] = []
    const requestsWhenYielded: number[] = []
    for await (const item of made.client.listFiles({ path: '/my dir/sub', type: 'all' })) {
      seen.push(item.type === 'folder' ? item.folderPath : item.fileId)
      requestsWhenYielded.push(server.requests.length)
    }
    expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => `id${i}`))
    expect(server.requests.map((r) => new URL(r.url, 'http://x').searchParams.get('skip'))).toEqual(['0', '1000', '2000'])
    for (const request of server.requests) {
      expect(request.url).toContain(`limit=${MAX_LIST_LIMIT}`)
      expect(request.url).toContain('sort=ASC_NAME')
      expect(request.url).toContain('type=all')
      // Trailing slash, and spaces as %20 (not +).
      expect(request.url).toContain('path=%2Fmy%20dir%2Fsub%2F')
    }
    // The first item came out before the second page was requested: one page at a time.
    expect(requestsWhenYielded[0]).toBe(1)
    expect(requestsWhenYielded[1000]).toBe(2)
  })

  it('stops after a short page, keeps a caller-chosen sort, and fetches one more page when a page is exactly full', async () => {
    server = await startServer((req, res) => {
      const skip = Number(new URL(req.url ?? '', 'http://x').searchParams.get('skip'))
      sendJson(res, 200, skip === 0 ? Array.from({ length: MAX_LIST_LIMIT }, (_, i) => file(i)) : [])
    })
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    let count = 0
    for await (const _ of made.client.listFiles({ sort: 'DESC_CREATED', searchQuery: 'name = "a b"' })) count++
    expect(count).toBe(MAX_LIST_LIMIT)
    expect(server.requests).toHaveLength(2)
    expect(server.requests[0]?.url).toContain('sort=DESC_CREATED')
    expect(server.requests[0]?.url).toContain('searchQuery=name%20%3D%20%22a%20b%22')
  })

  it('a body that is not a list of items is IK_BAD_RESPONSE', async () => {
    server = await startServer((_req, res) => sendJson(res, 200, { not: 'a list' }))
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    const consume = async () => {
      for await (const _ of made.client.listFiles({})) void _
    }
    await expect(consume()).rejects.toMatchObject({ code: 'IK_BAD_RESPONSE' })
  })
})
