import { describe, expect, it } from 'vitest'
import { builtAddon } from '../../../native/built-addon.js'
import { answerSelfRenames, requestCallers } from '../../../native/fuse2.js'

// The mount test is W9's rename onto itself (test/semantics/write.test.ts, fuse-native fallback): these check that
// the helper touches nothing it cannot recognise as fuse-native 2.2.6's state of that mount.
describe.skipIf(builtAddon('fuse2', 'ikfs_fuse2.node') === undefined)('the fuse-native helper addon', () => {
  it('leaves a session state alone that does not name the mount (another fuse-native layout), saying so', () => {
    const thread = Buffer.alloc(4096)
    expect(answerSelfRenames(thread, '/mnt/ik')).toBe("fuse-native's thread state does not name this mount (not fuse-native 2.2.6's layout)")
    expect(answerSelfRenames(Buffer.alloc(16), '/mnt/ik')).toBe("fuse-native's thread state is smaller than fuse-native 2.2.6's")
    expect(answerSelfRenames(null, '/mnt/ik')).toBe('fuse-native has no session state')
  })

  it('says when it is not built', () => {
    expect(answerSelfRenames(Buffer.alloc(4096), '/mnt/ik', '/nonexistent/ikfs_fuse2.node')).toBe('the fuse-native helper addon is not built (run: npm run build:native)')
    expect(requestCallers('/nonexistent/ikfs_fuse2.node')).toBeUndefined()
  })

  // The mount test is W2's shell whose commands exit (test/semantics/write.test.ts, fuse-native fallback).
  it('names no caller for thread locals it cannot place: too small, another op, or a request on no worker of a mount', () => {
    const requestCaller = requestCallers()!
    // fuse-native 2.2.6's fuse_thread_locals_t: self, op (flush: 6) at byte 8, ..., info at byte 48.
    const locals = Buffer.alloc(512)
    locals.writeUInt32LE(6, 8)
    locals.writeBigUInt64LE(0x7f00_0000_1000n, 48)
    expect(requestCaller(locals)).toBe(0)
    expect(requestCaller(Buffer.alloc(16))).toBe(0)
    locals.writeUInt32LE(5, 8) // getattr
    expect(requestCaller(locals)).toBe(0)
  })
})
