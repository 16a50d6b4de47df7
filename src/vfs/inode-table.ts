/**
 * Inode numbers and the nodes held by open handles.
 *
 * Numbers: root is 1; others are allocated from a counter and never reused while mounted. A node
 * keeps its number across re-listings while it lives (the new listing looks up the previous one, see
 * dir-node.ts), while an open handle pins it, and after its listing was dropped (a refresh, the listing
 * cache's bound): the numbers of dropped listings' nodes are remembered by identity key, up to
 * REMEMBERED_INOS_MAX of them, the least recently seen forgotten first. A file or folder deleted through the
 * mount is forgotten at once (its number has nothing left to keep it for), so files that come and go do not
 * fill the table; those deleted elsewhere stay until the bound.
 * Mutated only in synchronous stretches (no await between read and write).
 */
import { LRUCache } from 'lru-cache'
import { identityKey, ROOT_INO, type Inode } from './inode.js'

/** About 100 bytes each: a million files seen and let go of cost some 100 MiB at most. */
export const REMEMBERED_INOS_MAX = 1_000_000

interface Pin {
  node: Inode
  refs: number
}

export class InodeTable {
  #nextIno = ROOT_INO + 1
  readonly #pinned = new Map<string, Pin>()
  /**
   * Bounded by maxSize (each entry 1), not max: lru-cache allocates its arrays for the whole of `max` up front,
   * 15 MiB of heap for a million (over half a second at start, and marked by every full collection of the
   * daemon after, one every few hundred files of 64 KiB copied in); with maxSize they grow as entries come.
   */
  readonly #remembered: LRUCache<string, number>

  /** `maxRemembered`: the bound (tests make it small). */
  constructor(maxRemembered = REMEMBERED_INOS_MAX) {
    this.#remembered = new LRUCache<string, number>({ maxSize: maxRemembered, sizeCalculation: () => 1 })
  }

  allocate(): number {
    return this.#nextIno++
  }

  /** The number a node with this identity has or had (pinned, or remembered), so a re-listing keeps it. */
  knownIno(key: string): number | undefined {
    return this.#pinned.get(key)?.node.ino ?? this.#remembered.get(key)
  }

  /** A listing holding `node` is dropped: its number stays its identity's. */
  remember(node: Inode): void {
    this.#remembered.set(identityKey(node), node.ino)
  }

  /** The thing with this identity was deleted: its number is not kept for a later listing. */
  forget(key: string): void {
    this.#remembered.delete(key)
  }

  pin(node: Inode): void {
    const key = identityKey(node)
    const pin = this.#pinned.get(key)
    if (pin) pin.refs++
    else this.#pinned.set(key, { node, refs: 1 })
  }

  unpin(node: Inode): void {
    const key = identityKey(node)
    const pin = this.#pinned.get(key)
    if (!pin) throw new Error(`unpin of a node that is not pinned (ino ${node.ino})`)
    if (--pin.refs === 0) this.#pinned.delete(key)
  }

  /** An open handle holds the thing with this identity. */
  isPinned(key: string): boolean {
    return this.#pinned.has(key)
  }

  get pinnedCount(): number {
    return this.#pinned.size
  }

  get rememberedCount(): number {
    return this.#remembered.size
  }

  /** Throws when two live identities share a number, or an identity has two numbers (tests call it after every op). */
  checkInvariants(live: Iterable<Inode>): void {
    const keyByIno = new Map<number, string>()
    const inoByKey = new Map<string, number>()
    const check = (node: Inode) => {
      const key = identityKey(node)
      if (node.ino <= ROOT_INO || node.ino >= this.#nextIno) throw new Error(`ino ${node.ino} out of range`)
      const k = keyByIno.get(node.ino)
      if (k !== undefined && k !== key) throw new Error(`ino ${node.ino} used by ${k} and ${key}`)
      const i = inoByKey.get(key)
      if (i !== undefined && i !== node.ino) throw new Error(`${key} has inos ${i} and ${node.ino}`)
      keyByIno.set(node.ino, key)
      inoByKey.set(key, node.ino)
    }
    for (const node of live) check(node)
    for (const pin of this.#pinned.values()) {
      if (pin.refs <= 0) throw new Error(`pin count ${pin.refs} for ino ${pin.node.ino}`)
      check(pin.node)
    }
  }
}
