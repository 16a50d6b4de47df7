/** JSON in and out, and the API's error shape (§1): `{ message, help, reason?, ... }`. */
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { SUPPORT_HELP, type ErrorBody } from '../imagekit/types.js'

/** Largest JSON request body accepted; the API's bodies are small (≤100 ids, a few fields). */
export const MAX_JSON_BODY_BYTES = 1024 * 1024

export class ApiError extends Error {
  readonly body: ErrorBody
  constructor(
    readonly status: number,
    message: string,
    extra: { reason?: string; [key: string]: unknown } = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.body = { message, help: SUPPORT_HELP, ...extra }
  }
}

export function badRequest(message: string, reason?: string, extra: Record<string, unknown> = {}): ApiError {
  return new ApiError(400, message, reason ? { reason, ...extra } : extra)
}

export function notFound(message: string, reason?: string, extra: Record<string, unknown> = {}): ApiError {
  return new ApiError(404, message, reason ? { reason, ...extra } : extra)
}

/**
 * The weak ETag of a JSON answer as the upload API's captured answers carry it (§2.3 sources: `W/"859-GOeZ…"`):
 * Express's form, the body's length in hex and the first 27 characters of its SHA-1 in base64.
 */
export function weakEtag(text: string): string {
  const bytes = Buffer.from(text, 'utf8')
  return `W/"${bytes.length.toString(16)}-${createHash('sha1').update(bytes).digest('base64').slice(0, 27)}"`
}

/** `etag`: add weakEtag's header (the upload API's answers; whether the Media API's carry one is unconfirmed). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, etag = false): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    ...(etag ? { etag: weakEtag(text) } : {}),
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
  })
  res.end(text)
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': '0' })
  res.end()
}

export function sendApiError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, err.body, err.headers)
}

/** Reads and parses a JSON body; an absent body is `{}`. */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_JSON_BODY_BYTES) throw badRequest('Your request body is too large.')
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8').trim()
  if (text === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw badRequest('Your request contains invalid JSON body.', 'INVALID_PARAMETER')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest('Your request body should be a JSON object.', 'INVALID_PARAMETER')
  }
  return parsed as Record<string, unknown>
}
