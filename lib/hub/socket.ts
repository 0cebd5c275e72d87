/**
 * One accepted WebSocket as the hub sees it ({@link HubSocket}), and the two ways the hub
 * writes to one: a signaling message and a close. The name avoids WireGuard's `Peer`
 * (a cryptographic peer); a hub socket is a transport endpoint that becomes a control
 * socket, a client, or an agent's per-session socket (spec session-and-relay.md §1.6).
 *
 * @module
 */
import { encodeSignal, type SignalMessage } from "../protocol/mod.ts";
import type { Machine, Session } from "./registry.ts";
import type { FrameSink } from "./udp_relay.ts";
import type { HubWebSocket } from "./websocket.ts";

/** What a hub socket has become after its first signaling message. */
export type HubSocketRole =
  | "new"
  | "control"
  | "client"
  | "agent-session"
  | "rejected"
  /** This hub's outbound WebSocket to a remote hub (bridge.ts); never in the registry. */
  | "bridge";

/** A client's bridged session (bridge.ts), as the socket's teardown reaches it. */
export interface BridgeLink {
  /** The machine name the client asked for (it is registered on the remote hub). */
  readonly machine: string;
  /** Ends the session; `client`: the client's socket closed. */
  end(cause: "client" | "bridge" | "shutdown"): void;
}

/** One accepted WebSocket. */
export interface HubSocket extends FrameSink {
  /** Sequence number, unique while the hub runs. */
  readonly id: number;
  readonly ws: HubWebSocket;
  /** `ip:port` of the TCP peer, for logs. */
  readonly remote: string;
  role: HubSocketRole;
  /** control: its machine; client: the machine it resolved (for history). */
  machine?: Machine;
  session?: Session;
  /** The paired socket (client ↔ agent per-session, or client → bridge WebSocket). */
  paired?: HubSocket;
  firstMessageTimer?: ReturnType<typeof setTimeout>;
  closed: boolean;
  /** The token a control socket registered or a client connected with (live enforcement). */
  authToken?: string;
  /** The identity that token belonged to then (audit, and "was removed"/"rotated" texts). */
  identityId?: string;
  /** Set when live enforcement cut the socket: its further messages are ignored. */
  cut?: boolean;
  /** A client's bridged session (spec §3.7), from its `connect` until the session ends. */
  bridged?: BridgeLink;
}

/**
 * Sends one signaling message; a socket that is closing or closed is skipped silently.
 * @param s the hub's record of the WebSocket.
 * @param msg a signaling message (spec session-and-relay.md §3), encoded as JSON text.
 */
export function sendJson(s: HubSocket, msg: SignalMessage | Record<string, unknown>): void {
  if (s.closed || s.ws.readyState !== WebSocket.OPEN) return;
  try {
    s.ws.send(encodeSignal(msg as SignalMessage));
  } catch { /* closing */ }
}

/**
 * Starts the close handshake with `code` and `reason` (RFC 6455 §7.1.2); a second call, or a
 * call on a socket already closing, does nothing.
 * @param s the hub's record of the WebSocket.
 * @param code a close code (RFC 6455 §7.4: 1000 normal, 1001 going away, 1008 policy).
 * @param reason at most 123 UTF-8 octets (RFC 6455 §5.5).
 */
export function closeSocket(s: HubSocket, code: number, reason: string): void {
  if (s.ws.readyState === WebSocket.CLOSING || s.ws.readyState === WebSocket.CLOSED) return;
  try {
    s.ws.close(code, reason);
  } catch {
    try {
      s.ws.close();
    } catch { /* already closed */ }
  }
}
