/**
 * Where the upload's `file` part goes: straight to a temp file (binary part), or through an incremental
 * base64 decoder (text part, optionally a `data:` URI). Both count bytes and stop at the size limit.
 */
import { open, type FileHandle } from 'node:fs/promises'
import { IMAGE_HEADER_BYTES } from './image-info.js'
import type { PartSink } from './multipart.js'

export class UploadTooLargeError extends Error {}
export class InvalidFileFieldError extends Error {}

/** Enough of a text `file` value to tell a URL or data: URI from base64. */
const SNIFF_CHARS = 64

export class TempFileSink implements PartSink {
  size = 0
  #fh: Promise<FileHandle>
  /** The first bytes, kept to probe the image without reading the file back. */
  readonly #head: Buffer[] = []
  #headBytes = 0
  constructor(readonly path: string, readonly maxBytes: number) {
    this.#fh = open(path, 'w')
    this.#fh.catch(() => undefined)
  }

  /** Up to IMAGE_HEADER_BYTES from the start of the file. */
  get head(): Buffer {
    return Buffer.concat(this.#head)
  }

  async write(chunk: Buffer): Promise<void> {
    this.size += chunk.length
    if (this.size > this.maxBytes) throw new UploadTooLargeError()
    if (this.#headBytes < IMAGE_HEADER_BYTES) {
      const part = Buffer.from(chunk.subarray(0, IMAGE_HEADER_BYTES - this.#headBytes))
      this.#head.push(part)
      this.#headBytes += part.length
    }
    const fh = await this.#fh
    let offset = 0
    while (offset < chunk.length) offset += (await fh.write(chunk, offset)).bytesWritten
  }

  async end(): Promise<void> {
    await (await this.#fh).close()
  }

  async abort(): Promise<void> {
    try {
      await (await this.#fh).close()
    } catch {
      // already closed
    }
  }
}

/** Decodes a base64 (or data: URI) text value into a TempFileSink. */
export class Base64Sink implements PartSink {
  #head = ''
  #sniffed = false
  #carry = ''
  constructor(readonly out: TempFileSink) {}

  get size(): number {
    return this.out.size
  }

  async write(chunk: Buffer): Promise<void> {
    let text = chunk.toString('latin1')
    if (!this.#sniffed) {
      this.#head += text
      if (this.#head.length < SNIFF_CHARS) return
      text = this.#sniff()
    }
    await this.#decode(text, false)
  }

  async end(): Promise<void> {
    if (!this.#sniffed) await this.#decode(this.#sniff(), false)
    await this.#decode('', true)
    await this.out.end()
  }

  #sniff(): string {
    this.#sniffed = true
    const head = this.#head.trimStart()
    if (/^https?:\/\//i.test(head)) throw new InvalidFileFieldError('url')
    const dataUri = /^data:[^,]*;base64,/i.exec(head)
    return dataUri ? head.slice(dataUri[0].length) : head
  }

  async #decode(text: string, final: boolean): Promise<void> {
    const clean = this.#carry + text.replace(/\s+/g, '')
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) throw new InvalidFileFieldError('base64')
    const usable = final ? clean.length : clean.length - (clean.length % 4)
    this.#carry = clean.slice(usable)
    if (usable > 0) await this.out.write(Buffer.from(clean.slice(0, usable), 'base64'))
  }
}
