/**
 * The Tela hub (`telahubd`): config and bootstrap, auth, history, WebSocket
 * signaling and relay, UDP relay, HTTP read endpoints.
 * @module
 */
export * from "./auth.ts";
export * from "./config.ts";
export * from "./history.ts";
export { Hub, JOIN_TIMEOUT_MS, MAX_FRAME_BYTES, MAX_SESSIONS, WS_IDLE_TIMEOUT_S } from "./hub.ts";
export type { HubOptions, Machine, Peer, RelayStats, Session } from "./hub.ts";
export { goJson, HUB_VERSION, isUpgradeRequest, makeHttpHandler } from "./http.ts";
export { checkHealth, healthTimeoutMs } from "./health.ts";
export type { HealthOptions } from "./health.ts";
export type { HttpContext } from "./http.ts";
export * from "./server.ts";
export {
  BODY_TIMEOUT_MS,
  HEADER_TIMEOUT_MS,
  MAX_BODY_BYTES,
  MAX_HEAD_BYTES,
  MAX_MESSAGE_BYTES,
  startFrontEnd,
  WebSocketUpgradeError,
} from "./front_end.ts";
export type { FrontEnd, FrontEndOptions, WebSocketUpgrader } from "./front_end.ts";
export { MAX_UNAUTHENTICATED } from "./pending.ts";
export { acceptKey, ServerWebSocket, WsClose } from "./websocket.ts";
export type { HubCloseEvent, HubMessageEvent, HubWebSocket } from "./websocket.ts";
export * from "./services.ts";
export { UdpRelay } from "./udp_relay.ts";
export type { FrameSink, UdpTokenEntry } from "./udp_relay.ts";
