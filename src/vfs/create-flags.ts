/**
 * What a create's open flags ask of the name it creates (W1). The kernel sends a create for a name it holds as
 * missing, an answer it keeps for negative_timeout, while this mount may have learnt of the name since (another
 * machine stored it, and the folder was listed again), so the flags decide:
 * - `O_EXCL` (`cp`, `tar x`, git's lock files): a name this mount knows fails with EEXIST (Linux looks the name
 *   up again first for these, fuse_dentry_revalidate, and drops its entry after EEXIST; what is left here is a
 *   listing that learnt the name in between, e.g. --dir-prefetch's). One it does not know is taken as new
 *   without asking the library (a search per file copied in would be dear): a file stored there elsewhere
 *   since the listing then becomes an old version, replaced whole, never mixed.
 * - neither `O_EXCL` nor `O_TRUNC` (`>>`, `touch`): the bytes at the name are kept, and a name the listing
 *   lacks is looked for (unlisted-file.ts).
 * A binding that passes no flags (fuse-native 2.2.6) leaves them unknown: the name is then opened for reading
 * and writing as it stands, never refused and never looked for (an append and a copy look alike there).
 */
import { constants as fsConstants } from 'node:fs'
import type { OpenFlags } from './types.js'

export interface CreateIntent {
  /** The flags the file is opened with (O_CREAT | O_RDWR when the binding passed none). */
  flags: OpenFlags
  /** A name this mount knows (listed, or being written) is refused with EEXIST. */
  exclusive: boolean
  /** A name the cached listing lacks is looked for in the library (unlisted-file.ts). */
  findsUnlisted: boolean
}

/** What a create asks, from its flags, or from none (`undefined`: the binding does not pass them). */
export function createIntent(flags: OpenFlags | undefined): CreateIntent {
  if (flags === undefined) return { flags: fsConstants.O_CREAT | fsConstants.O_RDWR, exclusive: false, findsUnlisted: false }
  return { flags, exclusive: (flags & fsConstants.O_EXCL) !== 0, findsUnlisted: createKeepsContent(flags) }
}

/** Whether a create with these flags starts from the bytes at its name, if there are any (no O_TRUNC, no O_EXCL). */
export function createKeepsContent(flags: OpenFlags): boolean {
  return (flags & (fsConstants.O_TRUNC | fsConstants.O_EXCL)) === 0
}
