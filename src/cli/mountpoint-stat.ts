// The mountpoint stat is the FUSE layer's (fuse/mountpoint-state.ts), which mountFuse uses too; the CLI's name for it.
export { MOUNTPOINT_ANSWER_MS, MountpointHungError, statMountpoint, type MountpointInfo } from '../fuse/mountpoint-state.js'
