/**
 * TAI64N timestamps (https://cr.yp.to/libtai/tai64.html), as WireGuard puts in the
 * handshake initiation (whitepaper §5.4.2).
 * @module
 */

/** Size of a TAI64N timestamp in bytes. */
export const TAI64N_SIZE = 12;
/** 2^62 + 10 s: the TAI64 label of the Unix epoch (TAI was 10 s ahead of UTC in 1970). */
const TAI64_BASE = 0x400000000000000an;
/** Nanoseconds are rounded down to 2^24 ns (~16.8 ms), as wireguard-go does, to avoid a timing oracle. */
const WHITENER_MASK = 0x1000000 - 1;

/**
 * Encodes a wall-clock time as TAI64N.
 * @param unixMs milliseconds since the Unix epoch (may be fractional).
 * @param out optional 12-byte destination.
 */
export function tai64n(unixMs: number, out: Uint8Array = new Uint8Array(TAI64N_SIZE)): Uint8Array {
  const seconds = Math.floor(unixMs / 1000);
  const nanos = Math.floor((unixMs - seconds * 1000) * 1e6);
  const v = new DataView(out.buffer, out.byteOffset, TAI64N_SIZE);
  v.setBigUint64(0, TAI64_BASE + BigInt(seconds), false);
  v.setUint32(8, (nanos & ~WHITENER_MASK) >>> 0, false);
  return out;
}

/** Compares two TAI64N timestamps bytewise (big-endian): <0, 0 or >0. */
export function compareTai64n(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < TAI64N_SIZE; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return 0;
}
