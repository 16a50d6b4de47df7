/**
 * Upload API checks (§4.18 `checks`, the docs' "Upload API Checks" page): an expression over the request's
 * fields (`request.*`), the file (`file.size`, `file.mime`) and its media facts (`mediaMetadata.*`), with
 * quoted field names, `AND`/`OR`/parentheses, and `HAS` for tags. A file that fails its checks is refused
 * (400) and nothing is stored; a malformed expression is a 400 with the API's own message.
 */
import { BadRequestError } from '@imagekit/nodejs'
import { describe, expect, it } from 'vitest'
import { makePng } from '../../src/emulator/seed/images.js'
import { CHECKS_FAILED_MESSAGE, CHECKS_SYNTAX_MESSAGE } from '../../src/emulator/upload-checks.js'
import { rejectionOf, uploadBytes, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

const png = makePng(40, 30)
const text = Buffer.from('plain text\n')

function upload(fileName: string, bytes: Buffer, checks: string, extra: { tags?: string[]; folder?: string } = {}) {
  return () => uploadBytes(env.ik, extra.folder ?? '/checks', fileName, bytes, { checks, ...(extra.tags ? { tags: extra.tags } : {}) })
}

async function stored(name: string): Promise<boolean> {
  return (await env.ik.assets.list({ path: '/checks', searchQuery: `name = "${name}"` })).length > 0
}

async function expectRefused(call: () => Promise<unknown>, message: string, name: string): Promise<void> {
  const e = await rejectionOf(call)
  expect(e).toBeInstanceOf(BadRequestError)
  expect((e as BadRequestError).error).toMatchObject({ message, help: expect.any(String) })
  expect(await stored(name)).toBe(false)
}

describe('upload checks', () => {
  it('stores a file that passes its checks (size with a unit, mime prefix, dimensions)', async () => {
    const r = await upload('ok.png', png, '"file.size" < "1mb" AND "file.mime" : image AND ("mediaMetadata.width" <= 1500 AND "mediaMetadata.height" <= 2000)')()
    expect(r).toMatchObject({ name: 'ok.png', width: 40, height: 30 })
  })

  it('refuses a file over the size, of another mime, or too wide, and stores nothing', async () => {
    await expectRefused(upload('big.png', png, '"file.size" < "10"'), CHECKS_FAILED_MESSAGE, 'big.png')
    await expectRefused(upload('notes.txt', text, '"file.mime" : image OR "file.mime" IN ["video/mp4"]'), CHECKS_FAILED_MESSAGE, 'notes.txt')
    await expectRefused(upload('wide.png', png, '"mediaMetadata.width" > 100'), CHECKS_FAILED_MESSAGE, 'wide.png')
  })

  it('checks request fields: folder, fileName and tags (HAS / NOT HAS)', async () => {
    await expectRefused(upload('m.txt', text, '"request.folder" NOT = "/marketing"', { folder: '/marketing' }), CHECKS_FAILED_MESSAGE, 'm.txt')
    expect((await upload('tagged.txt', text, '"request.tags" HAS "approved" AND "request.fileName" : "tag"', { tags: ['approved', 'x'] })()).name).toBe('tagged.txt')
    await expectRefused(upload('untagged.txt', text, '"request.tags" HAS "approved"', { tags: ['x'] }), CHECKS_FAILED_MESSAGE, 'untagged.txt')
    await expectRefused(upload('draft.txt', text, '"request.tags" NOT HAS "draft"', { tags: ['draft'] }), CHECKS_FAILED_MESSAGE, 'draft.txt')
  })

  it("takes single-quoted field names and values, the form every SDK's README and tests send (\"'request.folder' : '/'\")", async () => {
    expect((await upload('single.txt', text, "'request.folder' : '/checks' AND 'file.size' < '1mb'")()).name).toBe('single.txt')
    await expectRefused(upload('single-big.png', png, "'file.size' < '10'"), CHECKS_FAILED_MESSAGE, 'single-big.png')
    await expectRefused(upload('single-bad.txt', text, "'file.size' < 'unterminated"), CHECKS_SYNTAX_MESSAGE, 'single-bad.txt')
  })

  it('refuses malformed checks: an unquoted field name or size, an unknown field, a dangling operator', async () => {
    for (const checks of ['file.size < "1mb"', '"file.size" < 1mb', '"file.colour" = red', '"file.size" <']) {
      await expectRefused(upload('syntax.txt', text, checks), CHECKS_SYNTAX_MESSAGE, 'syntax.txt')
    }
  })
})
