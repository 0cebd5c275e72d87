/**
 * A byte ring used for both the send buffer (bytes from SND.UNA on) and the receive buffer
 * (unread bytes, then out-of-order bytes at their offset past RCV.NXT). Its capacity is
 * fixed (it sets the windows we offer) but its storage starts small and doubles on demand,
 * so an idle connection costs kilobytes, not the megabytes its window allows.
 * Copies in and out with `set`/`subarray`, never per byte.
 * @module
 */

/** Storage a ring starts with, in octets. */
const INITIAL_STORAGE = 4096;

/** A byte ring with a readable region `[head, head + length)` and writable space after it. */
export class RingBuffer {
  /** Most octets the ring will ever hold. */
  readonly capacity: number;
  /** Current storage; grows up to `capacity` octets (a power of two or `capacity`). */
  bytes: Uint8Array;
  /** Index of the first readable byte in `bytes`. */
  head = 0;
  /** Number of readable (committed) bytes. */
  length = 0;

  /** @param capacity size in octets. */
  constructor(capacity: number) {
    this.capacity = capacity;
    this.bytes = new Uint8Array(Math.min(capacity, INITIAL_STORAGE));
  }

  /** Free octets after the committed region (against the capacity, not the storage). */
  get free(): number {
    return this.capacity - this.length;
  }

  /** Grows the storage to hold at least `need` octets from `head` on, keeping positions. */
  #reserve(need: number): void {
    const old = this.bytes;
    if (need <= old.length) return;
    let size = old.length;
    while (size < need) size *= 2;
    size = Math.min(size, this.capacity);
    const grown = new Uint8Array(size);
    // Linearise from head: offsets relative to head stay valid (out-of-order octets too).
    const first = Math.min(old.length - this.head, old.length);
    grown.set(old.subarray(this.head, this.head + first), 0);
    if (this.head > 0) grown.set(old.subarray(0, this.head), first);
    this.bytes = grown;
    this.head = 0;
  }

  /**
   * Copies `src[srcOff, srcOff + len)` to `offset` octets past the end of the committed region
   * without committing it. The caller guarantees `offset + len <= free`.
   */
  writeAt(offset: number, src: Uint8Array, srcOff: number, len: number): void {
    this.#reserve(this.length + offset + len);
    const size = this.bytes.length;
    let pos = this.head + this.length + offset;
    if (pos >= size) pos -= size;
    if (pos >= size) pos -= size;
    const first = Math.min(len, size - pos);
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
    const size = this.bytes.length;
    let pos = this.head + offset;
    if (pos >= size) pos -= size;
    const first = Math.min(len, size - pos);
    dst.set(this.bytes.subarray(pos, pos + first), dstOff);
    if (first < len) dst.set(this.bytes.subarray(0, len - first), dstOff + first);
  }

  /** Drops `n` octets from the front of the committed region. */
  consume(n: number): void {
    this.head += n;
    if (this.head >= this.bytes.length) this.head -= this.bytes.length;
    this.length -= n;
    // No rewind to 0 when empty: the receive ring holds out-of-order octets past the
    // committed region at positions relative to head + length.
  }
}
