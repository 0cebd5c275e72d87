/**
 * The interface layer: one IPv4 address, its TCP sockets and listeners. Incoming packets
 * are validated (RFC 791 header, RFC 9293 checksum and options), demultiplexed by 4-tuple
 * and handed to a socket or a listener; segments that match neither get a RST
 * (RFC 9293 3.10.7.1). Sockets emit TCP segments ({@link TcpRepr}); the stack wraps them in
 * IPv4 ({@link Ipv4Egress}) and they leave through the `output` callback.
 * @module
 */
import { type Clock, systemClock } from "../clock/mod.ts";
import { Connection, type TcpConn } from "./connection.ts";
import { Ipv4Egress } from "./egress.ts";
import { resolveTcpConfig, type TcpConfig, type TcpOptionsConfig } from "./tcp/config.ts";
import { IsnGenerator } from "./tcp/isn.ts";
import {
  ConnectionAbortedError,
  type SocketHost,
  TcpSocket,
  TcpState,
  type TcpStats,
} from "./tcp/socket.ts";
import { formatIpv4, parseIpv4 } from "./wire/address.ts";
import { IpProtocol, type Ipv4DropReason, Ipv4Packet } from "./wire/ipv4.ts";
import { TcpFlags, TcpOptions, TcpRepr, TcpSegment } from "./wire/tcp.ts";

/** Options of a {@link NetStack}. Sizes in octets, times in milliseconds. */
export interface NetStackOptions extends TcpOptionsConfig {
  /** The interface's IPv4 address, dotted quad (e.g. "10.77.1.1"). */
  address: string;
  /**
   * Called with every outgoing IPv4 packet. The bytes are valid only during the call
   * (one buffer is reused); copy them to keep them.
   */
  output: (packet: Uint8Array) => void;
  /** Time source; the real clock by default. */
  clock?: Clock;
  /** 32-octet ISN secret (RFC 6528); random by default. */
  isnSecret?: Uint8Array;
  /** Random source in [0, 1) for ephemeral ports; `Math.random` by default. */
  random?: () => number;
  /** Challenge ACKs allowed per second across the stack (RFC 5961 7). Default 1000. */
  challengeAckLimit?: number;
  /**
   * The largest IP packet the path carries now, in octets; read each time a segment is
   * sized. Default: `mtu`. With a larger `mtu` than the path always carries, the stack
   * announces MSS `mtu - 40` (so a peer may send that much, bounded by its own MTU as
   * RFC 9293 3.7.1 requires) while its own segments follow the path; a value above `mtu`
   * counts as `mtu`.
   */
  pathMtu?: () => number;
  /**
   * Verify the TCP checksum of every incoming segment (RFC 9293 3.1). Default true. A stack
   * fed only by an authenticated channel may turn it off, as wireguard-go's netstack device
   * does (`RXChecksumOffload`): WireGuard's Poly1305 tag already proves every octet arrived
   * as the peer sent it. Outgoing segments always carry a checksum.
   */
  verifyChecksums?: boolean;
}

/** Why the stack dropped an incoming packet. */
export type NetStackDropReason =
  | Ipv4DropReason
  | "otherAddress"
  | "protocol"
  | "tcpMalformed"
  | "tcpChecksum"
  | "tcpOptions"
  | "backlogFull"
  | "noSocket";

/** Counters of a stack; `drops` counts per reason. */
export interface NetStackStats {
  packetsReceived: number;
  packetsSent: number;
  drops: Record<NetStackDropReason, number>;
  tcp: TcpStats;
}

/** Thrown by {@link NetStack.listen} for a port already listened on. */
export class AddressInUseError extends Error {
  override name = "AddressInUseError";
}

/** Thrown by {@link NetStack.dial} when no ephemeral port is free. */
export class NoPortAvailableError extends Error {
  override name = "NoPortAvailableError";
}

/** The ephemeral port range of RFC 6335 section 6 (inclusive). */
export const EPHEMERAL_PORT_FIRST = 49152;
export const EPHEMERAL_PORT_LAST = 65535;

