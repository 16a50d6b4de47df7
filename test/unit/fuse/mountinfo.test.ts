import { describe, expect, it } from 'vitest'
import { connectionId, isFuseType, parseMountInfo } from '../../../src/fuse/mountinfo.js'

const SAMPLE = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '42 22 0:39 / /tmp/my\\040mount rw,nosuid,nodev,relatime shared:7 - fuse.ikfs ikfs:demo rw,user_id=0,group_id=0',
  '43 22 0:40 / /mnt/plain rw,relatime - fuse /dev/fuse rw,user_id=0',
  '44 22 259:3 / /mnt/blk rw - fuseblk /dev/sdb1 rw',
  'garbage line',
  '',
].join('\n')

describe('parseMountInfo', () => {
  it('reads mount point (unescaped), type, source and device, skipping optional fields', () => {
    const entries = parseMountInfo(SAMPLE)
    expect(entries).toHaveLength(4)
    expect(entries[1]).toEqual({ mountId: 42, major: 0, minor: 39, mountPoint: '/tmp/my mount', fsType: 'fuse.ikfs', source: 'ikfs:demo' })
    expect(entries[2]?.fsType).toBe('fuse')
  })

  it('knows FUSE types', () => {
    expect(['fuse', 'fuse.ikfs', 'fuseblk', 'fuse.sshfs'].every(isFuseType)).toBe(true)
    expect(['ext4', 'fusectl', 'tmpfs'].some(isFuseType)).toBe(false)
  })

  it('computes the fusectl connection id as the kernel’s dev_t', () => {
    expect(connectionId({ major: 0, minor: 39 })).toBe(39)
    expect(connectionId({ major: 259, minor: 3 })).toBe(259 * 2 ** 20 + 3)
  })
})
