/**
 * Hub bridges (spec session-and-relay.md §3.7, §4.3, §5.4 step 6; hub-http-api.md bridges[],
 * §4.1 reachableThrough, §7 history): two of our hubs in this process on loopback, a scripted
 * agent registered on hub B and a scripted client on hub A. Byte-exact relay both ways (only
 * the hop byte changes), the client leg's UDP token, A's access check, the remote hub's
 * refusal passed on, a dead hub B, a bridge cycle, and config validation.
 */
import assert from "node:assert/strict";
import { encodeRelayFrame, FLAG_CONTROL, KEEPALIVE_TEXT } from "../../lib/protocol/mod.ts";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../../lib/config/mod.ts";
import { validateBridges } from "../../lib/hub/bridge.ts";
import type { Actor } from "../../lib/hub/access/types.ts";
import { freeTcpPort } from "../free_port.ts";
import {
  clientConnect,
  cutOf,
  fakeKey,
  type InProcessHub,
  ScriptedAgent,
  startHubInProcess,
  UdpSide,
  waitFor,
  WsPeer,
} from "./scripted_peers.ts";

const OWNER_A = "a0".repeat(32);
const ALICE_A = "a1".repeat(32); // an identity on A without connect rights
const OWNER_B = "b0".repeat(32);
const BOB_A = "b1".repeat(32); // an identity on A with connect on barn only
const API: Actor = { id: "owner", via: "api" };

/** YAML of a hub with an owner (connect on every machine), alice, and `bridges`. */
function hubYaml(hubId: string, bridges: string): string {
  return `hubId: ${hubId}
auth:
  tokens:
    - id: owner
      token: "${OWNER_A}"
      hubRole: owner
    - id: alice
      token: "${ALICE_A}"
    - id: bridge-b
      token: "${OWNER_B}"
    - id: bob
      token: "${BOB_A}"
  machines:
    "*":
      connectTokens: ["${OWNER_A}", "${OWNER_B}"]
    barn:
      connectTokens: ["${BOB_A}"]
${bridges}`;
}

function bridgeYaml(hubId: string, url: string, token: string, machines: string[]): string {
  return `bridges:
  - hubId: ${hubId}
    url: ${url}
    token: "${token}"
    machines: [${machines.join(", ")}]
`;
}

function payload(n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 37 + seed) & 0xff;
  return p;
}

/** `frame` as it arrives after `hubs` hub hops: byte 1 = 8 - hubs, all else unchanged. */
function afterHops(frame: Uint8Array, hubs: number): Uint8Array {
  const e = frame.slice();
  e[1] = 8 - hubs;
  return e;
}

