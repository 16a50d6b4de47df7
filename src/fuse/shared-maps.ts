/**
 * Whether a process still maps a file shared and writable (`mmap` with MAP_SHARED and PROT_WRITE), from
 * /proc/PID/maps. The kernel tells a FUSE filesystem nothing about memory maps: a close(2) while such a map
 * stays (numpy.memmap closes its file right after mapping it; Python's mmap closes its copy of the descriptor
 * before it unmaps) is not the file's last word. The pages written through the map reach the mount later, and
 * the release comes after the unmap.
 *
 * Lines of /proc/PID/maps: `start-end perms offset dev inode` and, for a file, spaces and its path as the
 * reading process (this daemon) reaches it, with a newline in it written `\012`.
 */
import { readFile } from 'node:fs/promises'

export async function mapsSharedWritable(pid: number, absolutePath: string): Promise<boolean> {
  let maps: string
  try {
    maps = await readFile(`/proc/${pid}/maps`, 'latin1')
  } catch {
    return false // the process is gone, or its maps are not ours to read: nothing to wait for
  }
  return hasSharedWritableMap(maps, absolutePath)
}

/** A line of /proc/PID/maps that names a file: its permissions (`rw-s`: shared and writable) and its path. */
const MAP_LINE = /^\S+ (\S{4}) \S+ \S+ \d+ +(.*)$/

/** `maps`: the text of /proc/PID/maps read as latin1 (the kernel writes the path's bytes as they are). */
export function hasSharedWritableMap(maps: string, absolutePath: string): boolean {
  const path = Buffer.from(absolutePath.replaceAll('\n', '\\012')).toString('latin1')
  const tail = ' ' + path + '\n'
  for (let at = maps.indexOf(tail); at >= 0; at = maps.indexOf(tail, at + 1)) {
    const line = MAP_LINE.exec(maps.slice(maps.lastIndexOf('\n', at) + 1, at + tail.length - 1))
    if (line?.[2] === path && line[1]![1] === 'w' && line[1]![3] === 's') return true
  }
  return false
}
