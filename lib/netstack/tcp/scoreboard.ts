/**
 * The sender's SACK scoreboard (RFC 6675 section 3): which octets above SND.UNA the receiver
 * has reported holding. Unwrapped sequence numbers; ranges sorted and disjoint.
 * @module
 */

/** Sorted disjoint SACKed ranges `[start, end)`. */
export class Scoreboard {
  starts: number[] = [];
  ends: number[] = [];

  get count(): number {
    return this.starts.length;
  }

  /** Records a SACK block (already validated to lie within (SND.UNA, SND.NXT]). */
  add(start: number, end: number): void {
    const s = this.starts, e = this.ends;
    let i = 0;
    while (i < s.length && e[i] < start) i++;
    let j = i;
    let ns = start, ne = end;
    while (j < s.length && s[j] <= end) {
      if (s[j] < ns) ns = s[j];
      if (e[j] > ne) ne = e[j];
      j++;
    }
    if (j === i) {
      s.splice(i, 0, ns);
      e.splice(i, 0, ne);
    } else {
      s[i] = ns;
      e[i] = ne;
      if (j - i > 1) {
        s.splice(i + 1, j - i - 1);
        e.splice(i + 1, j - i - 1);
      }
    }
  }

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
