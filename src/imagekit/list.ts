/**
 * `GET /v1/files` paging. The API has no cursor: pages are fetched with `skip += page length` at the
 * maximum page size until a page comes back shorter than `limit`. A stable sort (ASC_NAME unless the
 * caller picks another) keeps pages from shifting between requests. One page is held at a time; items
 * are yielded as each page arrives.
 */
import type { ListFilesQuery, RequestOptions } from './api.js'
import { expectBody, isListItem } from './guards.js'
import type { HttpTransport } from './http.js'
import { MAX_LIST_LIMIT, type ListItem, type ListSort } from './types.js'

export const LIST_ROUTE = '/v1/files'
/** Name order is stable under uploads and updates, unlike the API's default (ASC_CREATED ties). */
export const DEFAULT_LIST_SORT: ListSort = 'ASC_NAME'

/** `path` as the API documents it: leading and trailing slash (`/a/b/`; root `/`). */
export function folderQueryPath(folderPath: string): string {
  const trimmed = folderPath.replace(/^\/+|\/+$/g, '')
  return trimmed === '' ? '/' : `/${trimmed}/`
}

export async function* listFiles(
  http: HttpTransport,
  query: ListFilesQuery,
  options: RequestOptions = {},
  pageSize = MAX_LIST_LIMIT,
): AsyncGenerator<ListItem> {
  for (let skip = 0; ; ) {
    const result = await http.call({
      method: 'GET',
      host: 'api',
      route: LIST_ROUTE,
      idempotent: true,
      signal: options.signal,
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
    const page = expectBody(result, isListPage, { method: 'GET', route: LIST_ROUTE }, 'an array of files and folders')
    yield* page
    if (page.length < pageSize) return
    skip += page.length
  }
}

function isListPage(value: unknown): value is ListItem[] {
  return Array.isArray(value) && value.every(isListItem)
}
