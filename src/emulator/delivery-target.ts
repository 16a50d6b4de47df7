/**
 * Parses a URL-endpoint request target (`/<id>[/tr:...]/<encoded path>[?query]`) into the file path, the
 * transformations (path form and `tr` query) and the CDN cache key. Also used to read purge and metadata URLs.
 */
import { decodeFilePath } from './names.js'

export interface DeliveryTarget {
  /** Path-form transformation segment (`tr:w-100`), if any. */
  trPath: string | undefined
  /** Decoded file path, `/a/b.jpg`. */
  filePath: string
  /** Raw query without `ik-t`/`ik-s`, no leading `?`. */
  query: string
  params: URLSearchParams
  /** Every transformation parameter from the path and the `tr`/`transformation` query, e.g. `orig-true`, `w-100`. */
  transformations: string[]
  /** The stale-CDN key: path transformation + decoded path + query (signature excluded). */
  cacheKey: string
}

function splitSteps(tr: string): string[] {
  return tr.split(/[:,]/).map((s) => s.trim()).filter((s) => s !== '')
}

export function parseDeliveryTarget(rawTarget: string, endpointPath: string): DeliveryTarget | undefined {
  const prefix = endpointPath + '/'
  if (!rawTarget.startsWith(prefix)) return undefined
  const q = rawTarget.indexOf('?')
  const rawPath = '/' + (q < 0 ? rawTarget.slice(prefix.length) : rawTarget.slice(prefix.length, q))
  const rawQuery = q < 0 ? '' : rawTarget.slice(q + 1)
  let trPath: string | undefined
  let pathPart = rawPath
  const first = /^\/(tr[:,][^/]*)(\/.*)$/.exec(rawPath)
  if (first) {
    trPath = decodeFilePath(first[1] as string)
    pathPart = first[2] as string
  }
  const filePath = decodeFilePath(pathPart)
  if (filePath === undefined || filePath === '/' || trPath === undefined && first) return undefined
  const query = rawQuery.split('&').filter((p) => p !== '' && !/^ik-[st](=|$)/.test(p)).join('&')
  const params = new URLSearchParams(rawQuery)
  const transformations = [
    ...(trPath ? splitSteps(trPath.slice(3)) : []),
    ...params.getAll('tr').flatMap(splitSteps),
    ...params.getAll('transformation').flatMap(splitSteps),
  ]
  const cacheKey = (trPath ? '/' + trPath : '') + filePath + (query ? '?' + query : '')
  return { trPath, filePath, query, params, transformations, cacheKey }
}

export function wantsOriginal(target: DeliveryTarget): boolean {
  return target.transformations.includes('orig-true')
}

/** §5.3: a named transformation (`n-NAME`) alone, the one kind of request a private file answers unsigned. */
export function isNamedTransformationAlone(target: DeliveryTarget): boolean {
  const [only, ...more] = target.transformations
  return more.length === 0 && only !== undefined && /^n-./.test(only)
}
