/**
 * Random 32-bit session indices (whitepaper §5.4.2 `I`): each handshake gets a
 * fresh local index, which later names the keypair derived from it.
 * @module
 */
import type { Handshake } from "./handshake.ts";
import type { Keypair } from "./keypair.ts";

/** What a local index points at; `P` is the device's peer type. */
export interface IndexEntry<P> {
  peer: P;
  handshake: Handshake | null;
  keypair: Keypair | null;
}

/** Maps local indices to handshakes and keypairs, and to the peer they belong to. */
export class IndexTable<P> {
  #entries = new Map<number, IndexEntry<P>>();
  #rand = new Uint32Array(1);

  /** Allocates a fresh random index for a handshake of `peer`. */
  newIndexForHandshake(peer: P, handshake: Handshake): number {
    for (;;) {
      crypto.getRandomValues(this.#rand);
      const index = this.#rand[0];
      if (!this.#entries.has(index)) {
        this.#entries.set(index, { peer, handshake, keypair: null });
        return index;
      }
    }
  }

  /** Re-points an index from its handshake to the keypair derived from it. */
  swapIndexForKeypair(index: number, keypair: Keypair): void {
    const e = this.#entries.get(index);
    if (e === undefined) return;
    e.handshake = null;
    e.keypair = keypair;
  }

  /** Looks an index up. */
  lookup(index: number): IndexEntry<P> | undefined {
    return this.#entries.get(index);
  }

  /** Frees an index. */
  delete(index: number): void {
    this.#entries.delete(index);
  }

  /** Number of live indices. */
  get size(): number {
    return this.#entries.size;
  }
}
