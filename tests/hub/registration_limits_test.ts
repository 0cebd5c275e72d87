/**
 * Registration limits (issue 9, hub hardening): a `register` message outside the hub's limits
 * gets an `error` message and only that socket closes; the hub keeps serving. The deep
 * `capabilities` case made `/api/status` answer 500 until restart before the limits existed.
 */
import assert from "node:assert/strict";
import { encodeRelayFrame } from "../../lib/protocol/mod.ts";
import {
  getJson,
  HubError,
  openSession,
  ScriptedAgent,
  startHubProcess,
  WsPeer,
} from "./scripted_peers.ts";

/** `{"deep": [[[...]]]}` nested `depth` arrays deep (about 2 bytes a level). */
function deepCapabilities(depth: number): string {
  return `{"deep":${"[".repeat(depth)}${"]".repeat(depth)}}`;
}

Deno.test({
  name: "a registration with capabilities 30,000 arrays deep is refused and status stays 200",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess();
    const token = hub.ownerToken!;
    const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token });
    const healthy = await openSession(hub.url, agent, { token });
    try {
      const bad = await WsPeer.open(hub.url);
      // Raw text so the nesting survives (JSON.stringify of it would overflow our own stack).
      bad.sendText(
        `{"type":"register","machineName":"deep","agentId":"a-deep","token":"${token}",` +
          `"capabilities":${deepCapabilities(30_000)}}`,
      );
      const err = await bad.expect("error");
      assert.match(String(err.message), /^register: capabilities nests deeper than 8 levels$/);
      assert.equal((await bad.nextClose()).code, 1008);

      const st = await getJson(hub, "/api/status", token);
      assert.equal(st.status, 200, "status still answers");
      const ids = (st.body.machines as { id: string }[]).map((m) => m.id);
      assert.deepEqual(ids, ["barn"], "the refused machine is not listed");

      const f = encodeRelayFrame(new Uint8Array([7, 7, 7]), { sessionId: 1 });
      healthy.client.ws.sendBinary(f);
      assert.deepEqual([...(await healthy.agent.ws.nextBinary()).subarray(7)], [7, 7, 7]);
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name: "each registration field over its limit gets an error naming the field; a good one works",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess();
    const token = hub.ownerToken!;
    try {
      const cases: [Record<string, unknown>, RegExp][] = [
        [
          { machineName: "m".repeat(129) },
          /^register: machineName is 129 characters; the limit is 128$/,
        ],
        [{ agentId: "a".repeat(500) }, /^register: agentId is 500 characters/],
        [{ machineName: "web\u0000x" }, /^register: machineName contains control characters$/],
        [{ displayName: "d".repeat(257) }, /^register: displayName is 257 characters/],
        [{ hostname: "h\r\nx" }, /^register: hostname contains control characters$/],
        [{ tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, /^register: tags has 33 entries/],
        [{ tags: ["x".repeat(65)] }, /^register: tags\[0\] is 65 characters/],
        [{ ports: [22, 70000] }, /^register: ports\[1\] 70000 is not a port/],
        [
          { ports: Array.from({ length: 257 }, (_, i) => i + 1) },
          /^register: ports has 257 entries/,
        ],
        [
          { services: [{ port: 22, name: "n".repeat(65) }] },
          /^register: services\[0\]\.name is 65/,
        ],
        [{ services: [{ port: -1 }] }, /^register: services\[0\]\.port -1 is not a port/],
        [
          { capabilities: { big: "x".repeat(40_000) } },
          /^register: capabilities is \d+ bytes of JSON/,
        ],
        [
          { capabilities: { many: Array.from({ length: 3000 }, () => 1) } },
          /^register: capabilities has more than 2048 values$/,
        ],
      ];
      for (const [extra, message] of cases) {
        const name = typeof extra.machineName === "string" ? extra.machineName : "barn";
        await assert.rejects(
          ScriptedAgent.register(hub.url, { machineName: name, token, extra }),
          (e) => e instanceof HubError && message.test(e.message),
          JSON.stringify(extra).slice(0, 80),
        );
      }
      // What telad sends (spec agent-and-client.md §2.10) is well inside the limits.
      const good = await ScriptedAgent.register(hub.url, {
        machineName: "barn",
        token,
        extra: {
          tags: ["prod", "eu"],
          capabilities: {
            management: true,
            shares: [{
              name: "docs",
              writable: true,
              allowDelete: false,
              maxFileSize: 52428800,
              blockedExtensions: [".exe", ".sh"],
            }],
          },
        },
      });
      const st = await getJson(hub, "/api/status", token);
      assert.equal(st.status, 200);
      assert.deepEqual((st.body.machines as { id: string }[]).map((m) => m.id), ["barn"]);
      await good.close();
    } finally {
      await hub.close();
    }
  },
});
