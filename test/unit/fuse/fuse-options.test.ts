import { describe, expect, it } from 'vitest'
import {
  buildFuse3Args, buildFuseOptionString, FUSE3_MAX_REQUEST_BYTES, FuseOptionsError, MAX_OPTION_STRING_BYTES, sanitizeFsname,
  type FuseOptions,
} from '../../../native/fuse-options.js'

const base: FuseOptions = {
  fsname: 'ikfs:demo', subtype: 'ikfs', allowOther: false, defaultPermissions: false, autoUnmount: true,
  bigWrites: true, maxWrite: 131072, maxRead: 131072, entryTimeoutS: 1, attrTimeoutS: 1.5, negativeTimeoutS: 10,
  autoCache: false, useIno: true, readOnly: false,
}

describe('buildFuseOptionString', () => {
  it('builds the whole -o string from the allow-list, in a fixed order', () => {
    expect(buildFuseOptionString(base)).toBe(
      '-osubtype=ikfs,fsname=ikfs:demo,auto_unmount,big_writes,max_write=131072,max_read=131072,' +
        'entry_timeout=1,attr_timeout=1.5,negative_timeout=10,use_ino',
    )
  })

  it('forces default_permissions on with allow_other', () => {
    const s = buildFuseOptionString({ ...base, allowOther: true, defaultPermissions: false })
    expect(s).toContain(',allow_other,default_permissions,')
  })

  it('adds ro, nonempty and auto_cache when asked', () => {
    const s = buildFuseOptionString({ ...base, readOnly: true, nonempty: true, autoCache: true })
    expect(s.split(',')).toEqual(expect.arrayContaining(['ro', 'nonempty', 'auto_cache']))
  })

  it('asks libfuse2 for direct_io with --direct-io; libfuse3 gets it per open instead (no such option there)', () => {
    expect(buildFuseOptionString({ ...base, directIo: true }).split(',')).toContain('direct_io')
    expect(buildFuseOptionString(base)).not.toContain('direct_io')
    expect(buildFuse3Args({ ...base, maxRead: FUSE3_MAX_REQUEST_BYTES, directIo: true })[2]).not.toContain('direct_io')
  })

  it('sends uid/gid in decimal and umask in octal, including 0, only when set', () => {
    expect(buildFuseOptionString(base)).not.toMatch(/uid=|gid=|umask=/)
    const s = buildFuseOptionString({ ...base, uid: 0, gid: 0, umask: 0 })
    expect(s).toMatch(/,uid=0,gid=0,umask=0000$/)
    expect(buildFuseOptionString({ ...base, uid: 1000, gid: 100, umask: 0o022 })).toMatch(/,uid=1000,gid=100,umask=0022$/)
  })

  it('sanitises fsname so it cannot add or escape options', () => {
    expect(sanitizeFsname('a,b=c\\d e\tf')).toBe('a_b_c_d_e_f')
    expect(sanitizeFsname('')).toBe('ikfs')
    expect(buildFuseOptionString({ ...base, fsname: 'x,allow_other' })).not.toContain(',allow_other')
  })

  it.each([
    ['entryTimeoutS', -1], ['attrTimeoutS', Number.NaN], ['negativeTimeoutS', Number.POSITIVE_INFINITY],
    ['maxWrite', 262144], ['maxRead', 100], ['maxWrite', 4096.5], ['uid', -1], ['gid', 1.5], ['umask', 0o1000],
  ] as const)('rejects %s = %s', (key, value) => {
    expect(() => buildFuseOptionString({ ...base, [key]: value })).toThrow(FuseOptionsError)
  })

  it('rejects unknown keys at runtime too (and at the type level)', () => {
    const withExtra = { ...base, userId: 5 }
    // @ts-expect-error userId is not an allowed FUSE option
    expect(() => buildFuseOptionString(withExtra)).toThrow(/unknown FUSE option "userId"/)
  })

  it('refuses a string longer than libfuse keeps', () => {
    expect(() => buildFuseOptionString({ ...base, fsname: 'x'.repeat(MAX_OPTION_STRING_BYTES) })).toThrow(/1023/)
  })
})

describe('buildFuse3Args', () => {
  it('passes the same allow-listed options to libfuse3, without the libfuse2-only ones', () => {
    const args = buildFuse3Args({ ...base, maxWrite: FUSE3_MAX_REQUEST_BYTES, maxRead: FUSE3_MAX_REQUEST_BYTES, nonempty: true, autoCache: true })
    expect(args).toEqual([
      'ikfs',
      '-o',
      'subtype=ikfs,fsname=ikfs:demo,auto_unmount,max_read=1048576,entry_timeout=1,attr_timeout=1.5,negative_timeout=10,auto_cache',
    ])
  })

  it('allows 1 MiB requests but no more', () => {
    expect(() => buildFuse3Args({ ...base, maxRead: FUSE3_MAX_REQUEST_BYTES * 2 })).toThrow(FuseOptionsError)
    expect(() => buildFuseOptionString({ ...base, maxRead: FUSE3_MAX_REQUEST_BYTES })).toThrow(FuseOptionsError)
  })
})
