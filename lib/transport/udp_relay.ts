/**
 * The hub's UDP relay as a path of a session's bind (spec session-and-relay.md §5.2, §5.3,
 * §7.1 step 2, §7.2 rule 1), and the one UDP socket the UDP relay, STUN and the direct
 * path share (spec §6: "using the same UDP socket"; nat-lab.md gotcha 3).
 *
 * Socket: `Deno.listenDatagram` on `0.0.0.0:0` (measured against `node:dgram` on
 * loopback, 1200-octet datagrams, 50 000 sent at about 30 000/s: Deno received 43 000,
 * node:dgram 27 000, and node:dgram hands each datagram over in a new Buffer). Received
 * datagrams land in one reused buffer (Deno's `receive(p)` copies into `p`); only the
 * result tuple and source address Deno makes per datagram are allocated.
 *
 * Sending: Deno reads a send buffer when the OS takes the datagram, which can be after
 * `send()` returned (measured: 63 of 20 000 back-to-back sends of one mutated buffer
 * carried a later value). The device reuses its buffer for the next datagram, so the
 * datagram (and the 7-octet header, and the 8-octet token on the relay) is copied once
 * into a ring of preallocated slots; a slot stays reserved until its send resolves. When
 * a burst outruns the OS the ring grows (to at most 4096 slots) rather than drop: dropped
 * datagrams made the tunnel's TCP back off for tens of seconds in the NAT lab. This copy
 * replaces the one Deno's WebSocket makes inside `send()` on the WebSocket path.
 *
 * @module
 */
import {
  decodeUdpToken,
  encodeProbe,
  FLAG_DATA,
  isReadyFor,
  RELAY_HEADER_LEN,
  RELAY_MAGIC,
  UDP_TOKEN_LEN,
  writeRelayHeader,
} from "../protocol/mod.ts";
import { isIPv4, resolveIPv4 } from "./stun.ts";

/** How long a side waits for READY after its PROBE, in milliseconds (spec §5.3 step 3). */
export const PROBE_TIMEOUT_MS = 2000;
/** Octets in front of a WireGuard datagram on the UDP relay: token and relay header. */
export const UDP_RELAY_OVERHEAD = UDP_TOKEN_LEN + RELAY_HEADER_LEN;

const SLOT_SIZE = 2048;
/** Send slots made at start; the ring grows (up to MAX_SLOTS) while bursts outrun the OS. */
const SLOTS = 128;
const MAX_SLOTS = 4096;

interface SendSlot {
  buf: Uint8Array;
  busy: boolean;
  done: () => void;
  fail: () => void;
}

/** A datagram arriving on the path socket: a view valid during the call, and its source. */
export type DatagramHandler = (d: Uint8Array, from: Deno.NetAddr) => void;

/** True when `a` and `b` are the same IPv4 address and port. */
export function sameAddr(a: Deno.NetAddr, b: Deno.NetAddr): boolean {
  return a.port === b.port && a.hostname === b.hostname;
}

/**
 * One session's UDP socket on `0.0.0.0:<ephemeral>`: a receive loop handing every
 * datagram to {@link onDatagram}, and sends copied into a ring of reserved slots.
 */
export class UdpPathSocket {
  readonly conn: Deno.DatagramConn;
  /** The local port. */
  readonly port: number;
  /** Called for every received datagram (view valid during the call). */
  onDatagram: DatagramHandler = () => {};
  /** Datagrams dropped because every send slot was still being sent. */
  sendDrops = 0;
  /** Sends the OS refused (the promise rejected). */
  sendErrors = 0;
  #closed = false;
  #rx = new Uint8Array(65536);
  #slots: SendSlot[] = [];
  #next = 0;

  /**
   * Opens the socket and starts the receive loop. No SO_REUSEADDR: with it another local
   * user could bind the same port and take our datagrams (tokens, STUN answers, data).
   * @throws when no UDP socket can be bound (e.g. no `--unstable-net`).
   */
  constructor() {
    this.conn = Deno.listenDatagram({
      transport: "udp",
      hostname: "0.0.0.0",
      port: 0,
    });
    this.port = (this.conn.addr as Deno.NetAddr).port;
    for (let i = 0; i < SLOTS; i++) this.#slots.push(this.#newSlot());
    this.#loop();
  }

