/** GET /v1/files paging: skip/limit sent, every item yielded once in order, one page at a time. */
import { describe, expect, it } from 'vitest'
import { MAX_LIST_LIMIT } from '../../../src/imagekit/types.js'
import { sendJson, useClientPerTest } from './helpers.js'

const perTest = useClientPerTest()

const TOTAL = 2500
const file = (i: number) => ({
  type: 'file', fileId: `id${i}`, name: `f${String(i).padStart(5, '0')}.jpg`, filePath: `/dir/f${i}.jpg`, size: i, url: 'u',
  isPrivateFile: false,
})

describe('listFiles', () => {
  it('pages over 2,500 items with limit=1000 and skip += page length, yielding each page as it arrives', async () => {
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
    expect(perTest.server.requests.map((r) => new URL(r.url, 'http://x').searchParams.get('skip'))).toEqual(['0', '1000', '2000'])
    for (const request of perTest.server.requests) {
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
    const { client } = await perTest.setup((req, res) => {
      const skip = Number(new URL(req.url ?? '', 'http://x').searchParams.get('skip'))
      sendJson(res, 200, skip === 0 ? Array.from({ length: MAX_LIST_LIMIT }, (_, i) => file(i)) : [])
    })
    let count = 0
    for await (const _ of client.listFiles({ sort: 'DESC_CREATED', searchQuery: 'name = "a b"' })) count++
    expect(count).toBe(MAX_LIST_LIMIT)
    expect(perTest.server.requests).toHaveLength(2)
    expect(perTest.server.requests[0]?.url).toContain('sort=DESC_CREATED')
    expect(perTest.server.requests[0]?.url).toContain('searchQuery=name%20%3D%20%22a%20b%22')
  })

  it('a body that is not a list of items is IK_BAD_RESPONSE', async () => {
    const { client } = await perTest.setup((_req, res) => sendJson(res, 200, { not: 'a list' }))
    const consume = async () => {
      for await (const _ of client.listFiles({})) void _
    }
    await expect(consume()).rejects.toMatchObject({ code: 'IK_BAD_RESPONSE' })
  })
})
