/** What to do about a private key the API (or the upload host) refused: said by `ikfs mount` and `ikfs doctor`. */
export const KEY_FIX = 'copy the private key from the ImageKit dashboard: Developer options → API keys'

/** Whether `e` is the API's refusal of the key (an ImageKitError IK_UNAUTHORIZED). */
export function isKeyRefused(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'IK_UNAUTHORIZED'
}
