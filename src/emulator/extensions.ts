/**
 * Extensions asked for on upload (§4.18 `extensions`, a JSON array) or on a details update (§4.3): checked,
 * then reported in `extensionStatus` (§2.3), one entry per extension. The SDK types say `pending` means "will
 * finish in some time, the final status goes to the webhookUrl"; how long, and whether some finish within the
 * request, is unconfirmed, so `--extensions` picks how they end:
 * - `pending` (default): answered `pending`; `jobPendingMs` later the emulator's stand-in results are stored;
 * - `success`: the results are stored before the answer, which says `success` (and carries them);
 * - `failed`: nothing runs, the answer says `failed` (the status that promises no retry and no webhook).
 * The stand-in results, made from what the emulator knows of the file (no AI, no image processing):
 * auto-tagging adds AITags named after the file's kind, format and orientation (with made-up confidences,
 * `minConfidence` and `maxTags` applied, `source` the extension); `ai-auto-description` sets `description`;
 * `remove-bg` and `ai-tasks` change nothing. Extensions that only work on images end `failed` at once on
 * other files. A `pending` run is kept on its version (so it survives a restart of the emulator, as it would
 * the service's) and, when it completes, posts each final status to the request's `webhookUrl`. A `saved-extension` names an extension saved on the account, which the
 * emulator does not keep: it is accepted and gets no entry.
 */
import type { AITag } from '../imagekit/types.js'
import type { EmulatorContext } from './context.js'
import { badRequest } from './http-io.js'
import { detailsObject } from './details-object.js'
import { newObjectId } from './ids.js'
import type { PendingExtensions, VersionRecord } from './records.js'

/** The names the SDK types list (`Shared.Extensions`), each the key of its `extensionStatus` entry. */
const EXTENSION_NAMES = ['remove-bg', 'google-auto-tagging', 'aws-auto-tagging', 'ai-auto-description', 'ai-tasks'] as const
const SAVED_EXTENSION = 'saved-extension'
const AUTO_TAGGING = new Set<string>(['google-auto-tagging', 'aws-auto-tagging'])

export type ExtensionName = (typeof EXTENSION_NAMES)[number]
export type ExtensionMode = 'pending' | 'success' | 'failed'
export type ExtensionStatus = Partial<Record<ExtensionName, 'success' | 'pending' | 'failed'>>

export interface ExtensionRequest {
  name: ExtensionName | typeof SAVED_EXTENSION
  /** Auto-tagging only (both required there by the SDK types). */
  maxTags?: number
  minConfidence?: number
}

/** The emulator's own wording: the real message for a malformed `extensions` is unconfirmed. */
export const INVALID_EXTENSIONS_MESSAGE = 'Your request contains invalid extensions parameter.'

/** The extensions asked for; `value` is the parsed JSON (update) or the form field's text (upload). */
export function parseExtensions(value: unknown): ExtensionRequest[] {
  let list = value
  if (typeof value === 'string') {
    try {
      list = JSON.parse(value)
    } catch {
      throw badRequest(INVALID_EXTENSIONS_MESSAGE, 'INVALID_PARAMETER')
    }
  }
  if (!Array.isArray(list)) throw badRequest(INVALID_EXTENSIONS_MESSAGE, 'INVALID_PARAMETER')
  return list.map((item: unknown) => {
    const fields = typeof item === 'object' && item !== null ? (item as Record<string, unknown>) : {}
    const name = fields.name
    if (name !== SAVED_EXTENSION && !(EXTENSION_NAMES as readonly unknown[]).includes(name)) {
      throw badRequest(INVALID_EXTENSIONS_MESSAGE, 'INVALID_PARAMETER')
    }
    if (!AUTO_TAGGING.has(name as string)) return { name: name as ExtensionRequest['name'] }
    // The SDK types require both; the service's answer without them is unconfirmed, so only a wrong type is refused.
    const { maxTags, minConfidence } = fields
    if ((maxTags !== undefined && (typeof maxTags !== 'number' || !Number.isInteger(maxTags) || maxTags < 0))
      || (minConfidence !== undefined && (typeof minConfidence !== 'number' || minConfidence < 0 || minConfidence > 100))) {
      throw badRequest(INVALID_EXTENSIONS_MESSAGE, 'INVALID_PARAMETER')
    }
    return { name: name as ExtensionName, ...(maxTags !== undefined ? { maxTags } : {}), ...(minConfidence !== undefined ? { minConfidence } : {}) }
  })
}

