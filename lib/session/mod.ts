/**
 * What agent and client share (spec session-and-relay.md): the signaling socket to the
 * hub, the session tunnel (WireGuard + netstack over a Bind the caller gives), the byte
 * pumps, session keys, the one reconnect loop with its backoff, port specs and the transport
 * settings.
 * @module
 */
export * from "./backoff.ts";
export * from "./signal.ts";
export * from "./keys.ts";
export * from "./pipe.ts";
export * from "./tunnel.ts";
export * from "./engine.ts";
export * from "./port_spec.ts";
export * from "./reconnect.ts";
export * from "./hub_error.ts";
export * from "./denial.ts";
export * from "./transport_settings.ts";
