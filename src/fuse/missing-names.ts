/**
 * The names the kernel was told do not exist, for as long as it keeps such answers (negative_timeout).
 * The kernel asks again only when that time is up, so a refresh (`ikfs refresh`, SIGHUP) that shows a new
 * remote file must also make the kernel forget that the name was missing: these are the names to forget.
 *
 * Bounded: file managers probe the same few names in every folder, and a name dropped from here when the
 * bound is reached is still forgotten by the kernel when its negative_timeout ends.
 */
import { LRUCache } from 'lru-cache'
import { posix } from 'node:path'
import type { Logger } from '../log.js'
import type { BusyFolders } from './busy-folders.js'

export const MAX_MISSING_NAMES = 10_000

/** Has the kernel forget `names` in `folder` (the binding's notification); resolves with how many it held. */
export type ForgetNames = (folder: string, names: string[]) => Promise<number>

/** The folders that requests in flight hold in the kernel (busy-folders.ts). */
export type HeldFolders = Pick<BusyFolders, 'idle' | 'isBusy'>

export interface MissingNamesOptions {
  max?: number
  now?: () => number
  /** A folder's notification waits until no request holds it. */
  held?: HeldFolders
  /** Has the kernel look again at these folders before their names are forgotten (freshen-folders.ts); false: not all in time. */
  freshen?: (folders: string[]) => Promise<boolean>
}

export class MissingNames {
  readonly #paths: LRUCache<string, true> | undefined
  readonly #rememberedForMs: number
  readonly #held: HeldFolders | undefined
  readonly #now: () => number
  readonly #freshen: ((folders: string[]) => Promise<boolean>) | undefined
  #notifying: Promise<unknown> = Promise.resolve()

  /** `rememberedForMs`: the kernel's negative_timeout (0: the kernel keeps no such answers). */
  constructor(rememberedForMs: number, options: MissingNamesOptions = {}) {
    this.#rememberedForMs = rememberedForMs
    this.#held = options.held
    this.#freshen = options.freshen
    this.#now = options.now ?? performance.now.bind(performance)
    if (rememberedForMs <= 0) return
    const now = options.now
    this.#paths = new LRUCache({ max: options.max ?? MAX_MISSING_NAMES, ttl: rememberedForMs, ...(now ? { perf: { now } } : {}) })
  }

  /** A lookup of `path` (inside the mount) answered "no such file". */
  add(path: string): void {
    this.#paths?.set(path, true)
  }

  /**
   * Has the kernel forget the names at or under `localPath` (all when undefined); resolves with how many it
   * held. Each folder's notification waits until no request holds that folder (busy-folders.ts); once the
   * kernel has dropped such answers by itself (negative_timeout), nothing is left to forget. Notifications go
   * one after another, so refreshes that come together never hold several threads (forget_names.c). Never
   * rejects (a refresh may answer before this ends, cli/mount.ts): a folder that cannot be resolved is gone,
   * and nothing is held there.
   */
  async forget(localPath: string | undefined, forgetNames: ForgetNames, log: Logger): Promise<number> {
    // Deepest folders first: forgetting a name makes the kernel drop its folder's attributes, and until it asks
    // again it cannot answer from its cache alone about anything reached through that folder (forget_names.c).
    const taken = [...this.takeUnder(localPath)].sort(([a], [b]) => depthOf(b) - depthOf(a))
    if (taken.length > 0 && this.#freshen && !(await this.#freshen(taken.map(([folder]) => folder)).catch(() => false))) {
      log.debug({ folders: taken.length }, 'not every folder was looked at again in time: names missed there long ago may stay missing for negative_timeout')
    }
    const byFolder = taken.map(async ([folder, names]) => {
      log.debug({ folder, names: names.length }, 'making the kernel forget names it was told are missing')
      const forgotten = await this.#whenFree(folder, () => forgetNames(folder, names)).catch((err: unknown) => {
        log.debug({ err, folder }, 'missing names not forgotten')
        return 0
      })
      if (forgotten === undefined) log.debug({ folder }, 'folder busy until the kernel forgot the missing names by itself')
      return forgotten ?? 0
    })
    try {
      return (await Promise.all(byFolder)).reduce((sum, n) => sum + n, 0)
    } catch (err) {
      log.warn({ err }, 'the kernel could not be made to forget missing names; it forgets them after negative_timeout')
      return 0
    }
  }

  /**
   * Runs `notify` in its turn (one notification at a time) once no request holds `folder`: waiting for that
   * holds up no other folder's turn, and the folder is looked at again when its turn comes. Undefined when it
   * stayed busy for as long as the kernel keeps the names.
   */
  async #whenFree(folder: string, notify: () => Promise<number>): Promise<number | undefined> {
    const held = this.#held
    const until = this.#now() + this.#rememberedForMs
    for (;;) {
      if (held && !(await held.idle(folder, Math.max(0, until - this.#now())))) return undefined
      const turn = this.#notifying.then(() => (held?.isBusy(folder) ? undefined : notify()))
      this.#notifying = turn.catch(() => undefined)
      const forgotten = await turn
      if (forgotten !== undefined) return forgotten
    }
  }

  /** Takes the names at or under `localPath` (all when undefined), grouped by folder. */
  takeUnder(localPath?: string): Map<string, string[]> {
    const byFolder = new Map<string, string[]>()
    if (!this.#paths) return byFolder
    const at = localPath?.replace(/\/+$/, '') || '/'
    const under = at === '/' ? '/' : at + '/'
    for (const path of [...this.#paths.keys()]) {
      if (path !== at && !path.startsWith(under)) continue
      this.#paths.delete(path)
      const folder = posix.dirname(path)
      const names = byFolder.get(folder)
      if (names) names.push(posix.basename(path))
      else byFolder.set(folder, [posix.basename(path)])
    }
    return byFolder
  }
}

function depthOf(folder: string): number {
  return folder === '/' ? 0 : folder.split('/').length - 1
}
