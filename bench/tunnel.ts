/**
 * One TCP stream through the whole path (client → hub WebSocket relay → agent) against the
 * same transfer over plain loopback, and the request/response round trip through the tunnel.
 * Real processes: `telahubd`, `telad`, `tela connect` (as in tests/e2e). Prints a table.
 *
 * Usage: deno run -A bench/tunnel.ts [--mib 64] [--rtt 500]
 * @module
 */
import {
  freeTcpPort,
  type Proc,
  startAgent,
  startClient,
  startHub,
  tunnelUps,
} from "../tests/e2e/harness.ts";
import { printTable } from "./_table.ts";

const arg = (name: string, def: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : def;
};
const MIB = arg("mib", 64);
const RTT_ROUNDS = arg("rtt", 500);

/**
 * Reads `conn` to EOF with `read()` and returns the octets seen. (`conn.readable` would
 * close the socket at EOF, cutting off the other direction.)
 */
async function drain(conn: Deno.Conn): Promise<number> {
  const buf = new Uint8Array(256 * 1024);
  let n = 0;
  for (let r; (r = await conn.read(buf)) !== null;) n += r;
  return n;
}

/** Target: 'U' = sink (reply one byte after EOF), 'D' = source of MIB MiB, else 1-byte echo. */
function startTarget() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        conn.setNoDelay(true);
        const first = new Uint8Array(1);
        if ((await conn.read(first)) !== 1) return conn.close();
        if (first[0] === 0x55) {
          await drain(conn);
        } else if (first[0] === 0x44) {
          const chunk = new Uint8Array(64 * 1024).fill(7);
          const w = conn.writable.getWriter();
          for (let i = 0; i < MIB * 16; i++) await w.write(chunk);
          await w.close().catch(() => {});
          return;
        } else {
          const buf = new Uint8Array(1);
          await conn.write(first);
          while ((await conn.read(buf)) === 1) await conn.write(buf);
        }
        conn.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  return { listener, port: (listener.addr as Deno.NetAddr).port };
}

async function upload(port: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const chunk = new Uint8Array(64 * 1024).fill(9);
  chunk[0] = 0x55;
  const t0 = performance.now();
  const w = conn.writable.getWriter();
  for (let i = 0; i < MIB * 16; i++) {
    await w.write(chunk);
    if (i === 0) chunk[0] = 9;
  }
  w.releaseLock();
  await conn.closeWrite();
  // The sink closes after reading EOF: wait for our read side to end.
  await drain(conn);
  const s = (performance.now() - t0) / 1000;
  conn.close();
  return MIB / s;
}

async function download(port: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const t0 = performance.now();
  await conn.write(new Uint8Array([0x44]));
  const n = await drain(conn);
  const s = (performance.now() - t0) / 1000;
  conn.close();
  if (n !== MIB * 1024 * 1024) throw new Error(`download got ${n} bytes`);
  return MIB / s;
}

async function rtt(port: number): Promise<{ p50: number; p99: number }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const b = new Uint8Array([0x45]);
  const r = new Uint8Array(1);
  await conn.write(b);
  await conn.read(r);
  const times: number[] = [];
  for (let i = 0; i < RTT_ROUNDS; i++) {
    const t0 = performance.now();
    await conn.write(b);
    if ((await conn.read(r)) !== 1) throw new Error("echo closed");
    times.push((performance.now() - t0) * 1000);
  }
  conn.close();
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)], p99: times[Math.floor(times.length * 0.99)] };
}

const target = startTarget();
const dirs = await Promise.all(
  ["hub", "agent", "client"].map((p) => Deno.makeTempDir({ prefix: `bench-${p}-` })),
);
const owner = "be".repeat(32);
const procs: Proc[] = [];
try {
  const hub = await startHub(dirs[0], owner);
  procs.push(hub.proc);
  procs.push(startAgent(dirs[1], hub.url, "bench", owner, String(target.port)));
  const local = freeTcpPort();
  const client = startClient(dirs[2], [
    "-hub",
    hub.url,
    "-machine",
    "bench",
    "-token",
    owner,
    "-ports",
    `${local}:${target.port}`,
  ]);
  procs.push(client);
  await tunnelUps(client, 1);
  await rtt(local); // warm-up: handshake done, JIT warm
  const rows: string[][] = [];
  for (
    const [name, port] of [["plain loopback", target.port], [
      "tela tunnel (WS relay)",
      local,
    ]] as const
  ) {
    const up = await upload(port);
    const down = await download(port);
    const r = await rtt(port);
    rows.push([name, up.toFixed(1), down.toFixed(1), r.p50.toFixed(0), r.p99.toFixed(0)]);
  }
  printTable(
    "Tunnel (hub, telad, tela as separate processes)",
    ["path", `upload MiB/s (${MIB} MiB)`, "download MiB/s", "RTT p50 µs", "RTT p99 µs"],
    rows,
  );
  console.log(
    `\n(${RTT_ROUNDS} round trips of 1 byte; one TCP stream each way; hub, telad, tela as separate processes)`,
  );
} finally {
  for (const p of procs.reverse()) await p.stop();
  target.listener.close();
  for (const d of dirs) await Deno.remove(d, { recursive: true });
}
