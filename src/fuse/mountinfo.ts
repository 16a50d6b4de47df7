/**
 * Reads /proc/self/mountinfo: is a FUSE filesystem mounted at a path, and which fusectl connection is it.
 * Mount points there are the kernel's canonical paths with \ooo escapes, so callers' paths are
 * canonicalised the same way (realpath of the parent: the mountpoint itself may be a dead mount).
 */
import { readFile, realpath } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'

export interface MountEntry {
  mountId: number
  major: number
  minor: number
  mountPoint: string
  fsType: string
  source: string
}

export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = []
  for (const line of text.split('\n')) {
    const fields = line.split(' ')
    const dash = fields.indexOf('-')
    if (dash < 6) continue
    const [major, minor] = (fields[2] ?? '').split(':').map(Number)
    if (major === undefined || minor === undefined || Number.isNaN(major) || Number.isNaN(minor)) continue
    entries.push({
      mountId: Number(fields[0]),
      major,
      minor,
      mountPoint: unescapeOctal(fields[4] ?? ''),
      fsType: fields[dash + 1] ?? '',
      source: unescapeOctal(fields[dash + 2] ?? ''),
    })
  }
  return entries
}

export async function readMountInfo(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'))
}

export function isFuseType(fsType: string): boolean {
  return fsType === 'fuse' || fsType === 'fuseblk' || fsType.startsWith('fuse.') || fsType.startsWith('fuseblk.')
}

/** The kernel's spelling of a mountpoint: absolute, parent symlinks resolved, the last component kept. */
export async function canonicalMountpoint(mountpoint: string): Promise<string> {
  const absolute = resolve(mountpoint)
  if (absolute === '/') return absolute
  try {
    return join(await realpath(dirname(absolute)), basename(absolute))
  } catch {
    return absolute
  }
}

/** The topmost mount at `mountpoint` that `accept` takes, if any. */
async function topMountAt(mountpoint: string, accept: (entry: MountEntry) => boolean): Promise<MountEntry | undefined> {
  const target = await canonicalMountpoint(mountpoint)
  return (await readMountInfo()).filter((m) => m.mountPoint === target && accept(m)).at(-1)
}

/** The topmost FUSE mount at `mountpoint`, if any. */
export async function findFuseMount(mountpoint: string): Promise<MountEntry | undefined> {
  return topMountAt(mountpoint, (m) => isFuseType(m.fsType))
}

/** Whether a FUSE filesystem (live or dead) is mounted at `mountpoint`. */
export async function isMounted(mountpoint: string): Promise<boolean> {
  return (await findFuseMount(mountpoint)) !== undefined
}

/** The type of the FUSE filesystem (live or dead) mounted at `mountpoint` ('fuse.ikfs' for ours), if any. */
export async function fuseMountType(mountpoint: string): Promise<string | undefined> {
  return (await findFuseMount(mountpoint))?.fsType
}

/** The type of the topmost filesystem of any kind mounted at `mountpoint`, if any (for messages). */
export async function anyMountType(mountpoint: string): Promise<string | undefined> {
  return (await topMountAt(mountpoint, () => true))?.fsType
}

/** The type every ikfs mount shows (subtype=ikfs): what tells ikfs's mounts from other FUSE filesystems'. */
export const IKFS_FS_TYPE = 'fuse.ikfs'

/** The /sys/fs/fuse/connections/<id> name: the superblock's dev_t in the kernel's encoding. */
export function connectionId(entry: Pick<MountEntry, 'major' | 'minor'>): number {
  return entry.major * 2 ** 20 + entry.minor
}

export async function findFuseConnection(mountpoint: string): Promise<number | undefined> {
  const entry = await findFuseMount(mountpoint)
  return entry ? connectionId(entry) : undefined
}

function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}