  #newSlot(): SendSlot {
    const s: SendSlot = {
      buf: new Uint8Array(SLOT_SIZE),
      busy: false,
      done: () => (s.busy = false),
      fail: () => {
        s.busy = false;
        this.sendErrors++;
      },
    };
    return s;
  }

  /** Sends handed to the OS and not resolved yet (busy slots). */
  get pendingSends(): number {
    let n = 0;
    for (const s of this.#slots) if (s.busy) n++;
    return n;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  async #loop(): Promise<void> {
    const conn = this.conn;
    while (!this.#closed) {
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await conn.receive(this.#rx);
      } catch {
        if (this.#closed) return;
        continue; // e.g. an ICMP port unreachable surfacing as an error
      }
      try {
        this.onDatagram(got[0], got[1] as Deno.NetAddr);
      } catch {
        // a handler's bug must not stop the socket
      }
    }
  }

  /**
   * The next free slot of at least `len` octets. A busy next slot means a burst outran the
   * OS: a new slot joins the ring there (up to {@link MAX_SLOTS}, 8 MiB), else null (drop).
   */
  #slot(len: number): SendSlot | null {
    let s = this.#slots[this.#next];
    if (s.busy) {
      if (this.#slots.length >= MAX_SLOTS) {
        this.sendDrops++;
        return null;
      }
      s = this.#newSlot();
      this.#slots.splice(this.#next, 0, s);
    }
    this.#next = this.#next + 1 === this.#slots.length ? 0 : this.#next + 1;
    if (len > SLOT_SIZE) s.buf = new Uint8Array(len); // only tunnel MTUs above ~2000
    else if (s.buf.length > SLOT_SIZE) s.buf = new Uint8Array(SLOT_SIZE); // shrink back
    return s;
  }

  /**
   * Sends `[token ‖] header(hop 0, DATA, sessionId) ‖ datagram` to `to` (spec §5.2 relay
   * data, §6.2 direct data), copied into a send slot.
   * @param token the 8-octet relay token, or null on the direct path.
   * @returns false when the datagram was dropped (ring full or socket closed).
   */
  sendFrame(
    token: Uint8Array | null,
    sessionId: number,
    datagram: Uint8Array,
    to: Deno.NetAddr,
  ): boolean {
    if (this.#closed) return false;
    const pre = token ? UDP_RELAY_OVERHEAD : RELAY_HEADER_LEN;
    const len = pre + datagram.length;
    const s = this.#slot(len);
    if (!s) return false;
    const b = s.buf;
    if (token) b.set(token, 0);
    writeRelayHeader(b, pre - RELAY_HEADER_LEN, FLAG_DATA, sessionId);
    b.set(datagram, pre);
    s.busy = true;
    this.conn.send(b.subarray(0, len), to).then(s.done, s.fail);
    return true;
  }

  /** Sends `d` (copied) to `to`; cold path (PROBE, TPUNCH, STUN). */
  sendTo(d: Uint8Array, to: Deno.NetAddr): void {
    if (this.#closed) return;
    this.conn.send(d.slice(), to).catch(() => this.sendErrors++);
  }

  /** Closes the socket (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/** The `udp-offer` fields the upgrade needs (spec §2.8). */
export interface UdpOffer {
  host?: string;
  port: number;
  token: string;
}

/**
 * Candidate hub hosts for the UDP relay (spec §5.3 step 2). Client: the offer's `host`,
 * then the hub URL's hostname. The spec's middle candidate, the IP address of the
 * WebSocket's TCP peer, is skipped: Deno's WebSocket does not expose it. Agent: the
 * offer's `host`, else the hub URL's hostname. Duplicates removed.
 */
export function relayCandidates(
  role: "agent" | "client",
  offer: UdpOffer,
  hubUrl: string,
): string[] {
  let urlHost = "";
  try {
    urlHost = new URL(hubUrl).hostname.replace(/^\[|\]$/g, "");
  } catch { /* no usable URL: only the offer's host */ }
  const out: string[] = [];
  if (offer.host) out.push(offer.host);
  if (urlHost && (role === "client" || out.length === 0) && !out.includes(urlHost)) {
    out.push(urlHost);
  }
  return out;
}

/**
 * Waits for `token ‖ READY` on `sock` (source not checked, spec §5.3 step 3).
 * @returns true when it arrived within `timeoutMs`; false on timeout or abort.
 */
export function waitReady(
  sock: UdpPathSocket,
  token: Uint8Array,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    const prev = sock.onDatagram;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      sock.onDatagram = prev;
      resolve(ok);
    };
    const onAbort = () => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    sock.onDatagram = (d) => {
      if (isReadyFor(d, token)) finish(true);
    };
  });
}

