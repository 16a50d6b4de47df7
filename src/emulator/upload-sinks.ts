/**
 * Where the upload's `file` part goes: straight to a temp file (binary part), or through an incremental
 * base64 decoder (text part, optionally a `data:` URI). Both count bytes and stop at the size limit.
 */
import { write, writeSync, writev } from 'node:fs'
import { promisify } from 'node:util'
import { IMAGE_HEADER_BYTES } from './image-info.js'
import type { PartSink } from './multipart.js'
import { closeQuietly, type TempFile } from './temp-files.js'

export class UploadTooLargeError extends Error {}
export class InvalidFileFieldError extends Error {}

/** Enough of a text `file` value to tell a URL or data: URI from base64. */
const SNIFF_CHARS = 64
/** Longest `file` URL taken (browsers' practical limit is about as long). */
const MAX_URL_CHARS = 8192

/**
 * The file is created as soon as its part starts (overlapping the body's arrival); a small part stays in
 * memory and is written at its end with synchronous calls (microseconds each, where a thread-pool round trip
 * per chunk and one for the close were much of a small upload's time), a part that grows past this goes to
 * disk as it arrives, this much at a time (one write per MiB instead of one per socket read). The file is
 * closed synchronously either way.
 */
const IN_MEMORY_BYTES = 1024 * 1024

const writevAsync = promisify(writev)
const writeAsync = promisify(write)

export class TempFileSink implements PartSink {
  size = 0
  readonly #fd: Promise<number>
  #closed = false
  /** Bytes received and not on disk yet (at most IN_MEMORY_BYTES). */
  #pending: Buffer[] = []
  #pendingBytes = 0
  #spilled = false
  /** The first bytes, kept to probe the image without reading the file back. */
  readonly #head: Buffer[] = []
  #headBytes = 0
  /** `file`: where the bytes go (an empty file being created or already open, temp-files.ts). */
  constructor(file: TempFile, readonly maxBytes: number) {
    this.path = file.path
    this.#fd = file.fd
  }

  readonly path: string

  /** Up to IMAGE_HEADER_BYTES from the start of the file. */
  get head(): Buffer {
    return this.#head.length === 1 ? this.#head[0]! : Buffer.concat(this.#head)
  }

  async write(chunk: Buffer): Promise<void> {
    this.size += chunk.length
    if (this.size > this.maxBytes) throw new UploadTooLargeError()
    if (this.#headBytes < IMAGE_HEADER_BYTES) {
      // Not a copy: nothing writes into a chunk once it is handed over (the socket's reads are new memory).
      const part = chunk.subarray(0, IMAGE_HEADER_BYTES - this.#headBytes)
      this.#head.push(part)
      this.#headBytes += part.length
    }
    this.#pending.push(chunk)
    this.#pendingBytes += chunk.length
    if (this.#pendingBytes < IN_MEMORY_BYTES) return
    this.#spilled = true
    await this.#flush(await this.#fd)
  }

  async #flush(fd: number): Promise<void> {
    const buffers = this.#pending.splice(0)
    this.#pendingBytes = 0
    let { bytesWritten } = await writevAsync(fd, buffers)
    for (const buf of buffers) { // rare short writes: the rest one buffer at a time
      if (bytesWritten >= buf.length) {
        bytesWritten -= buf.length
        continue
      }
      let offset = bytesWritten
      bytesWritten = 0
      while (offset < buf.length) offset += (await writeAsync(fd, buf, offset, buf.length - offset, null)).bytesWritten
    }
  }

  async end(): Promise<void> {
    const fd = await this.#fd
    try {
      if (this.#spilled) {
        await this.#flush(fd)
        return
      }
      for (const buf of this.#pending.splice(0)) {
        let offset = 0
        while (offset < buf.length) offset += writeSync(fd, buf, offset)
      }
    } finally {
      this.#close(fd)
    }
  }

  async abort(): Promise<void> {
    this.#pending = []
    try {
      this.#close(await this.#fd)
    } catch {
      // never opened
    }
  }

  /** Once only: a descriptor number closed twice could be another file's by then. */
  #close(fd: number): void {
    if (this.#closed) return
    this.#closed = true
    closeQuietly(fd)
  }
}

/**
 * Decodes a base64 (or data: URI) text value into a TempFileSink. A value that is an http(s) URL is kept in
 * `url` instead (with `acceptUrl`; otherwise refused) and `out` is left open and empty for the caller to fetch
 * it into (url-source.ts).
 */
export class Base64Sink implements PartSink {
  #head = ''
  #sniffed = false
  #carry = ''
  /** The URL the value names, once it has ended. */
  url: string | undefined
  #urlText: string | undefined
  constructor(readonly out: TempFileSink, readonly acceptUrl = false) {}

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
    if (this.#urlText !== undefined) this.#addUrlText(text)
    else await this.#decode(text, false)
  }

  async end(): Promise<void> {
    const text = this.#sniffed ? '' : this.#sniff()
    if (this.#urlText !== undefined) {
      this.#addUrlText(text)
      this.url = Buffer.from(this.#urlText, 'latin1').toString('utf8').trim()
      return
    }
    await this.#decode(text, false)
    await this.#decode('', true)
    await this.out.end()
  }

  #addUrlText(text: string): void {
    this.#urlText += text
    if ((this.#urlText as string).length > MAX_URL_CHARS) throw new InvalidFileFieldError('url')
  }

  #sniff(): string {
    this.#sniffed = true
    const head = this.#head.trimStart()
    if (/^https?:\/\//i.test(head)) {
      if (!this.acceptUrl) throw new InvalidFileFieldError('url')
      this.#urlText = ''
      return head
    }
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
