/**
 * Upload `file` given as an http(s) URL (§4.18): the server fetches it. The response headers must arrive within
 * URL_HEADER_TIMEOUT_MS, as the real service requires; the body then streams into the upload's temp file,
 * held to the same size limit as a sent file, and must keep coming: a pause of URL_IDLE_TIMEOUT_MS ends it
 * (the emulator's own bound; the service's is not documented). Any other outcome refuses the upload (400).
 * Redirects are followed to http(s) only (fetch refuses other schemes). The URL is never echoed in the
 * message: it may carry a signature.
 */
import { InvalidFileFieldError, UploadTooLargeError, type TempFileSink } from './upload-sinks.js'

/** §4.18: "the server must receive the response headers within 8 seconds; otherwise the request fails with 400". */
export const URL_HEADER_TIMEOUT_MS = 8_000
/** Longest pause in the body: a server that stops sending does not hold the upload (and its temp file) forever. */
export const URL_IDLE_TIMEOUT_MS = 8_000

/** Why a URL gave no file, for the 400's message. */
export class UrlFetchError extends InvalidFileFieldError {}

export interface UrlTimeouts {
  headersMs: number
  idleMs: number
}

export async function fetchIntoSink(
  url: string, sink: Pick<TempFileSink, 'write' | 'end'>,
  timeouts: UrlTimeouts = { headersMs: URL_HEADER_TIMEOUT_MS, idleMs: URL_IDLE_TIMEOUT_MS },
): Promise<void> {
  const controller = new AbortController()
  let timer = setTimeout(() => controller.abort(), timeouts.headersMs)
  let res: Response
  try {
    res = await fetch(url, { signal: controller.signal, redirect: 'follow' })
  } catch {
    throw new UrlFetchError(controller.signal.aborted
      ? `The URL sent no response headers within ${timeouts.headersMs / 1000} seconds`
      : 'The URL could not be reached')
  } finally {
    clearTimeout(timer)
  }
  let stalled = false
  const stall = (): void => {
    stalled = true
    controller.abort()
  }
  try {
    if (!res.ok) throw new UrlFetchError(`The URL answered ${res.status}`)
    timer = setTimeout(stall, timeouts.idleMs)
    if (res.body) {
      for await (const chunk of res.body) {
        clearTimeout(timer)
        await sink.write(Buffer.from(chunk))
        timer = setTimeout(stall, timeouts.idleMs)
      }
    }
  } catch (e) {
    controller.abort()
    if (e instanceof InvalidFileFieldError || e instanceof UploadTooLargeError) throw e
    throw new UrlFetchError(stalled ? `The URL's body sent nothing for ${timeouts.idleMs / 1000} seconds` : 'The URL\'s body broke off')
  } finally {
    clearTimeout(timer)
  }
  await sink.end()
}