/**
 * Starts the extensions asked for on the current version of `fileId` (just stored by the caller) as
 * `ctx.options.extensions` says, and returns the `extensionStatus` to answer with; undefined when none were
 * asked for (the field is then absent). With `success` the results are stored before this returns; with
 * `pending` the run is stored on the version (so a restart keeps it) and completes `jobPendingMs` later,
 * posting each final status to `webhookUrl` (webhooks.ts).
 */
export async function startExtensions(
  ctx: EmulatorContext, fileId: string, requests: readonly ExtensionRequest[] | undefined, webhookUrl?: string,
): Promise<ExtensionStatus | undefined> {
  if (requests === undefined || requests.length === 0) return undefined
  const version = ctx.store.fileById(fileId)?.current
  const extensionStatus: ExtensionStatus = {}
  const runnable: ExtensionRequest[] = []
  for (const request of requests) {
    if (request.name === SAVED_EXTENSION) continue
    const canRun = ctx.options.extensions !== 'failed' && version?.fileType === 'image'
    extensionStatus[request.name] = canRun ? ctx.options.extensions : 'failed'
    if (canRun) runnable.push(request)
  }
  if (version && runnable.length > 0) {
    if (ctx.options.extensions === 'success') {
      await ctx.store.exclusive(async () => { applyResults(ctx, fileId, version.id, runnable) })
    } else {
      const run: PendingExtensions = {
        id: newObjectId(), requests: runnable, dueAt: ctx.clock.now() + ctx.jobs.pendingMs, ...(webhookUrl ? { webhookUrl } : {}),
      }
      await ctx.store.exclusive(async () => {
        const file = ctx.store.fileById(fileId)
        if (!file || file.current.id !== version.id) return // overwritten or deleted meanwhile
        file.current.pendingExtensions = [...(file.current.pendingExtensions ?? []), run]
        ctx.store.putFile(file)
      })
      schedule(ctx, fileId, version.id, run)
    }
  }
  return extensionStatus
}

/** At start: schedules every run still pending in the library (stored by an earlier emulator on this data). */
export function resumePendingExtensions(ctx: EmulatorContext): number {
  let resumed = 0
  for (const file of ctx.store.allFiles()) {
    for (const version of [file.current, ...file.versions]) {
      for (const run of version.pendingExtensions ?? []) {
        schedule(ctx, file.fileId, version.id, run)
        resumed++
      }
    }
  }
  return resumed
}

function schedule(ctx: EmulatorContext, fileId: string, versionId: string, run: PendingExtensions): void {
  ctx.jobs.later(() => complete(ctx, fileId, versionId, run), Math.max(0, run.dueAt - ctx.clock.now()))
}

/**
 * Completes a pending run: its results go on the version if that is still the file's current one, and each
 * extension's final status to the webhook (FAILURE when the file was deleted or overwritten meanwhile).
 */