async function status(hub: InProcessHub, token: string): Promise<Record<string, unknown>[]> {
  const r = await fetch(`${hub.http}/api/status`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  assert.equal(r.status, 200);
  return (await r.json()).machines;
}

async function history(hub: InProcessHub): Promise<{ event: string; detail?: string }[]> {
  const r = await fetch(`${hub.http}/api/history`, {
    headers: { Authorization: `Bearer ${OWNER_A}` },
  });
  assert.equal(r.status, 200);
  return (await r.json()).events;
}

/** The `error` text and close of a refused client. */
async function refusal(ws: WsPeer): Promise<{ message: string; code: number; reason: string }> {
  return await cutOf(ws);
}

Deno.test({
  name: "bridge: a client on hub A reaches an agent on hub B (relay, UDP leg, teardown)",
  async fn(t) {
    const hubB = await startHubInProcess({ env: { TELA_OWNER_TOKEN: OWNER_B } });
    const hubA = await startHubInProcess({
      configYaml: hubYaml("hub-a", bridgeYaml("hub-b", hubB.url, OWNER_B, ["barn", "silo"])),
    });
    const agent = await ScriptedAgent.register(hubB.url, {
      machineName: "barn",
      token: OWNER_B,
      ports: [22],
    });
    const peers: WsPeer[] = [];
    try {
      let client!: WsPeer;
      let agentWs!: WsPeer;
      let offer!: { port: number; token: string };
      await t.step("setup: ready with B's index, one udp-offer, wg-pubkey relayed", async () => {
        client = await clientConnect(hubA.url, {
          machineId: "barn",
          token: OWNER_A,
          wgPubKey: fakeKey(0xc1),
          ports: [22],
        });
        peers.push(client);
        const req = await agent.nextSessionRequest();
        assert.equal(req.wgPubKey, fakeKey(0xc1), "B's agent sees the client's own key");
        const joined = await agent.join(req);
        agentWs = joined.ws;
        peers.push(agentWs);
        const ready = await client.expect("ready");
        assert.equal(ready.sessionIdx, req.sessionIdx, "ready carries hub B's sessionIdx");
        offer = (await client.expect("udp-offer")) as unknown as typeof offer;
        assert.match(offer.token, /^[0-9a-f]{16}$/);
        assert.equal(offer.port, hubA.running.udpPort, "the offer names hub A's UDP relay");
        agentWs.sendText(
          JSON.stringify({
            type: "wg-pubkey",
            wgPubKey: fakeKey(0xa9),
            ports: [22],
            capabilities: { management: true },
          }) + "\n",
        );
        // B's udp-offer to its client (hub A) is dropped: the next message is wg-pubkey.
        const pk = await client.expect("wg-pubkey");
        assert.equal(pk.wgPubKey, fakeKey(0xa9));
      });

      await t.step("frames both ways are byte-exact apart from the hop byte", async () => {
        for (const [i, size] of [0, 1, 148, 1100, 65000].entries()) {
          const up = encodeRelayFrame(payload(size, i), { sessionId: 0x9c41d2e7 + i });
          client.sendBinary(up);
          assert.deepEqual(await agentWs.nextBinary(), afterHops(up, 2));
          const down = encodeRelayFrame(payload(size, 100 + i), { sessionId: 0x05b3a01f });
          agentWs.sendBinary(down);
          assert.deepEqual(await client.nextBinary(), afterHops(down, 2));
        }
        // Opaque: a CONTROL frame and a frame with reserved flag bits and JSON-looking payload
        // go through untouched; hub A reads only the 7-byte header.
        const json = new TextEncoder().encode('{"type":"session-end"}');
        for (const f of [FLAG_CONTROL, 0xfe]) {
          const frame = encodeRelayFrame(json, { flags: f, sessionId: 7 });
          client.sendBinary(frame);
          assert.deepEqual(await agentWs.nextBinary(), afterHops(frame, 2));
          agentWs.sendBinary(frame);
          assert.deepEqual(await client.nextBinary(), afterHops(frame, 2));
        }
        // A frame whose hop budget runs out at A's bridge reader (B: 2 → 1, A: 1 → 0) is
        // dropped there; the next one still arrives.
        const dropped = hubA.running.hub.bridges.stats.framesDropped;
        agentWs.sendBinary(encodeRelayFrame(payload(10, 1), { hop: 2 }));
        const next = encodeRelayFrame(payload(10, 2));
        agentWs.sendBinary(next);
        assert.deepEqual(await client.nextBinary(), afterHops(next, 2));
        assert.equal(hubA.running.hub.bridges.stats.framesDropped, dropped + 1);
      });

      await t.step("text: peer-endpoint passes both ways, keepalives stop at the hub", async () => {
        client.sendText(KEEPALIVE_TEXT);
        const pe = JSON.stringify({ type: "peer-endpoint", message: "203.0.113.5:54321" });
        client.sendText(pe);
        const got = await agentWs.next();
        assert.deepEqual(got, { kind: "text", text: pe });
        agentWs.sendText(KEEPALIVE_TEXT);
        agentWs.sendText(pe);
        assert.deepEqual(await client.next(), { kind: "text", text: pe });
      });

      await t.step("the client leg's UDP token: PROBE/READY, frames go to the bridge", async () => {
        const udp = new UdpSide(hubA.running.udpPort, offer.token);
        try {
          await udp.probe();
          const frame = encodeRelayFrame(payload(1100, 9), { sessionId: 42 });
          await udp.sendFrame(frame);
          assert.deepEqual(await agentWs.nextBinary(), afterHops(frame, 2));
          // Frames for the client keep using its WebSocket (the bridge leg is WebSocket).
          const down = encodeRelayFrame(payload(300, 3));
          agentWs.sendBinary(down);
          assert.deepEqual(await client.nextBinary(), afterHops(down, 2));
        } finally {
          udp.close();
        }
      });

      await t.step("hub A lists bridged machines with reachableThrough", async () => {
        const list = await status(hubA, OWNER_A);
        for (const id of ["barn", "silo"]) {
          const m = list.find((x) => x.id === id);
          assert.ok(m, `${id} listed`);
          assert.equal(m.agentConnected, false);
          assert.equal(m.sessionCount, 0);
          assert.deepEqual(m.services, []);
          assert.deepEqual(m.reachableThrough, { hubId: "hub-b", hubUrl: hubB.url });
        }
        // The console viewer sees them too; alice (no rights) sees none.
        assert.equal((await status(hubA, ALICE_A)).length, 0);
      });

      await t.step("client leaves: B tells its agent; A records both events", async () => {
        await client.close();
        assert.deepEqual(await agentWs.expect("session-end"), { type: "session-end" });
        await agentWs.nextClose();
        await waitFor(() => hubA.running.hub.bridges.sessionCount === 0, "bridged session gone");
        const ev = await history(hubA);
        const up = ev.find((e) => e.event === "client-connect-bridge");
        assert.match(up?.detail ?? "", /^via=hub-b session=[0-9a-f]{8}$/);
        const down = ev.find((e) => e.event === "client-disconnect-bridge");
        assert.equal(down?.detail, `session=${up!.detail!.slice(-8)}`);
      });

      await t.step(
        "a grant that shrinks to a service filter cuts the bridged session",
        async () => {
          const c4 = await clientConnect(hubA.url, {
            machineId: "barn",
            token: BOB_A,
            wgPubKey: fakeKey(0xc4),
          });
          peers.push(c4);
          const joined = await agent.join(await agent.nextSessionRequest());
          peers.push(joined.ws);
          await c4.expect("ready");
          await c4.expect("udp-offer");
          hubA.running.store.setMachine("bob", "barn", ["connect"], ["SSH"], API);
          const r = await cutOf(c4);
          assert.equal(r.code, 1008);
          assert.equal(
            r.message,
            "Access denied: a service-limited grant cannot be used through a bridge",
          );
          await waitFor(() => hubA.running.hub.bridges.sessionCount === 0, "bridged session gone");
        },
      );

      await t.step("a service-limited grant is refused before any dial", async () => {
        // bob now holds connect on barn limited to SSH: hub A cannot apply that to barn's
        // services on hub B, so it refuses instead of carrying the connect (any port) there.
        const ws = await clientConnect(hubA.url, {
          machineId: "barn",
          token: BOB_A,
          wgPubKey: fakeKey(0xc5),
          ports: [80],
        });
        const r = await refusal(ws);
        assert.equal(
          r.message,
          "Access denied: a service-limited grant cannot be used through a bridge",
        );
        assert.equal(r.code, 1008);
        assert.equal(hubA.running.hub.bridges.sessionCount, 0, "no bridge was dialled");
        await ws.close();
        const ev = await history(hubA);
        assert.ok(
          ev.some((e) => e.event === "client-denied" && /service-limited/.test(e.detail ?? "")),
        );
        hubA.running.store.setMachine("bob", "barn", ["connect"], undefined, API);
      });

      await t.step("connect revoked on hub A: the bridged client is cut at once", async () => {
        const c3 = await clientConnect(hubA.url, {
          machineId: "barn",
          token: BOB_A,
          wgPubKey: fakeKey(0xc3),
        });
        peers.push(c3);
        const joined = await agent.join(await agent.nextSessionRequest());
        peers.push(joined.ws);
        await c3.expect("ready");
        await c3.expect("udp-offer");
        hubA.running.store.revokeMachine("bob", "barn", API);
        const r = await cutOf(c3);
        assert.equal(r.code, 1008);
        assert.match(r.message, /^Access denied: connect permission on "barn" was revoked/);
        assert.deepEqual(await joined.ws.expect("session-end"), { type: "session-end" });
        await waitFor(() => hubA.running.hub.bridges.sessionCount === 0, "bridged session gone");
        const ev = await history(hubA);
        assert.ok(ev.some((e) => e.event === "client-denied" && /revoked/.test(e.detail ?? "")));
      });

      await t.step("agent session ends: the client gets 1001 bridge session ended", async () => {
        const c2 = await clientConnect(hubA.url, {
          machineId: "barn",
          token: OWNER_A,
          wgPubKey: fakeKey(0xc2),
        });
        peers.push(c2);
        const joined = await agent.join(await agent.nextSessionRequest());
        peers.push(joined.ws);
        await c2.expect("ready");
        await c2.expect("udp-offer");
        await joined.ws.close();
        assert.deepEqual(await c2.nextClose(), { code: 1001, reason: "bridge session ended" });
        await waitFor(() => hubA.running.hub.bridges.sessionCount === 0, "bridged session gone");
        assert.equal(hubA.running.udp!.size, 0, "the client-leg token is forgotten");
      });
    } finally {
      for (const p of peers) await p.close().catch(() => {});
      await agent.close();
      await hubA.close();
      await hubB.close();
    }
  },
});

Deno.test({
  name: "bridge: refusals reach the client (A's access, B's error, dead B, no key)",
  async fn(t) {
    const hubB = await startHubInProcess({ env: { TELA_OWNER_TOKEN: OWNER_B } });
    const dead = freeTcpPort();
    const hubA = await startHubInProcess({
      configYaml: hubYaml(
        "hub-a",
        `bridges:
  - hubId: hub-b
    url: ${hubB.url}
    token: "${OWNER_B}"
    machines: [barn]
  - hubId: hub-b-wrong-token
    url: ${hubB.url}
    token: "${"ff".repeat(32)}"
    machines: [silo]
  - hubId: hub-dead
    url: ws://127.0.0.1:${dead}
    token: x
    machines: [ghost]
  - hubId: hub-a
    url: ws://127.0.0.1:1
    machines: [self]
`,
      ),
    });
    const agent = await ScriptedAgent.register(hubB.url, { machineName: "barn", token: OWNER_B });
    const silo = await ScriptedAgent.register(hubB.url, { machineName: "silo", token: OWNER_B });
    try {
      await t.step("A refuses a token without connect on the machine: Access denied", async () => {
        const ws = await clientConnect(hubA.url, { machineId: "barn", token: ALICE_A });
        assert.deepEqual(await refusal(ws), {
          message: "Access denied",
          code: 1008,
          reason: "Access denied",
        });
        assert.equal(hubA.running.hub.bridges.sessionCount, 0, "no bridge was dialled");
        assert.equal(hubB.running.hub.sessionCount, 0);
        await ws.close();
      });

      await t.step("B's own error text is passed on (wrong bridge token)", async () => {
        const ws = await clientConnect(hubA.url, { machineId: "silo", token: OWNER_A });
        const r = await refusal(ws);
        assert.equal(r.message, "Access denied");
        assert.equal(r.code, 1008);
        await ws.close();
      });

      await t.step("B knows no such machine: Machine not found from B", async () => {
        // barn is bridged; make B forget it: the agent leaves.
        await agent.close();
        await waitFor(() => !hubB.running.hub.machineByName("barn")?.control, "barn offline");
        const ws = await clientConnect(hubA.url, { machineId: "barn", token: OWNER_A });
        const r = await refusal(ws);
        assert.equal(r.message, "Machine not found");
        await ws.close();
      });

      await t.step("dead hub B: Bridge connect failed, refused", async () => {
        const ws = await clientConnect(hubA.url, { machineId: "ghost", token: OWNER_A });
        const r = await refusal(ws);
        assert.equal(r.message, "Bridge connect failed: hub hub-dead refused the connection");
        assert.equal(r.code, 1008);
        await ws.close();
      });

      await t.step("a bridge naming A's own hubId is skipped", async () => {
        const ws = await clientConnect(hubA.url, { machineId: "self", token: OWNER_A });
        assert.equal((await refusal(ws)).message, "Machine not found");
        await ws.close();
        const ids = (await status(hubA, OWNER_A)).map((m) => m.id);
        assert.deepEqual(ids.sort(), ["barn", "ghost", "silo"]);
      });

      await t.step("a connect without wgPubKey is not bridged", async () => {
        const ws = await WsPeer.open(hubA.url);
        ws.sendJson({ type: "connect", machineId: "barn", wgPubKey: "", token: OWNER_A });
        const r = await refusal(ws);
        assert.equal(r.message, "Bridge session setup failed: connect carries no wgPubKey");
        await ws.close();
      });
      assert.equal(hubA.running.hub.bridges.sessionCount, 0);
    } finally {
      await agent.close().catch(() => {});
      await silo.close();
      await hubA.close();
      await hubB.close();
    }
  },
});

Deno.test({
  name: "bridge: a remote hub that closes before ready gives Bridge session setup failed",
  async fn() {
    // A fake "hub B": records the connect it gets, then closes without an answer.
    const got = Promise.withResolvers<string>();
    const fake = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (ev) => {
        got.resolve(String(ev.data));
        socket.send(JSON.stringify({ type: "udp-offer", port: 1, token: "00".repeat(8) }));
        socket.send(new Uint8Array([0x54, 0, 0, 0, 0, 0, 0, 1]));
        socket.close(1000);
      };
      return response;
    });
    const hubA = await startHubInProcess({
      configYaml: hubYaml(
        "hub-a",
        bridgeYaml("fake", `ws://127.0.0.1:${fake.addr.port}`, "tok-b", ["barn"]),
      ),
    });
    try {
      const ws = await clientConnect(hubA.url, {
        machineId: "barn",
        token: OWNER_A,
        wgPubKey: fakeKey(5),
        ports: [22, 80],
      });
      // The bridge's connect is the Go shape: keys in Go's order, the bridge token, + "\n".
      assert.equal(
        await got.promise,
        `{"machineId":"barn","ports":[22,80],"token":"tok-b","type":"connect","wgPubKey":"${
          fakeKey(5)
        }"}\n`,
      );
      const r = await refusal(ws);
      assert.equal(r.message, "Bridge session setup failed");
      await ws.close();
    } finally {
      await hubA.close();
      await fake.shutdown();
    }
  },
});

