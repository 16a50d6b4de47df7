/**
 * The RangeResponse both readers hand out, and its body as a Readable for callers that copy it somewhere
 * (the write path's fill of a spool file, tests). Bytes land in chunks of CHUNK_BYTES that are pushed piece
 * by piece; backpressure pauses the delivery until the consumer reads again.
 */
import { Readable } from 'node:stream'
import type { BodySink, RangeResponse } from './api.js'
import type { RangePlan } from './range-checks.js'

type Controls = Pick<RangeResponse, 'deliver' | 'resume' | 'close'>

/** The RangeResponse a reader hands out once the head passed its checks; `body` is made on first use. */
export function makeRangeResponse(start: number, plan: Pick<RangePlan, 'totalSize' | 'etag' | 'requestId'>, controls: Controls): RangeResponse {
  let body: Readable | undefined
  const range: RangeResponse = {
    start,
    totalSize: plan.totalSize,
    get body() {
      body ??= rangeBody(range)
      return body
    },
    ...controls,
  }
  if (plan.etag !== undefined) range.etag = plan.etag
  if (plan.requestId !== undefined) range.requestId = plan.requestId
  return range
}

/** Memory a push lands in; 256 KiB keeps allocations few without holding much per stream. */
const CHUNK_BYTES = 256 * 1024

export function rangeBody(range: Controls): Readable {
  let chunk: Buffer | undefined
  let used = 0
  let wanted = false
  let started = false
  const sink: BodySink = {
    nextRegion() {
      if (!wanted) return undefined
      if (!chunk || used === chunk.length) {
        chunk = Buffer.allocUnsafe(CHUNK_BYTES)
        used = 0
      }
      return chunk.subarray(used)
    },
    wrote(n) {
      const piece = chunk!.subarray(used, used + n)
      used += n
      wanted = stream.push(piece)
    },
  }
  const stream: Readable = new Readable({
    read() {
      wanted = true
      if (started) return range.resume()
      started = true
      range.deliver(sink).then(
        () => stream.push(null),
        (error: unknown) => stream.destroy(error as Error),
      )
    },
    destroy(error, callback) {
      range.close()
      callback(error)
    },
  })
  return stream
}
