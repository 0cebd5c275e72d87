/**
 * One session's tunnel, the same on both ends (spec session-and-relay.md §3.2.1 step 6-7,
 * §3.3 step 7, §4, §8): a WireGuard device whose bind is the session's WebSocket (one
 * relay frame per message), a user-space TCP/IP stack on `10.77.N.x`, the in-band
 * CONTROL keepalive and the JSON keepalive.
 * @module
 */
import {
  CONTROL_KEEPALIVE_REQUEST,
  CONTROL_KEEPALIVE_RESPONSE,
  FLAG_CONTROL,
  FLAG_DATA,
  KEEPALIVE_TEXT,
  RELAY_HEADER_LEN,
  RELAY_MAGIC,
  writeRelayHeader,
} from "../protocol/mod.ts";
import type { Bind } from "../wireguard/mod.ts";
import type { SignalSocket } from "./signal.ts";
import type { DuplexConn } from "./pipe.ts";

/** Default tunnel MTU (spec §8.6). */
export const DEFAULT_MTU = 1100;
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
/** Datagrams are dropped (like a full UDP queue) while the WebSocket holds more than this. */
export const MAX_WS_BUFFERED = 4 * 1024 * 1024;

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

/**
 * WireGuard's bind over the session WebSocket: every datagram is one binary message
 * `header(hop 0, DATA, own session id) ‖ datagram` (spec §4.1, §7.1 step 3). CONTROL
 * frames are answered/handled here and never reach WireGuard (§4.4).
 */
export class RelayBind implements Bind {
  /** This side's random relay session id (spec §4.2). */
  readonly sessionId = crypto.getRandomValues(new Uint32Array(1))[0];
  #receive: ((d: Uint8Array, from: unknown) => void) | null = null;
  /** Datagrams dropped because the WebSocket was backed up. */
  droppedBackpressure = 0;
  /** Frames received that were not well-formed v1 frames. */
  droppedMalformed = 0;
  /** Time (ms) of the oldest CONTROL keepalive request not answered yet; 0 = none. */
  outstandingSince = 0;

  constructor(readonly sock: SignalSocket, readonly maxBuffered = MAX_WS_BUFFERED) {}

  open(receive: (datagram: Uint8Array, from: unknown) => void): void {
    this.#receive = receive;
    this.sock.onBinary((frame) => this.#onFrame(frame));
  }

  #onFrame(frame: Uint8Array): void {
    if (frame.length < RELAY_HEADER_LEN || frame[0] !== RELAY_MAGIC) {
      this.droppedMalformed++;
      return;
    }
    if (frame[2] === FLAG_CONTROL) {
      const b = frame[RELAY_HEADER_LEN];
      if (b === CONTROL_KEEPALIVE_REQUEST) this.sendControl(CONTROL_KEEPALIVE_RESPONSE);
      else if (b === CONTROL_KEEPALIVE_RESPONSE) this.outstandingSince = 0;
      return;
    }
    this.#receive?.(frame.subarray(RELAY_HEADER_LEN), "ws");
  }

  send(datagram: Uint8Array, _to: unknown, headroom = 0): void {
    if (!this.sock.open) return;
    if (this.sock.bufferedAmount > this.maxBuffered) {
      this.droppedBackpressure++;
      return;
    }
    // Deno's WebSocket copies at send() (pinned by tunnel_test.ts), so a view is enough.
    if (headroom >= RELAY_HEADER_LEN) {
      // WireGuard left room in front of the datagram: write the header there, no copy.
      const frame = new Uint8Array(
        datagram.buffer,
        datagram.byteOffset - RELAY_HEADER_LEN,
        RELAY_HEADER_LEN + datagram.length,
      );
      writeRelayHeader(frame, 0, FLAG_DATA, this.sessionId);
      this.sock.ws.send(frame);
      return;
    }
    const frame = this.#scratch.length >= RELAY_HEADER_LEN + datagram.length
      ? this.#scratch.subarray(0, RELAY_HEADER_LEN + datagram.length)
      : new Uint8Array(RELAY_HEADER_LEN + datagram.length);
    writeRelayHeader(frame, 0, FLAG_DATA, this.sessionId);
    frame.set(datagram, RELAY_HEADER_LEN);
    this.sock.ws.send(frame);
  }
  /** Frame buffer for datagrams without headroom (handshakes): reused, sent as a view. */
  #scratch = new Uint8Array(RELAY_HEADER_LEN + 2048);

  /** Sends a one-byte CONTROL frame (always over the WebSocket). */
  sendControl(byte: number): void {
    if (!this.sock.open) return;
    const frame = new Uint8Array(RELAY_HEADER_LEN + 1);
    writeRelayHeader(frame, 0, FLAG_CONTROL, this.sessionId);
    frame[RELAY_HEADER_LEN] = byte;
    this.sock.ws.send(frame);
  }

  close(): void {
    this.#receive = null;
  }
}

/** Tunnel addresses for session index N (spec §8.3): agent `10.77.N.1`, client `10.77.N.2`. */
export function tunnelAddresses(sessionIdx: number): { agent: string; client: string } {
  const n = Math.min(254, Math.max(1, Math.trunc(sessionIdx) || 1));
  return { agent: `10.77.${n}.1`, client: `10.77.${n}.2` };
}

/** A running session tunnel. */
export class SessionTunnel {
  readonly bind: RelayBind;
  readonly stack: TunnelStack;
  #timer: ReturnType<typeof setInterval>;
  #closed = false;

  /**
   * Brings the tunnel up on an already-signaled session socket.
   * @param opts.engine builds WireGuard + netstack.
   * @param opts.onTimeout called when a CONTROL keepalive stays unanswered for 45 s (checked
   *   every {@link KEEPALIVE_CHECK_MS}).
   */
  constructor(opts: {
    sock: SignalSocket;
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
    this.bind = new RelayBind(opts.sock);
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
