/**
 * The Upload API's answer for a file over the account's size limit, as it words it. No source shows a `reason`
 * code for it, only a 400 whose message says so (../shared/imagekit-api.md §4.18), in two wordings:
 *   the docs': `Your request contains invalid file parameter. The file size exceeds limits.` (no figure);
 *   the live service's (free plan): `... The file size exceeds 26214400 bytes limit.` (the emulator's too).
 * A proxy in front of the API answers 413 instead (http.ts), with a page of its own. The match is kept loose
 * (other plans, other endpoints may word it otherwise) but needs the size, or a body, to be what is too large:
 * `Upload Limit Exceeded.` (an account quota, not this file's size) and `The tags parameter is too large.` are
 * not it.
 */

const TOO_LARGE_WORDINGS: readonly RegExp[] = [
  /\bsize\b[^.]{0,40}?\bexceed/i, // "The file size exceeds limits.", "... exceeds 26214400 bytes limit.", "size exceeds"
  /\bexceed(?:s|ed|ing)?\b[^.]{0,40}?\b(?:file size|size limit|maximum (?:file |upload )?size|\d[\d,.]*\s*(?:bytes?|[kmg]i?b))\b/i, // "exceeds the maximum file size"
  /\b(?:file|upload|payload|request entity|body)\b[^.]{0,20}?\btoo (?:large|big)\b/i, // "File too large", "413 Request Entity Too Large"
  /\b(?:file|upload)\b[^.]{0,20}?\blarger than\b[^.]{0,40}?\b(?:limit|allowed|maximum)\b/i,
]

/** Whether an API's error message says the file is over the size limit. */
export function isTooLargeAnswer(message: string): boolean {
  return TOO_LARGE_WORDINGS.some((wording) => wording.test(message))
}

/** Where the limit is named: a size after one of these words is the limit (not the file's own size before them). */
const LIMIT_WORD = /\b(?:exceed\w*|limit\w*|max\w*|up to|at most|larger than|more than|over)\b/i
/** A size: digits (maybe grouped by commas, maybe with decimals) and a unit. */
const SIZE = /\b(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(bytes?|[kmg]i?b)\b/i
/** Units as the largest they may mean (25 MB read as 25 MiB): a limit read too high only costs one more try of a file under it. */
const UNIT_BYTES: Record<string, number> = { b: 1, byte: 1, bytes: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3 }

/**
 * The size limit (bytes) a too-large answer names, or undefined when it names none (the docs' wording): the
 * first size after a word such as "exceeds", "limit" or "maximum".
 */
export function uploadLimitIn(message: string): number | undefined {
  const at = LIMIT_WORD.exec(message)
  if (!at) return undefined
  const size = SIZE.exec(message.slice(at.index))
  if (!size) return undefined
  const [, whole, fraction, unit] = size
  const bytes = Math.ceil(Number(whole!.replace(/,/g, '') + (fraction ?? '')) * UNIT_BYTES[unit!.toLowerCase()]!)
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined
}
