/**
 * Datagram transports under a session's WireGuard device (spec session-and-relay.md §4-§7),
 * one path per file: the WebSocket relay (`ws_relay.ts`), the hub's UDP relay
 * (`udp_relay.ts`), the direct peer-to-peer path (`direct.ts`) with STUN (`stun.ts`), and
 * the per-packet selector over all three (`session_bind.ts`, {@link sessionBind}).
 * @module
 */
export * from "./ws_relay.ts";
export {
  DEFAULT_TIMINGS,
  sessionBind,
  type SessionBindOptions,
  type SessionBindTimings,
  TieredBind,
} from "./session_bind.ts";
export {
  DEFAULT_STUN_SERVER,
  encodeBindingRequest,
  parseBindingResponse,
  STUN_TIMEOUT_MS,
  type StunAddress,
} from "./stun.ts";
export { PROBE_TIMEOUT_MS } from "./udp_relay.ts";
export { isPunch, parsePeerEndpoint, TPUNCH } from "./direct.ts";
