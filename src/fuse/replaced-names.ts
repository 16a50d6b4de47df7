/**
 * New names that are not valid UTF-8, on the fuse-native fallback (README W11).
 *
 * fuse-native 2.2.6 hands names to JavaScript as strings, and every invalid byte of a name has become U+FFFD by
 * then: `f\xff` and `f\xfe` were the same new file `f\uFFFD`, the second written over the first. The libfuse3
 * binding refuses such a name before JavaScript sees it (EINVAL, native/fuse3/operations.c); here the bytes are
 * gone, so a new name holding U+FFFD is refused as the invalid name it almost always was. Names that exist
 * already (the library's, or made with the libfuse3 binding) are looked up, opened, renamed and deleted as before.
 */
import { constants as osConstants } from 'node:os'
import type { FuseOps, FuseReply } from '../../native/binding-types.js'

const EINVAL = -osConstants.errno.EINVAL
const REPLACEMENT = '\uFFFD'

export function refuseReplacedNames(ops: FuseOps): FuseOps {
  const refused = (path: string): boolean => path.includes(REPLACEMENT)
  return {
    ...ops,
    create: (path: string, mode: number, cb: FuseReply, caller?: number, flags?: number) =>
      refused(path) ? cb(EINVAL) : ops.create(path, mode, cb, caller, flags),
    mkdir: (path: string, mode: number, cb: FuseReply) => (refused(path) ? cb(EINVAL) : ops.mkdir(path, mode, cb)),
    rename: (from: string, to: string, cb: FuseReply) => (refused(to) ? cb(EINVAL) : ops.rename(from, to, cb)),
  }
}
