/**
 * The three transports end to end (issue 11), real `telahubd`, `telad` and `tela connect`
 * processes on loopback: a session moves off the WebSocket relay to the hub's UDP relay, and
 * to a direct path when STUN answers (a small RFC 5389 responder on 127.0.0.1 stands in for
 * the public server); `-transport` caps it. Each case checks the client's log lines (the
 * spec's `received UDP relay offer` line, the bind's `transport: <path>` line), a byte-exact
 * transfer both ways through the tunnel, and what `tela status -json` says of each side.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type DuplexConn, socketDuplex } from "../../lib/session/mod.ts";
import { pattern, patternHash } from "../../lib/netstack/_test_util.ts";
import { bindingResponse, startStunResponder } from "./_stun_responder.ts";
import {
  freeTcpPort,
  type HubProc,
  type Proc,
  runTela,
  spawnDeno,
  startAgent,
  startClient,
  startHub,
  threeHomes,
} from "./harness.ts";

const owner = "7e57".repeat(16);
const BYTES = 4 * 1024 * 1024;

Deno.test("the test STUN responder encodes XOR-MAPPED-ADDRESS as spec §6.1's example", () => {
  const req = new Uint8Array(20);
  req.set([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
  req.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 8);
  const res = bindingResponse(req, { transport: "udp", hostname: "203.0.113.5", port: 54321 })!;
  assert.deepEqual([...res.subarray(0, 4)], [0x01, 0x01, 0x00, 0x0c]);
  assert.deepEqual(res.subarray(8, 20), req.subarray(8, 20), "transaction id echoed");
  assert.deepEqual(
    [...res.subarray(20)],
    [0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xf5, 0x23, 0xea, 0x12, 0xd5, 0x47],
  );
  assert.equal(
    bindingResponse(req.subarray(0, 19), { transport: "udp", hostname: "1.2.3.4", port: 1 }),
    null,
  );
});

async function writePattern(conn: DuplexConn, seed: number, total: number): Promise<void> {
  const w = conn.writable.getWriter();
  for (const b of pattern(seed, total)) await w.write(b);
  w.releaseLock();
  await conn.closeWrite();
}

async function hashAll(conn: DuplexConn): Promise<string> {
  const h = createHash("sha256");
  for await (const c of conn.readable) h.update(c);
  return h.digest("hex");
}

/** The agent-side service: hashes what arrives while sending pattern 2, per connection. */
function startTarget(): { listener: Deno.TcpListener; port: number; received: string[] } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: string[] = [];
  (async () => {
    for await (const sock of listener) {
      (async () => {
        const conn = socketDuplex(sock);
        const [got] = await Promise.all([hashAll(conn), writePattern(conn, 2, BYTES)]);
        received.push(got);
        conn.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  return { listener, port: (listener.addr as Deno.NetAddr).port, received };
}

/** Sends pattern 1 through the tunnel and checks pattern 2 comes back, byte-exact. */
async function transfer(localPort: number, target: { received: string[] }): Promise<void> {
  let conn: DuplexConn | undefined;
  for (let i = 0; i < 30 && !conn; i++) {
    try {
      conn = socketDuplex(await Deno.connect({ hostname: "127.0.0.1", port: localPort }));
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  assert.ok(conn, `local port ${localPort} accepts`);
  const before = target.received.length;
  const [back] = await Promise.all([hashAll(conn), writePattern(conn, 1, BYTES)]);
  conn.close();
  assert.equal(back, patternHash(2, BYTES), "agent → client bytes exact");
  for (let i = 0; i < 100 && target.received.length === before; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(target.received.at(-1), patternHash(1, BYTES), "client → agent bytes exact");
}

interface StatusSession {
  index: number;
  client: string;
  agent: string | null;
  since: string;
}

/** `tela status -json` until `machine`'s first session shows `want` (30 s at most). */
async function statusShows(
  home: string,
  hub: HubProc,
  machine: string,
  want: { client: string; agent: string },
): Promise<StatusSession> {
  let last = "";
  for (let i = 0; i < 30; i++) {
    const r = await runTela(home, ["status", "-json", "-hub", hub.url, "-token", owner]);
    assert.equal(r.code, 0, r.stderr);
    last = r.stdout;
    const m = (JSON.parse(r.stdout).machines as { id: string; sessions?: StatusSession[] }[])
      .find((x) => x.id === machine);
    const s = m?.sessions?.[0];
    if (s && s.client === want.client && s.agent === want.agent) return s;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`tela status -json never showed ${JSON.stringify(want)}:\n${last}`);
}

/** One scenario: hub, target, telad and tela with the given transport settings. */
async function scenario(
  machine: string,
  o: {
    agentArgs?: (stun: string) => string[];
    clientArgs?: (stun: string) => string[];
    clientEnv?: (stun: string) => Record<string, string>;
    /** telad.yaml's text after `hub:` and `token:` (`-config` mode instead of flags). */
    agentYaml?: (stun: string, targetPort: number) => string;
    agentEnv?: Record<string, string>;
    /** The profile's text after its `connections:` entry's hub, machine, token and services. */
    clientProfile?: { top: string; connection: string };
    clientTransport: string;
    agentTransport: string;
  },
): Promise<{ client: Proc; agent: Proc; status: string }> {
  const { root, hubDir, agentHome, clientHome } = await threeHomes(`e2e-tr-${machine}-`);
  const stun = startStunResponder();
  const target = startTarget();
  const procs: Proc[] = [];
  try {
    const hub = await startHub(hubDir, owner);
    procs.push(hub.proc);
    let agent: Proc;
    if (o.agentYaml) {
      await Deno.writeTextFile(
        `${agentHome}/telad.yaml`,
        `hub: ${hub.url}\ntoken: ${owner}\n${o.agentYaml(stun.address, target.port)}`,
      );
      agent = spawnDeno(`telad:${machine}`, "cmd/telad.ts", ["-config", "telad.yaml"], {
        HOME: agentHome,
        ...o.agentEnv,
      });
    } else {
      agent = startAgent(
        agentHome,
        hub.url,
        machine,
        owner,
        `${target.port}:data`,
        o.agentArgs?.(stun.address) ?? [],
      );
    }
    procs.push(agent);
    await agent.waitFor(/registered with hub/, 90_000);
    const local = freeTcpPort();
    const where = o.clientProfile ? ["-profile", `${clientHome}/p.yaml`] : [
      "-hub",
      hub.url,
      "-machine",
      machine,
      "-token",
      owner,
      "-ports",
      `${local}:${target.port}`,
    ];
    if (o.clientProfile) {
      await Deno.writeTextFile(
        `${clientHome}/p.yaml`,
        `${o.clientProfile.top}\nconnections:\n  - hub: ${hub.url}\n    machine: ${machine}\n` +
          `    token: ${owner}\n    services:\n      - remote: ${target.port}\n` +
          `        local: ${local}\n${o.clientProfile.connection}\n`,
      );
    }
    const client = startClient(
      clientHome,
      [...where, ...(o.clientArgs?.(stun.address) ?? [])],
      o.clientEnv?.(stun.address) ?? {},
    );
    procs.push(client);
    await client.waitFor(/WireGuard tunnel up/, 90_000);
    // The initial path (websocket) is no change and gets no line; an upgrade does.
    if (o.clientTransport !== "websocket") {
      await client.waitFor(new RegExp(`transport: ${o.clientTransport}\\b`), 60_000);
    }
    await transfer(local, target);
    const s = await statusShows(clientHome, hub, machine, {
      client: o.clientTransport,
      agent: o.agentTransport,
    });
    assert.equal(s.index, 1);
    // The offer line of the spec, before the tunnel came up (agent-and-client.md §10.3).
    const offer = client.lines.findIndex((l) => /received UDP relay offer \(port \d+\)$/.test(l));
    const up = client.lines.findIndex((l) => /WireGuard tunnel up/.test(l));
    assert.ok(offer >= 0 && offer < up, `offer line before tunnel up:\n${client.output}`);
    // Transport lines only after the tunnel-up line (agent-and-client.md §10.3).
    const first = client.lines.findIndex((l) =>
      /transport: (direct|udp-relay|websocket)\b/.test(l)
    );
    assert.ok(first < 0 || first > up, `transport line before tunnel up:\n${client.output}`);
    if (o.clientTransport === "websocket") {
      assert.ok(
        !client.lines.some((l) => /transport: (direct|udp-relay|websocket)\b/.test(l)),
        `a client held to websocket never changes path, so logs no transport line:\n${client.output}`,
      );
    }
    const table = await runTela(clientHome, ["status", "-hub", hub.url, "-token", owner]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      new RegExp(`\\n${machine}\\s+1\\s+${o.clientTransport}\\s+${o.agentTransport}\\s+\\S+Z\\n`),
    );
    if (o.clientTransport === "direct") assert.ok(stun.answered >= 2, "both ends asked STUN");
    return { client, agent, status: table.stdout };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    stun.close();
    target.listener.close();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "e2e transports: with a STUN server on loopback the session goes direct on both ends",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await scenario("direct01", {
      agentArgs: (stun) => ["-stun", stun],
      clientEnv: (stun) => ({ TELA_STUN_SERVERS: stun }),
      clientTransport: "direct",
      agentTransport: "direct",
    });
    assert.ok(r.agent.lines.some((l) => /\[session [0-9a-f]{8}\] transport: direct\b/.test(l)));
  },
});

Deno.test({
  name: "e2e transports: -transport udp on both ends stays on the hub's UDP relay",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await scenario("udp01", {
      agentArgs: (stun) => ["-transport", "udp", "-stun", stun],
      clientArgs: (stun) => ["-transport", "udp", "-stun", stun],
      clientTransport: "udp-relay",
      agentTransport: "udp-relay",
    });
    assert.ok(!r.client.lines.some((l) => /transport: direct\b/.test(l)));
  },
});

Deno.test({
  name:
    "e2e transports: a client held to websocket and an agent on the UDP relay, each side as it sends",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await scenario("mixed01", {
      agentArgs: () => ["-stun", "none"],
      clientArgs: () => ["-transport", "websocket"],
      clientTransport: "websocket",
      agentTransport: "udp-relay",
    });
  },
});

Deno.test({
  name:
    "e2e transports: a variable beats telad.yaml, a machine's key its top level, a connection's key its profile's",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await scenario("files01", {
      // Top level auto, the machine udp, TELAD_TRANSPORT websocket: the variable wins.
      agentYaml: (stun, port) =>
        `transport: auto\nstun: [${stun}]\nmachines:\n  - name: files01\n` +
        `    ports: [${port}]\n    transport: udp\n`,
      agentEnv: { TELAD_TRANSPORT: "websocket" },
      // The profile says websocket, its connection udp: the connection wins.
      clientProfile: { top: "transport: websocket", connection: "    transport: udp" },
      clientTransport: "udp-relay",
      agentTransport: "websocket",
    });
  },
});
