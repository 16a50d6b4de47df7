/**
 * Where a mount's control socket lives. The path is derived from the mountpoint alone, so `ikfs status
 * MOUNTPOINT` finds the daemon without any registry: root uses /run/ikfs, other users their
 * $XDG_RUNTIME_DIR/ikfs (systemd's per-user, 0700 runtime folder), else a private folder under /tmp, which is
 * also where a socket goes whose path would be too long under $XDG_RUNTIME_DIR.
 */
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'

/** Hex digits of the mountpoint's SHA-256 kept in the name: short enough for the 108-byte sun_path limit. */
const HASH_CHARS = 16
/**
 * The most bytes a unix socket path may have: sun_path holds 108 with the closing NUL. Node does not refuse a
 * longer one: it cuts it short and listens on another name, where no client looks.
 */
export const MAX_SOCKET_PATH_BYTES = 107

export interface SocketPathContext {
  env: Readonly<Record<string, string | undefined>>
  uid: number
}

export function controlSocketDir(ctx: SocketPathContext): string {
  if (ctx.uid === 0) return '/run/ikfs'
  const runtime = ctx.env.XDG_RUNTIME_DIR
  if (runtime && runtime.startsWith('/')) return `${runtime}/ikfs`
  return fallbackSocketDir(ctx.uid)
}

/** `<dir>/<hash of the absolute mountpoint>.sock`; callers pass the mountpoint as realMountpoint spells it. */
export function controlSocketPath(mountpoint: string, ctx: SocketPathContext): string {
  const name = createHash('sha256').update(resolve(mountpoint)).digest('hex').slice(0, HASH_CHARS) + '.sock'
  const path = `${controlSocketDir(ctx)}/${name}`
  return fitsSocketPath(path) ? path : `${fallbackSocketDir(ctx.uid)}/${name}`
}

export function fitsSocketPath(path: string): boolean {
  return Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES
}

/** Short, and the same for every process of the user; another user may have made it first (private-dir.ts). */
function fallbackSocketDir(uid: number): string {
  return `/tmp/ikfs-${uid}`
}

export function processSocketContext(env: Readonly<Record<string, string | undefined>> = process.env): SocketPathContext {
  return { env, uid: process.getuid?.() ?? 0 }
}
