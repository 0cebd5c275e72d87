/**
 * TCP tunables with their defaults. Sizes in octets, times in milliseconds.
 * @module
 */

/** Keepalive (RFC 9293 3.8.4): off unless configured. */
export interface KeepaliveOptions {
  /** Idle time before the first probe, ms (default 7_200_000 as RFC 1122 requires). */
  idleMs?: number;
  /** Time between unanswered probes, ms (default 75_000). */
  intervalMs?: number;
  /** Unanswered probes before the connection is dropped (default 9). */
  count?: number;
}

/** TCP options accepted by the NetStack constructor. */
export interface TcpOptionsConfig {
  /** Link MTU in octets; MSS = MTU - 40. Default 1100 (the Tela tunnel MTU). */
  mtu?: number;
  /** Send buffer per connection in octets. Default 1 MiB. */
  sendBufferSize?: number;
  /** Receive buffer per connection in octets (largest window we offer). Default 1 MiB. */
  receiveBufferSize?: number;
  /** Offer window scaling (RFC 7323). Default true. */
  windowScaling?: boolean;
  /** Offer timestamps (RFC 7323). Default true. */
  timestamps?: boolean;
  /** Offer SACK (RFC 2018). Default true. */
  sack?: boolean;
  /** Disable Nagle's algorithm (send small segments at once). Default true. */
  noDelay?: boolean;
  /** Lower bound of RTO, ms. Default 200 (as Linux and gVisor; RFC 6298 suggests 1000). */
  minRtoMs?: number;
  /** RTO before any RTT sample, ms (RFC 6298 2.1). Default 1000. */
  initialRtoMs?: number;
  /** Upper bound of RTO, ms (RFC 6298 2.5). Default 60000. */
  maxRtoMs?: number;
  /** Maximum segment lifetime, ms; TIME-WAIT lasts 2*MSL. Default 30000. */
  mslMs?: number;
  /** Delayed ACK timeout, ms (RFC 5681 4.2: at most 500). Default 40. */
  delayedAckMs?: number;
  /** "cubic" (RFC 9438, default) or "newreno" (RFC 5681/6582). */
  congestionControl?: "cubic" | "newreno";
  /** SYN retransmissions before dial() fails. Default 6 (about 127 s). */
  synRetries?: number;
  /** Consecutive retransmission timeouts before the connection is dropped. Default 15. */
  maxRetransmits?: number;
  /** Send keepalive probes; off by default. */
  keepalive?: KeepaliveOptions | null;
}

/** All tunables resolved. */
export type TcpConfig = Required<Omit<TcpOptionsConfig, "keepalive">> & {
  keepalive: Required<KeepaliveOptions> | null;
};

/** Applies defaults and validates. @throws {RangeError} naming the bad option. */
export function resolveTcpConfig(o: TcpOptionsConfig = {}): TcpConfig {
  const c: TcpConfig = {
    mtu: o.mtu ?? 1100,
    sendBufferSize: o.sendBufferSize ?? 1 << 20,
    receiveBufferSize: o.receiveBufferSize ?? 1 << 20,
    windowScaling: o.windowScaling ?? true,
    timestamps: o.timestamps ?? true,
    sack: o.sack ?? true,
    noDelay: o.noDelay ?? true,
    minRtoMs: o.minRtoMs ?? 200,
    initialRtoMs: o.initialRtoMs ?? 1000,
    maxRtoMs: o.maxRtoMs ?? 60000,
    mslMs: o.mslMs ?? 30000,
    delayedAckMs: o.delayedAckMs ?? 40,
    congestionControl: o.congestionControl ?? "cubic",
    synRetries: o.synRetries ?? 6,
    maxRetransmits: o.maxRetransmits ?? 15,
    keepalive: o.keepalive
      ? {
        idleMs: o.keepalive.idleMs ?? 7_200_000,
        intervalMs: o.keepalive.intervalMs ?? 75_000,
        count: o.keepalive.count ?? 9,
      }
      : null,
  };
  if (!(c.mtu >= 128 && c.mtu <= 65535)) {
    throw new RangeError(`mtu ${c.mtu} is out of range: use 128..65535 octets`);
  }
  const maxBuf = 1 << 30;
  for (const k of ["sendBufferSize", "receiveBufferSize"] as const) {
    if (!(c[k] >= 2 * c.mtu && c[k] <= maxBuf)) {
      throw new RangeError(`${k} ${c[k]} is out of range: use ${2 * c.mtu}..${maxBuf} octets`);
    }
  }
  if (!c.windowScaling && c.receiveBufferSize > 65535) {
    // Without scaling we can never offer more than 64 KiB: cap quietly.
    c.receiveBufferSize = 65535;
  }
  return c;
}
