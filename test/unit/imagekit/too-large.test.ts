/**
 * The Upload API's "too large" answer (too-large.ts, http.ts errorFromStatus): classified by its words in both
 * wordings the reference gives (the docs' without a figure, the live service's and the emulator's with the limit in
 * bytes) and in plausible others, with the limit read when named; other 400s of the Upload API are not it.
 */
import { describe, expect, it } from 'vitest'
import { errorFromStatus } from '../../../src/imagekit/http.js'
import { isTooLargeAnswer, uploadLimitIn } from '../../../src/imagekit/too-large.js'
import { tooLargeMessage } from '../../../src/emulator/routes/upload.js'

const DOCS = 'Your request contains invalid file parameter. The file size exceeds limits.'
const LIVE = 'Your request contains invalid file parameter. The file size exceeds 26214400 bytes limit.'

function answer(status: number, body: unknown) {
  return errorFromStatus({
    host: 'upload', method: 'POST', route: '/api/v1/files/upload', status, headers: { 'x-ik-requestid': 'req-12mb' },
    bodyText: typeof body === 'string' ? body : JSON.stringify(body), scrub: (t) => t,
  })
}

describe('the Upload API\'s answer for a file over the size limit', () => {
  it('both wordings of the reference are IK_TOO_LARGE; the live one (the emulator\'s too) names the limit, the docs\' does not', () => {
    expect(tooLargeMessage(26_214_400)).toBe(LIVE)
    expect(answer(400, { message: LIVE, help: '' })).toMatchObject({ code: 'IK_TOO_LARGE', status: 400, limitBytes: 26_214_400, retriable: false })
    const docs = answer(400, { message: DOCS, help: '' })
    expect(docs).toMatchObject({ code: 'IK_TOO_LARGE', status: 400 })
    expect(docs.limitBytes).toBeUndefined()
  })

  it.each([
    ['File size exceeds the maximum allowed size of 25 MB.', 25 * 1024 * 1024],
    ['The file size of 30,000,000 bytes exceeds the limit of 26,214,400 bytes.', 26_214_400],
    ['file too large: maximum upload size is 2 GB', 2 * 1024 ** 3],
    ['The file exceeds 104857600 bytes.', 104_857_600],
    ['Upload rejected: the file is larger than the allowed maximum of 2.5GB', Math.ceil(2.5 * 1024 ** 3)],
    ['Payload Too Large', undefined],
    ['<html><body><h1>413 Request Entity Too Large</h1></body></html>', undefined],
  ])('other wordings: %j (limit %s)', (message, limit) => {
    expect(isTooLargeAnswer(message)).toBe(true)
    expect(uploadLimitIn(message)).toBe(limit)
    expect(answer(400, { message })).toMatchObject({ code: 'IK_TOO_LARGE', limitBytes: limit })
  })

  it('a proxy\'s 413 page is IK_TOO_LARGE, without a limit', () => {
    const e = answer(413, '<html><body><h1>413 Request Entity Too Large</h1></body></html>')
    expect(e).toMatchObject({ code: 'IK_TOO_LARGE', status: 413 })
    expect(e.limitBytes).toBeUndefined()
  })

  it.each([
    'Upload Limit Exceeded.', // an account's quota, not this file's size
    'The tags parameter is too large.',
    'Your request contains invalid file parameter.',
    'Total nested assets (files, folders and file versions) are more than allowed limit of 100000 items.',
    'A file with the same name already exists at the exact location. We could not overwrite it because both overwriteFile and useUniqueFileName are set to false.',
    'A file can have at most 100 versions.',
  ])('other 400s are not: %j', (message) => {
    expect(isTooLargeAnswer(message)).toBe(false)
    expect(answer(400, { message })).toMatchObject({ code: 'IK_BAD_REQUEST' })
  })

  it('the request id and route, which the error message adds, are not read as the limit', () => {
    const e = answer(400, { message: DOCS })
    expect(e.message).toContain('req-12mb')
    expect(e.limitBytes).toBeUndefined()
  })
})
