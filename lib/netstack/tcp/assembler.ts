/**
 * Out-of-order bookkeeping for the receiver: which sequence ranges past RCV.NXT are held,
 * and in which order they arrived (RFC 2018 section 4: the first SACK block reports the most
 * recently received segment, later blocks repeat the most recently reported ones).
 * Sequence numbers here are unwrapped (see `tcp/seq.ts`), so plain `<` works.
 * @module
 */
import { applyMerge, locateMerge } from "./ranges.ts";

/** Sorted, non-overlapping ranges `[start, end)` with a recency stamp each. */
export class Assembler {
  readonly maxRanges: number;
  starts: number[] = [];
  ends: number[] = [];
  stamps: number[] = [];
  private clock = 0;

  /** @param maxRanges how many holes we are willing to track; more segments are dropped. */
  constructor(maxRanges = 64) {
    this.maxRanges = maxRanges;
  }

  get count(): number {
    return this.starts.length;
  }

  /**
   * Records `[start, end)` as held. Returns false (nothing recorded) when that would need more
   * than `maxRanges` ranges; the caller then drops the segment's data.
   */
  add(start: number, end: number): boolean {
    const m = this.#merge;
    locateMerge(this.starts, this.ends, start, end, m);
    if (m[0] === m[1] && this.starts.length >= this.maxRanges) return false;
    this.#values[0] = m[2];
    this.#values[1] = m[3];
    this.#values[2] = ++this.clock; // the merged range is the most recent
    applyMerge(this.#arrays, m[0], m[1], this.#values);
    return true;
  }
  readonly #merge = [0, 0, 0, 0];
  readonly #values = [0, 0, 0];
  readonly #arrays = [this.starts, this.ends, this.stamps];

  /**
   * Removes ranges that start at or before `seq` (now in order) and returns the end of the
   * contiguous data from `seq` on (which is `seq` if the first range starts later).
   */
  advance(seq: number): number {
    let end = seq;
    while (this.starts.length > 0 && this.starts[0] <= end) {
      if (this.ends[0] > end) end = this.ends[0];
      this.starts.shift();
      this.ends.shift();
      this.stamps.shift();
    }
    return end;
  }

  /** Writes up to `max` ranges, most recent first, as [start, end] pairs into `out`; returns n. */
  mostRecent(out: number[], max: number): number {
    const n = Math.min(max, this.starts.length);
    if (n === 0) return 0;
    // Few ranges (≤ maxRanges); selection by stamp without allocating.
    let lastStamp = Infinity;
    for (let k = 0; k < n; k++) {
      let best = -1;
      for (let i = 0; i < this.starts.length; i++) {
        const st = this.stamps[i];
        if (st < lastStamp && (best < 0 || st > this.stamps[best])) best = i;
      }
      out[2 * k] = this.starts[best];
      out[2 * k + 1] = this.ends[best];
      lastStamp = this.stamps[best];
    }
    return n;
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
    this.stamps.length = 0;
  }
}
