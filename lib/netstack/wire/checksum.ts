/**
 * The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words.
 *
 * `sum16` returns the unfolded running sum so callers can chain a pseudo-header and a
 * payload without copying; `fold` turns a running sum into the final 16-bit checksum.
 * @module
 */

/** True on a little-endian host (typed arrays use the host's byte order). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Adds the bytes `buf[start, end)` as big-endian 16-bit words to `acc` (an odd final byte is
 * padded with zero, RFC 1071 section 4.1). The result is unfolded; pass it to {@link fold}.
 * Safe for any packet size: a JS number holds 2^53 without loss.
 */
export function sum16(buf: Uint8Array, start: number, end: number, acc = 0): number {
  let i = start;
  // Long, even-aligned ranges: add 32-bit words at once (RFC 1071 section 2 (B): the sum may
  // be taken in larger units and folded, and section 2 (C): summed in the host's little-endian
  // order it is the byte-swapped big-endian sum).
  if (end - i >= 64 && ((buf.byteOffset + i) & 1) === 0) {
    if ((buf.byteOffset + i) & 2) {
      acc += (buf[i] << 8) | buf[i + 1];
      i += 2;
    }
    const words = (end - i) >> 2;
    const w = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    let s = 0;
    let k = 0;
    for (const stop = words - 3; k < stop; k += 4) s += w[k] + w[k + 1] + w[k + 2] + w[k + 3];
    for (; k < words; k++) s += w[k];
    i += words << 2;
    // Fold to 16 bits with end-around carry; a little-endian host summed swapped words.
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
    acc += LITTLE_ENDIAN ? ((s & 0xff) << 8) | (s >> 8) : s;
  }
  const last = end - 1;
  // Unrolled by 8 bytes: this loop is the hot spot of every emitted and received segment.
  const stop8 = end - 7;
  for (; i < stop8; i += 8) {
    acc += ((buf[i] << 8) | buf[i + 1]) + ((buf[i + 2] << 8) | buf[i + 3]) +
      ((buf[i + 4] << 8) | buf[i + 5]) + ((buf[i + 6] << 8) | buf[i + 7]);
  }
  for (; i < last; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (i === last) acc += buf[i] << 8;
  return acc;
}

/** Folds a running sum into 16 bits and complements it: the value to put in a header. */
export function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 65536);
  return ~acc & 0xffff;
}

/** The checksum of `buf[start, end)`: 0 means a received header with its checksum verifies. */
export function checksum(buf: Uint8Array, start: number, end: number, acc = 0): number {
  return fold(sum16(buf, start, end, acc));
}
