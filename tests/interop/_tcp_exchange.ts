/**
 * Helpers for the TCP interop tests: SHA-256, a bounded
 * full-duplex exchange over one of our {@link TcpConn}s (send N bytes then FIN while
 * reading to the peer's FIN), byte-exact comparison with the first differing offset,
 * a seeded lossy {@link Bind}, and the stack counters worth printing.
 * @module
 */
import type { NetStack, TcpConn } from "../../lib/netstack/mod.ts";
import type { Device } from "../../lib/wireguard/mod.ts";
import type { Bind, BindEndpoint } from "../../lib/wireguard/mod.ts";
import { Rng } from "../../lib/netstack/phy/mod.ts";
import { bytesToHex } from "../../lib/protocol/mod.ts";

/** The transfer size each way: at least 16 MiB, as the interop issue asks. */
export const TRANSFER_BYTES = 16 * 1024 * 1024;

/** Loss rate of the lossy cases. */
export const LOSS_RATE = 0.03;

/** Hex SHA-256 of `b`. */
export async function sha256Hex(b: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>));
  return bytesToHex(d);
}

/** Index of the first byte where `a` and `b` differ, or -1 when they are equal. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/**
 * Throws unless `actual` equals `expected` byte for byte; the message names the
 * direction, both lengths and hashes, and the first differing offset.
 */
export async function assertSameBytes(
  what: string,
  actual: Uint8Array,
  expected: Uint8Array,
): Promise<void> {
  const diff = firstDifference(actual, expected);
  if (diff < 0) return;
  const around = (b: Uint8Array) =>
    Array.from(b.subarray(diff, diff + 16), (x) => x.toString(16).padStart(2, "0")).join(" ");
  throw new Error(
    `${what}: not byte-exact: got ${actual.length} bytes (sha256 ${await sha256Hex(
      actual,
    )}), expected ${expected.length} (sha256 ${await sha256Hex(expected)}); ` +
      `first difference at offset ${diff}: got [${around(actual)}] expected [${around(expected)}]`,
  );
}

/** What one side of an exchange did. */
export interface ExchangeResult {
  /** Every byte read up to the peer's FIN. */
  received: Uint8Array;
  /** Bytes written before our FIN. */
  sent: number;
  /** ms from start until all our bytes were handed to the connection and FIN queued. */
  sendQueuedMs: number;
  /** ms from start until the peer's FIN was read. */
  receiveMs: number;
  /** ms from start until our FIN was acknowledged (close() resolved). */
  closedMs: number;
}

/** Live counters of an exchange in progress, for messages on a stall. */
export interface ExchangeProgress {
  sent: number;
  received: number;
}

/**
 * Runs both directions of one connection at once: writes `data` in 64 KiB chunks then
 * half-closes, while reading until the peer's FIN (at most `maxReceive` bytes), then
 * closes and waits for our FIN to be acknowledged. Bounded by `timeoutMs`: on expiry
 * the connection is aborted and the error says how far each direction got.
 */
