/**
 * `/api/status` cost is bounded and offline machines are pruned (issue 9, hub hardening):
 * the body is cached per caller view with an ETag (`If-None-Match` gets 304), a relay keeps
 * flowing while a client polls status in a tight loop with many machines registered, and a
 * machine whose agent has been gone longer than the retention time disappears.
 */
import assert from "node:assert/strict";
import { encodeRelayFrame } from "../../lib/protocol/mod.ts";
import {
  type InProcessHub,
  openSession,
  ScriptedAgent,
  startHubInProcess,
  startHubProcess,
  waitFor,
  WsPeer,
} from "./scripted_peers.ts";

const POLLER = new URL("./_status_poller.ts", import.meta.url).pathname;
const OWNER = "0123456789abcdef".repeat(4);

async function status(
  http: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; etag: string | null; text: string; cors: string | null }> {
  const r = await fetch(`${http}/api/status`, {
    headers: { Authorization: `Bearer ${token}`, ...headers },
  });
  return {
    status: r.status,
    etag: r.headers.get("etag"),
    text: await r.text(),
    cors: r.headers.get("access-control-allow-origin"),
  };
}

function ids(text: string): string[] {
  return (JSON.parse(text).machines as { id: string }[]).map((m) => m.id);
}

Deno.test({
  name: "/api/status carries an ETag; If-None-Match gets 304; a change or age gives a new body",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A user that may connect to "barn" only: its view must never be served to others.
    const hub = await startHubInProcess({
      configYaml: [
        "auth:",
        "  tokens:",
        `    - {id: owner, token: ${OWNER}, hubRole: owner}`,
        `    - {id: viewer, token: ${"v".repeat(64)}, hubRole: viewer}`,
        `    - {id: bob, token: ${"b".repeat(64)}}`,
        "  machines:",
        `    barn: {connectTokens: [${"b".repeat(64)}]}`,
        "",
      ].join("\n"),
      statusMaxAgeMs: 60_000,
    });
    const { http, url } = hub;
    const agents: ScriptedAgent[] = [];
    try {
      agents.push(await ScriptedAgent.register(url, { machineName: "barn", token: OWNER }));
      const first = await status(http, "v".repeat(64));
      assert.equal(first.status, 200);
      assert.match(first.etag ?? "", /^"[0-9a-f]{20}"$/);
      assert.deepEqual(ids(first.text), ["barn"]);
      // The cost bound itself: a second later (the timestamp's resolution) the same body is
      // served, not rebuilt; a hub that only hashed a fresh body would show a new timestamp.
      await new Promise((r) => setTimeout(r, 1100));
      const cached = await status(http, "v".repeat(64));
      assert.equal(cached.text, first.text, "served from the cache, not rebuilt");

      const again = await status(http, "v".repeat(64), { "If-None-Match": first.etag! });
      assert.deepEqual([again.status, again.text, again.etag], [304, "", first.etag]);
      assert.equal(again.cors, "*", "304 keeps the public CORS headers");
      const weak = await status(http, "v".repeat(64), { "If-None-Match": `"x", W/${first.etag}` });
      assert.equal(weak.status, 304);

      agents.push(await ScriptedAgent.register(url, { machineName: "silo", token: OWNER }));
      const changed = await status(http, "v".repeat(64), { "If-None-Match": first.etag! });
      assert.equal(changed.status, 200, "a registration invalidates the cached body at once");
      assert.notEqual(changed.etag, first.etag);
      assert.deepEqual(ids(changed.text), ["barn", "silo"]);

      // Views are cached per caller: bob sees only barn, the owner both, in either order.
      assert.deepEqual(ids((await status(http, "b".repeat(64))).text), ["barn"]);
      assert.deepEqual(ids((await status(http, OWNER)).text), ["barn", "silo"]);
      assert.deepEqual(ids((await status(http, "b".repeat(64))).text), ["barn"]);
      assert.equal((await status(http, "x".repeat(64))).status, 401);
    } finally {
      for (const a of agents) await a.close();
      await hub.close();
    }

    // With a short maximum age, an unchanged registry still gets a fresh body (uptime,
    // timestamp, lastSeen move on).
    const hub2 = await startHubInProcess({ env: { TELA_OWNER_TOKEN: OWNER }, statusMaxAgeMs: 50 });
    try {
      const h = hub2.http;
      const a = await status(h, OWNER);
      await waitFor(async () => {
        await new Promise((r) => setTimeout(r, 1100)); // timestamp has second resolution
        return (await status(h, OWNER, { "If-None-Match": a.etag! })).status === 200;
      }, "a rebuilt body after the maximum age");
    } finally {
      await hub2.close();
    }
  },
});

