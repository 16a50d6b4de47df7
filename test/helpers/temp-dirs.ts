/**
 * Temp dirs that go away by themselves: tempDir() made during a test file is removed once the file is done
 * (after its own afterAll hooks, which stop its mounts and emulators), also when a test failed before its
 * own clean-up line. A dir with something still mounted under it is unmounted first, and kept if that fails:
 * a recursive delete through a live mount would delete the library's files.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { readMountInfo } from '../../src/fuse/mountinfo.js'
import { forceUnmount } from './mount.js'

const made: string[] = []

// Registered when the first test file module imports this one: runs after that file's own afterAll hooks.
afterAll(async () => {
  for (const dir of made.splice(0).reverse()) await removeTempDir(dir)
}, 60_000)

/** A fresh folder `<tmpdir>/<prefix>XXXXXX`, removed after the test file. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

/** Removes `dir` unless something stays mounted under it (after a forced unmount). */
export async function removeTempDir(dir: string): Promise<void> {
  const under = async (): Promise<string[]> =>
    (await readMountInfo()).map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(`${dir}/`))
  for (const mountpoint of await under()) await forceUnmount(mountpoint)
  const still = await under()
  if (still.length > 0) {
    console.error(`[temp dirs] kept ${dir}: still mounted under it: ${still.join(', ')}`)
    return
  }
  await rm(dir, { recursive: true, force: true })
}
