/**
 * Test helpers: two stacks joined by a simulated link on a virtual clock, deterministic
 * byte patterns and SHA-256 of what was sent and received.
 * @module
 */
import { createHash } from "node:crypto";
import { formatIpv4, NetStack, type NetStackOptions, parseIpv4, type TcpConn } from "./mod.ts";
import { IpProtocol, Ipv4Packet } from "./wire/ipv4.ts";
import {
  finishChecksum,
  formatFlags,
  type PayloadSource,
  TcpRepr,
  TcpSegment,
} from "./wire/tcp.ts";
import {
  type LinkOptions,
  type PacketSink,
  PcapWriter,
  type SimulatedLink,
  simulatedLink,
} from "./phy/mod.ts";
import { type RunLimits, VirtualClock } from "../clock/mod.ts";

export const A_ADDR = "10.0.0.1";
export const B_ADDR = "10.0.0.2";
export const MiB = 1024 * 1024;

/** Two stacks `a` (10.0.0.1) and `b` (10.0.0.2) on one simulated link. */
export interface Pair {
  clock: VirtualClock;
  a: NetStack;
  b: NetStack;
  link: SimulatedLink;
  pcap: PcapWriter | null;
  /** Runs the virtual clock until `p` settles. */
  run<T>(p: Promise<T>, limits?: RunLimits): Promise<T>;
  close(): void;
}

/** Options of {@link makePair}. */
export interface PairOptions {
  link?: Omit<LinkOptions, "clock" | "seed" | "pcap"> & { seed?: number };
  /** TCP options for both stacks (overridden per side by `a` and `b`). */
  tcp?: Partial<NetStackOptions>;
  a?: Partial<NetStackOptions>;
  b?: Partial<NetStackOptions>;
  /** Record a pcap of both directions. */
  pcap?: boolean;
  /** Wraps a's output before the link (to rewrite or drop what a sends). */
  wrapA?: (out: PacketSink) => PacketSink;
  /** Wraps b's output before the link (to rewrite what b sends). */
  wrapB?: (out: PacketSink) => PacketSink;
}

/** Builds a {@link Pair}; the ISN secrets and ephemeral ports are seeded for replay. */
export function makePair(o: PairOptions = {}): Pair {
  const clock = new VirtualClock(1000);
  const pcap = o.pcap ? new PcapWriter() : null;
  const seed = o.link?.seed ?? 1;
  // The link is built first (the stacks need its outputs) and finds its ends on delivery.
  const ends: { a?: NetStack; b?: NetStack } = {};
  const link = simulatedLink(() => (p) => ends.a!.input(p), () => (p) => ends.b!.input(p), {
    delayMs: 1,
    ...o.link,
    clock,
    seed,
    ...(pcap ? { pcap } : {}),
  });
  let r = seed;
  const random = () => ((r = (r * 1103515245 + 12345) >>> 0) / 4294967296);
  const a = ends.a = new NetStack({
    address: A_ADDR,
    output: o.wrapA ? o.wrapA(link.fromA) : link.fromA,
    clock,
    isnSecret: new Uint8Array(32).fill(0xa1),
    random,
    ...o.tcp,
    ...o.a,
  });
  const b = ends.b = new NetStack({
    address: B_ADDR,
    output: o.wrapB ? o.wrapB(link.fromB) : link.fromB,
    clock,
    isnSecret: new Uint8Array(32).fill(0xb2),
    random,
    ...o.tcp,
    ...o.b,
  });
  return {
    clock,
    a,
    b,
    link,
    pcap,
    run: (p, limits) => clock.run(p, limits),
    close() {
      a.close();
      b.close();
    },
  };
}

/** Dials b:port from a and accepts it on b; returns [client, server]. */
export async function connectPair(p: Pair, port = 80): Promise<[TcpConn, TcpConn]> {
  const l = p.b.listen(port);
  const [c, s] = await p.run(Promise.all([p.a.dial(B_ADDR, port), l.accept()]));
  l.close();
  return [c, s];
}

/**
 * Deterministic, incompressible bytes from xorshift32, in chunks of `chunk` octets (the
 * last may be shorter), so both ends of a transfer can hash what they expect. Shared by the
 * netstack, e2e and interop tests.
 */
