/**
 * `GET /v1/files` paging. The API has no cursor: pages are fetched with `skip` at multiples of the maximum
 * page size until a page comes back shorter than `limit`. A stable sort (ASC_NAME unless the caller picks
 * another) keeps pages from shifting between requests. Items are yielded as each page arrives, in order.
 *
 * A folder that fills its first page gets the next PAGES_IN_FLIGHT pages requested together, and one more
 * each time a page is yielded: a listing then waits for about one round trip per PAGES_IN_FLIGHT pages
 * instead of one per page (10,000 files are 11 pages: 11 round trips to an API 100 ms away is a second).
 * At most that many pages are held besides the one being yielded; requests past the end (a short or empty
 * page) are aborted once the end is known.
 */
import type { ListFilesQuery, RequestOptions } from './api.js'
import { expectBody, isListItem } from './guards.js'
import type { HttpTransport } from './http.js'
import { giveUpOf } from './request-options.js'
import { MAX_LIST_LIMIT, type ListItem, type ListSort } from './types.js'

export const LIST_ROUTE = '/v1/files'
/** Name order is stable under uploads and updates, unlike the API's default (ASC_CREATED ties). */
export const DEFAULT_LIST_SORT: ListSort = 'ASC_NAME'

/** `path` as the API documents it: leading and trailing slash (`/a/b/`; root `/`). */
export function folderQueryPath(folderPath: string): string {
  const trimmed = folderPath.replace(/^\/+|\/+$/g, '')
  return trimmed === '' ? '/' : `/${trimmed}/`
}

/** Pages requested at once after a full first page (each one a Media API request, under its rate limit). */
export const PAGES_IN_FLIGHT = 4

export async function* listFiles(
  http: HttpTransport,
  query: ListFilesQuery,
  options: RequestOptions = {},
  pageSize = MAX_LIST_LIMIT,
  pagesInFlight = PAGES_IN_FLIGHT,
): AsyncGenerator<ListItem> {
  const fetchPage = async (skip: number, signal: AbortSignal | undefined): Promise<ListItem[]> => {
    const result = await http.call({
      method: 'GET',
      host: 'api',
      route: LIST_ROUTE,
      idempotent: true,
      signal,
      ...giveUpOf(options),
      query: {
        type: query.type,
        path: query.path === undefined ? undefined : folderQueryPath(query.path),
        searchQuery: query.searchQuery,
        fileType: query.fileType,
        sort: query.sort ?? DEFAULT_LIST_SORT,
        limit: pageSize,
        skip,
      },
    })
    return expectBody(result, isListPage, { method: 'GET', route: LIST_ROUTE }, 'an array of files and folders')
  }
  const first = await fetchPage(0, options.signal)
  yield* first
  if (first.length < pageSize) return
  // Pages are full up to the last one, so page k starts at k * pageSize.
  const stop = new AbortController()
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal
  const pending: Promise<ListItem[]>[] = []
  let nextSkip = pageSize
  try {
    for (;;) {
      while (pending.length < pagesInFlight) {
        const page = fetchPage(nextSkip, signal)
        page.catch(() => undefined) // awaited in turn below; one past the end may fail after the end is known
        pending.push(page)
        nextSkip += pageSize
      }
      const page = await (pending.shift() as Promise<ListItem[]>)
      yield* page
      if (page.length < pageSize) return
    }
  } finally {
    stop.abort()
  }
}

export function isListPage(value: unknown): value is ListItem[] {
  return Array.isArray(value) && value.every(isListItem)
}
