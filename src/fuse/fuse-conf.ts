/**
 * `allow_other` for a user who is not root: fusermount refuses it unless /etc/fuse.conf has a
 * `user_allow_other` line, and libfuse then only says "fuse_mount failed". Checked before mounting.
 */
import { readFile } from 'node:fs/promises'

export const FUSE_CONF = '/etc/fuse.conf'
export const ALLOW_OTHER_FIX = 'echo user_allow_other | sudo tee -a /etc/fuse.conf'

/** Whether /etc/fuse.conf lets users who are not root mount with allow_other (a missing file does not). */
export async function userAllowOther(path = FUSE_CONF): Promise<boolean> {
  let text = ''
  try {
    text = await readFile(path, 'utf8')
  } catch {
    // missing or unreadable: same as not allowed
  }
  return text.split('\n').some((line) => line.trim() === 'user_allow_other')
}

/** Why this user cannot mount with allow_other, or undefined when it can. */
export async function allowOtherRefusal(uid: number, path = FUSE_CONF): Promise<string | undefined> {
  if (uid === 0 || (await userAllowOther(path))) return undefined
  return `--allow-other needs user_allow_other in ${path} when not mounting as root (${ALLOW_OTHER_FIX}), or mount without it`
}
