#!/usr/bin/env node
// Builds ikfs's Node-API addons with the system C compiler:
//   native/fuse3/build/ikfs_fuse3.node            the libfuse3 binding (needs libfuse3's headers)
//   native/fuse2/build/ikfs_fuse2.node            what the fuse-native fallback answers itself (Node's headers)
//   native/page-cache/build/ikfs_page_cache.node  posix_fadvise for the spool (needs only Node's headers)
// Runs at `npm install`; a machine without a compiler or libfuse3's headers keeps working without them
// (fuse-native for FUSE, the spool without page-cache advice), so by default a failed build is a warning,
// not an install failure. `--required` (npm run build:native) fails.
//
// Not node-gyp: the addons use only Node-API (node_api.h), so one cc call each does it, and node-gyp would
// try to download Node's headers on machines without network.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const required = process.argv.includes('--required')

const ADDONS = [
  {
    what: 'the page-cache addon',
    sources: [join(here, 'page-cache', 'ikfs_page_cache.c')],
    output: join(here, 'page-cache', 'build', 'ikfs_page_cache.node'),
    libraries: () => ({ cflags: [], libs: [] }),
    without: 'large writes keep their spool copies in the page cache',
  },
  {
    what: 'the fuse-native helper',
    sources: [join(here, 'fuse2', 'ikfs_fuse2.c')],
    output: join(here, 'fuse2', 'build', 'ikfs_fuse2.node'),
    libraries: () => ({ cflags: [], libs: [] }),
    without: 'with the fuse-native fallback, a rename of a file onto itself that another machine deleted hangs its folder, and a file open for writing is stored anew at each exit of a process that inherited its descriptor',
  },
  {
    what: 'the libfuse3 binding',
    sources: ['ikfs_fuse3.c', 'operations.c', 'forget_names.c', 'open_files.c'].map((file) => join(here, 'fuse3', file)),
    output: join(here, 'fuse3', 'build', 'ikfs_fuse3.node'),
    libraries: () => {
      try {
        return {
          cflags: run('pkg-config', ['--cflags', 'fuse3']).split(/\s+/).filter(Boolean),
          libs: run('pkg-config', ['--libs', 'fuse3']).split(/\s+/).filter(Boolean),
        }
      } catch {
        throw new Error('libfuse3 development files not found (apt install libfuse3-dev pkg-config gcc)')
      }
    },
    without: 'mounts use the slower fuse-native (libfuse2) fallback instead',
  },
]

function nodeIncludeDir() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean)
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h')))
}

function run(command, args) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

function build(addon) {
  const include = nodeIncludeDir()
  if (!include) throw new Error("Node's headers (node_api.h) were not found")
  const { cflags, libs } = addon.libraries()
  const cc = process.env.CC || 'cc'
  mkdirSync(dirname(addon.output), { recursive: true })
  try {
    run(cc, ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', `-I${include}`, ...cflags,
      ...addon.sources, '-o', addon.output, ...libs])
  } catch (e) {
    if (e.code === 'ENOENT') throw new Error(`no C compiler (${cc}) found (apt install gcc)`)
    throw new Error(`${cc} failed: ${(e.stderr || e.message).trim().split('\n').slice(0, 5).join(' | ')}`)
  }
}

let failed = false
for (const addon of ADDONS) {
  try {
    build(addon)
    console.log(`ikfs: built ${addon.what} (${addon.output})`)
  } catch (e) {
    failed = true
    // One line, ending in the command that builds it later, from any folder (a global install's is not the user's).
    const message = `ikfs: ${addon.what} not built: ${e.message}; ${addon.without} (to build it later: ` +
      `npm run build:native --prefix ${dirname(here)})`
    if (required) console.error(message)
    else console.warn(message)
  }
}
if (failed && required) process.exit(1)