Deno.test({
  name: "bridge: a cycle (A → B → A, machine registered nowhere) ends with a clear error",
  async fn() {
    const portA = freeTcpPort();
    const portB = freeTcpPort();
    const hubA = await startHubInProcess({
      port: portA,
      configYaml: hubYaml(
        "hub-a",
        bridgeYaml("hub-b", `ws://127.0.0.1:${portB}`, OWNER_B, ["ghost"]),
      ),
    });
    const hubB = await startHubInProcess({
      port: portB,
      configYaml: hubYaml(
        "hub-b",
        bridgeYaml("hub-a", `ws://127.0.0.1:${portA}`, OWNER_A, ["ghost"]),
      ),
    });
    try {
      const ws = await clientConnect(hubA.url, {
        machineId: "ghost",
        token: OWNER_A,
        wgPubKey: fakeKey(0x1009),
      });
      const r = await refusal(ws);
      assert.equal(
        r.message,
        "Bridge loop: machine ghost is bridged back to hub hub-a; fix the bridges: entries so " +
          "the chain ends at the hub where ghost registers",
      );
      assert.equal(r.code, 1008);
      await ws.close();
      assert.equal(hubA.running.hub.bridges.stats.loopsRefused, 1);
      await waitFor(
        () =>
          hubA.running.hub.bridges.sessionCount === 0 &&
          hubB.running.hub.bridges.sessionCount === 0 &&
          hubA.running.hub.peerCount === 0 && hubB.running.hub.peerCount === 0,
        "both hubs idle after the refused cycle",
      );
      // A client of B meets the same loop from the other side.
      const ws2 = await clientConnect(hubB.url, {
        machineId: "ghost",
        token: OWNER_A,
        wgPubKey: fakeKey(0x100a),
      });
      assert.match((await refusal(ws2)).message, /^Bridge loop: machine ghost .* hub hub-b;/);
      await ws2.close();
    } finally {
      await hubA.close();
      await hubB.close();
    }
  },
});

