/**
 * The Tela hub (`telahubd`): config and bootstrap, auth, history; the WebSocket side in
 * four parts (registry, signaling, relay, management) behind {@link Hub}; the UDP relay;
 * the HTTP routes in `api/`; the command line (`cli.ts`) and offline `user` reads.
 * @module
 */
export * from "./auth.ts";
export * from "./config.ts";
export * from "./history.ts";
export {
  Hub,
  JOIN_TIMEOUT_MS,
  MAX_FRAME_BYTES,
  MAX_SESSIONS,
  MGMT_TIMEOUT_MS,
  WS_IDLE_TIMEOUT_S,
} from "./hub.ts";
export type { HubOptions } from "./hub.ts";
export * from "./errors.ts";
export type { Management, MgmtResult } from "./management.ts";
export * from "./registration.ts";
export { MAX_MACHINES, OFFLINE_RETENTION_MS } from "./registry.ts";
export type { Machine, Registry, Session } from "./registry.ts";
export type { Relay, RelayStats } from "./relay.ts";
export type { HubSocket, HubSocketRole } from "./socket.ts";
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
export { telahubdMain } from "./cli.ts";
export {
  type Route,
  type RouteArea,
  type RouteHandler,
  Router,
  ROUTES,
  STATUS_MAX_AGE_MS,
} from "./api/mod.ts";
export * from "./user.ts";
export * from "./pairing.ts";
export * from "./portal_client.ts";
export { LOG_DEFAULT_LINES, LOG_RING_LINES, LogRing } from "./log_ring.ts";
export { restartMode, selfCommand, spawnSuccessor } from "./restart.ts";
export * from "./access/types.ts";
export { FILE_ACCESS_ACTOR, FileAccessStore, parseIfMatch } from "./access/store.ts";
export type { FileAccessStoreOptions } from "./access/store.ts";
export {
  AccessEnforcer,
  closeReason,
  deniedText,
  refusalText,
  servicePortText,
} from "./access/enforce.ts";