/** A listening port with an accept queue. */
export class TcpListener implements AsyncIterable<TcpConn> {
  readonly port: number;
  /** Connections not yet established plus established ones not yet accepted may not exceed this. */
  readonly backlog: number;
  #stack: NetStack;
  #queue: Connection[] = [];
  #waiters: { resolve: (c: TcpConn) => void; reject: (e: Error) => void }[] = [];
  /** Connections still in their handshake (SYN-RECEIVED). */
  readonly #pending = new Set<Connection>();
  #closed = false;

  /** @internal Use {@link NetStack.listen}. */
  constructor(stack: NetStack, port: number, backlog: number) {
    this.#stack = stack;
    this.port = port;
    this.backlog = backlog;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal Whether a new SYN may be taken. */
  hasRoom(): boolean {
    return this.#pending.size + this.#queue.length < this.backlog;
  }

  /**
   * @internal Takes a passively opened connection: it counts against the backlog until it
   * is accepted or ends, and is offered to accept() once its handshake completes.
   */
  adopt(conn: Connection): void {
    this.#pending.add(conn);
    conn.onOpen = () => {
      this.#pending.delete(conn);
      if (this.#closed) {
        queueMicrotask(() => conn.abort());
        return;
      }
      const w = this.#waiters.shift();
      if (w) w.resolve(conn);
      else this.#queue.push(conn);
    };
    conn.onEnd = () => {
      if (this.#pending.delete(conn)) return;
      const i = this.#queue.indexOf(conn);
      if (i >= 0) this.#queue.splice(i, 1);
    };
  }

  /**
   * The next established connection, in arrival order.
   * @throws {ConnectionAbortedError} once the listener is closed.
   */
  accept(): Promise<TcpConn> {
    const c = this.#queue.shift();
    if (c) return Promise.resolve(c);
    if (this.#closed) {
      return Promise.reject(new ConnectionAbortedError(`listener on port ${this.port} is closed`));
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Stops listening: connections not yet accepted are reset, pending accepts reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stack.unlisten(this);
    for (const c of [...this.#pending]) c.abort();
    for (const c of this.#queue.splice(0)) c.abort();
    const err = new ConnectionAbortedError(`listener on port ${this.port} is closed`);
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TcpConn> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (err) {
        if (this.#closed) return;
        throw err;
      }
    }
  }
}

/**
 * A user-space TCP/IPv4 stack bound to one address.
 *
 * @example
 * ```ts
 * import { NetStack } from "./mod.ts";
 * let b: NetStack;
 * const a = new NetStack({ address: "10.0.0.1", output: (p) => b.input(p.slice()) });
 * b = new NetStack({ address: "10.0.0.2", output: (p) => a.input(p.slice()) });
 * const l = b.listen(80);
 * const [client, server] = await Promise.all([a.dial("10.0.0.2", 80), l.accept()]);
 * client.close(); server.close(); a.close(); b.close();
 * ```
 */
export class NetStack {
  readonly address: string;
  readonly localAddr: number;
  readonly clock: Clock;
  readonly config: TcpConfig;
  /** IPv4 egress: every packet the stack sends leaves through `egress.output`. */
  readonly egress: Ipv4Egress;
  readonly stats: NetStackStats;
  readonly #isn: IsnGenerator;
  readonly #random: () => number;
  /** Sockets by {@link portKey}; several per key only when remote addresses differ. */
  readonly #sockets = new Map<number, TcpSocket[]>();
  readonly #listeners = new Map<number, TcpListener>();
  readonly #ip = new Ipv4Packet();
  readonly #seg = new TcpSegment();
  readonly #opts = new TcpOptions();
  /** The RST of RFC 9293 3.10.7.1, refilled for each (no options, window 0, no payload). */
  readonly #rst = new TcpRepr();
  readonly #challengeLimit: number;
  /** What the sockets see of the stack. */
  readonly #host: SocketHost;
  #challengeWindowStart = 0;
  #challengeCount = 0;
  #inInput = false;
  #backlog: Uint8Array[] = [];
  #closed = false;
  readonly #verifyChecksums: boolean;

  /**
   * @throws {InvalidAddressError} for an address that is not a dotted quad.
   * @throws {RangeError} for an out-of-range TCP option (names it).
   */
  constructor(opts: NetStackOptions) {
    this.address = opts.address;
    this.localAddr = parseIpv4(opts.address);
    this.clock = opts.clock ?? systemClock;
    this.config = resolveTcpConfig(opts);
    this.#verifyChecksums = opts.verifyChecksums ?? true;
    const output = opts.output;
    this.egress = new Ipv4Egress(this.localAddr, this.config.mtu, (p) => {
      this.stats.packetsSent++;
      output(p);
    });
    this.#isn = new IsnGenerator(() => this.clock.now(), opts.isnSecret);
    this.#random = opts.random ?? Math.random;
    this.#challengeLimit = opts.challengeAckLimit ?? 1000;
    this.stats = {
      packetsReceived: 0,
      packetsSent: 0,
      drops: {
        truncated: 0,
        version: 0,
        badChecksum: 0,
        fragment: 0,
        options: 0,
        otherAddress: 0,
        protocol: 0,
        tcpMalformed: 0,
        tcpChecksum: 0,
        tcpOptions: 0,
        backlogFull: 0,
        noSocket: 0,
      },
      tcp: {
        segmentsSent: 0,
        segmentsReceived: 0,
        retransmits: 0,
        fastRetransmits: 0,
        tailLossProbes: 0,
        tlpRecoveries: 0,
        lostRetransmits: 0,
        maxRtoMs: 0,
        timeouts: 0,
        rstSent: 0,
        rstReceived: 0,
        challengeAcks: 0,
        outOfOrder: 0,
        dropped: 0,
      },
    };
    this.#host = {
      clock: this.clock,
      config: this.config,
      emit: (remote, segment) => this.egress.sendTcp(remote, segment),
      stats: this.stats.tcp,
      release: (sock) => this.#release(sock),
      allowChallengeAck: () => this.#allowChallengeAck(),
      pathMtu: opts.pathMtu ?? (() => this.config.mtu),
    };
  }

  /** Number of sockets in any state but CLOSED (TIME-WAIT included). */
  get socketCount(): number {
    let n = 0;
    for (const list of this.#sockets.values()) n += list.length;
    return n;
  }

  /** Every socket, for diagnostics and tests. */
  sockets(): TcpSocket[] {
    return [...this.#sockets.values()].flat();
  }

  // ------------------------------------------------------------------ user API

  /**
   * Listens on `port` of the stack's address.
   * @param backlog connections being set up or waiting in accept() (default 128).
   * @throws {AddressInUseError} when the port already has a listener.
   * @throws {RangeError} for a port outside 1..65535.
   */
  listen(port: number, backlog = 128): TcpListener {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`port ${port} is out of range: use 1..65535`);
    }
    if (this.#closed) throw new ConnectionAbortedError("the network stack is closed");
    if (this.#listeners.has(port)) {
      throw new AddressInUseError(`port ${port} on ${this.address} already has a listener`);
    }
    const l = new TcpListener(this, port, Math.max(1, backlog));
    this.#listeners.set(port, l);
    return l;
  }

  /** @internal Called by {@link TcpListener.close}. */
  unlisten(l: TcpListener): void {
    if (this.#listeners.get(l.port) === l) this.#listeners.delete(l.port);
  }

  /**
   * Opens a connection to `address:port` (RFC 9293 3.10.1 active open) and resolves once it
   * is established.
   * @param opts.localPort a fixed local port instead of an ephemeral one.
   * @throws {ConnectionRefusedError} when the peer answers with RST.
   * @throws {ConnectionTimeoutError} after `synRetries` unanswered SYNs.
   * @throws {NoPortAvailableError} when every ephemeral port toward that peer is taken.
   * @throws {InvalidAddressError} for an address that is not a dotted quad.
   */
  dial(address: string, port: number, opts: { localPort?: number } = {}): Promise<TcpConn> {
    if (this.#closed) {
      return Promise.reject(new ConnectionAbortedError("the network stack is closed"));
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return Promise.reject(new RangeError(`port ${port} is out of range: use 1..65535`));
    }
    let remote: number;
    try {
      remote = parseIpv4(address);
    } catch (err) {
      return Promise.reject(err);
    }
    const lport = opts.localPort ?? this.#ephemeralPort(remote, port);
    if (lport < 0) {
      return Promise.reject(
        new NoPortAvailableError(`no free local port toward ${address}:${port}`),
      );
    }
    if (this.#find(remote, port, lport)) {
      return Promise.reject(
        new AddressInUseError(`${this.address}:${lport} → ${address}:${port} is in use`),
      );
    }
    const s = new TcpSocket(
      this.#host,
      lport,
      remote,
      port,
      this.#isn.next(this.localAddr, lport, remote, port),
      true,
    );
    const conn = new Connection(s, this.localAddr, this.clock);
    this.#add(s);
    s.connect();
    return conn.established;
  }

  /** Resets every connection, closes every listener and ignores further input. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const l of [...this.#listeners.values()]) l.close();
    for (const s of this.sockets()) {
      s.abort(new ConnectionAbortedError("the network stack is closed"));
    }
    this.#sockets.clear();
    this.#backlog.length = 0;
  }

  // ------------------------------------------------------------------ input

  /**
   * Hands one incoming IPv4 packet to the stack. The bytes are read during the call only
   * (and then only if the call is not re-entrant; a re-entrant call copies them). Bad
   * packets are dropped and counted in {@link stats}, never thrown.
   */
  input(packet: Uint8Array): void {
    if (this.#closed) return;
    if (this.#inInput) {
      // Called from inside our own output (a synchronous link): finish this packet first.
      this.#backlog.push(packet.slice());
      return;
    }
    this.#inInput = true;
    try {
      this.#input(packet);
      while (this.#backlog.length > 0) this.#input(this.#backlog.shift()!);
    } finally {
      this.#inInput = false;
    }
  }

  #drop(reason: NetStackDropReason): void {
    this.stats.drops[reason]++;
  }

  #input(packet: Uint8Array): void {
    this.stats.packetsReceived++;
    const ip = this.#ip.wrap(packet);
    const bad = ip.check();
    if (bad) return this.#drop(bad);
    if (ip.destination !== this.localAddr) return this.#drop("otherAddress");
    if (ip.protocol !== IpProtocol.TCP) return this.#drop("protocol");
    const seg = this.#seg.wrap(packet, ip.headerLength, ip.payloadLength);
    if (!seg.wellFormed()) return this.#drop("tcpMalformed");
    const src = ip.source;
    if (this.#verifyChecksums && !seg.verifyChecksum(src, this.localAddr)) {
      return this.#drop("tcpChecksum");
    }
    const opts = this.#opts;
    if (!seg.parseOptions(opts)) return this.#drop("tcpOptions");
    const flags = seg.flags;
    const sport = seg.sourcePort, dport = seg.destinationPort;
    const s = this.#find(src, sport, dport);
    if (s) {
      if (
        s.state === TcpState.TIME_WAIT &&
        (flags & (TcpFlags.SYN | TcpFlags.ACK | TcpFlags.RST)) === TcpFlags.SYN
      ) {
        // RFC 9293 3.10.7.4 / RFC 6191: a new incarnation may reuse a TIME-WAIT 4-tuple.
        const l = this.#listeners.get(dport);
        if (l && !l.closed && s.timeWaitAcceptsSyn(seg, opts)) {
          this.#passiveOpen(l, src, sport, dport, seg, opts);
          return;
        }
      }
      s.noteActivity();
      s.onSegment(seg, opts);
      return;
    }
    const l = this.#listeners.get(dport);
    if (l && !l.closed) {
      // LISTEN state, RFC 9293 3.10.7.2.
      if (flags & TcpFlags.RST) return;
      if (flags & TcpFlags.ACK) return this.#reset(src, sport, dport, seg, flags);
      if (!(flags & TcpFlags.SYN)) return this.#drop("noSocket");
      if (!l.hasRoom()) return this.#drop("backlogFull"); // the peer retries its SYN
      this.#passiveOpen(l, src, sport, dport, seg, opts);
      return;
    }
    // CLOSED, RFC 9293 3.10.7.1.
    this.#drop("noSocket");
    if (!(flags & TcpFlags.RST)) this.#reset(src, sport, dport, seg, flags);
  }

  #passiveOpen(
    l: TcpListener,
    src: number,
    sport: number,
    dport: number,
    seg: TcpSegment,
    opts: TcpOptions,
  ): void {
    const s = new TcpSocket(
      this.#host,
      dport,
      src,
      sport,
      this.#isn.next(this.localAddr, dport, src, sport),
      false,
    );
    l.adopt(new Connection(s, this.localAddr, this.clock));
    this.#add(s);
    s.acceptSyn(seg, opts);
  }

  /** Sends the RST of RFC 9293 3.10.7.1 in answer to `seg` (which had no RST bit). */
  #reset(src: number, sport: number, dport: number, seg: TcpSegment, flags: number): void {
    const rst = this.#rst;
    rst.sourcePort = dport;
    rst.destinationPort = sport;
    if (flags & TcpFlags.ACK) {
      rst.seq = seg.ack;
      rst.ack = 0;
      rst.flags = TcpFlags.RST;
    } else {
      const segLen = seg.payloadLength + (flags & TcpFlags.SYN ? 1 : 0) +
        (flags & TcpFlags.FIN ? 1 : 0);
      rst.seq = 0;
      rst.ack = (seg.seq + segLen) >>> 0;
      rst.flags = TcpFlags.RST | TcpFlags.ACK;
    }
    this.egress.sendTcp(src, rst);
    this.stats.tcp.rstSent++;
    this.stats.tcp.segmentsSent++;
  }

  // ------------------------------------------------------------------ socket table

  #find(remote: number, rport: number, lport: number): TcpSocket | undefined {
    const list = this.#sockets.get(portKey(rport, lport));
    if (!list) return undefined;
    for (let i = 0; i < list.length; i++) if (list[i].remoteAddr === remote) return list[i];
    return undefined;
  }

  #add(s: TcpSocket): void {
    const key = portKey(s.remotePort, s.localPort);
    const list = this.#sockets.get(key);
    if (list) list.push(s);
    else this.#sockets.set(key, [s]);
  }

  /** RFC 6056 algorithm 1 style: a random start, then the next free port toward that peer. */
  #ephemeralPort(remote: number, rport: number): number {
    const n = EPHEMERAL_PORT_LAST - EPHEMERAL_PORT_FIRST + 1;
    const start = Math.floor(this.#random() * n);
    for (let i = 0; i < n; i++) {
      const p = EPHEMERAL_PORT_FIRST + ((start + i) % n);
      if (this.#listeners.has(p)) continue;
      if (!this.#find(remote, rport, p)) return p;
    }
    return -1;
  }

  // ------------------------------------------------------------------ for the sockets

  /** A socket reached CLOSED: forget it. */
  #release(s: TcpSocket): void {
    const key = portKey(s.remotePort, s.localPort);
    const list = this.#sockets.get(key);
    if (!list) return;
    const i = list.indexOf(s);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#sockets.delete(key);
  }

  /** RFC 5961 section 7: at most `challengeAckLimit` challenge ACKs per second. */
  #allowChallengeAck(): boolean {
    const now = this.clock.now();
    if (now - this.#challengeWindowStart >= 1000) {
      this.#challengeWindowStart = now;
      this.#challengeCount = 0;
    }
    return this.#challengeCount++ < this.#challengeLimit;
  }

  /** The stack's address and port as text, for messages. */
  toString(): string {
    return `NetStack(${formatIpv4(this.localAddr)})`;
  }
}

/** The socket table's key: both ports in one number (remote port high). */
function portKey(remotePort: number, localPort: number): number {
  return remotePort * 65536 + localPort;
}
