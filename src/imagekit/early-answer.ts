/**
 * Answers that come before the request body was all sent. A server refuses an upload as soon as it knows (a
 * 400 on its headers or first fields, the size limit crossed, a 401) and often closes the connection at once
 * without reading the rest: closing with unread bytes resets it. The client's next write then fails with
 * ECONNRESET or EPIPE while the answer already sits unread in its socket, and node's socket destroys itself on
 * that write error before anything reads it: undici reports a dropped connection, and the upload is sent again
 * whole (GiBs for a video) to be refused alike, maybe several times. undici reads an answer that came while it
 * writes (the request ends with it) but cannot see one behind a write error, and it has no
 * `Expect: 100-continue` for HTTP/1.1 (its request() refuses an `expect` header).
 *
 * So the connections of the API and upload hosts hold such a write error back: the write neither completes nor
 * fails while the socket's reading side says what happened. An answer that was sent reaches undici, which ends
 * the request with it and closes the connection; a reset with no answer shows there as well (a read error, or
 * the end of the stream), and undici fails the request as a dropped connection, as before, and it is retried.
 * Whatever happens, the held error is let go after WRITE_ERROR_HOLD_MS (the reading side of a reset connection
 * answers at once: the bound only keeps a socket from hanging on a case not foreseen).
 */
import type { Socket } from 'node:net'
import { buildConnector } from 'undici'

/** Longest wait for the reading side after a write failed with a reset. */
export const WRITE_ERROR_HOLD_MS = 2_000

/** Write errors that mean the other side reset the connection: it may have answered first. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE'])

type WriteCallback = (error?: Error | null) => void

/** The parts of net.Socket's Writable implementation that are wrapped (node's stream.Writable contract). */
interface WritableImpl {
  _write(chunk: unknown, encoding: BufferEncoding, callback: WriteCallback): void
  _writev?(chunks: { chunk: unknown; encoding: BufferEncoding }[], callback: WriteCallback): void
}

/**
 * undici's own connector (the options of Agent's `connect` object), whose sockets hold back write errors that
 * a reset caused, as the header says.
 */
export function connectorReadingEarlyAnswers(options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options)
  return (opts, callback) => {
    connect(opts, (...args) => {
      const [, socket] = args
      if (socket) holdResetWriteErrors(socket)
      callback(...args)
    })
  }
}

/** Wraps the socket's _write and _writev so that a write failed by a reset waits for the reading side (see above). */
export function holdResetWriteErrors(socket: Socket, holdMs = WRITE_ERROR_HOLD_MS): void {
  const impl = socket as unknown as WritableImpl
  const write = impl._write
  const writev = impl._writev
  const held = (callback: WriteCallback): WriteCallback => (error) => {
    const code = (error as NodeJS.ErrnoException | null | undefined)?.code
    if (!error || code === undefined || !RESET_CODES.has(code) || socket.destroyed) return callback(error)
    let done = false
    const release = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.off('close', release)
      // Destroyed meanwhile (undici read the answer, or the reading side failed): node only drops the error.
      callback(error)
    }
    const timer = setTimeout(release, holdMs)
    timer.unref()
    socket.once('close', release)
  }
  impl._write = function (chunk, encoding, callback) {
    write.call(this, chunk, encoding, held(callback))
  }
  if (writev) {
    impl._writev = function (chunks, callback) {
      writev.call(this, chunks, held(callback))
    }
  }
}
