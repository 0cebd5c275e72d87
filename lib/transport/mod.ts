/**
 * Datagram transports under a session's WireGuard device, one lib/wireguard `Bind` per
 * file: the WebSocket relay now; the UDP relay and the direct path come later.
 * @module
 */
export * from "./ws_relay.ts";