/** An in-process hub on loopback with the given offline retention, in milliseconds. */
function retentionHub(
  offlineRetentionMs: number,
  env: Record<string, string> = {},
): Promise<InProcessHub> {
  return startHubInProcess({ env: { TELA_OWNER_TOKEN: OWNER, ...env }, offlineRetentionMs });
}

Deno.test({
  name: "a machine offline longer than the retention time is pruned; a connected one stays",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Retention 60 s, and the prune is driven with a clock 30 s and 61 s ahead: no race with
    // a loaded machine.
    const h = await retentionHub(60_000);
    try {
      const stays = await ScriptedAgent.register(h.url, { machineName: "stays", token: OWNER });
      const goes = await ScriptedAgent.register(h.url, { machineName: "goes", token: OWNER });
      await goes.close();
      await waitFor(() => !h.running.hub.machineByName("goes")?.control, "goes disconnected");
      const offline = JSON.parse((await status(h.http, OWNER)).text).machines as {
        id: string;
        agentConnected: boolean;
      }[];
      assert.deepEqual(offline.map((m) => [m.id, m.agentConnected]), [
        ["goes", false],
        ["stays", true],
      ]);
      assert.deepEqual(h.running.hub.pruneOffline(Date.now() + 30_000), [], "not yet");
      assert.deepEqual(h.running.hub.pruneOffline(Date.now() + 61_000), ["goes"]);
      assert.equal(h.running.hub.machineByName("goes"), undefined, "the name index forgets it too");
      assert.deepEqual(ids((await status(h.http, OWNER)).text), ["stays"]);
      // The name can register again as a new entry.
      const back = await ScriptedAgent.register(h.url, { machineName: "goes", token: OWNER });
      assert.deepEqual(ids((await status(h.http, OWNER)).text), ["goes", "stays"]);
      await back.close();
      await stays.close();
    } finally {
      await h.close();
    }

    // The sweep runs by itself (every quarter of the retention), without any status request.
    const short = await retentionHub(300);
    try {
      const a = await ScriptedAgent.register(short.url, { machineName: "brief", token: OWNER });
      assert.equal(short.running.hub.machines.size, 1);
      await a.close();
      await waitFor(() => short.running.hub.machines.size === 0, "the sweep prunes brief");
    } finally {
      await short.close();
    }
  },
});

Deno.test({
  name: "a socket that re-registers under new names leaves the old ones offline and prunable",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const h = await retentionHub(60_000);
    try {
      const p = await WsPeer.open(h.url);
      for (const machineName of ["one", "two", "three"]) {
        p.sendJson(ScriptedAgent.registerMessage({ machineName, agentId: "a1", token: OWNER }));
        await p.expect("registered");
      }
      const listed = () =>
        status(h.http, OWNER).then((r) =>
          (JSON.parse(r.text).machines as { id: string; agentConnected: boolean }[])
            .map((m) => [m.id, m.agentConnected])
        );
      assert.deepEqual(await listed(), [["one", false], ["three", true], ["two", false]]);
      await p.close();
      await waitFor(() => !h.running.hub.machineByName("three")?.control, "three disconnected");
      assert.deepEqual(await listed(), [["one", false], ["three", false], ["two", false]]);
      assert.deepEqual(h.running.hub.pruneOffline(Date.now() + 61_000).sort(), [
        "one",
        "three",
        "two",
      ]);
      assert.equal(h.running.hub.machines.size, 0);
    } finally {
      await h.close();
    }
  },
});

