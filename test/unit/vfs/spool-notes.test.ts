/** readNotes (src/vfs/spool/notes.ts): the start-up read of a folder of JSON notes (deletes/, moves/). */
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readNotes } from '../../../src/vfs/spool/notes.js'
import { tempDir } from '../../helpers/temp-dirs.js'

const isNamed = (x: unknown): x is { name: string } => typeof (x as { name?: unknown } | null | undefined)?.name === 'string'

describe('readNotes', () => {
  it('returns the valid notes with their ids and unlinks a torn note, a .tmp, a note the check refuses and a non-json entry', async () => {
    const dir = await tempDir('ikfs-notes-')
    writeFileSync(join(dir, 'aa.json'), '{"v":1,"name":"a"}\n')
    writeFileSync(join(dir, 'bb.json'), '{"v":1,"name":"b"}\n')
    writeFileSync(join(dir, 'torn.json'), '{"v":1,"na')
    writeFileSync(join(dir, 'cc.json.tmp'), '{"v":1,"name":"c"}\n') // whole, but its rename never happened
    writeFileSync(join(dir, 'refused.json'), '{"v":1,"name":7}\n')
    writeFileSync(join(dir, 'null.json'), 'null\n')
    writeFileSync(join(dir, 'stray.txt'), 'not a note')
    writeFileSync(join(dir, 'json'), '{"v":1,"name":"d"}\n') // no ".json" after an id
    const notes = readNotes(dir, isNamed).sort((a, b) => a.id.localeCompare(b.id))
    expect(notes).toEqual([
      { id: 'aa', note: { v: 1, name: 'a' } },
      { id: 'bb', note: { v: 1, name: 'b' } },
    ])
    expect(readdirSync(dir).sort()).toEqual(['aa.json', 'bb.json'])
  })

  it('an empty folder has no notes', async () => {
    const dir = await tempDir('ikfs-notes-')
    expect(readNotes(dir, isNamed)).toEqual([])
    expect(readdirSync(dir)).toEqual([])
  })
})
