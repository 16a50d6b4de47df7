/**
 * Upload `file` given as an http(s) URL (§4.18): the server fetches it. The response headers must arrive within
 * URL_HEADER_TIMEOUT_MS, as the real service requires; the body then streams into the upload's temp file,
 * held to the same size limit as a sent file. Any other outcome refuses the upload (400). The URL is never
 * echoed in the message: it may carry a signature.
 */
import { InvalidFileFieldError, UploadTooLargeError, type TempFileSink } from './upload-sinks.js'

/** §4.18: "the server must receive the response headers within 8 seconds; otherwise the request fails with 400". */
export const URL_HEADER_TIMEOUT_MS = 8_000

/** Why a URL gave no file, for the 400's message. */
export class UrlFetchError extends InvalidFileFieldError {}

export async function fetchIntoSink(url: string, sink: TempFileSink): Promise<void> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), URL_HEADER_TIMEOUT_MS)
  let res: Response
  try {
    res = await fetch(url, { signal: controller.signal, redirect: 'follow' })
  } catch {
    throw new UrlFetchError(controller.signal.aborted
      ? `The URL sent no response headers within ${URL_HEADER_TIMEOUT_MS / 1000} seconds`
      : 'The URL could not be reached')
  } finally {
    clearTimeout(timer)
  }
  try {
    if (!res.ok) throw new UrlFetchError(`The URL answered ${res.status}`)
    if (res.body) for await (const chunk of res.body) await sink.write(Buffer.from(chunk))
  } catch (e) {
    controller.abort()
    if (e instanceof InvalidFileFieldError || e instanceof UploadTooLargeError) throw e
    throw new UrlFetchError('The URL\'s body broke off')
  }
  await sink.end()
}
