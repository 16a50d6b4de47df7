/** Where `npm install` (native/build-native.mjs) puts ikfs's addons, found from native/ and from dist/native/. */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

/** `native/<folder>/build/<file>` if it was built, else undefined. */
export function builtAddon(folder: string, file: string): string | undefined {
  return [join(here, folder, 'build', file), join(here, '..', '..', 'native', folder, 'build', file)].find((p) => existsSync(p))
}

/** The ikfs folder (the one with package.json), from native/ and from dist/native/. */
function packageRoot(): string {
  return [join(here, '..'), join(here, '..', '..')].find((p) => existsSync(join(p, 'native', 'build-native.mjs'))) ?? join(here, '..')
}

/** What builds the addons later, from any folder (a global install's folder is not where its user is). */
export function buildNativeCommand(): string {
  return `npm run build:native --prefix ${packageRoot()}`
}

/**
 * The addon at `path` (builtAddon's answer) loaded, or why not: not built, or not loadable (a build for
 * another Node). `what` names it in the reason.
 */
export function loadBuiltAddon<T>(path: string | undefined, what: string): { addon: T; reason?: undefined } | { addon?: undefined; reason: string } {
  if (path === undefined || !existsSync(path)) return { reason: `${what} is not built (run: npm run build:native)` }
  try {
    return { addon: createRequire(import.meta.url)(path) as T }
  } catch (e) {
    return { reason: `${what} does not load (${e instanceof Error ? e.message.split('\n')[0] : String(e)})` }
  }
}
