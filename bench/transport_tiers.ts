/**
 * The three transports side by side, in one process: two of our session binds with
 * WireGuard + netstack on top, the hub's real UDP relay and a scripted hub WebSocket pair
 * (tests/transport/_harness.ts), a STUN responder on loopback. For each tier (forced on
 * both ends): one TCP stream client → agent, and 1-octet request/response round trips.
 * Both ends and the relay share one thread, so compare the rows, not with other tables; the
 * websocket row is an in-memory WebSocket stand-in (no TCP), so it flatters that tier.
 * The last column is the kernel's UDP receive-buffer overflow count (system-wide, Linux
 * /proc/net/snmp) during the row: Deno cannot set SO_RCVBUF, so bursts that outrun the
 * one JS thread are dropped by the kernel and TCP inside the tunnel recovers.
 *
 * Usage: deno run -A bench/transport_tiers.ts [--mib 32] [--rtt 300]
 * @module
 */
import { makePair, stunResponder, until } from "../tests/transport/_harness.ts";
import type { TransportKind } from "../lib/session/mod.ts";
import { fmt, printTable } from "./_table.ts";

const arg = (name: string, def: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : def;
};
const MIB = arg("mib", 32);
const RTT_ROUNDS = arg("rtt", 300);

const stun = stunResponder();
const p = makePair({ stun: [stun.server] });
await until(
  () => p.agent.bind.transport === "direct" && p.client.bind.transport === "direct",
  10_000,
  "both ends direct",
);
const sink = p.agent.stack.listen(9);
const echo = p.agent.stack.listen(7);
(async () => {
  for (;;) {
    const c = await sink.accept().catch(() => null);
    if (!c) return;
    (async () => {
      let n = 0;
      for await (const b of c.readable) n += b.length;
      const w = c.writable.getWriter();
      await w.write(Uint8Array.of(n & 0xff)).catch(() => {});
      await w.close().catch(() => {});
    })();
  }
})();
(async () => {
  for (;;) {
    const c = await echo.accept().catch(() => null);
    if (!c) return;
    c.readable.pipeTo(c.writable).catch(() => {});
  }
})();

/** System-wide UDP RcvbufErrors (Linux), or NaN. */
function rcvbufErrors(): number {
  try {
    const lines = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((l) =>
      l.startsWith("Udp:")
    );
    const i = lines[0].split(/\s+/).indexOf("RcvbufErrors");
    return Number(lines[1].split(/\s+/)[i]);
  } catch {
    return NaN;
  }
}

const rows: string[][] = [];
for (const tier of ["websocket", "udp-relay", "direct"] as TransportKind[]) {
  p.agent.bind.force(tier);
  p.client.bind.force(tier);
  // Throughput: MIB MiB one way, timed until the sink's one-octet answer after EOF.
  const errs0 = rcvbufErrors();
  const conn = await p.client.stack.dial("10.77.1.1", 9);
  const w = conn.writable.getWriter();
  const chunk = new Uint8Array(64 * 1024).fill(7);
  const t0 = performance.now();
  for (let i = 0; i < MIB * 16; i++) await w.write(chunk);
  await w.close();
  for await (const _ of conn.readable) break;
  const secs = (performance.now() - t0) / 1000;
  conn.close();
  // Round trips.
  const e = await p.client.stack.dial("10.77.1.1", 7);
  const ew = e.writable.getWriter();
  const er = e.readable.getReader();
  const one = Uint8Array.of(1);
  const r0 = performance.now();
  for (let i = 0; i < RTT_ROUNDS; i++) {
    await ew.write(one);
    await er.read();
  }
  const rttUs = ((performance.now() - r0) / RTT_ROUNDS) * 1000;
  e.close();
  rows.push([
    tier,
    p.client.bind.transport,
    fmt((MIB * 8 * 1.048576) / secs),
    fmt(rttUs),
    String(p.client.bind.udpRelay!.sock.sendDrops),
    String(rcvbufErrors() - errs0),
  ]);
}
printTable(
  `Transports in one process (${MIB} MiB one way; ${RTT_ROUNDS} round trips)`,
  ["forced tier", "in use", "Mbit/s", "RTT µs", "send-ring drops", "kernel RcvbufErrors Δ"],
  rows,
);
sink.close();
echo.close();
await p.close();
stun.close();
