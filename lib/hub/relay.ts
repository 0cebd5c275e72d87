/**
 * Frame forwarding between a paired client socket and agent per-session socket
 * (spec session-and-relay.md §1.6, §4): binary frames get hop processing in place and go
 * out as the very buffer received; short `"keepalive"` texts are absorbed, other text is
 * forwarded verbatim. A receiver whose send buffer is over the limit has frames dropped
 * (WireGuard treats that as loss) rather than queued without bound.
 *
 * @module
 */
import { applyHop, HubClose, isKeepaliveText } from "../protocol/mod.ts";
import { closeSocket, type HubSocket } from "./socket.ts";

/** Largest binary message accepted: a 64 KiB datagram plus the relay header, in bytes. */
export const MAX_FRAME_BYTES = 65536 + 7;
/** Default send-buffer limit per receiving socket, bytes (4 MiB). */
export const SEND_BUFFER_LIMIT = 4 * 1024 * 1024;

/** Relay counters (bench and status). */
export interface RelayStats {
  /** Relay frames forwarded to the other side of their session. */
  framesRelayed: number;
  /** Octets of those frames, relay headers included. */
  bytesRelayed: number;
  /** Frames dropped: receiver over {@link SEND_BUFFER_LIMIT}, closed, or no session. */
  framesDropped: number;
}

/** The relay half of the hub: stateless apart from its counters. */
export class Relay {
  readonly stats: RelayStats = { framesRelayed: 0, bytesRelayed: 0, framesDropped: 0 };

  /** @param sendBufferLimit drop frames to a socket holding more than this, bytes. */
  constructor(readonly sendBufferLimit = SEND_BUFFER_LIMIT) {}

  /**
   * Forwards one binary message from a paired socket. An oversized message closes the
   * sender with 1009, a bad frame with 1002 `relay frame: unsupported version`.
   */
  forwardBinary(from: HubSocket, to: HubSocket, data: ArrayBuffer): void {
    if (data.byteLength > MAX_FRAME_BYTES) {
      closeSocket(from, HubClose.tooBig, "message too big");
      return;
    }
    const frame = new Uint8Array(data);
    const verdict = applyHop(frame);
    if (verdict === "invalid") {
      closeSocket(from, HubClose.protocol, HubClose.badFrame);
      return;
    }
    if (verdict === "drop") return;
    this.sendFrame(to, frame);
  }

  /** Forwards a text message between paired sockets; keepalives stop here. */
  forwardText(to: HubSocket, text: string): void {
    if (isKeepaliveText(text)) return;
    if (!to.closed && to.ws.readyState === WebSocket.OPEN) to.ws.send(text);
  }

  /** Sends one relay frame to `to`, or counts it dropped when `to` cannot take it now. */
  sendFrame(to: HubSocket, frame: Uint8Array): void {
    const ws = to.ws;
    if (
      to.closed || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > this.sendBufferLimit
    ) {
      this.stats.framesDropped++;
      return;
    }
    ws.send(frame);
    this.stats.framesRelayed++;
    this.stats.bytesRelayed += frame.length;
  }
}
