/**
 * The WebSocket relay Bind (spec session-and-relay.md §4, §7.1 step 3): every WireGuard
 * datagram travels as one binary WebSocket message `header(hop 0, DATA, own session id) ‖
 * datagram` on the session's hub WebSocket. CONTROL frames (§4.4) are answered and handled
 * here and never reach WireGuard. Frames are read and written with lib/protocol's codec.
 * @module
 */
import {
  CONTROL_KEEPALIVE_REQUEST,
  CONTROL_KEEPALIVE_RESPONSE,
  encodeRelayFrame,
  FLAG_CONTROL,
  FLAG_DATA,
  isControlFrame,
  isRelayFrame,
  RELAY_HEADER_LEN,
  relayPayload,
  writeRelayHeader,
} from "../protocol/mod.ts";
import type { Bind, BindEndpoint } from "../wireguard/mod.ts";

/** Datagrams are dropped (like a full UDP queue) while the WebSocket holds more than this, in octets. */
export const MAX_WS_BUFFERED = 4 * 1024 * 1024;

/**
 * What the bind needs from the session's WebSocket (lib/session's `SignalSocket` has it):
 * binary messages both ways and the send-queue depth.
 */
export interface RelaySocket {
  /** Routes every binary message to `handler` (messages queued so far first). */
  onBinary(handler: (frame: Uint8Array) => void): void;
  /** Sends one binary message; the socket copies `frame` during the call. */
  sendBinary(frame: Uint8Array): void;
  /** True while the socket can send. */
  readonly open: boolean;
  /** Octets queued in the socket and not yet handed to the OS. */
  readonly bufferedAmount: number;
}

/**
 * WireGuard's Bind (wireguard-go `conn.Bind`: open, send, receive, close) over a hub
 * WebSocket, plus the in-band CONTROL keepalive the session drives (spec §4.4):
 * {@link sendControl} sends a request, a response clears {@link outstandingSince}, a request
 * from the far end is answered at once. Nothing here throws on the data path: a datagram
 * that cannot be sent is dropped and counted, as a full UDP socket would drop it.
 */
export class WsRelayBind implements Bind {
  /** This side's random relay session id (spec §4.2). */
  readonly sessionId = crypto.getRandomValues(new Uint32Array(1))[0];
  #receive: ((d: Uint8Array, from: BindEndpoint) => void) | null = null;
  /** Datagrams dropped because the WebSocket was backed up. */
  droppedBackpressure = 0;
  /** Frames received that were not well-formed v1 frames. */
  droppedMalformed = 0;
  /** Time (ms) of the oldest CONTROL keepalive request not answered yet; 0 = none. */
  outstandingSince = 0;
  /**
   * When set, DATA frames stamped with this side's own session id (its own datagrams
   * echoed back by a Go hub, spec §5.4 defect) go here instead of to WireGuard (which
   * would drop them); `payload` is a view with 7 octets of the frame in front of it.
   */
  onOwnEcho: ((payload: Uint8Array) => void) | null = null;

  /**
   * @param sock the session's hub WebSocket, already signaled.
   * @param maxBuffered drop datagrams while the socket holds more than this, in octets.
   */
  constructor(readonly sock: RelaySocket, readonly maxBuffered = MAX_WS_BUFFERED) {}

  /**
   * Starts taking binary messages from the socket; DATA payloads go to `receive`.
   * @param receive called with each datagram (a view into the frame, valid during the call)
   *   and the endpoint `"ws"`.
   */
  open(receive: (datagram: Uint8Array, from: BindEndpoint) => void): void {
    this.#receive = receive;
    this.sock.onBinary((frame) => this.#onFrame(frame));
  }

  #onFrame(frame: Uint8Array): void {
    if (!isRelayFrame(frame)) {
      this.droppedMalformed++;
      return;
    }
    const payload = relayPayload(frame);
    if (isControlFrame(frame)) {
      if (payload[0] === CONTROL_KEEPALIVE_REQUEST) this.sendControl(CONTROL_KEEPALIVE_RESPONSE);
      else if (payload[0] === CONTROL_KEEPALIVE_RESPONSE) this.outstandingSince = 0;
      return;
    }
    if (
      this.onOwnEcho !== null && frame[3] === this.#idBytes[0] && frame[4] === this.#idBytes[1] &&
      frame[5] === this.#idBytes[2] && frame[6] === this.#idBytes[3]
    ) return this.onOwnEcho(payload);
    this.#receive?.(payload, "ws");
  }
  #idBytes = Uint8Array.of(
    this.sessionId >>> 24,
    (this.sessionId >>> 16) & 0xff,
    (this.sessionId >>> 8) & 0xff,
    this.sessionId & 0xff,
  );

  /**
   * Sends one datagram as a DATA frame; dropped while the socket is closed or holds more
   * than {@link maxBuffered} octets (counted in {@link droppedBackpressure}).
   * @param headroom octets free in front of `datagram` (Bind.send); with 7 or more the
   *   header is written there and nothing is copied.
   */
  send(datagram: Uint8Array, _to: BindEndpoint, headroom = 0): void {
    if (!this.sock.open) return;
    if (this.sock.bufferedAmount > this.maxBuffered) {
      this.droppedBackpressure++;
      return;
    }
    // Deno's WebSocket copies at send() (pinned by ws_relay_test.ts), so a view is enough.
    if (headroom >= RELAY_HEADER_LEN) {
      // WireGuard left room in front of the datagram: write the header there, no copy.
      const frame = new Uint8Array(
        datagram.buffer,
        datagram.byteOffset - RELAY_HEADER_LEN,
        RELAY_HEADER_LEN + datagram.length,
      );
      writeRelayHeader(frame, 0, FLAG_DATA, this.sessionId);
      this.sock.sendBinary(frame);
      return;
    }
    const frame = this.#scratch.length >= RELAY_HEADER_LEN + datagram.length
      ? this.#scratch.subarray(0, RELAY_HEADER_LEN + datagram.length)
      : new Uint8Array(RELAY_HEADER_LEN + datagram.length);
    writeRelayHeader(frame, 0, FLAG_DATA, this.sessionId);
    frame.set(datagram, RELAY_HEADER_LEN);
    this.sock.sendBinary(frame);
  }
  /** Frame buffer for datagrams without headroom (handshakes): reused, sent as a view. */
  #scratch = new Uint8Array(RELAY_HEADER_LEN + 2048);

  /**
   * Sends a one-byte CONTROL frame (spec §4.4), always over the WebSocket; nothing when the
   * socket is closed.
   * @param byte `CONTROL_KEEPALIVE_REQUEST` (0x01) or `CONTROL_KEEPALIVE_RESPONSE` (0x02).
   */
  sendControl(byte: number): void {
    if (!this.sock.open) return;
    const payload = new Uint8Array([byte]);
    this.sock.sendBinary(
      encodeRelayFrame(payload, { flags: FLAG_CONTROL, sessionId: this.sessionId }),
    );
  }

  /** Stops delivering datagrams; the socket itself belongs to the session. */
  close(): void {
    this.#receive = null;
  }
}

/**
 * The bind factory for the WebSocket relay: what a program hands its sessions so that
 * each session's datagrams travel over that session's hub WebSocket.
 * @param sock the session's signaled hub WebSocket.
 * @returns a bind with the default backpressure limit {@link MAX_WS_BUFFERED}.
 * @example
 * ```ts ignore
 * new MachineConnection({ ...opts, bind: wsRelayBind });
 * ```
 */
export function wsRelayBind(sock: RelaySocket): WsRelayBind {
  return new WsRelayBind(sock);
}
