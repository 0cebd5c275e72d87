/**
 * Sliding-window replay filter for transport counters (whitepaper §5.4.6, RFC 6479
 * style ring of bitmap blocks, as in wireguard-go). Accepts each counter once,
 * and anything up to {@link REPLAY_WINDOW_SIZE} behind the newest seen.
 * @module
 */
import { REPLAY_WINDOW_SIZE } from "./constants.ts";

const BLOCK_BITS = 32;
const RING_BLOCKS = 128; // power of two; window = (RING_BLOCKS - 1) * BLOCK_BITS = 4064
const RING_MASK = RING_BLOCKS - 1;

/** Replay window of one receiving keypair. */
export class ReplayFilter {
  #last = 0;
  #ring = new Uint32Array(RING_BLOCKS);

  /** Forgets every counter seen. */
  reset(): void {
    this.#last = 0;
    this.#ring.fill(0);
  }

  /**
   * Marks `counter` as received. Returns false when it is a replay, too old, or
   * `counter >= limit` (REJECT_AFTER_MESSAGES). Call only after authentication.
   */
  validate(counter: number, limit: number): boolean {
    if (counter >= limit) return false;
    let indexBlock = Math.floor(counter / BLOCK_BITS);
    if (counter > this.#last) {
      const current = Math.floor(this.#last / BLOCK_BITS);
      const diff = Math.min(indexBlock - current, RING_BLOCKS);
      for (let i = 1; i <= diff; i++) this.#ring[(current + i) & RING_MASK] = 0;
      this.#last = counter;
    } else if (this.#last - counter > REPLAY_WINDOW_SIZE) {
      return false;
    }
    indexBlock &= RING_MASK;
    const bit = 1 << (counter % BLOCK_BITS);
    const old = this.#ring[indexBlock];
    if ((old & bit) !== 0) return false;
    this.#ring[indexBlock] = old | bit;
    return true;
  }
}