Deno.test("bridge config: validation names the file, the key and the fix", async () => {
  const ok = validateBridges("h.yaml", [
    { hubId: "b", url: "wss://b.example", token: "t", machines: ["m1", "m2"] },
    { url: "ws://10.0.0.2:8080", maxHops: 3, machines: ["m3"], pin: "" },
    { hubId: "c", url: "ws://c", token: "t", maxHops: 0, machines: ["m4"] },
  ]);
  assert.deepEqual(ok.map((b) => [b.hubId, b.maxHops, b.machines]), [
    ["b", 8, ["m1", "m2"]],
    ["", 3, ["m3"]],
    ["c", 8, ["m4"]],
  ]);
  const cases: [unknown, RegExp][] = [
    [{ url: "http://b", machines: ["m"] }, /bridges\[0\]\.url.*ws:\/\/ or wss:\/\//],
    [{ url: "b.example.com", machines: ["m"] }, /bridges\[0\]\.url/],
    [{ url: "ws://b", machines: [] }, /bridges\[0\]\.machines.*non-empty list/],
    [{ url: "ws://b" }, /bridges\[0\]\.machines.*machines: \[web01, db01\]/],
    [{ url: "ws://b", machines: ["m", 3] }, /bridges\[0\]\.machines\[1\]/],
    [{ url: "ws://b", machines: ["m"], maxHops: -1 }, /bridges\[0\]\.maxHops.*0-255/],
    [{ url: "ws://b", machines: ["m"], maxHops: 2.5 }, /maxHops/],
    [{ url: "ws://b", machines: ["m"], machine: ["x"] }, /bridges\[0\]\.machine.*remove or rename/],
    ["ws://b", /bridges\[0\].*mapping/],
    // An unchecked pin would be a silent downgrade: refused until pinning exists.
    [{ url: "wss://b", machines: ["m"], pin: "sha256:00" }, /bridges\[0\]\.pin.*remove the pin/],
  ];
  for (const [entry, re] of cases) {
    assert.throws(() => validateBridges("h.yaml", [entry]), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /^h\.yaml: key "/);
      assert.match(e.message, re);
      return true;
    });
  }
  // A token is a secret: a non-string one is described by its kind, never printed.
  for (
    const [token, kind] of [
      [["x-secret-token"], "a list"],
      [{ secret: "x-secret-token" }, "a mapping"],
      [true, "a boolean"],
    ] as const
  ) {
    assert.throws(
      () => validateBridges("h.yaml", [{ url: "ws://b", machines: ["m"], token }]),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /bridges\[0\]\.token.*a string/);
        assert.ok(e.message.includes(`got ${kind};`), e.message);
        assert.ok(!e.message.includes("x-secret-token"), `token printed: ${e.message}`);
        assert.ok(!e.message.includes("true"), `token printed: ${e.message}`);
        return true;
      },
    );
  }
  assert.throws(() => validateBridges("h.yaml", { url: "ws://b" }), /key "bridges"/);
  // Circular YAML aliases (`bridges: &b [*b]`) and huge values: a ConfigError naming the
  // value's kind, not a TypeError from JSON.stringify.
  const circular = parseYaml("bridges: &b [*b]\n") as { bridges: unknown };
  assert.throws(
    () => validateBridges("h.yaml", circular.bridges),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(
        e.message,
        'h.yaml: key "bridges[0]": expected a mapping with hubId, url, token and machines, ' +
          "got a list; fix or remove the entry",
      );
      return true;
    },
  );
  const loop = parseYaml("- &e {url: ws://b, machines: [*e]}\n") as unknown[];
  assert.throws(
    () => validateBridges("h.yaml", loop),
    /machines\[0\]": expected a machine name, got a mapping;/,
  );
  assert.throws(
    () => validateBridges("h.yaml", [{ url: "x".repeat(5000), machines: ["m"] }]),
    (e: unknown) => e instanceof ConfigError && e.message.length < 400,
  );
  assert.deepEqual(validateBridges("h.yaml", undefined), []);

  // The hub refuses to start on a bad entry, naming the file.
  await assert.rejects(
    startHubInProcess({
      configYaml: `bridges:\n  - url: https://b.example\n    machines: [m]\n`,
      env: { TELA_OWNER_TOKEN: OWNER_A },
    }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /telahubd\.yaml: key "bridges\[0\]\.url"/);
      return true;
    },
  );
});
