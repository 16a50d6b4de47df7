/** searchQuery (§4.1): the parser and evaluator, then through GET /v1/files, plus paging over 2,500 files. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { compileSearchQuery, SearchQueryError, type SearchItem } from '../../../src/emulator/search-query.js'
import { cameraExif, jpegWith } from './exif-fixtures.js'
import { makePng, startTestEmulator, type TestEmulator } from './helpers.js'

const NOW = Date.parse('2026-06-15T12:00:00.000Z')
const item = (over: Partial<SearchItem>): SearchItem => ({
  type: 'file', name: 'a.jpg', createdAt: NOW - 3_600_000 * 5, updatedAt: NOW - 60_000, tags: [], aiTags: [], size: 2048,
  width: 100, height: 50, format: 'jpg', isPrivateFile: false, isPublished: true, customMetadata: {}, ...over,
})
const matches = (q: string, i: SearchItem) => compileSearchQuery(q, NOW).matches(i)

describe('searchQuery language', () => {
  it.each([
    ['name = "a.jpg"', true],
    ['name = "b.jpg"', false],
    ['name: "a."', true],
    ['name IN ["x", "a.jpg"]', true],
    ['name NOT IN ["x", "a.jpg"]', false],
    ['name NOT = "x"', true],
    ['type = "file"', true],
    ['type IN ["file", "file-version"]', true],
    ['tags IN ["red"]', true],
    ['tags IN ["robot"]', true],
    ['tags NOT IN ["red"]', false],
    ['size > "1kb"', true],
    ['size >= 2048 AND size <= 2048', true],
    ['size IN [1024, 2048]', true],
    ['size < 1kb', false],
    ['width > 99 AND height < 51', true],
    ['format = "jpg"', true],
    ['private = false', true],
    ['createdAt > "1d"', true],
    ['createdAt > "2h"', false],
    ['updatedAt >= "2026-06-15"', true],
    ['updatedAt > "2026-06-15"', true], // a bare date is that day at 00:00:00 UTC, not the whole day
    ['updatedAt = "2026-06-15"', false],
    ['updatedAt <= "2026-06-15"', false],
    ['updatedAt < "2026-06-15T00:00:00Z"', false],
    ['(name = "x" OR name = "a.jpg") AND type = "file"', true],
    ['name = "x" OR name = "y" AND type = "file"', false],
    ['customMetadata.brand = "acme"', true],
    ['customMetadata.price > 10', true],
    ['"customMetadata.brand" EXISTS AND "customMetadata.colour" NOT EXISTS', true],
    ['path = "/shots/2024/"', true],
    ['path = "/shots"', false],
    ['path : "/shots"', true],
    ['path : "/sho"', false], // whole folder names, not a string prefix
    ['path : "/"', true],
    ['path NOT IN ["/shots/2024"]', false],
    ['id = "f1"', true],
    ['tags EXISTS', true],
    ['tags NOT EXISTS', false],
    ['tags HAS "ROB"', true],
    ['name HAS "a JP"', true],
    ['name HAS "jp a"', false], // only the last word may be the start of one
    ['transparency = true', false],
    ['createdAt > "1y"', true],
    ['videoDuration > "1.5min" OR videoDuration < 30', false],
    ['createdBy NOT = "someone@example.com"', true],
  ])('%s → %s', (q, expected) => {
    expect(matches(q, item({ id: 'f1', folder: '/shots/2024', tags: ['red'], aiTags: ['robot'], customMetadata: { brand: 'acme', price: 12 } }))).toBe(expected)
  })

  describe('dates are UTC, whatever the host zone', () => {
    const hostZone = process.env.TZ
    beforeAll(() => { process.env.TZ = 'America/New_York' })
    afterAll(() => {
      if (hostZone === undefined) delete process.env.TZ
      else process.env.TZ = hostZone
    })

    it('a date without a time is that day at 00:00:00 UTC', () => {
      expect(matches('createdAt = "2026-06-15"', item({ createdAt: Date.parse('2026-06-15T00:00:00Z') }))).toBe(true)
      expect(matches('createdAt = "2026-06-15"', item({ createdAt: Date.parse('2026-06-15T07:00:00Z') }))).toBe(false)
      expect(matches('createdAt < "2026-06-15"', item({ createdAt: Date.parse('2026-06-14T23:00:00Z') }))).toBe(true)
    })

    it('a date-time without a zone is UTC', () => {
      expect(new Date(2026, 5, 15, 11, 59).getTime()).not.toBe(NOW - 60_000) // the host zone really is not UTC here
      expect(matches('updatedAt = "2026-06-15T11:59:00"', item({}))).toBe(true)
      expect(matches('updatedAt > "2026-06-15T11:58:59"', item({}))).toBe(true)
      expect(matches('updatedAt < "2026-06-15T12:00:00"', item({}))).toBe(true)
      expect(matches('updatedAt = "2026-06-15T07:59:00-04:00"', item({}))).toBe(true)
    })

    it('takes the three date forms of the list-and-search docs, quoted or bare: a date, a date-time with T, with a space', () => {
      for (const q of [
        'updatedAt = "2026-06-15 11:59:00"', 'updatedAt = 2026-06-15 11:59:00', 'updatedAt = 2026-06-15T11:59:00',
        'updatedAt > 2026-06-15 11:58:59 AND updatedAt < 2026-06-15T12:00:00', 'createdAt < 2026-06-16 AND updatedAt > 2026-06-15',
      ]) expect(matches(q, item({})), q).toBe(true)
      expect(matches('updatedAt > 2026-06-15 12:00:00', item({}))).toBe(false)
    })
  })

  it('reads Go-quoted strings (rclone quotes names with strconv.Quote)', () => {
    expect(matches('name = "say \\"hi\\"\\t\\\\ \\u00e9\\x41\\U0001F600"', item({ name: 'say "hi"\t\\ éA😀' }))).toBe(true)
    expect(matches('name = "caf\\xc3\\xa9"', item({ name: 'café' }))).toBe(true)
  })

  it.each(['', 'name', 'name = ', 'name ~ "x"', 'bogus = 1', 'name = "open', 'type = "other"', '(name = "x"', 'name IN "x"', 'size > "huge"', 'createdAt > "yesterday"', 'name = "\\q"', 'name EXISTS', 'name NOT HAS "b"', 'size HAS "1"', 'path > "/a"', 'tags NOT', 'videoDuration > "long"', "tags IN ['small', 'inventory']", 'tags IN [small]', 'name IN ["a.jpg", b.jpg]'])(
    'refuses %j', (q) => {
      expect(() => compileSearchQuery(q, NOW)).toThrow(SearchQueryError)
    },
  )

  it('remembers whether a type clause appears', () => {
    expect(compileSearchQuery('name = "x"', NOW).mentionsType).toBe(false)
    expect(compileSearchQuery('name = "x" AND type = "folder"', NOW).mentionsType).toBe(true)
  })
})

describe('searchQuery and paging through GET /v1/files', () => {
  let t: TestEmulator
  const FILES = 2_500
  beforeAll(async () => {
    const dir = await import('node:fs/promises').then((fs) => fs.mkdtemp(join((process.env.TMPDIR ?? '/tmp'), 'ikemu-page-')))
    await mkdir(join(dir, 'files/many'), { recursive: true })
    for (let i = 0; i < FILES; i += 250) {
      await Promise.all(Array.from({ length: 250 }, (_, k) => writeFile(join(dir, 'files/many', `f${String(i + k).padStart(5, '0')}.txt`), `#${i + k}`)))
    }
    t = await startTestEmulator({}, dir)
    await t.put('/s/photo.png', makePng(10, 10), { tags: 'red,blue' })
    await t.put('/s/doc.txt', 'hello', { isPrivateFile: 'true' })
    await t.put('/s/doc.txt', 'hello again')
    await t.put('/s/sub/x.txt', 'x')
  })
  afterAll(async () => { await t.stop() })

  const search = async (q: string, extra = '') => {
    const res = await t.api('GET', `/v1/files?searchQuery=${encodeURIComponent(q)}${extra}`)
    return { status: res.status, body: (await res.json()) as any }
  }

  it('filters by the queries rclone sends', async () => {
    expect((await search('type = "file" AND name = "doc.txt"')).body.map((f: any) => f.filePath)).toEqual(['/s/doc.txt'])
    expect((await search('type = "folder" AND name = "sub"')).body.map((f: any) => f.folderPath)).toEqual(['/s/sub'])
    expect((await search('type IN ["file", "file-version"]', '&path=/s')).body.map((f: any) => f.type).sort()).toEqual(['file', 'file', 'file-version'])
    expect((await search('tags IN ["blue"]')).body.map((f: any) => f.name)).toEqual(['photo.png'])
    expect((await search('format = "png" AND width = 10')).body).toHaveLength(1)
    expect((await search('name = "doc.txt"')).body.map((f: any) => f.type)).toEqual(['file'])
    const bad = await search('name === "x"')
    expect(bad.status).toBe(400)
    expect(bad.body.message).toMatch(/searchQuery/)
  })

  it('pages 2,500 adopted files with skip/limit, in a stable order with no repeats', async () => {
    const seen: string[] = []
    for (let skip = 0; ; skip += 1000) {
      const page = (await (await t.api('GET', `/v1/files?path=/many&limit=1000&skip=${skip}`)).json()) as { filePath: string }[]
      seen.push(...page.map((f) => f.filePath))
      if (page.length < 1000) break
    }
    expect(seen).toHaveLength(FILES)
    expect(new Set(seen).size).toBe(FILES)
    const byName = (await (await t.api('GET', '/v1/files?path=/many&sort=DESC_NAME&limit=3')).json()) as { name: string }[]
    expect(byName.map((f) => f.name)).toEqual(['f02499.txt', 'f02498.txt', 'f02497.txt'])
    const bySize = (await (await t.api('GET', '/v1/files?path=/many&sort=ASC_SIZE&limit=2')).json()) as { size: number }[]
    expect(bySize.map((f) => f.size)).toEqual([2, 2])
    const total = (await (await t.api('GET', '/v1/files?limit=1000&skip=2000')).json()) as unknown[]
    expect(total.length).toBe(FILES + 3 - 2000)
  })

  it('searches "embeddedMetadata.X" in what the file\'s EXIF holds (it matched nothing); a new version without EXIF drops it', async () => {
    await t.put('/exif/camera.jpg', jpegWith({ exif: cameraExif() }, 8, 6))
    await t.put('/exif/plain.png', makePng(4, 4))
    await t.put('/exif/was-camera.jpg', jpegWith({ exif: cameraExif() }, 8, 6))
    await t.put('/exif/was-camera.jpg', makePng(4, 4))
    const names = async (q: string) => (await search(q, '&path=/exif')).body.map((f: any) => f.name).sort()
    expect(await names('"embeddedMetadata.Make" = "Canon"')).toEqual(['camera.jpg'])
    expect(await names('"embeddedMetadata.ISO" >= 100')).toEqual(['camera.jpg'])
    expect(await names('"embeddedMetadata.Model" EXISTS')).toEqual(['camera.jpg'])
    expect(await names('"embeddedMetadata.Make" NOT EXISTS')).toEqual(['plain.png', 'was-camera.jpg'])
  })
})
