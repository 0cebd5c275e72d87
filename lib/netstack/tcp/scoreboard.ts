/**
 * The sender's SACK scoreboard (RFC 6675 section 3): which octets above SND.UNA the receiver
 * has reported holding. Unwrapped sequence numbers; ranges sorted and disjoint.
 * @module
 */
import { applyMerge, locateMerge } from "./ranges.ts";

/** Sorted disjoint SACKed ranges `[start, end)`. */
export class Scoreboard {
  starts: number[] = [];
  ends: number[] = [];

  get count(): number {
    return this.starts.length;
  }

  /** Records a SACK block (already validated to lie within (SND.UNA, SND.NXT]). */
  add(start: number, end: number): void {
    const m = this.#merge;
    locateMerge(this.starts, this.ends, start, end, m);
    this.#values[0] = m[2];
    this.#values[1] = m[3];
    applyMerge(this.#arrays, m[0], m[1], this.#values);
  }
  readonly #merge = [0, 0, 0, 0];
  readonly #values = [0, 0];
  readonly #arrays = [this.starts, this.ends];

  /** Forgets everything below `una` (cumulatively acknowledged). */
  trim(una: number): void {
    while (this.starts.length > 0 && this.ends[0] <= una) {
      this.starts.shift();
      this.ends.shift();
    }
    if (this.starts.length > 0 && this.starts[0] < una) this.starts[0] = una;
  }

  /** Octets SACKed within `[from, to)`. */
  sackedIn(from: number, to: number): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) {
      const a = Math.max(this.starts[i], from), b = Math.min(this.ends[i], to);
      if (b > a) n += b - a;
    }
    return n;
  }

  /** Total octets SACKed. */
  get sackedBytes(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i] - this.starts[i];
    return n;
  }

  /** The highest SACKed sequence number + 1, or -1 when empty. */
  get highest(): number {
    return this.starts.length > 0 ? this.ends[this.ends.length - 1] : -1;
  }

  /**
   * The first octet at or after `seq` that is not SACKed, and the end of that hole
   * (`Infinity` if nothing is SACKed above). Writes into `out[0..2)`.
   */
  nextHole(seq: number, out: number[]): void {
    let s = seq;
    for (let i = 0; i < this.starts.length; i++) {
      if (this.ends[i] <= s) continue;
      if (this.starts[i] <= s) {
        s = this.ends[i];
        continue;
      }
      out[0] = s;
      out[1] = this.starts[i];
      return;
    }
    out[0] = s;
    out[1] = Infinity;
  }

  /**
   * RFC 6675 IsLost: the boundary below which every un-SACKed octet counts as lost, i.e. the
   * highest point with at least `dupThresh` SACKed ranges or more than `(dupThresh - 1) * smss`
   * SACKed octets above it. Returns -1 when nothing is lost.
   */
  lostBoundary(dupThresh: number, smss: number): number {
    let acc = 0;
    const limit = (dupThresh - 1) * smss;
    for (let k = this.starts.length - 1, n = 1; k >= 0; k--, n++) {
      acc += this.ends[k] - this.starts[k];
      if (acc > limit || n >= dupThresh) return this.starts[k];
    }
    return -1;
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
  }
}
