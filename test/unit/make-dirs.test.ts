import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { folderProblem, makeDirs } from '../../src/make-dirs.js'

describe('makeDirs', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ikfs-make-dirs-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('makes every missing level with the mode asked for, and accepts folders that exist', async () => {
    const deep = join(dir, 'a', 'b', 'c')
    makeDirs(deep, 0o700)
    for (const path of [join(dir, 'a'), join(dir, 'a', 'b'), deep]) expect((await stat(path)).mode & 0o777).toBe(0o700)
    expect(() => makeDirs(deep, 0o700)).not.toThrow()
  })

  it('refuses a path whose level is a file', async () => {
    await writeFile(join(dir, 'file'), '')
    expect(() => makeDirs(join(dir, 'file'))).toThrow(/EEXIST/)
    expect(() => makeDirs(join(dir, 'file', 'below'))).toThrow(/ENOTDIR/)
  })

  it('fails where mkdir answers ENOENT under an existing folder, which Node\'s recursive mkdir retries forever', () => {
    expect(() => makeDirs('/proc/ikfs-no-such-folder/below')).toThrow(/ENOENT/)
  })

  it('folderProblem names the file in the way, or the path refused, without the error code', async () => {
    await writeFile(join(dir, 'file'), '')
    const caught = (f: () => void): unknown => {
      try {
        f()
      } catch (e) {
        return e
      }
      throw new Error('did not throw')
    }
    expect(folderProblem(caught(() => makeDirs(join(dir, 'file', 'a', 'b'))))).toBe(`${JSON.stringify(join(dir, 'file'))} is a file, not a folder`)
    expect(folderProblem(caught(() => makeDirs(join(dir, 'file'))))).toBe(`${JSON.stringify(join(dir, 'file'))} is a file, not a folder`)
    const eacces = Object.assign(new Error('EACCES'), { code: 'EACCES', path: '/srv/x' })
    expect(folderProblem(eacces, () => 'P')).toBe('no permission to write P')
    expect(folderProblem(new Error('plain'))).toBeUndefined()
  })
})
