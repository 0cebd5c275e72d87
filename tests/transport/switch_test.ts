/**
 * Issue 11's "no byte lost across switches": one 64 MiB transfer through a real tunnel (our
 * hub in-process with its UDP relay, MachineAgent and MachineConnection with WireGuard and
 * the netstack, real sockets on loopback, a STUN responder on loopback) while both binds
 * are forced WebSocket → UDP relay → direct → WebSocket; SHA-256 of what the target sent
 * and of what the client's local port delivered must match.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startHubInProcess } from "../hub/scripted_peers.ts";
import { MachineAgent } from "../../lib/agent/mod.ts";
import { MachineConnection } from "../../lib/client/mod.ts";
import { logger, setLogLevel } from "../../lib/log/mod.ts";
import { bytesToHex } from "../../lib/protocol/mod.ts";
import { type BindFactory, type TransportKind, wireguardEngine } from "../../lib/session/mod.ts";
import { sessionBind, type TieredBind } from "../../lib/transport/mod.ts";
import { freeTcpPort } from "../free_port.ts";
import { stunResponder, until } from "./_harness.ts";

const TOTAL = 64 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** Serves TOTAL pseudo-random octets to every connection; hashes what it wrote. */
function target(): { port: number; digests: string[]; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const digests: string[] = [];
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const h = createHash("sha256");
        const buf = new Uint8Array(CHUNK);
        try {
          for (let sent = 0; sent < TOTAL; sent += CHUNK) {
            for (let i = 0; i < CHUNK; i += 65536) {
              crypto.getRandomValues(buf.subarray(i, i + 65536));
            }
            h.update(buf);
            let off = 0;
            while (off < CHUNK) off += await conn.write(buf.subarray(off));
          }
          digests.push(h.digest("hex"));
        } catch { /* the client went away: no digest */ }
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })();
  return { port: listener.addr.port, digests, close: () => listener.close() };
}

Deno.test({
  name: "64 MiB through a real tunnel, forced WebSocket → UDP relay → direct → WebSocket: " +
    "no byte lost (slow)",
  sanitizeOps: false, // the hub's and agent's background loops end after the test body
  sanitizeResources: false,
  async fn() {
    setLogLevel("warn");
    const owner = bytesToHex(crypto.getRandomValues(new Uint8Array(32)));
    const hub = await startHubInProcess({ env: { TELA_OWNER_TOKEN: owner } });
    const stun = stunResponder();
    const svc = target();
    const binds: Partial<Record<"agent" | "client", TieredBind>> = {};
    const changes: Record<string, TransportKind[]> = { agent: [], client: [] };
    const factory = sessionBind({ stunServers: [stun.server] });
    const bind: BindFactory = (sock, ctx) => {
      const b = factory(sock, {
        ...ctx,
        onTransport: (t) => changes[ctx.role].push(t),
      }) as TieredBind;
      binds[ctx.role] = b;
      return b;
    };
    const agent = new MachineAgent({
      name: "bulk",
      target: "127.0.0.1",
      token: owner,
      ports: [svc.port],
      services: [{ port: svc.port, proto: "tcp", name: "bulk" }],
    }, {
      hubUrl: hub.url,
      agentId: crypto.randomUUID(),
      registrationIds: {},
      bind,
      engine: wireguardEngine,
      log: () => logger("test-agent"),
    });
    const agentRun = agent.run();
    let localPort = 0;
    const client = new MachineConnection({
      hubUrl: hub.url,
      machine: "bulk",
      token: owner,
      mappings: [{ local: freeTcpPort(), remote: svc.port }],
      bind,
      engine: wireguardEngine,
      log: logger("test-client"),
      onBound: (bound) => (localPort = bound[0].localPort),
    });
    client.bindExplicit();
    const clientRun = client.run();
    try {
      await until(() => agent.registrations > 0 && localPort > 0, 10_000, "agent registered");
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: localPort });
      await until(
        () => binds.agent?.transport === "direct" && binds.client?.transport === "direct",
        15_000,
        "both sides direct on their own",
      );
      const force = (k: TransportKind) => {
        binds.agent!.force(k);
        binds.client!.force(k);
      };
      const plan: [number, TransportKind][] = [
        [0, "websocket"],
        [TOTAL / 4, "udp-relay"],
        [TOTAL / 2, "direct"],
        [(3 * TOTAL) / 4, "websocket"],
      ];
      const used: Record<string, { relayTx: number; directTx: number }> = {};
      const snapshot = () => ({
        relayTx: binds.agent!.udpRelay!.tx,
        directTx: binds.agent!.direct!.tx,
      });
      const h = createHash("sha256");
      const buf = new Uint8Array(256 * 1024);
      let got = 0;
      let step = 0;
      let before = snapshot();
      const deadline = performance.now() + 240_000;
      while (got < TOTAL && performance.now() < deadline) {
        while (step < plan.length && got >= plan[step][0]) {
          if (step > 0) {
            const now = snapshot();
            used[plan[step - 1][1] + step] = {
              relayTx: now.relayTx - before.relayTx,
              directTx: now.directTx - before.directTx,
            };
          }
          force(plan[step][1]);
          before = snapshot();
          assert.equal(binds.agent!.transport, plan[step][1], `agent forced ${plan[step][1]}`);
          assert.equal(binds.client!.transport, plan[step][1], `client forced ${plan[step][1]}`);
          step++;
        }
        const n = await conn.read(buf);
        if (n === null) break;
        h.update(buf.subarray(0, n));
        got += n;
      }
      const last = snapshot();
      used[plan[step - 1][1] + step] = {
        relayTx: last.relayTx - before.relayTx,
        directTx: last.directTx - before.directTx,
      };
      conn.close();
      assert.equal(got, TOTAL, "every octet arrived");
      await until(() => svc.digests.length === 1, 10_000, "the target's digest");
      assert.equal(h.digest("hex"), svc.digests[0], "SHA-256 of sent and received match");
      // Each phase really used its path on the sending side (the agent).
      assert.equal(used.websocket1.relayTx + used.websocket1.directTx, 0, JSON.stringify(used));
      assert.ok(used["udp-relay2"].relayTx > 1000, JSON.stringify(used));
      assert.equal(used["udp-relay2"].directTx, 0, JSON.stringify(used));
      assert.ok(used.direct3.directTx > 1000, JSON.stringify(used));
      assert.equal(used.direct3.relayTx, 0, JSON.stringify(used));
      assert.equal(used.websocket4.relayTx + used.websocket4.directTx, 0, JSON.stringify(used));
      for (const role of ["agent", "client"]) {
        assert.deepEqual(
          changes[role],
          ["websocket", "udp-relay", "direct", "websocket", "udp-relay", "direct", "websocket"],
          `${role}: every change reported once`,
        );
      }
    } finally {
      setLogLevel("error"); // the agent noticing the hub go away is expected now
      client.stop();
      agent.stop();
      await Promise.allSettled([clientRun, agentRun]);
      svc.close();
      stun.close();
      await hub.close();
    }
  },
});
