/**
 * Peers react to revocation (issue 10, decisions 2-3), with real `tela` processes against
 * a scripted hub (a WebSocket server in the test that speaks the signaling protocol), and a
 * real tunnel (telahubd, telad, tela) for the per-session port filter:
 * - an established session cut with `Access denied: ...`: `tela connect` prints the reason
 *   and exits 1 without another connect;
 * - a profile: the connections using the dead token stop, the others go on; exit 1 once
 *   nothing is left;
 * - `session-request` with `ports`: telad forwards only those ports in that session.
 */
import assert from "node:assert/strict";
import { generateSessionKeys } from "../../lib/session/mod.ts";
import {
  exitWithin,
  freeTcpPort,
  greeter,
  type Proc,
  readPort,
  readThrough,
  spawnDeno,
  startAgent,
  startClient,
  startHub,
  threeHomes,
  tunnelUps,
} from "./harness.ts";

const REVOKED = 'Access denied: token of identity "bob" was revoked';
const ADVICE = "ask the hub administrator (tela admin access) or use another token";

/** One `connect` the scripted hub received, with its socket. */
interface Connect {
  ws: WebSocket;
  machineId: string;
  token?: string;
}

/**
 * A scripted hub: every client `connect` is recorded and answered with `ready` and a
 * `wg-pubkey` (a real X25519 key nobody answers for), so the client's session is up;
 * the test then ends it as it likes. `/api/status` answers 404 (no names).
 */
function scriptedHub() {
  const connects: Connect[] = [];
  const waiters: (() => void)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (req.headers.get("upgrade") !== "websocket") return new Response("", { status: 404 });
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      const m = JSON.parse(ev.data);
      if (m.type !== "connect") return;
      connects.push({ ws: socket, machineId: m.machineId, token: m.token });
      socket.send(JSON.stringify({ type: "ready", sessionIdx: connects.length }));
      socket.send(JSON.stringify({
        type: "wg-pubkey",
        wgPubKey: generateSessionKeys().publicHex,
        ports: [22],
      }));
      for (const w of waiters.splice(0)) w();
    };
    return response;
  });
  return {
    server,
    url: `ws://127.0.0.1:${server.addr.port}`,
    connects,
    /** Waits until `n` connects arrived (bounded). */
    async waitConnects(n: number, timeoutMs = 90_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (connects.length < n) {
        if (Date.now() > deadline) throw new Error(`${connects.length} of ${n} connects`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
  };
}

/** What the hub does when access changes (decision 1): an `error`, then a 1008 close. */
function deny(ws: WebSocket, message: string): void {
  ws.send(JSON.stringify({ type: "error", message }));
  ws.close(1008, message);
}

Deno.test({
  name: "tela connect cut by a revocation prints the reason and exits 1 without reconnecting",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "e2e-revoke-" });
    const hub = scriptedHub();
    const client = startClient(home, [
      "-hub",
      hub.url,
      "-machine",
      "ws-01",
      "-token",
      "b0b".repeat(21) + "b",
      "-ports",
      `${freeTcpPort()}:22`,
    ]);
    try {
      await hub.waitConnects(1);
      await client.waitFor(/WireGuard tunnel up/);
      const cutAt = Date.now();
      deny(hub.connects[0].ws, REVOKED);
      const status = await exitWithin(client, 30_000);
      assert.ok(status, `tela still running 30 s after the cut:\n${client.output}`);
      // "Within a few seconds": generous bound from the cut (deno start-up is not in it).
      assert.ok(Date.now() - cutAt < 10_000, `exit took ${Date.now() - cutAt} ms`);
      assert.equal(status.code, 1, client.output);
      assert.ok(
        client.stderrLines.includes(
          `Error: access to "ws-01" ended by the hub: token of identity "bob" was revoked; ${ADVICE}`,
        ),
        client.output,
      );
      // Longer than the shortest backoff (2.25 s) has passed since: no connect came back.
      await new Promise((r) => setTimeout(r, 2_500));
      assert.equal(hub.connects.length, 1, "no connect after the revocation");
    } finally {
      await client.stop();
      await hub.server.shutdown();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "a profile stops every connection of the revoked token, keeps the others, exits 1 at last",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "e2e-revoke-profile-" });
    const hub = scriptedHub();
    const bob = "b0b0".repeat(16);
    const carol = "ca20".repeat(16);
    const profile = `${home}/revoke.yaml`;
    const conn = (machine: string, token: string) => [
      `  - hub: ${hub.url}`,
      `    machine: ${machine}`,
      `    token: ${token}`,
      "    services:",
      "      - remote: 22",
      `        local: ${freeTcpPort()}`,
    ];
    await Deno.writeTextFile(
      profile,
      ["connections:", ...conn("m1", bob), ...conn("m2", bob), ...conn("m3", carol), ""].join(
        "\n",
      ),
    );
    const client = spawnDeno("tela:profile", "cmd/tela.ts", ["connect", "-profile", profile], {
      HOME: home,
    });
    try {
      await hub.waitConnects(3);
      const by = (m: string) => hub.connects.find((c) => c.machineId === m)!;
      assert.equal(by("m1").token, bob);
      assert.equal(by("m3").token, carol);
      // Each connection has its session before the cut.
      for (const i of [1, 2, 3]) {
        await client.waitFor(new RegExp(`\\[profile:${i}\\] WireGuard tunnel up`));
      }
      deny(by("m1").ws, REVOKED);
      await client.waitFor(
        new RegExp(
          `\\[profile:1\\] ERROR: access to "m1" ended by the hub: token of identity "bob" was revoked; ask the hub administrator`,
        ),
      );
      await client.waitFor(
        /\[profile:2\] ERROR: stopping the connection to "m2": same token as "m1", which the hub no longer accepts/,
      );
      // m3 (another token) goes on: the client keeps running.
      assert.equal(await exitWithin(client, 3_000), null, client.output);
      assert.equal(hub.connects.length, 3, "neither m1 nor m2 connected again");
      // A permission revoked on m3 alone: nothing is left, exit 1.
      deny(by("m3").ws, 'Access denied: connect permission on "m3" was revoked');
      const status = await exitWithin(client, 30_000);
      assert.ok(status, client.output);
      assert.equal(status.code, 1, client.output);
      assert.match(
        client.output,
        /\[profile:3\] ERROR: access to "m3" ended by the hub: connect permission on "m3" was revoked; /,
      );
      assert.match(client.output, /Error: every connection of profile "revoke" stopped/);
      assert.equal(hub.connects.length, 3);
    } finally {
      await client.stop();
      await hub.server.shutdown();
      await Deno.remove(home, { recursive: true });
    }
  },
});

