/**
 * Where a mount's control socket lives. The path is derived from the mountpoint alone, so `ikfs status
 * MOUNTPOINT` finds the daemon without any registry: root uses /run/ikfs, other users their
 * $XDG_RUNTIME_DIR/ikfs (systemd's per-user, 0700 runtime folder), else a private folder under /tmp.
 */
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'

/** Hex digits of the mountpoint's SHA-256 kept in the name: short enough for the 108-byte sun_path limit. */
const HASH_CHARS = 16

export interface SocketPathContext {
  env: Readonly<Record<string, string | undefined>>
  uid: number
}

export function controlSocketDir(ctx: SocketPathContext): string {
  if (ctx.uid === 0) return '/run/ikfs'
  const runtime = ctx.env.XDG_RUNTIME_DIR
  if (runtime && runtime.startsWith('/')) return `${runtime}/ikfs`
  return `/tmp/ikfs-${ctx.uid}`
}

/** `<dir>/<hash of the absolute mountpoint>.sock`; callers pass the path the way the user typed it. */
export function controlSocketPath(mountpoint: string, ctx: SocketPathContext): string {
  const hash = createHash('sha256').update(resolve(mountpoint)).digest('hex').slice(0, HASH_CHARS)
  return `${controlSocketDir(ctx)}/${hash}.sock`
}

export function processSocketContext(env: Readonly<Record<string, string | undefined>> = process.env): SocketPathContext {
  return { env, uid: process.getuid?.() ?? 0 }
}
