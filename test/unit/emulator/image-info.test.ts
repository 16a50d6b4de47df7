/** Image dimensions from a file's first bytes (the upload answer's width, height, hasAlpha). */
import { describe, expect, it } from 'vitest'
import { readImageInfo } from '../../../src/emulator/image-info.js'

const text = (s: string) => Buffer.from(s, 'utf8')

describe('readImageInfo: SVG', () => {
  it('reads width and height from the svg element', () => {
    expect(readImageInfo(text('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"></svg>')))
      .toEqual({ format: 'svg', width: 120, height: 80, hasAlpha: true })
  })

  it('finds the svg element after a BOM, whitespace, an XML declaration and a comment', () => {
    const head = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text('\n  <?xml version="1.0"?>\n<!-- made by hand -->\n<svg viewBox="0 0 30.5 20"></svg>')])
    expect(readImageInfo(head)).toEqual({ format: 'svg', width: 31, height: 20, hasAlpha: true })
  })

  it('does not take a file for SVG because an svg tag appears somewhere in its text', () => {
    expect(readImageInfo(text('notes: draw it as <svg width="10" height="10"> later'))).toBeUndefined()
  })

  it('does not take binary bytes for SVG', () => {
    const bytes = Buffer.alloc(65536, 0x5a)
    bytes.write('<svg width="5" height="5">', 100)
    expect(readImageInfo(bytes)).toBeUndefined()
    expect(readImageInfo(Buffer.alloc(0))).toBeUndefined()
  })
})
