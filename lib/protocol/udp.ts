/**
 * Hub UDP relay datagrams (spec session-and-relay.md §5.2):
 *
 * ```
 * PROBE        token(8) ‖ "PROBE"                       side → hub, 13 bytes
 * READY        token(8) ‖ "READY"                       hub → side, 13 bytes
 * relay data   token(8) ‖ relay frame (7-byte header)   side → hub: own token;
 *                                                       hub → side: recipient's token
 * ```
 *
 * Tokens travel as 16 lowercase hex characters in `udp-offer` and as 8 raw bytes
 * on the wire.
 *
 * @module
 */

/** Length of a UDP relay token in bytes. */
export const UDP_TOKEN_LEN = 8;
/** Length of a PROBE / READY datagram in bytes. */
export const UDP_PROBE_LEN = 13;
/** Default hub UDP relay port. */
export const DEFAULT_UDP_PORT = 41820;

const PROBE = [0x50, 0x52, 0x4f, 0x42, 0x45]; // "PROBE"
const READY = [0x52, 0x45, 0x41, 0x44, 0x59]; // "READY"

function hasSuffix(d: Uint8Array, suffix: number[]): boolean {
  if (d.length !== UDP_PROBE_LEN) return false;
  for (let i = 0; i < 5; i++) if (d[UDP_TOKEN_LEN + i] !== suffix[i]) return false;
  return true;
}

/** True when `datagram` is `token(8) ‖ "PROBE"` (exactly 13 bytes). */
export function isProbe(datagram: Uint8Array): boolean {
  return hasSuffix(datagram, PROBE);
}

/** True when `datagram` is `token ‖ "READY"` for exactly this `token` (what a side waits for, §5.3). */
export function isReadyFor(datagram: Uint8Array, token: Uint8Array): boolean {
  if (!hasSuffix(datagram, READY)) return false;
  for (let i = 0; i < UDP_TOKEN_LEN; i++) if (datagram[i] !== token[i]) return false;
  return true;
}

/** Builds `token ‖ "PROBE"`. @throws {RangeError} when the token is not 8 bytes. */
export function encodeProbe(token: Uint8Array): Uint8Array {
  return withSuffix(token, PROBE);
}

/** Builds `token ‖ "READY"`. @throws {RangeError} when the token is not 8 bytes. */
export function encodeReady(token: Uint8Array): Uint8Array {
  return withSuffix(token, READY);
}

/**
 * Rewrites a received PROBE into the READY reply in place (same token), so the
 * hub answers with the buffer it received.
 */
export function probeToReadyInPlace(datagram: Uint8Array): void {
  for (let i = 0; i < 5; i++) datagram[UDP_TOKEN_LEN + i] = READY[i];
}

function withSuffix(token: Uint8Array, suffix: number[]): Uint8Array {
  if (token.length !== UDP_TOKEN_LEN) {
    throw new RangeError(`UDP token must be ${UDP_TOKEN_LEN} bytes, got ${token.length}`);
  }
  const out = new Uint8Array(UDP_PROBE_LEN);
  out.set(token, 0);
  out.set(suffix, UDP_TOKEN_LEN);
  return out;
}

/**
 * Decodes a `udp-offer.token` (16 hex chars) into 8 bytes.
 * @returns the bytes, or `null` when the string is not exactly 8 bytes of hex (§5.3 step 1).
 */
export function decodeUdpToken(hex: string): Uint8Array | null {
  if (!/^[0-9a-fA-F]{16}$/.test(hex)) return null;
  return hexToBytes(hex);
}

/** Lowercase hex of `bytes`. */
export function bytesToHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += bytes[i].toString(16).padStart(2, "0");
  return s;
}

/**
 * Bytes from an even-length hex string.
 * @throws {SyntaxError} when `hex` is not hex or has odd length.
 */
export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new SyntaxError(`not a hex string: ${hex.slice(0, 20)}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** `n` random bytes as lowercase hex (session ids, UDP tokens, request ids: n = 8). */
export function randomHex(n: number): string {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(n)));
}