/** The UDP relay path after a successful PROBE/READY. */
export class UdpRelayPath {
  /** Datagrams received from the hub address (READY and relay data). */
  rx = 0;
  /** Relay data datagrams received from the hub (a peer on UDP sends through it). */
  dataRx = 0;
  /** Datagrams sent to the hub. */
  tx = 0;

  /**
   * @param sock the session's UDP socket.
   * @param hub the hub's relay address (a resolved IPv4 candidate and the offer's port).
   * @param token this side's 8-octet token.
   */
  constructor(
    readonly sock: UdpPathSocket,
    readonly hub: Deno.NetAddr,
    readonly token: Uint8Array,
  ) {}

  /** True when `from` is the hub's relay address (spec §7.2 rule 1). */
  isHub(from: Deno.NetAddr): boolean {
    return from.port === this.hub.port && from.hostname === this.hub.hostname;
  }

  /**
   * Handles a datagram from the hub: counts it, and for relay data (longer than 15
   * octets, octet 8 = 0x54) returns the WireGuard datagram (token not checked, spec §7.2).
   * @returns the payload view, or null (READY or malformed).
   */
  fromHub(d: Uint8Array): Uint8Array | null {
    this.rx++;
    if (d.length <= UDP_RELAY_OVERHEAD || d[UDP_TOKEN_LEN] !== RELAY_MAGIC) return null;
    this.dataRx++;
    return d.subarray(UDP_RELAY_OVERHEAD);
  }

  /** Sends one WireGuard datagram as `token ‖ header(hop 0, DATA) ‖ datagram` (§5.2). */
  send(datagram: Uint8Array, sessionId: number): boolean {
    this.tx++;
    return this.sock.sendFrame(this.token, sessionId, datagram, this.hub);
  }

  /** Sends `token ‖ PROBE` (liveness check and NAT refresh; the hub answers READY). */
  probe(): void {
    this.sock.sendTo(encodeProbe(this.token), this.hub);
  }

  /** `ip:port` of the hub's relay address. */
  get hubString(): string {
    return `${this.hub.hostname}:${this.hub.port}`;
  }
}

/**
 * The upgrade procedure (spec §5.3): decode the token, then for each candidate (resolved
 * to IPv4) open a new UDP socket, send one PROBE and wait {@link PROBE_TIMEOUT_MS} for
 * READY; the first success wins, failed sockets are closed.
 * @param role which end this is (candidate rule).
 * @param offer the `udp-offer`.
 * @param hubUrl the URL the session's WebSocket was dialled to.
 * @param signal aborts the attempt (the session ended).
 * @returns the path, or null when the token is malformed or no candidate answered.
 */
export async function upgradeToUdpRelay(
  role: "agent" | "client",
  offer: UdpOffer,
  hubUrl: string,
  signal?: AbortSignal,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<UdpRelayPath | null> {
  const token = decodeUdpToken(offer.token);
  if (!token || !Number.isInteger(offer.port) || offer.port < 1 || offer.port > 65535) {
    return null;
  }
  for (const candidate of relayCandidates(role, offer, hubUrl)) {
    if (signal?.aborted) return null;
    const ip = isIPv4(candidate) ? candidate : await resolveIPv4(candidate);
    if (!ip) continue;
    if (signal?.aborted) return null; // the session ended while the name resolved
    const hub: Deno.NetAddr = { transport: "udp", hostname: ip, port: offer.port };
    let sock: UdpPathSocket;
    try {
      sock = new UdpPathSocket();
    } catch {
      return null; // no UDP at all here
    }
    const ready = waitReady(sock, token, timeoutMs, signal);
    sock.sendTo(encodeProbe(token), hub);
    if (await ready) {
      if (signal?.aborted) {
        sock.close();
        return null;
      }
      return new UdpRelayPath(sock, hub, token);
    }
    sock.close();
  }
  return null;
}
