/**
 * Names of old versions shown beside a file with `--versions`, as rclone's lib/version does:
 * `version.Add(name, updatedAt)` inserts `-vYYYY-MM-DD-HHMMSS-mmm` (UTC) before the extension,
 * where the extension is Go's path.Ext (from the last '.', so ".bashrc" is all extension).
 */

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

/** The version suffix for a time in epoch ms: `-v2006-01-02-150405-000`. */
export function versionSuffix(timeMs: number): string {
  const d = new Date(timeMs)
  return (
    `-v${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `-${pad(d.getUTCHours(), 2)}${pad(d.getUTCMinutes(), 2)}${pad(d.getUTCSeconds(), 2)}` +
    `-${pad(d.getUTCMilliseconds(), 3)}`
  )
}

/** `photo.jpg` + 2024-05-06T07:08:09.010Z → `photo-v2024-05-06-070809-010.jpg`. */
export function versionName(localName: string, updatedAtMs: number): string {
  const dot = localName.lastIndexOf('.')
  const ext = dot >= 0 ? localName.slice(dot) : ''
  return localName.slice(0, localName.length - ext.length) + versionSuffix(updatedAtMs) + ext
}
