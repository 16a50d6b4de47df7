/**
 * Tells ikfs's mounts from other FUSE filesystems' at a mountpoint: ikfs clears and unmounts only its own
 * (a crashed sshfs left there is not its to take away), and names the command for the others.
 */
import { IKFS_FS_TYPE } from '../fuse/mountinfo.js'

export function isIkfsMount(fsType: string): boolean {
  return fsType === IKFS_FS_TYPE
}

/** The command that takes away the mount of type `fsType` at `mountpoint`. */
export function unmountCommand(fsType: string, mountpoint: string): string {
  return isIkfsMount(fsType) ? `ikfs unmount ${mountpoint}` : `fusermount3 -u ${mountpoint} (fusermount -u with FUSE 2)`
}

/** Why ikfs leaves the mount of type `fsType` at `mountpoint` alone. */
export function foreignMountMessage(fsType: string, mountpoint: string, what: string): string {
  return `${mountpoint} holds a ${fsType} mount, not an ikfs one: ${what}; if it is no longer wanted, run ${unmountCommand(fsType, mountpoint)}`
}