export function* pattern(seed: number, total: number, chunk = 64 * 1024): Generator<Uint8Array> {
  let x = seed >>> 0 || 1;
  for (let sent = 0; sent < total; sent += chunk) {
    const n = Math.min(chunk, total - sent);
    const buf = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf[i] = x;
      buf[i + 1] = x >>> 8;
      buf[i + 2] = x >>> 16;
      buf[i + 3] = x >>> 24;
    }
    yield buf;
  }
}

/** {@link pattern}(seed, total) as one buffer. */
export function patternBytes(seed: number, total: number): Uint8Array {
  return concat([...pattern(seed, total)]);
}

/** The parts joined into one buffer. */
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of parts) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** SHA-256 (hex) of {@link pattern}(seed, total). */
export function patternHash(seed: number, total: number): string {
  const h = createHash("sha256");
  for (const b of pattern(seed, total)) h.update(b);
  return h.digest("hex");
}

/** Writes pattern(seed, total) to `conn` and half-closes it. */
export async function sendPattern(conn: TcpConn, seed: number, total: number): Promise<void> {
  const w = conn.writable.getWriter();
  for (const b of pattern(seed, total)) await w.write(b);
  await w.close();
}

/** Reads `conn` to its end; returns octets and SHA-256 (hex). */
export async function receiveAll(conn: TcpConn): Promise<{ bytes: number; sha256: string }> {
  const h = createHash("sha256");
  let bytes = 0;
  for await (const c of conn.readable) {
    h.update(c);
    bytes += c.length;
  }
  return { bytes, sha256: h.digest("hex") };
}

/** Reads `conn` to its end and returns the bytes. */
export async function readAll(conn: TcpConn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of conn.readable) parts.push(c);
  return concat(parts);
}

/** Writes `data` and half-closes. */
export async function writeAll(conn: TcpConn, data: Uint8Array): Promise<void> {
  const w = conn.writable.getWriter();
  await w.write(data);
  await w.close();
}

/**
 * Sends `total` octets each way at once between `c` and `s` and returns what each side
 * received, so the caller can compare with {@link patternHash}(1|2, total).
 */
export async function bothWays(
  c: TcpConn,
  s: TcpConn,
  total: number,
): Promise<
  { atServer: { bytes: number; sha256: string }; atClient: { bytes: number; sha256: string } }
> {
  const [atServer, atClient] = await Promise.all([
    receiveAll(s),
    receiveAll(c),
    sendPattern(c, 1, total),
    sendPattern(s, 2, total),
  ]);
  return { atServer, atClient };
}

/** Fields of a crafted TCP/IPv4 packet; absent options are not sent. */
export interface RawSegment {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  tsVal?: number;
  tsEcr?: number;
  sack?: [number, number][];
  payload?: Uint8Array;
}

/** A payload source over plain bytes. */
export function bytesPayload(bytes: Uint8Array): PayloadSource {
  return {
    readAt: (offset, target, targetOffset, length) =>
      target.set(bytes.subarray(offset, offset + length), targetOffset),
  };
}

/** Builds a valid TCP/IPv4 packet (checksums included) from `r`. */
export function craft(r: RawSegment): Uint8Array {
  const payload = r.payload ?? new Uint8Array(0);
  const seg = new TcpRepr();
  seg.sourcePort = r.sport;
  seg.destinationPort = r.dport;
  seg.seq = r.seq >>> 0;
  seg.ack = (r.ack ?? 0) >>> 0;
  seg.flags = r.flags;
  seg.window = r.window ?? 65535;
  const o = seg.options;
  o.mss = r.mss ?? -1;
  o.windowScale = r.windowScale ?? -1;
  o.sackPermitted = r.sackPermitted ?? false;
  o.timestamps = r.tsVal !== undefined;
  o.tsVal = r.tsVal ?? 0;
  o.tsEcr = r.tsEcr ?? 0;
  o.sackCount = r.sack?.length ?? 0;
  (r.sack ?? []).flat().forEach((v, i) => (o.sackBlocks[i] = v));
  seg.setPayload(bytesPayload(payload), 0, payload.length);
  const buf = new Uint8Array(20 + 60 + payload.length);
  const src = parseIpv4(r.src), dst = parseIpv4(r.dst);
  const length = seg.emit(buf, 20, src, dst);
  const ip = new Ipv4Packet().wrap(buf);
  ip.emitHeader(src, dst, IpProtocol.TCP, length, 7);
  return buf.slice(0, 20 + length);
}

