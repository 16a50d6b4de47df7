/**
 * A URL endpoint with a mistyped ImageKit id still answers (with 404s), and reads of public files go by the
 * URLs the API lists, so nothing fails at once: only signed reads (private files, --only-signed) do, later,
 * as "No such file or directory". The files the API lists carry the account's own endpoint in their URLs:
 * on the same host, their first path segment (the ImageKit id) must be the endpoint's.
 */
export function endpointMismatch(endpoint: string, sampleFileUrl: string | undefined): string | undefined {
  if (sampleFileUrl === undefined) return undefined
  let ours: URL
  let theirs: URL
  try {
    ours = new URL(endpoint)
    theirs = new URL(sampleFileUrl)
  } catch {
    return undefined
  }
  // A custom domain (another host) maps paths its own way: nothing to compare.
  if (ours.host !== theirs.host) return undefined
  const idOf = (url: URL) => url.pathname.split('/').find((segment) => segment !== '') ?? ''
  if (idOf(ours) === idOf(theirs)) return undefined
  const listed = `${theirs.protocol}//${theirs.host}/${idOf(theirs)}`
  return `the URL endpoint ${ours.protocol}//${ours.host}${ours.pathname.replace(/\/+$/, '')} does not match the library's files, ` +
    `whose URLs start with ${listed}: signed reads (private files, --only-signed) will fail; set --endpoint ${listed}`
}