async function complete(ctx: EmulatorContext, fileId: string, versionId: string, run: PendingExtensions): Promise<void> {
  const applied = await ctx.store.exclusive(async () => {
    const file = ctx.store.fileById(fileId)
    const version = file && [file.current, ...file.versions].find((v) => v.id === versionId)
    if (!file || !version) return false
    const left = (version.pendingExtensions ?? []).filter((r) => r.id !== run.id)
    if (left.length > 0) version.pendingExtensions = left
    else delete version.pendingExtensions
    if (version === file.current) applyResults(ctx, fileId, versionId, run.requests as ExtensionRequest[])
    else ctx.store.putFile(file) // overwritten meanwhile: nothing to tag, the run is over
    return version === file.current
  })
  if (!run.webhookUrl) return
  const file = applied ? ctx.store.fileById(fileId) : undefined
  const fileObject = file ? await detailsObject(ctx, file, file.current).catch(() => undefined) : undefined
  for (const request of run.requests) {
    ctx.webhooks.send(run.webhookUrl, fileObject
      ? { service: request.name, status: 'SUCCESS', fileObject }
      : { service: request.name, status: 'FAILURE', fileId, error: { message: EXTENSION_TARGET_GONE } })
  }
}

/** The emulator's wording: the real error object of a failed extension is undocumented. */
const EXTENSION_TARGET_GONE = 'The file was deleted or overwritten before the extension completed.'

/** Stores the stand-in results on the version the extensions were asked for, if it is still the current one; counts their units. */
function applyResults(ctx: EmulatorContext, fileId: string, versionId: string, requests: readonly ExtensionRequest[]): void {
  const file = ctx.store.fileById(fileId)
  if (!file || file.current.id !== versionId) return // overwritten or deleted meanwhile: nothing to tag
  const v = file.current
  countExtensionUnits(ctx, requests.length)
  const before = JSON.stringify([v.AITags, v.description])
  for (const request of requests) {
    if (AUTO_TAGGING.has(request.name)) v.AITags = mergeTags(v.AITags, standInTags(v, request))
    else if (request.name === 'ai-auto-description') v.description = standInDescription(v)
  }
  if (JSON.stringify([v.AITags, v.description]) !== before) v.updatedAt = ctx.clock.now() // remove-bg, ai-tasks, tags already there: no change to show
  ctx.store.putFile(file)
}

/**
 * Usage (§4.16 `extensionUnitsCount`): one unit per extension run that completed. What each extension really
 * costs is unconfirmed (ImageKit's pricing, not its API, says).
 */
function countExtensionUnits(ctx: EmulatorContext, units: number): void {
  ctx.usage.extensionUnits.add(ctx.clock.now(), units)
}

/** Tags an auto-tagger could see in any image, by falling confidence; `minConfidence` and `maxTags` applied. */
export function standInTags(v: VersionRecord, request: ExtensionRequest): AITag[] {
  const source = request.name
  const candidates: AITag[] = [
    { name: 'Image', confidence: 98.5, source },
    { name: v.format.toUpperCase(), confidence: 91.25, source },
  ]
  if (v.width !== undefined && v.height !== undefined && v.width > 0 && v.height > 0) {
    candidates.push({ name: v.width === v.height ? 'Square' : v.width > v.height ? 'Landscape' : 'Portrait', confidence: 72.75, source })
  }
  return candidates.filter((t) => t.confidence >= (request.minConfidence ?? 0)).slice(0, request.maxTags)
}

function mergeTags(existing: AITag[] | null, added: AITag[]): AITag[] | null {
  const merged = [...(existing ?? [])]
  for (const tag of added) if (!merged.some((t) => t.name === tag.name && t.source === tag.source)) merged.push(tag)
  return merged.length > 0 ? merged : null
}

function standInDescription(v: VersionRecord): string {
  const size = v.width && v.height ? `${v.width}×${v.height} ` : ''
  return `A ${size}${v.format.toUpperCase()} image (described by the ImageKit emulator, which runs no AI).`
}

/** `answer` with `extensionStatus` when extensions were asked for; unchanged (the field absent) when not. */
export function withExtensionStatus<T extends object>(answer: T, extensionStatus: ExtensionStatus | undefined): T & { extensionStatus?: ExtensionStatus } {
  return extensionStatus ? { ...answer, extensionStatus } : answer
}
