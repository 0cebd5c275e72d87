/**
 * Hub bridges with real processes (issue 13 item 3; spec session-and-relay.md §3.7): two
 * `telahubd` processes on loopback, `telad` registered on hub B, `tela connect` on hub A to the
 * machine hub A bridges to hub B. A TCP echo service behind telad is reached byte-exact
 * (4 MiB, SHA-256 both ways); hub A's connect permission is enforced; hub A's `/api/status`
 * lists the machine with `reachableThrough`; a bridge to a hub that is not running gives the
 * client the bridge's error.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type DuplexConn, socketDuplex } from "../../lib/session/mod.ts";
import { pattern, patternHash } from "../../lib/netstack/_test_util.ts";
import {
  boundPort,
  freeTcpPort,
  type Proc,
  spawnDeno,
  startAgent,
  startClient,
  startHub,
  tunnelUps,
} from "./harness.ts";

const MiB = 1024 * 1024;
const OWNER_A = "a0e2".repeat(16);
const ALICE_A = "a1e2".repeat(16);
const OWNER_B = "b0e2".repeat(16);

/** A TCP echo server on 127.0.0.1 (echoes until EOF, then half-closes). */
function echoServer(): { listener: Deno.TcpListener; port: number } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const sock of listener) {
      const conn = socketDuplex(sock);
      conn.readable.pipeTo(conn.writable).catch(() => {}).finally(() => conn.close());
    }
  })().catch(() => {});
  return { listener, port: listener.addr.port };
}

/** Sends `total` bytes of pattern `seed` through `conn` and hashes what comes back. */
async function echoThrough(conn: DuplexConn, seed: number, total: number) {
  const send = (async () => {
    const w = conn.writable.getWriter();
    for (const b of pattern(seed, total)) await w.write(b);
    w.releaseLock();
    await conn.closeWrite();
  })();
  const h = createHash("sha256");
  let bytes = 0;
  for await (const c of conn.readable) {
    h.update(c);
    bytes += c.length;
  }
  await send;
  return { hash: h.digest("hex"), bytes };
}

/** Hub A's config: owner (connect everywhere), alice (no rights), and the bridges. */
function hubAYaml(bridgeUrl: string, deadUrl: string): string {
  return `hubId: hub-a
auth:
  tokens:
    - id: owner
      token: "${OWNER_A}"
      hubRole: owner
    - id: alice
      token: "${ALICE_A}"
  machines:
    "*":
      connectTokens: ["${OWNER_A}"]
bridges:
  - hubId: hub-b
    url: ${bridgeUrl}
    token: "${OWNER_B}"
    machines: [barn]
  - hubId: hub-gone
    url: ${deadUrl}
    token: "${OWNER_B}"
    machines: [shed]
`;
}

Deno.test({
  name: "bridge: tela on hub A reaches telad on hub B through the bridge (real processes)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "bridge-e2e-" });
    const [dirA, dirB, agentHome, clientHome] = ["hubA", "hubB", "agent", "client"].map((d) =>
      `${root}/${d}`
    );
    for (const d of [dirA, dirB, agentHome, clientHome]) await Deno.mkdir(d);
    const echo = echoServer();
    const procs: Proc[] = [];
    try {
      const hubB = await startHub(dirB, OWNER_B);
      procs.push(hubB.proc);
      await Deno.writeTextFile(
        `${dirA}/telahubd.yaml`,
        hubAYaml(hubB.url, `ws://127.0.0.1:${freeTcpPort()}`),
      );
      const hubA = await startHub(dirA, OWNER_A);
      procs.push(hubA.proc);
      const agent = startAgent(agentHome, hubB.url, "barn", OWNER_B, `${echo.port}:echo`);
      procs.push(agent);
      await agent.waitFor(/registered/i, 90_000);

      await t.step("hub A lists barn as reachable through hub B", async () => {
        const r = await fetch(`http://127.0.0.1:${hubA.port}/api/status`, {
          headers: { Authorization: `Bearer ${OWNER_A}` },
        });
        const machines = (await r.json()).machines as Record<string, unknown>[];
        const barn = machines.find((m) => m.id === "barn");
        assert.deepEqual(barn?.reachableThrough, { hubId: "hub-b", hubUrl: hubB.url });
        assert.equal(barn?.agentConnected, false);
      });

      await t.step("4 MiB through the echo service, byte-exact both ways", async () => {
        const local = freeTcpPort();
        const client = startClient(clientHome, [
          "-hub",
          hubA.url,
          "-machine",
          "barn",
          "-token",
          OWNER_A,
          "-ports",
          `${local}:${echo.port}`,
        ]);
        procs.push(client);
        // Hub A knows no services of a bridged machine (spec §4.1: services []): a port label.
        assert.equal(await boundPort(client, `port ${echo.port}`), local);
        await tunnelUps(client, 1);
        const conn = socketDuplex(await Deno.connect({ hostname: "127.0.0.1", port: local }));
        const got = await echoThrough(conn, 7, 4 * MiB);
        conn.close();
        assert.equal(got.bytes, 4 * MiB);
        assert.equal(got.hash, patternHash(7, 4 * MiB));
        await client.stop();
        // Hub A recorded the bridged session and its end.
        const r = await fetch(`http://127.0.0.1:${hubA.port}/api/history`, {
          headers: { Authorization: `Bearer ${OWNER_A}` },
        });
        const events = ((await r.json()).events as { event: string; detail?: string }[])
          .map((e) => e.event);
        assert.ok(events.includes("client-connect-bridge"), events.join(","));
        for (let i = 0; i < 50 && !events.includes("client-disconnect-bridge"); i++) {
          await new Promise((r) => setTimeout(r, 100));
          const again = await fetch(`http://127.0.0.1:${hubA.port}/api/history`, {
            headers: { Authorization: `Bearer ${OWNER_A}` },
          });
          events.splice(
            0,
            events.length,
            ...(await again.json()).events.map((e: {
              event: string;
            }) => e.event),
          );
        }
        assert.ok(events.includes("client-disconnect-bridge"), events.join(","));
      });

      await t.step("a token without connect on hub A is refused by hub A", async () => {
        const bad = startClient(clientHome, [
          "-hub",
          hubA.url,
          "-machine",
          "barn",
          "-token",
          ALICE_A,
          "-ports",
          String(freeTcpPort()),
        ]);
        procs.push(bad);
        const status = await bad.exited;
        assert.notEqual(status.code, 0);
        assert.match(bad.output, /Error: hub refused access to "barn": Access denied/);
      });

      await t.step("a bridge to a hub that is not running: the client sees why", async () => {
        const c = spawnDeno("tela", "cmd/tela.ts", [
          "connect",
          "-hub",
          hubA.url,
          "-machine",
          "shed",
          "-token",
          OWNER_A,
          "-ports",
          String(freeTcpPort()),
        ], { HOME: clientHome });
        procs.push(c);
        await c.waitFor(/Bridge connect failed: hub hub-gone refused the connection/, 90_000);
        await c.stop();
      });
    } finally {
      for (const p of procs.reverse()) await p.stop();
      echo.listener.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
