/**
 * One session's tunnel, the same on both ends (spec session-and-relay.md §3.2.1 step 6-7,
 * §3.3 step 7, §4, §8): a WireGuard device over the Bind the caller's factory makes from
 * the session's WebSocket (lib/transport), a user-space TCP/IP stack on `10.77.N.x`, the
 * in-band CONTROL keepalive and the JSON keepalive.
 * @module
 */
import { CONTROL_KEEPALIVE_REQUEST, KEEPALIVE_TEXT } from "../protocol/mod.ts";
import type { Bind, BindEndpoint } from "../wireguard/mod.ts";
import type { AnySignal, SignalSocket } from "./signal.ts";
import type { DuplexConn } from "./pipe.ts";

/** Default tunnel MTU (spec §8.6). */
export const DEFAULT_MTU = 1100;
/** Smallest tunnel MTU accepted: the IPv4 datagram every host must take (RFC 791 §3.1). */
export const MIN_MTU = 576;
/**
 * Largest tunnel MTU accepted: a full packet plus WireGuard's 32 octets of overhead fits one
 * UDP datagram over IPv4 (65507 octets of payload) and the hub's 64 KiB relay frame.
 */
export const MAX_MTU = 65507 - 32;
/** Persistent keepalive inside the session, in seconds (spec §8.2). */
export const PERSISTENT_KEEPALIVE_S = 25;
/** CONTROL and JSON keepalive interval, in milliseconds (spec §1.5, §4.4). */
export const KEEPALIVE_INTERVAL_MS = 30_000;
/** An unanswered CONTROL keepalive older than this ends the session, in milliseconds. */
export const KEEPALIVE_TIMEOUT_MS = 45_000;
/**
 * How often the keepalive timer looks, in milliseconds. Go checks only on its 30 s tick,
 * so its 45 s timeout never fires (spec §4.4, "tela-69"); looking every 5 s makes ours
 * fire 45 to 50 s after the oldest unanswered request, which the spec allows.
 */
export const KEEPALIVE_CHECK_MS = 5_000;

/** A TCP connection inside the tunnel (the netstack's `TcpConn`). */
export interface TunnelConn extends DuplexConn {
  abort(): void;
}

/** A listener inside the tunnel. */
export interface TunnelListener {
  accept(): Promise<TunnelConn>;
  close(): void;
}

/** What the tunnel needs from WireGuard + netstack; built by {@link TunnelEngine}. */
export interface TunnelStack {
  /** Dials `address:port` inside the tunnel. */
  dial(address: string, port: number): Promise<TunnelConn>;
  /** Listens on `port` of the local tunnel address. */
  listen(port: number): TunnelListener;
  close(): void;
}

/**
 * The path a session's WireGuard datagrams take (book: *Three transports, automatic
 * fallback*; spec §7.1): direct peer-to-peer UDP, the hub's UDP relay, or the hub's
 * WebSocket relay. The names are also the wire values of the `transport` report.
 */
export type TransportKind = "direct" | "udp-relay" | "websocket";

