/**
 * Node's http server stamps each answer's Date header with the machine's clock. The emulator's time is its
 * clock option's (signed URL expiry, createdAt, rate-limit windows), so its Date header is too: a client
 * comparing clocks with it (`ikfs doctor`, `ikfs mount`) then sees the skew an emulator was started with.
 */
import { ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http'
import type { Clock } from '../clock.js'

/** A ServerResponse class for `createServer` whose answers carry `clock`'s time, taken when the head is written. */
export function responseDatedBy(clock: Clock): typeof ServerResponse<IncomingMessage> {
  return class DatedResponse extends ServerResponse<IncomingMessage> {
    // Every head passes here, also an implicit one (a bare end() or write() calls writeHead).
    override writeHead(statusCode: number, ...rest: [(string | OutgoingHttpHeaders | OutgoingHttpHeader[])?, (OutgoingHttpHeaders | OutgoingHttpHeader[])?]): this {
      if (!this.headersSent && !this.hasHeader('date')) this.setHeader('date', new Date(clock.now()).toUTCString())
      return (super.writeHead as (status: number, ...more: unknown[]) => this)(statusCode, ...rest)
    }
  }
}
