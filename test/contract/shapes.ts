/**
 * Shape checks for what the emulator answers, field by field: the names and JS types the official SDK's
 * types declare (@imagekit/nodejs 7.11.0), narrowed by what shared/imagekit-api.md §2 says is always present.
 */
import { expect } from 'vitest'
import type { ImageKit } from '@imagekit/nodejs'

type File = ImageKit.File
type Folder = ImageKit.Folder
type Metadata = ImageKit.Metadata
type FileUploadResponse = ImageKit.FileUploadResponse

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

function expectNullableStringArray(value: unknown, field: string): void {
  if (value === null) return
  expect(Array.isArray(value), `${field} is an array or null`).toBe(true)
  for (const item of value as unknown[]) expect(typeof item, `${field}[] item`).toBe('string')
}

function expectAiTags(value: unknown): void {
  if (value === null) return
  expect(Array.isArray(value), 'AITags is an array or null').toBe(true)
  for (const tag of value as Record<string, unknown>[]) {
    expect(typeof tag.name).toBe('string')
    expect(typeof tag.confidence).toBe('number')
    expect(typeof tag.source).toBe('string')
  }
}

function expectVersionInfo(value: unknown): void {
  expect(value).toEqual({ id: expect.any(String), name: expect.stringMatching(/^Version \d+$/) })
}

/** §2.1 file / file-version object, as in list, details, versions, update and restore answers. */
export function expectFileObject(f: File, expected: Partial<File> = {}): void {
  expect(f.type === 'file' || f.type === 'file-version', `type is file|file-version, got ${String(f.type)}`).toBe(true)
  expect(typeof f.fileId).toBe('string')
  expect(typeof f.name).toBe('string')
  expect(typeof f.filePath).toBe('string')
  expect(f.filePath?.startsWith('/')).toBe(true)
  expect(f.filePath?.endsWith(`/${f.name}`)).toBe(true)
  expectNullableStringArray(f.tags, 'tags')
  expectAiTags(f.AITags)
  expectVersionInfo(f.versionInfo)
  expect(typeof f.isPrivateFile).toBe('boolean')
  expect(typeof f.isPublished).toBe('boolean')
  expect(f.customCoordinates === null || typeof f.customCoordinates === 'string').toBe(true)
  expect(typeof f.url).toBe('string')
  expect(typeof f.thumbnail).toBe('string')
  expect(['image', 'non-image']).toContain(f.fileType)
  expect(typeof f.mime).toBe('string')
  expect(typeof f.size).toBe('number')
  expect(typeof f.hasAlpha).toBe('boolean')
  expect(f.customMetadata).toBeTypeOf('object')
  expect(f.customMetadata).not.toBeNull()
  expect(f.createdAt).toMatch(ISO_MS)
  expect(f.updatedAt).toMatch(ISO_MS)
  if (f.fileType === 'image') {
    expect(typeof f.width).toBe('number')
    expect(typeof f.height).toBe('number')
  }
  if (f.embeddedMetadata !== undefined && f.embeddedMetadata !== null) expect(f.embeddedMetadata).toBeTypeOf('object')
  if (f.description !== undefined) expect(typeof f.description).toBe('string')
  expect(f).toMatchObject(expected)
}

/** §2.2 folder object (list results only). */
export function expectFolderObject(f: Folder, expected: Partial<Folder> = {}): void {
  expect(f.type).toBe('folder')
  expect(typeof f.folderId).toBe('string')
  expect(typeof f.name).toBe('string')
  expect(typeof f.folderPath).toBe('string')
  expect(f.folderPath?.startsWith('/')).toBe(true)
  expect(f.folderPath?.endsWith(`/${f.name}`)).toBe(true)
  expect(f.createdAt).toMatch(ISO_MS)
  expect(f.updatedAt).toMatch(ISO_MS)
  if (f.customMetadata !== undefined) expect(f.customMetadata).toBeTypeOf('object')
  expect(f).toMatchObject(expected)
}

/** §2.3 upload answer: the always-present fields (note `thumbnailUrl`, not `thumbnail`). */
export function expectUploadResponse(r: FileUploadResponse, expected: Partial<FileUploadResponse> = {}): void {
  expect(typeof r.fileId).toBe('string')
  expect(typeof r.name).toBe('string')
  expect(typeof r.size).toBe('number')
  expectVersionInfo(r.versionInfo)
  expect(typeof r.filePath).toBe('string')
  expect(r.filePath?.endsWith(`/${r.name}`)).toBe(true)
  expect(typeof r.url).toBe('string')
  expect(['image', 'non-image']).toContain(r.fileType)
  expect(typeof r.thumbnailUrl).toBe('string')
  expectAiTags(r.AITags)
  expect(r).not.toHaveProperty('thumbnail')
  if (r.fileType === 'image') {
    expect(typeof r.width).toBe('number')
    expect(typeof r.height).toBe('number')
  }
  expect(r).toMatchObject(expected)
}

/** §2.4 metadata object. */
export function expectMetadata(m: Metadata, expected: Partial<Metadata> = {}): void {
  for (const field of ['height', 'width', 'size', 'quality', 'density'] as const) expect(typeof m[field], field).toBe('number')
  expect(typeof m.format).toBe('string')
  expect(typeof m.hasColorProfile).toBe('boolean')
  expect(typeof m.hasTransparency).toBe('boolean')
  expect(m.pHash).toMatch(/^[0-9a-f]{16}$/)
  expect(m.exif).toBeTypeOf('object')
  expect(m).toMatchObject(expected)
}