/** Where a bind logs: one line per transport change, problems as warnings. */
export interface BindLog {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

/**
 * What a session tells its bind besides the socket: which end it is, the hub it dialled
 * (UDP relay candidates, spec §5.3 step 2), where to log, and the program's transport
 * settings (flags, env, config).
 */
export interface BindContext {
  role: "agent" | "client";
  /** The hub URL the session's WebSocket was dialled to. */
  hubUrl: string;
  /** Lines are prefixed by the bind itself only with the transport's own words. */
  log: BindLog;
  /**
   * STUN servers as `host:port` for direct-path discovery (spec §6.1); undefined: the
   * default (`stun.l.google.com:19302`); empty: no direct path.
   */
  stunServers?: string[];
  /**
   * Highest tier the session may use (`-transport`): `"direct"` (default, every tier),
   * `"udp-relay"` (no direct path), `"websocket"` (the WebSocket relay only).
   */
  maxTransport?: TransportKind;
  /** Called after every change of the send path (the first call is the initial path). */
  onTransport?(transport: TransportKind): void;
}

/**
 * A Bind the session can keep alive in-band (spec §4.4): a CONTROL keepalive request out,
 * and the time of the oldest one not answered yet. lib/transport's `WsRelayBind` is one.
 */
export interface SessionBind extends Bind {
  /** Time (ms) of the oldest keepalive request not answered yet; 0 = none. */
  outstandingSince: number;
  /** Sends a one-byte CONTROL payload (e.g. `CONTROL_KEEPALIVE_REQUEST`). */
  sendControl(byte: number): void;
  /**
   * Offers the bind a signaling message that arrived on the session's WebSocket
   * (`udp-offer` spec §2.8, `peer-endpoint` §2.10). Returns true when the bind consumed it.
   * Binds without other paths (the plain WebSocket relay) do not implement it.
   */
  signal?(msg: AnySignal): boolean;
  /** The path datagrams are sent on now; undefined for the plain WebSocket relay. */
  readonly transport?: TransportKind;
  /**
   * Optional: the engine hands the bind its WireGuard peer once it exists, so the bind can
   * tell which source authenticated and ask for an authenticated datagram.
   */
  attachPeer?(peer: BindPeer): void;
}

/**
 * What the engine shows a {@link SessionBind} of its WireGuard peer: `endpoint()` is the
 * source of the last authenticated datagram (WireGuard paper §2.1 roaming: the `from` a
 * bind passed in, or the configured endpoint); `sendKeepalive()` sends an empty
 * authenticated transport message (§6.5), or starts a handshake when there is no session.
 */
export interface BindPeer {
  endpoint(): BindEndpoint | undefined;
  sendKeepalive(): void;
}

/**
 * Makes one session's Bind from its signaled hub WebSocket and the session's context. The
 * program chooses the transport (cmd/, lib/demo) and hands the factory down; agent and
 * client never build one.
 */
export type BindFactory = (sock: SignalSocket, ctx: BindContext) => SessionBind;

/** Builds WireGuard + netstack over a bind. Kept behind an interface so tests and the two
 * ends share one wiring (see `engine.ts`). */
export type TunnelEngine = (opts: {
  privateKey: Uint8Array;
  peerPublicKey: Uint8Array;
  localAddress: string;
  peerAddress: string;
  mtu: number;
  bind: Bind;
  /** WireGuard persistent keepalive in seconds; 0 = none (and no initiation at start). */
  persistentKeepaliveSeconds: number;
}) => TunnelStack;

/** Tunnel addresses for session index N (spec §8.3): agent `10.77.N.1`, client `10.77.N.2`. */
export function tunnelAddresses(sessionIdx: number): { agent: string; client: string } {
  const n = Math.min(254, Math.max(1, Math.trunc(sessionIdx) || 1));
  return { agent: `10.77.${n}.1`, client: `10.77.${n}.2` };
}

/** A running session tunnel. */
export class SessionTunnel {
  readonly bind: SessionBind;
  readonly stack: TunnelStack;
  #timer: ReturnType<typeof setInterval>;
  #closed = false;

  /**
   * Brings the tunnel up on an already-signaled session socket.
   * @param opts.bind makes this session's Bind from `sock` (the program's transport).
   * @param opts.engine builds WireGuard + netstack.
   * @param opts.onTimeout called when a CONTROL keepalive stays unanswered for 45 s (checked
   *   every {@link KEEPALIVE_CHECK_MS}).
   */
  constructor(opts: {
    sock: SignalSocket;
    bind: BindFactory;
    /** Handed to `bind` with the socket. */
    bindContext: BindContext;
    engine: TunnelEngine;
    privateKey: Uint8Array;
    peerPublicKey: Uint8Array;
    localAddress: string;
    peerAddress: string;
    mtu?: number;
    /**
     * Persistent keepalive, seconds (default 25). The agent passes 0: its device then
     * waits for the client's handshake instead of initiating at the same moment, which
     * in WireGuard makes both handshakes fail and costs a 5 s REKEY_TIMEOUT.
     */
    persistentKeepaliveSeconds?: number;
    now?: () => number;
    onTimeout?: () => void;
  }) {
    const now = opts.now ?? (() => performance.now());
    this.bind = opts.bind(opts.sock, opts.bindContext);
    this.stack = opts.engine({
      privateKey: opts.privateKey,
      peerPublicKey: opts.peerPublicKey,
      localAddress: opts.localAddress,
      peerAddress: opts.peerAddress,
      mtu: opts.mtu ?? DEFAULT_MTU,
      bind: this.bind,
      persistentKeepaliveSeconds: opts.persistentKeepaliveSeconds ?? PERSISTENT_KEEPALIVE_S,
    });
    let lastSent = now();
    this.#timer = setInterval(() => {
      const t = now();
      if (this.bind.outstandingSince && t - this.bind.outstandingSince >= KEEPALIVE_TIMEOUT_MS) {
        opts.onTimeout?.();
        return;
      }
      // Every 30 s (half a check of slack for timer drift): CONTROL 0x01 and the JSON one.
      if (t - lastSent < KEEPALIVE_INTERVAL_MS - KEEPALIVE_CHECK_MS / 2) return;
      lastSent = t;
      if (!this.bind.outstandingSince) this.bind.outstandingSince = t;
      this.bind.sendControl(CONTROL_KEEPALIVE_REQUEST);
      opts.sock.sendText(KEEPALIVE_TEXT);
    }, KEEPALIVE_CHECK_MS);
  }

  /** Tears the tunnel down (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.bind.close();
    try {
      this.stack.close();
    } catch { /* already closed */ }
  }
}
