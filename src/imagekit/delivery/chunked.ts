/**
 * Decoder of the chunked transfer coding (RFC 9112 §7.1), fed raw bytes as they arrive, in any split.
 * Chunk extensions and trailer fields are read past and dropped.
 */
import { HeadParseError } from './head.js'

/** A size line or trailer field longer than this is not HTTP we want to keep reading. */
const MAX_LINE_BYTES = 8 * 1024

type State = 'size' | 'data' | 'data-end' | 'trailer' | 'done'

export class ChunkedDecoder {
  #state: State = 'size'
  #line = ''
  #remaining = 0

  get done(): boolean {
    return this.#state === 'done'
  }

  /**
   * Decodes `buf[start, end)`, calling `data` with each piece of body data (views of `buf`). Returns how
   * many bytes were consumed: all of them, or fewer when the body ended before `end`.
   */
  feed(buf: Buffer, start: number, end: number, data: (piece: Buffer) => void): number {
    let at = start
    while (at < end && this.#state !== 'done') {
      if (this.#state === 'data') {
        const n = Math.min(this.#remaining, end - at)
        data(buf.subarray(at, at + n))
        at += n
        this.#remaining -= n
        if (this.#remaining === 0) this.#state = 'data-end'
        continue
      }
      const nl = buf.indexOf(0x0a, at)
      const stop = nl === -1 || nl >= end ? end : nl + 1
      this.#line += buf.toString('latin1', at, stop)
      at = stop
      if (this.#line.length > MAX_LINE_BYTES) throw new HeadParseError('chunked body: line too long')
      if (!this.#line.endsWith('\n')) continue
      const line = this.#line.replace(/\r?\n$/, '')
      this.#line = ''
      this.#onLine(line)
    }
    return at - start
  }

  #onLine(line: string): void {
    switch (this.#state) {
      case 'size': {
        const size = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(line)
        if (!size) throw new HeadParseError('chunked body: bad chunk size')
        this.#remaining = Number.parseInt(size[1]!, 16)
        this.#state = this.#remaining === 0 ? 'trailer' : 'data'
        return
      }
      case 'data-end':
        if (line !== '') throw new HeadParseError('chunked body: chunk longer than its size')
        this.#state = 'size'
        return
      case 'trailer':
        if (line === '') this.#state = 'done'
        return
      default:
        return
    }
  }
}