export async function exchange(
  conn: TcpConn,
  data: Uint8Array,
  maxReceive: number,
  timeoutMs: number,
  progress: ExchangeProgress = { sent: 0, received: 0 },
): Promise<ExchangeResult> {
  const start = performance.now();
  let sendQueuedMs = -1, receiveMs = -1;
  const writeAll = async () => {
    const w = conn.writable.getWriter();
    for (let off = 0; off < data.length; off += 64 * 1024) {
      const chunk = data.subarray(off, Math.min(off + 64 * 1024, data.length));
      await w.write(chunk);
      progress.sent += chunk.length;
    }
    await w.close();
    sendQueuedMs = performance.now() - start;
  };
  const readAll = async (): Promise<Uint8Array> => {
    const buf = new Uint8Array(maxReceive);
    let n = 0;
    const r = conn.readable.getReader();
    for (;;) {
      const { value, done } = await r.read();
      if (done) break;
      if (n + value.length > maxReceive) {
        throw new Error(`the peer sent more than the ${maxReceive} bytes expected`);
      }
      buf.set(value, n);
      n += value.length;
      progress.received = n;
    }
    r.releaseLock();
    receiveMs = performance.now() - start;
    return buf.subarray(0, n);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new Error(
          `exchange did not finish within ${timeoutMs} ms: sent ${progress.sent}/${data.length} ` +
            `bytes, received ${progress.received}/${maxReceive}` +
            (sendQueuedMs >= 0 ? ", our FIN queued" : "") +
            (receiveMs >= 0 ? ", the peer's FIN read" : ""),
        ),
      );
    }, timeoutMs);
  });
  try {
    const [, received] = await Promise.race([Promise.all([writeAll(), readAll()]), timeout]);
    await Promise.race([conn.close(), timeout]);
    return {
      received,
      sent: progress.sent,
      sendQueuedMs,
      receiveMs,
      closedMs: performance.now() - start,
    };
  } catch (err) {
    conn.abort();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** `p`, or a rejection naming `what` once `ms` pass first. */
export function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** "12.3 MB/s" for `bytes` in `ms` (MB = 10^6 bytes). */
export function rate(bytes: number, ms: number): string {
  return `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
}

/** The stack's TCP counters and non-zero drop reasons, one line. */
export function stackSummary(stack: NetStack): string {
  const t = stack.stats.tcp;
  const drops = Object.entries(stack.stats.drops).filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${n}`).join(" ");
  return `retransmits=${t.retransmits} fastRetransmits=${t.fastRetransmits} ` +
    `timeouts=${t.timeouts} outOfOrder=${t.outOfOrder} segmentsSent=${t.segmentsSent} ` +
    `segmentsReceived=${t.segmentsReceived} rstSent=${t.rstSent} rstReceived=${t.rstReceived} ` +
    `challengeAcks=${t.challengeAcks} tcpDropped=${t.dropped} drops: ${drops || "none"}`;
}

/** The device's non-zero drop reasons, one line. */
export function deviceDrops(device: Device): string {
  const d = Object.entries(device.stats.dropped).filter(([, n]) => (n ?? 0) > 0)
    .map(([k, n]) => `${k}=${n}`).join(" ");
  return d || "none";
}

/**
 * Wraps a {@link Bind} so that a seeded fraction of WireGuard transport-data datagrams
 * (type 4) is dropped, each way. Handshake messages always pass, so the loss lands on
 * the tunnel's IP packets (TCP segments and keepalives) and not on key exchange.
 */
export class LossyBind implements Bind {
  readonly inner: Bind;
  /** Probability of dropping each transport datagram; set to 0 to stop the loss. */
  lossRate = 0;
  readonly dropped = { sent: 0, received: 0 };
  readonly #rng: Rng;

  constructor(inner: Bind, seed: number) {
    this.inner = inner;
    this.#rng = new Rng(seed);
  }

