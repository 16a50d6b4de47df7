/**
 * The upload `file` field in its three forms (§4.18: binary, base64, or an http(s) URL the server fetches),
 * through both official SDKs: @imagekit/nodejs 7 and imagekit 6 (its `uploadEndpoint` pointed at the
 * emulator). The URL source is a plain web server of the test's own, as "a publicly reachable URL" would be.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { BadRequestError } from '@imagekit/nodejs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makePng } from '../../src/emulator/seed/images.js'
import { expectUploadResponse } from './shapes.js'
import { fetchBytes, rejectionOf, withOrig, useSdkEmulator, v6For } from './sdk.js'

const env = useSdkEmulator()

const png = makePng(30, 20)
const text = Buffer.from('fetched from elsewhere\n')

/** Serves `/pic.png` and `/notes.txt`; anything else is 404. */
let origin: Server
let originUrl: string

beforeAll(async () => {
  origin = createServer((req, res) => {
    const body = req.url === '/pic.png' ? png : req.url === '/notes.txt' ? text : undefined
    if (!body) {
      res.writeHead(404).end('not here')
      return
    }
    res.writeHead(200, { 'content-type': req.url === '/pic.png' ? 'image/png' : 'text/plain', 'content-length': String(body.length) })
    res.end(body)
  })
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`
})
afterAll(async () => {
  await new Promise<void>((resolve) => origin?.close(() => resolve()))
})

describe('upload from a URL', () => {
  it('@imagekit/nodejs: stores the bytes the URL serves, probed like any upload', async () => {
    const r = await env.ik.files.upload({ file: `${originUrl}/pic.png`, fileName: 'remote.png', folder: '/sources', useUniqueFileName: false })
    expectUploadResponse(r, { name: 'remote.png', filePath: '/sources/remote.png', size: png.length, fileType: 'image', width: 30, height: 20 })
    expect((await fetchBytes(withOrig(r.url!))).bytes.equals(png)).toBe(true)
  })

  it('imagekit 6: the same, with a text file', async () => {
    const v6 = v6For(env.t)
    const r = await v6.upload({ file: `${originUrl}/notes.txt`, fileName: 'notes.txt', folder: '/sources', useUniqueFileName: false })
    expect(r).toMatchObject({ name: 'notes.txt', size: text.length, fileType: 'non-image' })
    expect((await fetchBytes(r.url)).bytes.equals(text)).toBe(true)
  })

  it('refuses a URL that does not answer 2xx (400) and stores nothing', async () => {
    const e = await rejectionOf(() => env.ik.files.upload({ file: `${originUrl}/missing.png`, fileName: 'missing.png', folder: '/sources', useUniqueFileName: false }))
    expect(e).toBeInstanceOf(BadRequestError)
    expect((e as BadRequestError).error).toMatchObject({ message: expect.stringMatching(/^Your request contains invalid file parameter\./), help: expect.any(String) })
    expect(await env.ik.assets.list({ path: '/sources', searchQuery: 'name = "missing.png"' })).toEqual([])
  })
})

describe('upload from base64', () => {
  it('takes plain base64 and a data: URI from @imagekit/nodejs', async () => {
    const plain = await env.ik.files.upload({ file: png.toString('base64'), fileName: 'b64.png', folder: '/sources', useUniqueFileName: false })
    expectUploadResponse(plain, { size: png.length, width: 30, height: 20 })
    const dataUri = await env.ik.files.upload({ file: `data:image/png;base64,${png.toString('base64')}`, fileName: 'uri.png', folder: '/sources', useUniqueFileName: false })
    expect((await fetchBytes(withOrig(dataUri.url!))).bytes.equals(png)).toBe(true)
  })
})
