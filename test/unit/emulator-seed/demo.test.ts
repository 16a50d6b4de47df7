import { ImageKit } from '@imagekit/nodejs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_EMPTY_FOLDER, DEMO_FILES, seedDemoLibrary } from '../../../src/emulator/seed/demo.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import type { TestEmulator } from '../../helpers/emulator.js'

/** The brief's budget for the whole demo library. */
const MAX_SEED_BYTES = 2 * 1024 * 1024

describe('demo library contents', () => {
  it('stays under 2 MB with several image formats, a private file and a second version', () => {
    const total = DEMO_FILES.reduce((sum, f) => sum + f.bytes().length, 0)
    expect(total).toBeLessThan(MAX_SEED_BYTES)
    const extensions = new Set(DEMO_FILES.map((f) => f.fileName.split('.').pop()))
    for (const ext of ['jpg', 'png', 'gif', 'bmp', 'svg', 'txt', 'json', 'md']) expect(extensions).toContain(ext)
    expect(DEMO_FILES.filter((f) => f.isPrivateFile)).toHaveLength(1)
    const paths = DEMO_FILES.map((f) => `${f.folder}/${f.fileName}`)
    expect(paths.length - new Set(paths).size).toBe(1)
  })
})

describe('seedDemoLibrary against the emulator', () => {
  let t: TestEmulator
  let ik: ImageKit

  beforeAll(async () => {
    t = await startTestEmulator()
    ik = new ImageKit({ privateKey: t.privateKey, baseURL: t.emu.url, maxRetries: 0 })
    await seedDemoLibrary({ baseUrl: t.emu.url, privateKey: t.privateKey })
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('uploads every file to its folder with its tags and custom metadata (of fields it defines first)', async () => {
    const summer = await ik.assets.list({ path: '/photos/2024/summer', sort: 'ASC_NAME' })
    expect(summer.map((f) => f.name)).toEqual(['beach-sunset.jpg', 'gradient.png'])
    expect(summer[0]).toMatchObject({
      fileType: 'image', width: 320, height: 240, tags: ['summer', 'beach'], customCoordinates: '40,30,120,90', customMetadata: { photographer: 'ikfs demo', rating: 4 },
    })
    expect((await ik.customMetadataFields.list()).map((f) => f.name)).toEqual(['photographer', 'rating'])
    expect(summer[1]).toMatchObject({ width: 640, height: 480 })
    const icons = await ik.assets.list({ path: '/icons', sort: 'ASC_NAME' })
    expect(icons.map((f) => f.name)).toEqual(['dot.png', 'logo.svg', 'tile.bmp'])
    const roots = await ik.assets.list({ path: '/', type: 'folder', sort: 'ASC_NAME' })
    expect(roots.map((f) => f.name)).toEqual(['archive', 'docs', 'icons', 'photos'])
  })

  it('serves the uploaded bytes unchanged', async () => {
    const gif = DEMO_FILES.find((f) => f.fileName === 'stripes.gif')!
    const res = await fetch(`${t.urlEndpoint}/photos/stripes.gif?tr=orig-true`)
    expect(res.status).toBe(200)
    expect(Buffer.from(await res.arrayBuffer()).equals(gif.bytes())).toBe(true)
  })

  it('gives notes.txt two versions, the second current', async () => {
    const [notes] = await ik.assets.list({ path: '/docs', searchQuery: 'name = "notes.txt"' })
    const versions = await ik.files.versions.list((notes as ImageKit.File).fileId!)
    expect(versions.map((v) => v.versionInfo?.name).sort()).toEqual(['Version 1', 'Version 2'])
    expect(notes).toMatchObject({ versionInfo: { name: 'Version 2' }, tags: ['docs', 'edited'] })
  })

  it('marks exactly one file private and keeps the empty folder', async () => {
    const privateFiles = await ik.assets.list({ searchQuery: 'private = true' })
    expect(privateFiles.map((f) => (f as ImageKit.File).filePath)).toEqual(['/docs/private-plan.md'])
    expect(await ik.assets.list({ path: `/${DEMO_EMPTY_FOLDER.folderName}`, type: 'all' })).toEqual([])
  })
})

describe('the emulator seed option', () => {
  it("seed: 'demo' fills an empty library at start", async () => {
    const t = await startTestEmulator({ seed: 'demo' })
    try {
      const ik = new ImageKit({ privateKey: t.privateKey, baseURL: t.emu.url, maxRetries: 0 })
      const docs = await ik.assets.list({ path: '/docs' })
      expect(docs.map((f) => f.name).sort()).toEqual(['README.md', 'catalog.json', 'notes.txt', 'private-plan.md'])
    } finally {
      await t.stop()
    }
  })
})
