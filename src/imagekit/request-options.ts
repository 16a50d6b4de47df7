import type { RequestOptions } from './api.js'
import type { ImageKitError } from './errors.js'

/** RequestOptions.giveUp for an HTTP call: every call passes it on, as RequestOptions promises. */
export function giveUpOf(options: RequestOptions): { giveUp?: (failure: ImageKitError) => boolean } {
  return options.giveUp ? { giveUp: options.giveUp } : {}
}
