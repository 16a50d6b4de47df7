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
      'native/page-cache/ikfs_page_cache.c', 'native/fuse2/ikfs_fuse2.c', 'native/self_rename.h', 'systemd/ikfs@.service', 'systemd/user/ikfs@.service', 'README.md', 'package.json',
    ]))
    expect(files.filter((f) => f.endsWith('.node') || f.startsWith('test/') || f.startsWith('src/'))).toEqual([])
  }, 90_000)

  it('installs on a machine without a compiler or libfuse3 headers, saying in one line per addon what it lacks and the command that builds it later', async () => {
    // npm may hide this output or skip the script; `ikfs mount` says the same about the binding (src/fuse/mount.ts).
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(root, 'native', 'build-native.mjs')], {
      env: { PATH: '/nonexistent' }, timeout: 30_000,
    })
    expect(stdout).toBe('')
    const lines = stderr.trim().split('\n')
    expect(lines).toEqual([
      expect.stringMatching(/^ikfs: the page-cache addon not built: no C compiler \(cc\) found \(apt install gcc\); /),
      expect.stringMatching(/^ikfs: the fuse-native helper not built: no C compiler \(cc\) found \(apt install gcc\); with the fuse-native fallback, a rename of a file onto itself that another machine deleted hangs its folder, and a file open for writing is stored anew at each exit of a process that inherited its descriptor /),
      expect.stringMatching(/^ikfs: the libfuse3 binding not built: libfuse3 development files not found \(apt install libfuse3-dev pkg-config gcc\); mounts use the slower fuse-native \(libfuse2\) fallback/),
    ])
    for (const line of lines) expect(line).toContain(`(to build it later: npm run build:native --prefix ${root})`)
  })
})