  #drop(d: Uint8Array): boolean {
    return this.lossRate > 0 && d.length > 0 && d[0] === 4 && this.#rng.chance(this.lossRate);
  }

  open(receive: (datagram: Uint8Array, from: BindEndpoint) => void): void | Promise<void> {
    return this.inner.open((d, from) => {
      if (this.#drop(d)) this.dropped.received++;
      else receive(d, from);
    });
  }

  send(datagram: Uint8Array, to: BindEndpoint): void {
    if (this.#drop(datagram)) this.dropped.sent++;
    else this.inner.send(datagram, to);
  }

  close(): void {
    this.inner.close();
  }

  endpointString(endpoint: BindEndpoint): string {
    return this.inner.endpointString?.(endpoint) ?? "";
  }
}

/**
 * The last `size` TCP/IPv4 headers each way with timestamps, kept cheaply (a copy of the
 * IP and TCP headers with options, at most 120 octets a packet) so that a failure or an unexpected RST can be shown as a
 * packet trace without a capture running.
 */
export class PacketTrace {
  readonly #size: number;
  readonly #heads: Uint8Array[] = [];
  readonly #meta: { t: number; dir: "out" | "in"; len: number }[] = [];
  #next = 0;
  #start = performance.now();

  constructor(size = 256) {
    this.#size = size;
  }

  /** Records one IPv4 packet (`out`: sent by our stack, `in`: delivered to it). */
  record(dir: "out" | "in", packet: Uint8Array): void {
    const ihl = (packet[0] & 15) * 4;
    const head = packet.slice(0, Math.min(packet.length, ihl + 60));
    const m = { t: performance.now() - this.#start, dir, len: packet.length };
    if (this.#heads.length < this.#size) {
      this.#heads.push(head);
      this.#meta.push(m);
    } else {
      this.#heads[this.#next] = head;
      this.#meta[this.#next] = m;
    }
    this.#next = (this.#next + 1) % this.#size;
  }

  /** Starts over (a new case). */
  clear(): void {
    this.#heads.length = 0;
    this.#meta.length = 0;
    this.#next = 0;
    this.#start = performance.now();
  }

  /** The trace (the `last` packets only, if given), oldest first, one a line (tcpdump-like). */
  format(last = Infinity): string {
    const lines: string[] = [];
    const n = this.#heads.length;
    const first = n < this.#size ? 0 : this.#next;
    for (let i = Math.max(0, n - last); i < n; i++) {
      const k = (first + i) % n;
      const h = this.#heads[k], m = this.#meta[k];
      const ihl = (h[0] & 15) * 4;
      const ip = (o: number) => `${h[o]}.${h[o + 1]}.${h[o + 2]}.${h[o + 3]}`;
      if (h[9] !== 6 || h.length < ihl + 20) {
        lines.push(`${m.t.toFixed(1).padStart(9)} ${m.dir} proto ${h[9]} len ${m.len}`);
        continue;
      }
      const tcp = h.subarray(ihl);
      const u16 = (o: number) => (tcp[o] << 8) | tcp[o + 1];
      const u32 = (o: number) =>
        ((tcp[o] << 24) | (tcp[o + 1] << 16) | (tcp[o + 2] << 8) | tcp[o + 3]) >>> 0;
      const f = tcp[13];
      const flags = [[1, "F"], [2, "S"], [4, "R"], [8, "P"], [16, "."]]
        .filter(([bit]) => f & (bit as number)).map(([, c]) => c).join("");
      const doff = (tcp[12] >> 4) * 4;
      const dataLen = m.len - ihl - doff;
      lines.push(
        `${m.t.toFixed(1).padStart(9)} ${m.dir === "out" ? "ours>" : "<peer"} ` +
          `${ip(12)}:${u16(0)} > ${ip(16)}:${u16(2)} [${flags}] seq ${u32(4)} ack ${u32(8)} ` +
          `win ${u16(14)} len ${dataLen}${
            tcpOptions(tcp.subarray(20, Math.min(doff, tcp.length)))
          }`,
      );
    }
    return lines.join("\n");
  }
}

/** Text of TCP options (MSS, window scale, SACK-permitted, SACK blocks, timestamps). */
function tcpOptions(o: Uint8Array): string {
  const u32 = (i: number) => ((o[i] << 24) | (o[i + 1] << 16) | (o[i + 2] << 8) | o[i + 3]) >>> 0;
  const parts: string[] = [];
  for (let i = 0; i < o.length;) {
    const kind = o[i];
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = o[i + 1];
    if (!len || len < 2 || i + len > o.length) {
      parts.push("bad-options");
      break;
    }
    if (kind === 2 && len === 4) parts.push(`mss ${(o[i + 2] << 8) | o[i + 3]}`);
    else if (kind === 3 && len === 3) parts.push(`wscale ${o[i + 2]}`);
    else if (kind === 4) parts.push("sackOK");
    else if (kind === 5) {
      const blocks: string[] = [];
      for (let j = i + 2; j + 8 <= i + len; j += 8) blocks.push(`${u32(j)}:${u32(j + 4)}`);
      parts.push(`sack ${blocks.join(",")}`);
    } else if (kind === 8 && len === 10) parts.push(`TS ${u32(i + 2)}/${u32(i + 6)}`);
    else parts.push(`opt${kind}`);
    i += len;
  }
  return parts.length ? ` <${parts.join(" ")}>` : "";
}