/**
 * A WebSocket relay between telad and the hub that adds `"ports":[...]` to each
 * `session-request` (what our hub sends for a per-service grant, decision 3(c)); every
 * other message passes unchanged both ways.
 */
function portsInjectingProxy(hubUrl: string, ports: number[]) {
  let injected = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket: down, response } = Deno.upgradeWebSocket(req);
    const up = new WebSocket(hubUrl);
    up.binaryType = "arraybuffer";
    down.binaryType = "arraybuffer";
    const queue: (string | ArrayBuffer)[] = [];
    up.onopen = () => {
      for (const m of queue.splice(0)) up.send(m);
    };
    down.onmessage = (ev) => {
      if (up.readyState === WebSocket.OPEN) up.send(ev.data);
      else queue.push(ev.data);
    };
    up.onmessage = (ev) => {
      let data = ev.data;
      if (typeof data === "string" && data.includes('"session-request"')) {
        data = JSON.stringify({ ...JSON.parse(data), ports });
        injected++;
      }
      if (down.readyState === WebSocket.OPEN) down.send(data);
    };
    up.onclose = (ev) => {
      try {
        down.close(ev.code === 1005 ? 1000 : ev.code, ev.reason);
      } catch { /* closed */ }
    };
    down.onclose = () => up.close();
    up.onerror = () => {};
    down.onerror = () => {};
    return response;
  });
  return { server, url: `ws://127.0.0.1:${server.addr.port}`, injected: () => injected };
}

Deno.test({
  name: "session-request with ports: telad forwards only those ports in that session",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { root, hubDir, agentHome, clientHome } = await threeHomes("e2e-session-ports-");
    const owner = "5e55".repeat(16);
    const allowed = greeter("allowed service\n");
    const other = greeter("other service\n");
    const procs: Proc[] = [];
    const hub = await startHub(hubDir, owner);
    procs.push(hub.proc);
    const proxy = portsInjectingProxy(hub.url, [allowed.port]);
    try {
      // telad talks to the hub through the proxy; it exposes both services.
      const agent = startAgent(
        agentHome,
        proxy.url,
        "barn",
        owner,
        `${allowed.port},${other.port}`,
      );
      procs.push(agent);
      await agent.waitFor(/registered with hub/, 90_000);
      const [la, lo] = [freeTcpPort(), freeTcpPort()];
      const client = startClient(clientHome, [
        "-hub",
        hub.url,
        "-machine",
        "barn",
        "-token",
        owner,
        "-ports",
        `${la}:${allowed.port},${lo}:${other.port}`,
      ]);
      procs.push(client);
      await tunnelUps(client, 1);
      await agent.waitFor(new RegExp(`hub limits this session to ports \\[${allowed.port}\\]`));
      assert.equal(proxy.injected(), 1);
      // The allowed port is served through the tunnel...
      assert.equal(await readThrough(la), "allowed service\n");
      // ...the other one is refused in the tunnel, like a port the machine does not expose.
      assert.equal(await readPort(lo), "");
      await client.waitFor(
        new RegExp(`tunnel dial failed \\(barn:${other.port}\\): .*(refused|reset)`, "i"),
        30_000,
      );
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await proxy.server.shutdown();
      allowed.listener.close();
      other.listener.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
