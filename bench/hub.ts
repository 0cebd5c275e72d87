/**
 * Hub benchmark against a real `telahubd` process:
 * - relay throughput (MB/s and frames/s) with 1, 8 and 64 concurrent scripted
 *   sessions, over the WebSocket relay and over the UDP relay;
 * - hub memory per idle agent control connection, measured at 1,000 agents.
 *
 * Each session's client sends full-MTU relay frames (7 + 32 + 1100 = 1139 bytes,
 * spec §1.4) to its agent with at most `WINDOW` frames in flight (a closed loop,
 * so numbers reflect what the hub forwards, not what the kernel drops). The
 * scripted peers run in this process and share the machine with the hub: the
 * figures are a floor for the hub alone. Every phase is bounded in time.
 *
 * Run: `deno run -A bench/hub.ts [--seconds 3] [--agents 1000]`
 *
 * @module
 */
import { encodeRelayFrame, UDP_TOKEN_LEN } from "../lib/protocol/mod.ts";
import {
  type OpenSession,
  openSession,
  ScriptedAgent,
  startHubProcess,
  UdpSide,
} from "../tests/hub/scripted_peers.ts";

const args = Deno.args;
const arg = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = arg("seconds", 3);
const AGENTS = arg("agents", 1000);
const WINDOW = 64;
const FRAME_LEN = 7 + 32 + 1100;

interface Row {
  transport: string;
  sessions: number;
  frames: number;
  seconds: number;
}

function rssKiB(pid: number): number {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(s.match(/VmRSS:\s+(\d+)/)![1]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Drives `n` sessions for SECONDS and returns frames delivered client → agent. */
async function drive(
  sessions: OpenSession[],
  transport: "ws" | "udp",
  udpPort: number,
): Promise<Row> {
  const frame = encodeRelayFrame(new Uint8Array(FRAME_LEN - 7).fill(0xab), { sessionId: 1 });
  let delivered = 0;
  let measuring = false;
  let stopped = false;
  const cleanups: (() => void)[] = [];
  const pumps: (() => void)[] = [];
  for (const s of sessions) {
    let inflight = 0;
    let lastRx = 0;
    let rx = 0;
    let send: () => void;
    if (transport === "ws") {
      send = () => s.client.ws.sendBinary(frame);
      s.agent.ws.onBinary = () => {
        rx++;
        if (measuring) delivered++;
        inflight--;
        pump();
      };
      cleanups.push(() => (s.agent.ws.onBinary = undefined));
    } else {
      const cu = new UdpSide(udpPort, s.client.udpOffer.token);
      const au = new UdpSide(udpPort, s.agent.udpOffer.token);
      await cu.probe();
      await au.probe();
      const dgram = new Uint8Array(UDP_TOKEN_LEN + frame.length);
      dgram.set(cu.token);
      dgram.set(frame, UDP_TOKEN_LEN);
      const hub = { transport: "udp" as const, hostname: "127.0.0.1", port: udpPort };
      send = () => void cu.conn.send(dgram, hub).catch(() => {});
      au.onDatagram = () => {
        rx++;
        if (measuring) delivered++;
        inflight--;
        pump();
      };
      cleanups.push(() => {
        cu.close();
        au.close();
      });
    }
    const pump = () => {
      while (!stopped && inflight < WINDOW) {
        inflight++;
        send();
      }
    };
    // UDP may lose datagrams: a window that made no progress for a tick is refilled.
    const watchdog = setInterval(() => {
      if (rx === lastRx && inflight > 0) {
        inflight = 0;
        pump();
      }
      lastRx = rx;
    }, 200);
    cleanups.push(() => clearInterval(watchdog));
    pumps.push(pump);
  }
  for (const p of pumps) p();
  await sleep(500); // warm-up
  measuring = true;
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  stopped = true;
  await sleep(300); // let in-flight frames drain
  for (const c of cleanups) c();
  return {
    transport: transport === "ws" ? "WebSocket" : "UDP",
    sessions: sessions.length,
    frames: delivered,
    seconds,
  };
}

// Memory per idle agent connection, on a fresh hub (before any relay traffic grew its heap).
let memRow = "";
{
  const hub = await startHubProcess();
  try {
    await sleep(1000);
    const before = rssKiB(hub.child.pid);
    const agents: ScriptedAgent[] = [];
    const deadline = Date.now() + 120_000;
    for (let i = 0; i < AGENTS && Date.now() < deadline; i += 50) {
      const batch = [];
      for (let j = i; j < Math.min(AGENTS, i + 50); j++) {
        batch.push(
          ScriptedAgent.register(hub.url, { machineName: `idle-${j}`, token: hub.ownerToken }),
        );
      }
      agents.push(...await Promise.all(batch));
    }
    await sleep(2000);
    const after = rssKiB(hub.child.pid);
    memRow = `| idle agents | ${agents.length} | hub RSS ${(before / 1024).toFixed(1)} MiB → ${
      (after / 1024).toFixed(1)
    } MiB | ${((after - before) / agents.length).toFixed(1)} KiB per agent |`;
    await Promise.all(agents.map((a) => a.close()));
  } finally {
    await hub.stop();
    await Deno.remove(hub.dir, { recursive: true });
  }
}

const hub = await startHubProcess();
const token = hub.ownerToken!;
const rows: Row[] = [];
try {
  const agent = await ScriptedAgent.register(hub.url, { machineName: "bench", token });
  for (const n of [1, 8, 64]) {
    const sessions: OpenSession[] = [];
    for (let i = 0; i < n; i++) sessions.push(await openSession(hub.url, agent, { token }));
    rows.push(await drive(sessions, "ws", hub.udpPort));
    rows.push(await drive(sessions, "udp", hub.udpPort));
    for (const s of sessions) await s.client.ws.close();
    for (const s of sessions) await s.agent.ws.closed;
  }
  await agent.close();
} finally {
  await hub.stop();
  await Deno.remove(hub.dir, { recursive: true });
}

console.log(
  `\nhub relay throughput (frame ${FRAME_LEN} B, window ${WINDOW}/session, ${SECONDS} s each)`,
);
console.log("| transport | sessions | frames/s | MB/s (payload incl. header) |");
console.log("|---|---:|---:|---:|");
for (const r of rows) {
  const fps = r.frames / r.seconds;
  console.log(
    `| ${r.transport} | ${r.sessions} | ${Math.round(fps).toLocaleString("en")} | ${
      (fps * FRAME_LEN / 1e6).toFixed(1)
    } |`,
  );
}
console.log("\nhub memory");
console.log("| what | count | measurement | per connection |");
console.log("|---|---:|---|---:|");
console.log(memRow || "| idle agents | - | not measured | - |");
