/**
 * Values in the Media API's `searchQuery` (GET /v1/files): strings are double-quoted with Go-style escapes
 * (rclone quotes names with Go's strconv.Quote), so a name with `"` or `\` can be asked for like any other.
 * Every searchQuery the project builds quotes its strings here.
 */

/** `text` as a searchQuery string: JSON's escapes (\" \\ \n \uXXXX...) are a subset of Go's. */
export function searchString(text: string): string {
  return JSON.stringify(text)
}

/** The clause that matches items named exactly `name` (case-sensitive, as the API compares names). */
export function nameIs(name: string): string {
  return `name = ${searchString(name)}`
}