/** A parsed TCP/IPv4 packet, for assertions. */
export interface ParsedSegment {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  /** e.g. "SYN,ACK". */
  flagNames: string;
  window: number;
  mss: number;
  windowScale: number;
  sackPermitted: boolean;
  timestamps: boolean;
  tsVal: number;
  tsEcr: number;
  sack: [number, number][];
  payloadLength: number;
  payload: Uint8Array;
}

/** Parses a packet the stack emitted; throws if it is not valid TCP/IPv4. */
export function parse(packet: Uint8Array): ParsedSegment {
  const ip = new Ipv4Packet().wrap(packet);
  const bad = ip.check();
  if (bad) throw new Error(`bad IPv4 packet: ${bad}`);
  const seg = new TcpSegment().wrap(packet, ip.headerLength, ip.payloadLength);
  if (!seg.wellFormed() || !seg.verifyChecksum(ip.source, ip.destination)) {
    throw new Error("bad TCP segment");
  }
  const repr = new TcpRepr();
  if (!repr.parse(seg)) throw new Error("bad TCP options");
  const o = repr.options;
  const sack: [number, number][] = [];
  for (let k = 0; k < o.sackCount; k++) sack.push([o.sackBlocks[2 * k], o.sackBlocks[2 * k + 1]]);
  return {
    src: formatIpv4(ip.source),
    dst: formatIpv4(ip.destination),
    sport: repr.sourcePort,
    dport: repr.destinationPort,
    seq: repr.seq,
    ack: repr.ack,
    flags: repr.flags,
    flagNames: formatFlags(repr.flags),
    window: repr.window,
    mss: o.mss,
    windowScale: o.windowScale,
    sackPermitted: o.sackPermitted,
    timestamps: o.timestamps,
    tsVal: o.tsVal,
    tsEcr: o.tsEcr,
    sack,
    payloadLength: repr.payloadLength,
    payload: packet.slice(seg.payloadOffset, seg.payloadOffset + repr.payloadLength),
  };
}

/** One stack whose output is captured, driven by hand-made segments (a scripted peer). */
export interface Scripted {
  clock: VirtualClock;
  stack: NetStack;
  /** Every packet the stack sent, parsed, in order. */
  sent: ParsedSegment[];
  /** Removes and returns what was sent since the last call. */
  take(): ParsedSegment[];
  /** Hands a crafted segment from the peer (10.0.0.2) to the stack. */
  deliver(r: Omit<RawSegment, "src" | "dst"> & { src?: string; dst?: string }): void;
}

/** A stack at 10.0.0.1 talking to a scripted peer at 10.0.0.2. */
export function scripted(opts: Partial<NetStackOptions> = {}): Scripted {
  const clock = new VirtualClock(1000);
  const sent: ParsedSegment[] = [];
  let cursor = 0;
  const stack = new NetStack({
    address: A_ADDR,
    output: (p) => sent.push(parse(p)),
    clock,
    isnSecret: new Uint8Array(32).fill(0xc3),
    ...opts,
  });
  return {
    clock,
    stack,
    sent,
    take() {
      const out = sent.slice(cursor);
      cursor = sent.length;
      return out;
    },
    deliver(r) {
      stack.input(craft({ src: B_ADDR, dst: A_ADDR, ...r }));
    },
  };
}

/**
 * Overwrites every SACK option of a TCP/IPv4 packet with NOPs and fixes the checksum:
 * what gVisor's ACKs look like after it sent its FIN (SACK negotiated, no blocks sent).
 */
export function stripSackBlocks(next: PacketSink): PacketSink {
  return (packet) => {
    const p = packet.slice();
    const ihl = (p[0] & 15) * 4;
    const doff = (p[ihl + 12] >> 4) * 4;
    let i = ihl + 20, changed = false;
    while (i < ihl + doff) {
      const kind = p[i];
      if (kind === 0) break;
      if (kind === 1) {
        i++;
        continue;
      }
      const len = p[i + 1];
      if (len < 2) break;
      if (kind === 5) {
        p.fill(1, i, i + len);
        changed = true;
      }
      i += len;
    }
    if (changed) {
      const ip = new Ipv4Packet().wrap(p);
      p[ihl + 16] = p[ihl + 17] = 0;
      finishChecksum(p, ihl, ip.totalLength - ihl, ip.source, ip.destination);
    }
    next(p);
  };
}
