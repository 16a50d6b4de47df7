/**
 * The upload `transformation` field (§4.18): JSON `{pre?: string, post?: [...]}`, each `post` step one of the
 * SDK types' kinds (`transformation` and `abs` with a `value`, `abs` with `protocol` hls|dash, `gif-to-video`
 * and `thumbnail` with an optional one). Checked so that a malformed one is refused rather than silently
 * ignored; the steps themselves are not applied (the emulator does no image processing). The real message
 * for a malformed one is unconfirmed: this wording is the emulator's.
 */
import { ApiError, badRequest } from './http-io.js'

export const INVALID_TRANSFORMATION_MESSAGE = 'Your request contains invalid transformation parameter.'
/**
 * The upload's 202 body (the upload docs' example) for a video with a pre-transformation: the docs' "pre
 * transformation is sync for image files but async for video files".
 */
export const PRE_TRANSFORMATION_QUEUED_MESSAGE = 'The pre-transformation has been queued successfully.'

const POST_TYPES = new Set(['transformation', 'gif-to-video', 'thumbnail', 'abs'])

/** Checks the field and answers its `pre` step, if any. */
export function checkUploadTransformation(raw: string | undefined): { pre?: string } {
  if (raw === undefined || raw === '') return {}
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    throw refused()
  }
  if (!isObject(value)) throw refused()
  if (value.pre !== undefined && typeof value.pre !== 'string') throw refused()
  if (value.post !== undefined && (!Array.isArray(value.post) || !value.post.every(isPostStep))) throw refused()
  return value.pre === undefined || value.pre === '' ? {} : { pre: value.pre }
}

function isPostStep(step: unknown): boolean {
  if (!isObject(step) || typeof step.type !== 'string' || !POST_TYPES.has(step.type)) return false
  if (step.value !== undefined && typeof step.value !== 'string') return false
  if ((step.type === 'transformation' || step.type === 'abs') && typeof step.value !== 'string') return false
  return step.type !== 'abs' || step.protocol === 'hls' || step.protocol === 'dash'
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function refused(): ApiError {
  return badRequest(INVALID_TRANSFORMATION_MESSAGE, 'INVALID_PARAMETER')
}