Deno.test({
  name: "past TELAHUBD_MAX_MACHINES the longest-offline entry is forgotten; all connected: refused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const h = await retentionHub(60_000, { TELAHUBD_MAX_MACHINES: "2" });
    const agents: ScriptedAgent[] = [];
    try {
      const reg = async (machineName: string) => {
        const agentId = `agent-${machineName}`;
        const a = await ScriptedAgent.register(h.url, { machineName, agentId, token: OWNER });
        agents.push(a);
        return a;
      };
      await (await reg("old")).close();
      await waitFor(() => !h.running.hub.machineByName("old")?.control, "old disconnected");
      await reg("stays");
      await reg("new");
      assert.deepEqual(ids((await status(h.http, OWNER)).text), ["new", "stays"]);
      await assert.rejects(
        reg("more"),
        /^HubError: register: the hub holds its maximum of 2 machines, all connected; raise TELAHUBD_MAX_MACHINES/,
      );
      assert.deepEqual(ids((await status(h.http, OWNER)).text), ["new", "stays"]);
      // A known machine re-registering needs no room.
      await reg("stays");
    } finally {
      for (const a of agents) await a.close().catch(() => {});
      await h.close();
    }
  },
});

Deno.test({
  name:
    "a relay keeps flowing while a client polls /api/status with the viewer token, 300 machines",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess();
    const token = hub.ownerToken!;
    const viewer = hub.viewerToken!;
    const agents: ScriptedAgent[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        agents.push(
          await ScriptedAgent.register(hub.url, {
            machineName: `m${String(i).padStart(3, "0")}`,
            token,
            extra: { tags: ["a", "b"], displayName: `Machine ${i}`, location: "rack 1" },
          }),
        );
      }
      const s = await openSession(hub.url, agents[0], { token });
      /** `n` round trips client → agent → client; resolves with the time taken, ms. */
      const roundTrips = async (n: number): Promise<number> => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) {
          s.client.ws.sendBinary(encodeRelayFrame(new Uint8Array([i & 255, 1]), { sessionId: 1 }));
          const got = await s.agent.ws.nextBinary();
          assert.equal(got[7], i & 255);
          s.agent.ws.sendBinary(encodeRelayFrame(new Uint8Array([i & 255, 2]), { sessionId: 1 }));
          assert.equal((await s.client.ws.nextBinary())[7], i & 255);
        }
        return performance.now() - t0;
      };
      const quiet = await roundTrips(200);

      // Four pollers in tight loops in another process, bounded by the relay phase and a count.
      const poller = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", POLLER, hub.httpUrl, viewer, "4", "20000"],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const lines = poller.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (!out.includes("polling\n")) {
        const { value, done } = await lines.read();
        if (done) break;
        out += value;
      }
      assert.ok(out.includes("polling\n"), "polling under way");
      let busy: number;
      try {
        busy = await roundTrips(200);
      } finally {
        await poller.stdin.close();
      }
      for (;;) {
        const { value, done } = await lines.read();
        if (done) break;
        out += value;
      }
      assert.equal((await poller.status).code, 0);
      const stats = JSON.parse(out.trim().split("\n").at(-1)!);
      console.log(
        `200 relay round trips: ${quiet.toFixed(0)} ms quiet, ${busy.toFixed(0)} ms while ` +
          `${stats.polls} status polls (${stats.notModified} answered 304) ran`,
      );
      assert.equal(stats.errors, 0);
      assert.ok(
        stats.polls >= 20 && stats.notModified > 0,
        "the pollers made progress and revalidated",
      );
    } finally {
      for (const a of agents) await a.close().catch(() => {});
      await hub.close();
    }
  },
});
