/**
 * The file object of a details answer (§4.2: details, one version, update, restore; and the `fileObject` of
 * an extension's webhook, "the result of a Get File Details API call"): the §2.1 object plus
 * `embeddedMetadata`, as the SDK's File type has it, read from the version's bytes (`{}` when they hold none
 * the emulator reads; read once per version, embedded-cache.ts). List answers leave it out (whether the real
 * ones carry it is unconfirmed) and so read no bytes.
 */
import type { FileObject } from '../imagekit/types.js'
import type { EmulatorContext } from './context.js'
import { NO_EMBEDDED_FACTS, toEmbeddedMetadata, type EmbeddedFacts } from './embedded-metadata.js'
import { toFileObject } from './file-object.js'
import { FILE_NOT_FOUND_MESSAGE } from './file-ops.js'
import { notFound } from './http-io.js'
import type { FileRecord, VersionRecord } from './records.js'

export async function detailsObject(ctx: EmulatorContext, file: FileRecord, version: VersionRecord): Promise<FileObject> {
  const embedded = await embeddedFactsOf(ctx, file, version, FILE_NOT_FOUND_MESSAGE)
  return { ...toFileObject(file, version, ctx.urls), embeddedMetadata: toEmbeddedMetadata(embedded) }
}

/**
 * What the version's first bytes embed (images only: other files embed nothing the emulator reads);
 * `missing`: the message of the 404 when its bytes are gone (deleted meanwhile).
 */
export async function embeddedFactsOf(ctx: EmulatorContext, file: FileRecord, version: VersionRecord, missing: string): Promise<EmbeddedFacts> {
  if (version.fileType !== 'image') return NO_EMBEDDED_FACTS
  try {
    return await ctx.embedded.get(version, ctx.store.bytesPathOf(file, version))
  } catch {
    throw notFound(missing)
  }
}
