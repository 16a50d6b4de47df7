/** Where `npm install` (native/build-native.mjs) puts ikfs's addons, found from native/ and from dist/native/. */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

/** `native/<folder>/build/<file>` if it was built, else undefined. */
export function builtAddon(folder: string, file: string): string | undefined {
  return [join(here, folder, 'build', file), join(here, '..', '..', 'native', folder, 'build', file)].find((p) => existsSync(p))
}
