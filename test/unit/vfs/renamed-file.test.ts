import { describe, expect, it } from 'vitest'
import { movedUrl } from '../../../src/vfs/renamed-file.js'

describe('movedUrl: the delivery URL of a file renamed or moved by this mount', () => {
  it('keeps the URL endpoint (also a custom domain with a path), puts the new path, and drops the query', () => {
    expect(movedUrl('https://ik.imagekit.io/demo/a/b%20c.jpg?updatedAt=1700000000000', '/a/b c.jpg', '/x y/z.jpg'))
      .toBe('https://ik.imagekit.io/demo/x%20y/z.jpg')
    expect(movedUrl('https://cdn.example.com/media/lib/a.jpg?ik-obj-version=abc&updatedAt=1', '/a.jpg', '/d/é.jpg'))
      .toBe('https://cdn.example.com/media/lib/d/%C3%A9.jpg')
    // However the server encoded the old path: its segments are counted, not matched.
    expect(movedUrl('https://ik.imagekit.io/demo/a%7Cb/c%5E.jpg', '/a|b/c^.jpg', '/a|b/d.jpg'))
      .toBe('https://ik.imagekit.io/demo/a|b/d.jpg')
  })

  it('is empty when the url cannot hold the path (reads then build it on --endpoint)', () => {
    expect(movedUrl('', '/a.jpg', '/b.jpg')).toBe('')
    expect(movedUrl('https://ik.imagekit.io/a.jpg', '/x/y/a.jpg', '/b.jpg')).toBe('')
    expect(movedUrl('not a url/a.jpg', '/a.jpg', '/b.jpg')).toBe('')
  })
})
