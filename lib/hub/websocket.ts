/**
 * The hub's RFC 6455 server socket: lib/transport/websocket.ts (shared with the agent's and
 * client's and the bridge's client, lib/transport/ws_client.ts), re-exported for the hub.
 * @module
 */
export * from "../transport/websocket.ts";
