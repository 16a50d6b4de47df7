// The quoting of every searchQuery the project builds, read back by the emulator's parser (Go-style escapes,
// as the real API and rclone's strconv.Quote): the name matched is the name quoted, whatever it holds.
import { describe, expect, it } from 'vitest'
import { compileSearchQuery, type SearchItem } from '../../../src/emulator/search-query.js'
import { nameIs } from '../../../src/imagekit/search-query.js'

const item = (name: string): SearchItem => ({ type: 'file', name, createdAt: 0, updatedAt: 0, tags: [], aiTags: [] })

describe('nameIs', () => {
  it.each(['plain.txt', 'a "q" b.txt', 'c \\ d.txt', "it's.txt", 'tab\there', 'café ☕.txt', '\\"'])('matches exactly %j', (name) => {
    const query = compileSearchQuery(nameIs(name), 0)
    expect(query.matches(item(name))).toBe(true)
    expect(query.matches(item(`${name}x`))).toBe(false)
  })
})
