/**
 * A fixed-capacity byte ring used for both the send buffer (bytes from SND.UNA on) and the
 * receive buffer (unread bytes, then out-of-order bytes at their offset past RCV.NXT).
 * Copies in and out with `set`/`subarray`, never per byte.
 * @module
 */

/** A byte ring with a readable region `[head, head + length)` and writable space after it. */
export class RingBuffer {
  readonly capacity: number;
  readonly bytes: Uint8Array;
  /** Index of the first readable byte. */
  head = 0;
  /** Number of readable (committed) bytes. */
  length = 0;

  /** @param capacity size in octets. */
  constructor(capacity: number) {
    this.capacity = capacity;
    this.bytes = new Uint8Array(capacity);
  }

  /** Free octets after the committed region. */
  get free(): number {
    return this.capacity - this.length;
  }

  /**
   * Copies `src[srcOff, srcOff + len)` to `offset` octets past the end of the committed region
   * without committing it. The caller guarantees `offset + len <= free`.
   */
  writeAt(offset: number, src: Uint8Array, srcOff: number, len: number): void {
    let pos = this.head + this.length + offset;
    if (pos >= this.capacity) pos -= this.capacity;
    if (pos >= this.capacity) pos -= this.capacity;
    const first = Math.min(len, this.capacity - pos);
    this.bytes.set(src.subarray(srcOff, srcOff + first), pos);
    if (first < len) this.bytes.set(src.subarray(srcOff + first, srcOff + len), 0);
  }

  /** Extends the committed region by `n` octets already written with {@link writeAt}. */
  commit(n: number): void {
    this.length += n;
  }

  /** Appends up to `src.length - srcOff` octets (as many as fit); returns how many. */
  append(src: Uint8Array, srcOff = 0): number {
    const n = Math.min(src.length - srcOff, this.free);
    if (n > 0) {
      this.writeAt(0, src, srcOff, n);
      this.length += n;
    }
    return n;
  }

  /** Copies `len` octets starting `offset` octets into the committed region to `dst[dstOff..]`. */
  readAt(offset: number, dst: Uint8Array, dstOff: number, len: number): void {
    let pos = this.head + offset;
    if (pos >= this.capacity) pos -= this.capacity;
    const first = Math.min(len, this.capacity - pos);
    dst.set(this.bytes.subarray(pos, pos + first), dstOff);
    if (first < len) dst.set(this.bytes.subarray(0, len - first), dstOff + first);
  }

  /** Drops `n` octets from the front of the committed region. */
  consume(n: number): void {
    this.head += n;
    if (this.head >= this.capacity) this.head -= this.capacity;
    this.length -= n;
    // No rewind to 0 when empty: the receive ring holds out-of-order octets past the
    // committed region at positions relative to head + length.
  }
}
