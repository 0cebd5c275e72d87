/**
 * The direct peer-to-peer path (spec session-and-relay.md §6.2, §7.1 step 1, §7.2 rules
 * 3-4): UDP hole punching with `TPUNCH` datagrams from the session's UDP socket (the one
 * the UDP relay and STUN use), then `header(hop 0, DATA, own session id) ‖ datagram`
 * straight to the peer, no token.
 *
 * Beyond the spec, compatible with Go peers (spec §6.2 notes): punching goes on for
 * {@link PUNCH_TAIL_MS} after the peer's first TPUNCH arrived (signalling skew, gotcha 4);
 * one TPUNCH is sent back for a received one (at most one per
 * {@link PUNCH_REPLY_INTERVAL_MS}, so two of our peers never ping-pong); the health
 * check lives in session_bind.ts.
 * @module
 */
import { RELAY_HEADER_LEN, RELAY_MAGIC } from "../protocol/mod.ts";
import { isIPv4 } from "./stun.ts";
import { sameAddr, type UdpPathSocket } from "./udp_relay.ts";

/** The 6-octet punch datagram `TPUNCH` (spec §6.2 step 3). */
export const TPUNCH: Uint8Array = Uint8Array.of(0x54, 0x50, 0x55, 0x4e, 0x43, 0x48);
/** Interval between punches, in milliseconds (spec §6.2). */
export const PUNCH_INTERVAL_MS = 100;
/** Longest punch attempt, in milliseconds (spec §6.2). */
export const PUNCH_DURATION_MS = 5000;
/** Punching continues this long after the peer's first TPUNCH, in milliseconds. */
export const PUNCH_TAIL_MS = 1000;
/** A received TPUNCH is answered unless we sent one less than this ago, in milliseconds. */
export const PUNCH_REPLY_INTERVAL_MS = 1000;

/** True when `d` is exactly `TPUNCH` (spec §6.2: length 6 and content). */
export function isPunch(d: Uint8Array): boolean {
  return d.length === 6 && d[0] === 0x54 && d[1] === 0x50 && d[2] === 0x55 && d[3] === 0x4e &&
    d[4] === 0x43 && d[5] === 0x48;
}

/**
 * Parses a `peer-endpoint` message (spec §2.10): `"a.b.c.d:port"`, IPv4 only, unicast.
 * @returns the address, or null when malformed or unspecified, multicast or broadcast.
 */
