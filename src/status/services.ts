/**
 * Everything a mount serves about itself, started together before mounting and closed together after:
 * the status board, the control socket, and (with --metrics ADDR) the metrics listener.
 * A control socket that cannot be made (no writable runtime folder) costs `ikfs status`, not the mount:
 * it is logged. Metrics were asked for explicitly, so failing to serve them fails the mount.
 */
import { ConfigError } from '../config/config-error.js'
import type { Logger } from '../log.js'
import { parseMetricsAddress, startControlServer, startMetricsServer, StatusServerError, type MetricsAddress, type RunningServer } from './server.js'
import { StatusBoard, type StatusIdentity } from './snapshot.js'

export interface StatusServicesOptions extends StatusIdentity {
  socketPath: string
  /** `--metrics` text; empty: off. */
  metrics: string
  logger: Logger
  now?: () => number
}

export interface StatusServices {
  readonly board: StatusBoard
  readonly socketPath: string | undefined
  readonly metricsUrl: string | undefined
  close(): Promise<void>
}

/** Checks `--metrics` without starting anything (ConfigError, exit code 2, when malformed). */
export function metricsAddress(text: string): MetricsAddress | undefined {
  if (text.trim() === '') return undefined
  try {
    return parseMetricsAddress(text)
  } catch (e) {
    throw new ConfigError((e as Error).message, { option: 'metrics' })
  }
}

export async function startStatusServices(options: StatusServicesOptions): Promise<StatusServices> {
  const { socketPath, metrics, logger, now = Date.now, ...identity } = options
  const log = logger.child({ component: 'status' })
  const address = metricsAddress(metrics)
  const board = new StatusBoard(identity, now)
  const running: RunningServer[] = []
  let control: string | undefined
  try {
    running.push(await startControlServer(socketPath, board, logger))
    control = socketPath
  } catch (e) {
    if (e instanceof StatusServerError) throw e
    log.warn({ err: e, socketPath }, '`ikfs status` will not work: cannot create the control socket')
  }
  let metricsUrl: string | undefined
  if (address) {
    try {
      const server = await startMetricsServer(address, board, logger)
      running.push(server)
      metricsUrl = `${server.address}/metrics`
    } catch (e) {
      await Promise.all(running.map((r) => r.close()))
      throw e
    }
  }
  return {
    board,
    socketPath: control,
    metricsUrl,
    close: async () => {
      await Promise.all(running.map((r) => r.close().catch((err: unknown) => log.warn({ err }, 'closing a status listener failed'))))
    },
  }
}
