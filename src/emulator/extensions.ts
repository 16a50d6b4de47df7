/**
 * Extensions asked for on upload (§4.18 `extensions`, a JSON array) or on a details update (§4.3): checked,
 * then reported in `extensionStatus` (§2.3), one entry per extension. The emulator runs none of them (no AI
 * tagging, background removal or description), so each is `failed`, the status that promises no retry and no
 * webhook; real answers carry it too when an extension cannot run. A `saved-extension` names an extension
 * saved on the account, which the emulator does not keep: it is accepted and gets no entry.
 */
import { badRequest } from './http-io.js'

/** The names the SDK types list (`Shared.Extensions`), each the key of its `extensionStatus` entry. */
const EXTENSION_NAMES = ['remove-bg', 'google-auto-tagging', 'aws-auto-tagging', 'ai-auto-description', 'ai-tasks'] as const
const SAVED_EXTENSION = 'saved-extension'

export type ExtensionStatus = Partial<Record<(typeof EXTENSION_NAMES)[number], 'success' | 'pending' | 'failed'>>

/** The emulator's own wording: the real message for a malformed `extensions` is unconfirmed. */
export const INVALID_EXTENSIONS_MESSAGE = 'Your request contains invalid extensions parameter.'

/** The names of the extensions asked for; `value` is the parsed JSON (update) or the form field's text (upload). */
export function parseExtensions(value: unknown): string[] {
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
    const name = typeof item === 'object' && item !== null ? (item as { name?: unknown }).name : undefined
    if (name !== SAVED_EXTENSION && !(EXTENSION_NAMES as readonly unknown[]).includes(name)) {
      throw badRequest(INVALID_EXTENSIONS_MESSAGE, 'INVALID_PARAMETER')
    }
    return name as string
  })
}

/** `answer` with `extensionStatus` for the extensions asked for; unchanged when none were (the field is absent). */
export function withExtensionStatus<T extends object>(answer: T, names: readonly string[] | undefined): T & { extensionStatus?: ExtensionStatus } {
  if (names === undefined || names.length === 0) return answer
  const extensionStatus: ExtensionStatus = {}
  for (const name of names) if (name !== SAVED_EXTENSION) extensionStatus[name as keyof ExtensionStatus] = 'failed'
  return { ...answer, extensionStatus }
}
