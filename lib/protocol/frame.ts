/**
 * The v1 relay frame: a 7-byte header in front of every WireGuard datagram or
 * CONTROL payload that travels between client and agent through a hub
 * (spec session-and-relay.md §4).
 *
 * ```
 * offset 0  magic       0x54 ('T')
 *        1  hop         TTL; edges write 0, hubs rewrite it (§4.3)
 *        2  flags       bit 0: 0 = DATA, 1 = CONTROL; bits 1-7 reserved (0)
 *        3  session_id  uint32 big-endian, chosen by the sender, ignored by receivers
 *        7  payload     no length field: the frame ends where the message ends
 * ```
 *
 * All functions work on caller-supplied buffers and patch bytes in place, so the
 * hub's hot path forwards the very buffer it received (zero-copy rule in
 * tela-interfaces.md).
 *
 * @module
 */

/** First byte of every v1 relay frame (ASCII `T`). */
export const RELAY_MAGIC = 0x54;
/** Length of the v1 relay header in bytes. */
export const RELAY_HEADER_LEN = 7;
/** `flags` value of a frame carrying one WireGuard datagram. */
export const FLAG_DATA = 0x00;
/** `flags` value of a frame carrying a CONTROL payload (§4.4). */
export const FLAG_CONTROL = 0x01;
/** Hop budget a hub assigns to a frame that arrives with hop 0 (§4.3). */
export const DEFAULT_MAX_HOPS = 8;
/** CONTROL payload byte 0: in-band keepalive request; answer with {@link CONTROL_KEEPALIVE_RESPONSE}. */
export const CONTROL_KEEPALIVE_REQUEST = 0x01;
/** CONTROL payload byte 0: in-band keepalive response. */
export const CONTROL_KEEPALIVE_RESPONSE = 0x02;

/** Result of {@link applyHop}: forward the (patched) frame, drop it silently, or reject it as malformed. */
export type HopVerdict = "forward" | "drop" | "invalid";

/**
 * True when `buf` holds a well-formed v1 relay header: at least 7 bytes, magic 0x54.
 * (Reserved flag bits are not checked: the hub forwards them untouched, §4.3.)
 * @param buf one WebSocket binary message or the part of a UDP datagram after the token.
 */
export function isRelayFrame(buf: Uint8Array): boolean {
  return buf.length >= RELAY_HEADER_LEN && buf[0] === RELAY_MAGIC;
}

/**
 * Hub hop processing (spec §4.3), in place: a frame with hop 0 gets `maxHops`,
 * then hop is decremented; a result of 0 means the budget is spent.
 *
 * @param frame the frame; byte 1 is rewritten when the verdict is `"forward"`.
 * @param maxHops hop budget for frames that arrive with hop 0 (default 8).
 * @returns `"invalid"` (too short or wrong magic: WS closes 1002, UDP drops),
 *   `"drop"` (hop budget exhausted: drop silently) or `"forward"`.
 */
export function applyHop(frame: Uint8Array, maxHops = DEFAULT_MAX_HOPS): HopVerdict {
  if (frame.length < RELAY_HEADER_LEN || frame[0] !== RELAY_MAGIC) return "invalid";
  let hop = frame[1];
  if (hop === 0) hop = maxHops;
  hop -= 1;
  if (hop <= 0) return "drop";
  frame[1] = hop;
  return "forward";
}

/**
 * Writes a v1 header into `buf` at `offset` (so a sender can reserve 7 bytes in
 * front of a datagram it builds and never copy the payload).
 *
 * @param buf destination; needs 7 bytes from `offset`.
 * @param offset where the header starts, in bytes.
 * @param flags {@link FLAG_DATA} or {@link FLAG_CONTROL}.
 * @param sessionId the sender's own uint32 (§4.2); not interpreted by anyone.
 * @param hop 0 at the edges (default).
 * @throws {RangeError} when `buf` is too short.
 */
export function writeRelayHeader(
  buf: Uint8Array,
  offset: number,
  flags: number,
  sessionId: number,
  hop = 0,
): void {
  if (offset < 0 || buf.length - offset < RELAY_HEADER_LEN) {
    throw new RangeError(`relay header needs ${RELAY_HEADER_LEN} bytes at offset ${offset}`);
  }
  buf[offset] = RELAY_MAGIC;
  buf[offset + 1] = hop & 0xff;
  buf[offset + 2] = flags & 0xff;
  buf[offset + 3] = (sessionId >>> 24) & 0xff;
  buf[offset + 4] = (sessionId >>> 16) & 0xff;
  buf[offset + 5] = (sessionId >>> 8) & 0xff;
  buf[offset + 6] = sessionId & 0xff;
}

/**
 * Builds a new frame (header + a copy of `payload`). For tests and cold paths;
 * hot paths use {@link writeRelayHeader} on a buffer they own.
 * @param payload WireGuard datagram or CONTROL payload.
 * @param opts flags (default DATA), sessionId (default 0), hop (default 0).
 */
export function encodeRelayFrame(
  payload: Uint8Array,
  opts: { flags?: number; sessionId?: number; hop?: number } = {},
): Uint8Array {
  const out = new Uint8Array(RELAY_HEADER_LEN + payload.length);
  writeRelayHeader(out, 0, opts.flags ?? FLAG_DATA, opts.sessionId ?? 0, opts.hop ?? 0);
  out.set(payload, RELAY_HEADER_LEN);
  return out;
}

/** The fields of a relay header, as read by {@link decodeRelayHeader}. */
export interface RelayHeader {
  hop: number;
  flags: number;
  /** uint32, the sender's own value. */
  sessionId: number;
}

/**
 * Reads the header of a frame.
 * @returns the fields, or `null` when `frame` is not a well-formed v1 frame.
 */
export function decodeRelayHeader(frame: Uint8Array): RelayHeader | null {
  if (!isRelayFrame(frame)) return null;
  return {
    hop: frame[1],
    flags: frame[2],
    sessionId: ((frame[3] << 24) | (frame[4] << 16) | (frame[5] << 8) | frame[6]) >>> 0,
  };
}

/**
 * True when the frame is CONTROL. Receivers treat a frame as CONTROL only when the
 * flags byte equals 0x01 exactly (§4.4); anything else is DATA.
 */
export function isControlFrame(frame: Uint8Array): boolean {
  return frame.length >= RELAY_HEADER_LEN && frame[2] === FLAG_CONTROL;
}

/** The payload of a frame as a view (no copy). Valid only while `frame` is. */
export function relayPayload(frame: Uint8Array): Uint8Array {
  return frame.subarray(RELAY_HEADER_LEN);
}
