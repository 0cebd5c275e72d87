/**
 * The device's counters and the reasons it drops datagrams and packets (what
 * `wg show` and our diagnostics print).
 * @module
 */

/** Why a datagram or packet was dropped (keys of {@link DeviceStats.dropped}). */
export type DropReason =
  | "short"
  | "unknown-type"
  | "bad-size"
  | "bad-mac1"
  | "cookie-required"
  | "rate-limited"
  | "handshake-invalid"
  | "unknown-peer"
  | "stale-timestamp"
  | "handshake-flood"
  | "unknown-index"
  | "cookie-invalid"
  | "expired-keypair"
  | "decrypt-failed"
  | "replay"
  | "bad-ip"
  | "not-allowed-ip"
  | "no-route"
  | "no-endpoint"
  | "send-failed"
  | "staged-overflow"
  | "staged-expired"
  | "internal";

/** Device-wide counters. Byte counts are datagram bytes as they cross the bind. */
export interface DeviceStats {
  /** Datagrams handed in by the bind. */
  rxDatagrams: number;
  /** Bytes of those datagrams. */
  rxBytes: number;
  /** Datagrams given to the bind. */
  txDatagrams: number;
  /** Bytes of those datagrams. */
  txBytes: number;
  /** IP packets delivered to onPacket. */
  rxPackets: number;
  /** IP packets encrypted and sent. */
  txPackets: number;
  /** Handshakes completed (as initiator on the response, as responder on confirmation). */
  handshakesCompleted: number;
  /** Cookie replies sent while under load. */
  cookieRepliesSent: number;
  /** Cookie replies accepted from peers. */
  cookieRepliesReceived: number;
  /** Total drops; per reason in `dropped`. */
  droppedTotal: number;
  /** Drops by reason. */
  dropped: Partial<Record<DropReason, number>>;
}

/** A zeroed {@link DeviceStats}. */
export function newDeviceStats(): DeviceStats {
  return {
    rxDatagrams: 0,
    rxBytes: 0,
    txDatagrams: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    handshakesCompleted: 0,
    cookieRepliesSent: 0,
    cookieRepliesReceived: 0,
    droppedTotal: 0,
    dropped: {},
  };
}
