/**
 * Test helpers: two stacks joined by a simulated link on a virtual clock, deterministic
 * byte patterns and SHA-256 of what was sent and received.
 * @module
 */
import { createHash } from "node:crypto";
import { NetStack, type NetStackOptions, type TcpConn } from "./mod.ts";
import {
  type LinkOptions,
  PcapWriter,
  type RunLimits,
  simulatedLink,
  type SimulatedLink,
  VirtualClock,
} from "./phy/mod.ts";

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
}

/** Builds a {@link Pair}; the ISN secrets and ephemeral ports are seeded for replay. */
export function makePair(o: PairOptions = {}): Pair {
  const clock = new VirtualClock(1000);
  const pcap = o.pcap ? new PcapWriter() : null;
  const seed = o.link?.seed ?? 1;
  let a!: NetStack, b!: NetStack;
  const link = simulatedLink(() => (p) => a.input(p), () => (p) => b.input(p), {
    delayMs: 1,
    ...o.link,
    clock,
    seed,
    ...(pcap ? { pcap } : {}),
  });
  let r = seed;
  const random = () => ((r = (r * 1103515245 + 12345) >>> 0) / 4294967296);
  a = new NetStack({
    address: A_ADDR,
    output: link.fromA,
    clock,
    isnSecret: new Uint8Array(32).fill(0xa1),
    random,
    ...o.tcp,
    ...o.a,
  });
  b = new NetStack({
    address: B_ADDR,
    output: link.fromB,
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

/** Deterministic bytes from xorshift32, in chunks of `chunk` octets. */
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
  const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of parts) {
    out.set(c, o);
    o += c.length;
  }
  return out;
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
): Promise<{ atServer: { bytes: number; sha256: string }; atClient: { bytes: number; sha256: string } }> {
  const [atServer, atClient] = await Promise.all([
    receiveAll(s),
    receiveAll(c),
    sendPattern(c, 1, total),
    sendPattern(s, 2, total),
  ]);
  return { atServer, atClient };
}
