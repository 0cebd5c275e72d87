/**
 * Byte-array helpers shared by the wire code of every layer (WebSocket framing, the file
 * share protocol, the control API).
 * @module
 */

/**
 * Joins byte arrays into one new array, in order.
 * @param parts the arrays to join (not modified; an empty list gives an empty array).
 * @param total their summed length in bytes when the caller already counted it; computed
 *   otherwise. A `total` smaller than the sum throws `RangeError` (from `Uint8Array.set`).
 * @returns a fresh `Uint8Array` of `total` bytes.
 */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  const out = new Uint8Array(total ?? parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
