/**
 * Message types, sizes and field offsets (whitepaper §5.4.2-§5.4.7). All integers
 * little-endian; the first four bytes are the type and three zero bytes.
 * @module
 */

/** Handshake initiation. */
export const MESSAGE_INITIATION_TYPE = 1;
/** Handshake response. */
export const MESSAGE_RESPONSE_TYPE = 2;
/** Cookie reply. */
export const MESSAGE_COOKIE_REPLY_TYPE = 3;
/** Transport data. */
export const MESSAGE_TRANSPORT_TYPE = 4;

/** type(4) sender(4) ephemeral(32) static(32+16) timestamp(12+16) mac1(16) mac2(16). */
export const MESSAGE_INITIATION_SIZE = 148;
/** type(4) sender(4) receiver(4) ephemeral(32) empty(0+16) mac1(16) mac2(16). */
export const MESSAGE_RESPONSE_SIZE = 92;
/** type(4) receiver(4) nonce(24) cookie(16+16). */
export const MESSAGE_COOKIE_REPLY_SIZE = 64;
/** type(4) receiver(4) counter(8). */
export const MESSAGE_TRANSPORT_HEADER_SIZE = 16;
/** Header plus the Poly1305 tag of an empty (keepalive) payload. */
export const MESSAGE_TRANSPORT_MIN_SIZE = 32;
/** Transport field offsets. */
export const TRANSPORT_OFFSET_RECEIVER = 4;
export const TRANSPORT_OFFSET_COUNTER = 8;
export const TRANSPORT_OFFSET_CONTENT = 16;

/** Initiation field offsets. */
export const INITIATION_OFFSET_SENDER = 4;
export const INITIATION_OFFSET_EPHEMERAL = 8;
export const INITIATION_OFFSET_STATIC = 40;
export const INITIATION_OFFSET_TIMESTAMP = 88;
export const INITIATION_OFFSET_MAC1 = 116;
export const INITIATION_OFFSET_MAC2 = 132;

/** Response field offsets. */
export const RESPONSE_OFFSET_SENDER = 4;
export const RESPONSE_OFFSET_RECEIVER = 8;
export const RESPONSE_OFFSET_EPHEMERAL = 12;
export const RESPONSE_OFFSET_EMPTY = 44;
export const RESPONSE_OFFSET_MAC1 = 60;
export const RESPONSE_OFFSET_MAC2 = 76;

/** Cookie reply field offsets. */
export const COOKIE_REPLY_OFFSET_RECEIVER = 4;
export const COOKIE_REPLY_OFFSET_NONCE = 8;
export const COOKIE_REPLY_OFFSET_COOKIE = 32;

/** Reads the 4-byte little-endian type field, or -1 when the datagram is shorter. */
export function messageType(b: Uint8Array): number {
  if (b.length < 4) return -1;
  return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
}

/** Reads a little-endian uint32. */
export function readU32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

/** Writes a little-endian uint32. */
export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** Reads a little-endian uint64 as a number (exact below 2^53). */
export function readU64(b: Uint8Array, off: number): number {
  return readU32(b, off) + readU32(b, off + 4) * 0x1_0000_0000;
}

/** Writes a little-endian uint64 from a non-negative integer below 2^53. */
export function writeU64(b: Uint8Array, off: number, v: number): void {
  writeU32(b, off, v >>> 0);
  writeU32(b, off + 4, Math.floor(v / 0x1_0000_0000) >>> 0);
}
