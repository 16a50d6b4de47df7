import { createLogger, type Logger } from '../../../src/log.js'

export interface LogRecord {
  level: number; msg: string; op?: string; path?: string; code?: string; reason?: string
  err?: { message: string; stack?: string; cause?: { message: string } }
}

/** A real pino logger writing parsed records into an array. */
export function captureLogger(): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = []
  const logger = createLogger({ level: 'debug', pretty: false }, { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) })
  return { logger, records }
}