export function parsePeerEndpoint(s: string): Deno.NetAddr | null {
  if (typeof s !== "string") return null;
  const i = s.lastIndexOf(":");
  if (i <= 0) return null;
  const host = s.slice(0, i);
  const port = Number(s.slice(i + 1));
  if (!isIPv4(host) || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  const first = Number(host.split(".")[0]);
  // 0.0.0.0/8 (unspecified, "this network"), 224/4 multicast, 240/4 reserved and the
  // limited broadcast 255.255.255.255: never a peer. Loopback stays (tests use it).
  if (first === 0 || first >= 224) return null;
  return { transport: "udp", hostname: host, port };
}

/**
 * A direct-path source as the bind hands it to WireGuard (`from` of a received datagram):
 * the device makes it the peer's endpoint only once a datagram from it authenticates
 * (WireGuard paper §2.1 roaming), which is how the bind learns that the address really is
 * the peer's.
 */
export class DirectEndpoint {
  /** @param addr the source's IPv4 address and UDP port. */
  constructor(readonly addr: Deno.NetAddr) {}
  /** `ip:port`. */
  toString(): string {
    return `${this.addr.hostname}:${this.addr.port}`;
  }
}

/**
 * The direct path of one session.
 *
 * A TPUNCH (or data) source is only a *candidate*: anyone can send a 6-octet TPUNCH. The
 * bind sends on the direct path only to the *confirmed* peer ({@link DirectPath.peer}),
 * an address a WireGuard datagram authenticated from ({@link DirectPath.confirm}).
 */
export class DirectPath {
  /** The confirmed peer's endpoint (a WireGuard datagram from it authenticated). */
  peerEndpoint: DirectEndpoint | null = null;
  /** The last TPUNCH source that is not the confirmed peer (spec §7.2 rule 3). */
  candidate: DirectEndpoint | null = null;
  /** Endpoint of the last datagram {@link handle} returned. */
  lastEndpoint: DirectEndpoint | null = null;
  /** Datagrams (data and TPUNCH) received from the confirmed peer. */
  rx = 0;
  /** Data datagrams sent to the direct peer. */
  tx = 0;
  /** TPUNCH datagrams received from anyone. */
  punchesRx = 0;
  /** Called for every received TPUNCH; `confirmed`: it came from the confirmed peer. */
  onPunch: (from: DirectEndpoint, confirmed: boolean) => void = () => {};
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastPunchSent = -Infinity;
  #punchTo: Deno.NetAddr | null = null;
  #punchEnd = 0;
  #gotPunch = false;

  /**
   * @param sock the session's UDP socket (shared with the UDP relay and STUN).
   * @param now the bind's coarse clock, in milliseconds.
   */
  constructor(readonly sock: UdpPathSocket, readonly now: () => number) {}

  /** The confirmed peer's address, or null. */
  get peer(): Deno.NetAddr | null {
    return this.peerEndpoint?.addr ?? null;
  }

  /** True while a punch attempt runs. */
  get punching(): boolean {
    return this.#timer !== undefined;
  }

  /** Makes `ep` the confirmed peer (a WireGuard datagram from it authenticated). */
  confirm(ep: DirectEndpoint): void {
    this.peerEndpoint = ep;
    if (this.candidate === ep) this.candidate = null;
    this.rx++;
  }

  /**
   * Classifies a datagram from a non-hub source (spec §7.2 rules 3-4).
   * @returns the WireGuard datagram of direct data from the confirmed peer or the
   *   candidate (a view; its source in {@link lastEndpoint}), or null (TPUNCH handled,
   *   or nothing for this path).
   */
  handle(d: Uint8Array, from: Deno.NetAddr): Uint8Array | null {
    const pe = this.peerEndpoint;
    if (isPunch(d)) {
      this.punchesRx++;
      const confirmed = pe !== null && sameAddr(pe.addr, from);
      let ep: DirectEndpoint;
      if (confirmed) {
        ep = pe;
        this.rx++;
      } else {
        const c = this.candidate;
        ep = c !== null && sameAddr(c.addr, from) ? c : (this.candidate = new DirectEndpoint({
          transport: "udp",
          hostname: from.hostname,
          port: from.port,
        }));
      }
      if (this.#punchTo !== null && !this.#gotPunch) {
        this.#gotPunch = true;
        this.#punchEnd = Math.min(this.#punchEnd, this.now() + PUNCH_TAIL_MS);
      }
      if (this.now() - this.#lastPunchSent >= PUNCH_REPLY_INTERVAL_MS) this.sendPunch(from);
      this.onPunch(ep, confirmed);
      return null;
    }
    let ep: DirectEndpoint;
    if (pe !== null && from.port === pe.addr.port && from.hostname === pe.addr.hostname) {
      ep = pe;
      this.rx++;
    } else {
      const c = this.candidate;
      if (c === null || from.port !== c.addr.port || from.hostname !== c.addr.hostname) {
        return null;
      }
      ep = c;
    }
    if (d.length <= RELAY_HEADER_LEN || d[0] !== RELAY_MAGIC) return null;
    this.lastEndpoint = ep;
    return d.subarray(RELAY_HEADER_LEN);
  }

  /** Sends one TPUNCH to `to` (a punch, a reply, or a liveness probe). */
  sendPunch(to: Deno.NetAddr): void {
    this.#lastPunchSent = this.now();
    this.sock.sendTo(TPUNCH, to);
  }

  /**
   * Starts a punch attempt towards `to` (spec §6.2): one TPUNCH at once, then one every {@link PUNCH_INTERVAL_MS} for up to {@link PUNCH_DURATION_MS}, ending
   * {@link PUNCH_TAIL_MS} after the peer's first TPUNCH. A running attempt is replaced.
   */
  punch(to: Deno.NetAddr): void {
    this.stopPunching();
    this.#punchTo = to;
    this.#gotPunch = false;
    this.#punchEnd = this.now() + PUNCH_DURATION_MS;
    this.sendPunch(to);
    this.#timer = setInterval(() => {
      const t = performance.now();
      if (t >= this.#punchEnd || this.sock.closed) return this.stopPunching();
      this.sendPunch(to);
    }, PUNCH_INTERVAL_MS);
  }

  /** Ends a running punch attempt. */
  stopPunching(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#punchTo = null;
  }

  /** Sends one WireGuard datagram as `header(hop 0, DATA) ‖ datagram` to the peer. */
  send(datagram: Uint8Array, sessionId: number): boolean {
    const p = this.peerEndpoint;
    if (p === null) return false;
    this.tx++;
    return this.sock.sendFrame(null, sessionId, datagram, p.addr);
  }

  /**
   * Sends a copy of one small WireGuard datagram to the candidate (not counted in `tx`),
   * so that the peer's WireGuard can authenticate us there.
   */
  sendToCandidate(datagram: Uint8Array, sessionId: number): boolean {
    const c = this.candidate;
    if (c === null) return false;
    return this.sock.sendFrame(null, sessionId, datagram, c.addr);
  }

  /** `ip:port` of the confirmed peer, or `-`. */
  get peerString(): string {
    return this.peerEndpoint ? this.peerEndpoint.toString() : "-";
  }

  /** Stops punching; the socket belongs to the bind. */
  close(): void {
    this.stopPunching();
  }
}
