/**
 * Netstack benchmarks: bulk throughput of one TCP connection between two in-process
 * stacks, over a lossless link and over 1 % loss, and connections set up (and torn down)
 * per second. Prints a table. Every run is bounded in bytes and time.
 *
 * The lossless rows run on the real clock with packets handed over at once, so they
 * measure what our TCP costs in CPU. The lossy rows run on the virtual clock of the link
 * simulator (1 ms one-way delay, 1 Gbit/s): "goodput" is what TCP achieves on that link,
 * "CPU rate" how fast we simulate it.
 *
 *   deno run -A bench/netstack.ts [--mib=64]
 * @module
 */
import { setImmediate } from "node:timers";
import { NetStack, type TcpConn } from "../lib/netstack/mod.ts";
import { VirtualClock } from "../lib/clock/mod.ts";
import { simulatedLink } from "../lib/netstack/phy/mod.ts";
import { fmt, printTable } from "./_table.ts";

const MIB = Number(Deno.args.find((a) => a.startsWith("--mib="))?.split("=")[1] ?? 64);
const SETUP_SECONDS = 2;
const MAX_SETUPS = 50_000;

/** Two stacks on the real clock; each packet is delivered in a later task (no re-entry). */
function realPair(mtu: number): { a: NetStack; b: NetStack } {
  const ends: { a?: NetStack; b?: NetStack } = {};
  const queue: [NetStack, Uint8Array][] = [];
  let scheduled = false;
  const drain = () => {
    scheduled = false;
    for (let i = 0; i < queue.length; i++) queue[i][0].input(queue[i][1]);
    queue.length = 0;
  };
  const to = (dst: "a" | "b") => (p: Uint8Array) => {
    queue.push([ends[dst]!, p.slice()]);
    if (!scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  };
  ends.a = new NetStack({ address: "10.0.0.1", mtu, output: to("b") });
  ends.b = new NetStack({ address: "10.0.0.2", mtu, output: to("a") });
  return { a: ends.a, b: ends.b };
}

async function bulk(client: TcpConn, server: TcpConn, total: number): Promise<void> {
  const chunk = new Uint8Array(64 * 1024).fill(0x5a);
  const send = (async () => {
    const w = client.writable.getWriter();
    for (let sent = 0; sent < total; sent += chunk.length) await w.write(chunk);
    await w.close();
  })();
  let got = 0;
  for await (const c of server.readable) got += c.length;
  await send;
  if (got !== total) throw new Error(`received ${got} of ${total} octets`);
}

const rows: string[][] = [];

for (const mtu of [1100, 9000]) {
  const { a, b } = realPair(mtu);
  const l = b.listen(80);
  const [c, s] = await Promise.all([a.dial("10.0.0.2", 80), l.accept()]);
  await bulk(c, s, 4 << 20); // warm-up on its own connection
  const [c2, s2] = await Promise.all([a.dial("10.0.0.2", 80), l.accept()]);
  const seg0 = a.stats.tcp.segmentsSent;
  const t1 = performance.now();
  await bulk(c2, s2, MIB << 20);
  const sec = (performance.now() - t1) / 1000;
  const segs = a.stats.tcp.segmentsSent - seg0;
  rows.push([
    `bulk, lossless, MTU ${mtu}`,
    `${MIB} MiB`,
    `${fmt(MIB / sec)} MiB/s`,
    `${fmt(segs / sec)} seg/s`,
    `${a.stats.tcp.retransmits}`,
  ]);
  a.close();
  b.close();
}

for (const loss of [0.01]) {
  const clock = new VirtualClock();
  const ends: { a?: NetStack; b?: NetStack } = {};
  const link = simulatedLink(() => (p) => ends.a!.input(p), () => (p) => ends.b!.input(p), {
    clock,
    seed: 1,
    lossRate: loss,
    delayMs: 1,
    rateBytesPerSecond: 125_000_000,
    queueLimitBytes: 1 << 20,
  });
  const a = ends.a = new NetStack({ address: "10.0.0.1", output: link.fromA, clock });
  const b = ends.b = new NetStack({ address: "10.0.0.2", output: link.fromB, clock });
  const l = b.listen(80);
  const [c, s] = await clock.run(Promise.all([a.dial("10.0.0.2", 80), l.accept()]));
  const mib = Math.min(MIB, 32);
  const v0 = clock.now(), t0 = performance.now();
  await clock.run(bulk(c, s, mib << 20), { maxVirtualMs: 3_600_000, maxRealMs: 300_000 });
  const virt = (clock.now() - v0) / 1000, real = (performance.now() - t0) / 1000;
  rows.push([
    `bulk, ${loss * 100} % loss, 2 ms RTT, 1 Gbit/s (simulated)`,
    `${mib} MiB`,
    `${fmt(mib / virt)} MiB/s goodput, ${fmt(mib / real)} MiB/s CPU rate`,
    `${fmt(a.stats.tcp.segmentsSent / real)} seg/s`,
    `${a.stats.tcp.retransmits} (${a.stats.tcp.timeouts} RTO)`,
  ]);
  a.close();
  b.close();
}

{
  const { a, b } = realPair(1100);
  const l = b.listen(80, 1024);
  (async () => {
    for await (const conn of l) conn.close();
  })();
  const end = performance.now() + SETUP_SECONDS * 1000;
  const t0 = performance.now();
  let n = 0;
  while (n < MAX_SETUPS && performance.now() < end) {
    const batch = await Promise.all(
      Array.from({ length: 16 }, () => a.dial("10.0.0.2", 80, {})),
    );
    await Promise.all(batch.map((c) => c.close()));
    n += batch.length;
  }
  const sec = (performance.now() - t0) / 1000;
  rows.push([
    "connection set-up + close (16 at a time)",
    `${n} conns`,
    `${fmt(n / sec)} conn/s`,
    `${fmt(a.stats.tcp.segmentsSent / sec)} seg/s`,
    "-",
  ]);
  l.close();
  a.close();
  b.close();
}

printTable(
  `Netstack (Deno ${Deno.version.deno}, one TCP connection between two in-process stacks, single thread)`,
  ["benchmark", "size", "throughput", "segments sent", "retransmits"],
  rows,
);
