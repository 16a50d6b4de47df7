#!/usr/bin/env node
// Builds native/fuse3/build/ikfs_fuse3.node (the libfuse3 binding) with the system C compiler.
// Runs at `npm install`; a machine without libfuse3's headers keeps working on fuse-native (libfuse2), so by
// default a failed build is a warning, not an install failure. `--required` (npm run build:native) fails.
//
// Not node-gyp: the addon uses only Node-API (node_api.h), so one cc call does it, and node-gyp would try to
// download Node's headers on machines without network.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const source = join(here, 'fuse3', 'ikfs_fuse3.c')
const output = join(here, 'fuse3', 'build', 'ikfs_fuse3.node')
const required = process.argv.includes('--required')

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

function build() {
  const include = nodeIncludeDir()
  if (!include) throw new Error("Node's headers (node_api.h) were not found")
  let cflags, libs
  try {
    cflags = run('pkg-config', ['--cflags', 'fuse3']).split(/\s+/).filter(Boolean)
    libs = run('pkg-config', ['--libs', 'fuse3']).split(/\s+/).filter(Boolean)
  } catch {
    throw new Error('libfuse3 development files not found (apt install libfuse3-dev pkg-config)')
  }
  const cc = process.env.CC || 'cc'
  mkdirSync(dirname(output), { recursive: true })
  try {
    run(cc, ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', `-I${include}`, ...cflags,
      source, '-o', output, ...libs])
  } catch (e) {
    throw new Error(`${cc} failed: ${(e.stderr || e.message).trim().split('\n').slice(0, 5).join(' | ')}`)
  }
}

try {
  build()
  console.log(`ikfs: built the libfuse3 binding (${output})`)
} catch (e) {
  const message = `ikfs: libfuse3 binding not built: ${e.message}. ikfs will use fuse-native (libfuse2) instead.`
  if (required) {
    console.error(message)
    process.exit(1)
  }
  console.warn(message)
}
