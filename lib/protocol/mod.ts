/**
 * Tela wire protocol shared by hub, agent and client: signaling messages
 * (JSON on WebSockets), the 7-byte v1 relay frame, and the hub UDP relay
 * datagrams (spec session-and-relay.md §2, §4, §5).
 * @module
 */
export * from "./bytes.ts";
export * from "./frame.ts";
export * from "./messages.ts";
export * from "./udp.ts";
