/**
 * What each version's bytes embed (embedded-metadata.ts), read once per version: details (of the file or one
 * version), update, restore, extension webhooks and the metadata endpoints would otherwise read up to
 * IMAGE_HEADER_BYTES of the file on every call (a client asking details of a big library reads it all again each time). A version's bytes never change
 * once stored (a new upload is a new version); the key also holds its size and disk mtime, which adoption
 * updates when the bytes under `files/` were changed by hand. Least recently used entries go first.
 */
import { readEmbeddedFacts, type EmbeddedFacts } from './embedded-metadata.js'
import { readHead } from './probe.js'
import type { VersionRecord } from './records.js'

/** Entries kept: each is a few hundred bytes (the EXIF tags), so this is a few MB at most. */
export const EMBEDDED_CACHE_ENTRIES = 10_000

export class EmbeddedFactsCache {
  readonly #entries = new Map<string, EmbeddedFacts>()
  /** Reads of a file's first bytes made so far (tests check that a second call makes none). */
  reads = 0

  constructor(readonly maxEntries = EMBEDDED_CACHE_ENTRIES) {}

  /** The facts of `version`, whose bytes are at `bytesPath`; rejects when they cannot be read. */
  async get(version: VersionRecord, bytesPath: string): Promise<EmbeddedFacts> {
    const key = `${version.id}:${version.size}:${version.diskMtimeMs ?? ''}`
    const hit = this.#entries.get(key)
    if (hit) {
      this.#entries.delete(key)
      this.#entries.set(key, hit)
      return hit
    }
    this.reads += 1
    const facts = readEmbeddedFacts(await readHead(bytesPath))
    this.#entries.set(key, facts)
    if (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string)
    return facts
  }
}
