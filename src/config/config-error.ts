/**
 * ConfigError speaks to people: one line naming the option, where its value came from and what is wrong.
 * The CLI prints the message alone (stack only with --debug) and exits with code 2. A secret's value is
 * never part of the message.
 */
export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly code = 'CONFIG'
  /** rclone name of the option at fault, when there is one. */
  readonly option?: string
  constructor(message: string, options: { option?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.option = options.option
  }
}

export function isConfigError(e: unknown): e is ConfigError {
  return e instanceof ConfigError
}
