/**
 * What `npm install -g ikfs` gets: the built code, the helper and unit files, the binding's source (built at
 * install) and never a binary built on the packing machine, which would not match the installing one.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')

describe('the npm package', () => {
  it('ships the built code, the fstab helper, the systemd units and the binding source, and no built binary or tests', async () => {
    // --ignore-scripts: no `prepare` rebuild of dist/ under the tests that run it (npm test built it first).
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, timeout: 60_000 })
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path)
    expect(files).toEqual(expect.arrayContaining([
      'bin/ikfs.js', 'dist/src/cli/main.js', 'dist/native/load.js', 'native/mount.fuse.ikfs', 'native/build-native.mjs',
      'native/fuse3/ikfs_fuse3.c', 'native/fuse3/operations.c', 'native/fuse3/forget_names.c', 'native/fuse3/binding.h',
      'native/page-cache/ikfs_page_cache.c', 'systemd/ikfs@.service', 'systemd/user/ikfs@.service', 'README.md', 'package.json',
    ]))
    expect(files.filter((f) => f.endsWith('.node') || f.startsWith('test/') || f.startsWith('src/'))).toEqual([])
  }, 90_000)
})
