import { describe, expect, it } from 'vitest'
import { freeName } from '../../../src/vfs/cross-folder-rename.js'

describe('the temporary name of a rename through a free name', () => {
  it('uses only characters every ImageKit name keeps as they are, and a plain file extension', () => {
    expect(freeName('')).toMatch(/^ikfs-move-[0-9a-f]{12}$/) // folders: letters, digits and - only
    expect(freeName('photo.JPG')).toMatch(/^ikfs-move-[0-9a-f]{12}\.JPG$/)
    expect(freeName('archive.tar.gz')).toMatch(/^ikfs-move-[0-9a-f]{12}\.gz$/)
    for (const odd of ['notes.my ext', 'x.ünï', 'a.#1', 'b.', 'c.verylongextension123']) expect(freeName(odd)).toMatch(/^ikfs-move-[0-9a-f]{12}$/)
    expect(freeName('a.jpg')).not.toBe(freeName('a.jpg'))
  })
})
