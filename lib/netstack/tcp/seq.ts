/**
 * Sequence numbers. On the wire they are 32-bit and wrap (RFC 9293 3.4); inside a connection
 * we keep them *unwrapped*: plain JS numbers counted from the initial sequence number
 * (ISS or IRS = 0), which never wrap in practice (2^53 octets). A received 32-bit value is
 * unwrapped relative to a nearby reference, which is valid because every acceptable value
 * lies within 2^31 of it.
 * @module
 */

/**
 * Unwraps a wire sequence number `wire` of a space whose initial number is `initial`, to the
 * value nearest to `ref` (an unwrapped number in the same space).
 */
export function unwrap(wire: number, initial: number, ref: number): number {
  return ref + ((wire - initial - ref) | 0);
}

/** Wraps an unwrapped sequence number back to 32 bits. */
export function wrap(rel: number, initial: number): number {
  return (initial + rel) >>> 0;
}
