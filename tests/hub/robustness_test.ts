/**
 * Hard to knock over: each kind of bad input closes only the offending peer while
 * a healthy session on the same hub keeps relaying; 254 concurrent sessions per
 * machine, the 255th refused, indices reused (spec README decision).
 */
import assert from "node:assert/strict";
import { encodeRelayFrame, MAX_SIGNAL_BYTES } from "../../lib/protocol/mod.ts";
import {
  clientConnect,
  getJson,
  type OpenSession,
  openSession,
  ScriptedAgent,
  startHubProcess,
  waitFor,
  WsPeer,
} from "./scripted_peers.ts";

async function assertHealthy(s: OpenSession, seed: number): Promise<void> {
  const f = encodeRelayFrame(new Uint8Array([seed, 1, 2, 3]), { sessionId: seed });
  s.client.ws.sendBinary(f);
  const got = await s.agent.ws.nextBinary();
  assert.deepEqual([...got.subarray(7)], [seed, 1, 2, 3], "healthy session still relays →");
  const g = encodeRelayFrame(new Uint8Array([seed, 9]), { sessionId: seed });
  s.agent.ws.sendBinary(g);
  assert.deepEqual([...(await s.client.ws.nextBinary()).subarray(7)], [seed, 9], "and ←");
}

Deno.test({
  name: "bad input closes only the offending peer; the hub keeps serving",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const hub = await startHubProcess({ env: { TELAHUBD_FIRST_MESSAGE_TIMEOUT_MS: "3000" } });
    const token = hub.ownerToken!;
    const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token });
    const healthy = await openSession(hub.url, agent, { token });
    let seed = 1;
    const newPeer = () => WsPeer.open(hub.url);
    try {
      await t.step("malformed JSON → 1002 Expected JSON for first message", async () => {
        for (const bad of ["{not json", "[1,2,3]", '"register"', "", "null"]) {
          const p = await newPeer();
          p.sendText(bad);
          assert.deepEqual(await p.nextClose(), {
            code: 1002,
            reason: "Expected JSON for first message",
          }, JSON.stringify(bad));
        }
        await assertHealthy(healthy, seed++);
      });

      await t.step("wrong JSON types on known fields → 1002", async () => {
        for (
          const bad of [
            { type: "connect", machineId: "barn", ports: ["22"], token },
            { type: "register", machineName: "barn", agentId: 5, token },
            { type: "session-join", machineId: "barn", sessionId: 12 },
            { type: "connect", machineId: ["barn"] },
            { type: 7 },
          ]
        ) {
          const p = await newPeer();
          p.sendJson(bad);
          assert.deepEqual(
            await p.nextClose(),
            { code: 1002, reason: "Expected JSON for first message" },
            JSON.stringify(bad),
          );
        }
        await assertHealthy(healthy, seed++);
      });

      await t.step("oversized signaling text → 1009", async () => {
        const p = await newPeer();
        p.sendText(
          JSON.stringify({ type: "register", pad: "x".repeat(MAX_SIGNAL_BYTES + 10) }),
        );
        assert.equal((await p.nextClose()).code, 1009);
        await assertHealthy(healthy, seed++);
      });

      await t.step("binary before any JSON → 1002", async () => {
        const p = await newPeer();
        p.sendBinary(encodeRelayFrame(new Uint8Array(10)));
        assert.deepEqual(await p.nextClose(), {
          code: 1002,
          reason: "Expected JSON for first message",
        });
        await assertHealthy(healthy, seed++);
      });

      await t.step(
        "bad frame magic, short frame, oversized frame → that session only",
        async () => {
          const cases: [Uint8Array, number, string][] = [
            [new Uint8Array([0x55, 0, 0, 0, 0, 0, 0, 1]), 1002, "relay frame: unsupported version"],
            [new Uint8Array([0x54, 0, 0]), 1002, "relay frame: unsupported version"],
            [encodeRelayFrame(new Uint8Array(100_000)), 1009, "message too big"],
          ];
          for (const [frame, code, reason] of cases) {
            const s = await openSession(hub.url, agent, { token });
            s.client.ws.sendBinary(frame);
            assert.deepEqual(await s.client.ws.nextClose(), { code, reason });
            assert.deepEqual(await s.agent.ws.nextJson(), { type: "session-end" });
            await s.agent.ws.nextClose();
            // The agent side misbehaving closes the agent WS; the client learns it with 1001.
            const s2 = await openSession(hub.url, agent, { token });
            s2.agent.ws.sendBinary(frame);
            assert.deepEqual(await s2.agent.ws.nextClose(), { code, reason });
            assert.deepEqual(await s2.client.ws.nextClose(), {
              code: 1001,
              reason: "agent session ended",
            });
            await assertHealthy(healthy, seed++);
          }
        },
      );

      await t.step("a WebSocket that says nothing is closed; others unaffected", async () => {
        const silent = await newPeer();
        const chatty = await newPeer();
        chatty.sendJson({ type: "keepalive" }); // unknown-before-pairing: ignored, stays open
        assert.deepEqual(await silent.nextClose(), {
          code: 1008,
          reason: "no signaling message received",
        });
        await assertHealthy(healthy, seed++);
        await chatty.close();
      });

      await t.step("a TCP connection that sends half a request does not block others", async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
        await conn.write(new TextEncoder().encode("GET /api/status HTTP/1.1\r\nHost: x\r\n"));
        const idle = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
        const st = await getJson(hub, "/api/status", token);
        assert.equal(st.status, 200);
        await assertHealthy(healthy, seed++);
        conn.close();
        idle.close();
      });

      await t.step(
        "a WebSocket ping gets a pong echoing its payload (Go peers need it)",
        async () => {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
          try {
            await conn.write(new TextEncoder().encode(
              `GET / HTTP/1.1\r\nHost: 127.0.0.1:${hub.port}\r\nUpgrade: websocket\r\n` +
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
                "Sec-WebSocket-Version: 13\r\n\r\n",
            ));
            const buf = new Uint8Array(4096);
            let got = "";
            while (!got.includes("\r\n\r\n")) {
              const n = await conn.read(buf);
              assert.ok(n, "upgrade response");
              got += new TextDecoder().decode(buf.subarray(0, n));
            }
            assert.match(got, /^HTTP\/1\.1 101/);
            // Masked ping, payload "hi" (mask 01 02 03 04).
            await conn.write(new Uint8Array([0x89, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]));
            const pong: number[] = [];
            while (pong.length < 4) {
              const n = await conn.read(buf);
              assert.ok(n, "pong");
              pong.push(...buf.subarray(0, n));
            }
            assert.deepEqual(pong.slice(0, 4), [0x8a, 0x02, 0x68, 0x69]);
          } finally {
            conn.close();
          }
        },
      );

      await t.step(
        "signaling errors: session-join for unknown session/machine, register without agentId",
        async () => {
          const p = await newPeer();
          p.sendJson({ type: "session-join", machineId: "barn", sessionId: "0011223344556677" });
          assert.deepEqual(await p.nextJson(), { message: "Session not found", type: "error" });
          assert.deepEqual(await p.nextClose(), { code: 1008, reason: "Session not found" });
          const q = await newPeer();
          q.sendJson({ type: "session-join", machineId: "nope", sessionId: "0011223344556677" });
          assert.equal((await q.nextJson()).message, "Machine not found");
          await q.nextClose();
          const r = await newPeer();
          r.sendJson({ type: "register", machineName: "x", token });
          assert.equal((await r.nextJson()).message, "register: agentId is required");
          assert.equal((await r.nextClose()).code, 1008);
          // A session id can be joined once only.
          const ws = await clientConnect(hub.url, { machineId: "barn", token });
          const req = await agent.nextSessionRequest();
          const a1 = await agent.join(req);
          const dup = await newPeer();
          dup.sendJson({ type: "session-join", machineId: "barn", sessionId: req.sessionId });
          assert.equal((await dup.nextJson()).message, "Session not found");
          await ws.close();
          await a1.ws.nextClose();
          await assertHealthy(healthy, seed++);
        },
      );

      await t.step("garbage on an agent's control WS closes it and its sessions only", async () => {
        const other = await ScriptedAgent.register(hub.url, { machineName: "shed", token });
        const s = await openSession(hub.url, other, { token });
        other.control.sendBinary(new Uint8Array([1, 2, 3]));
        assert.equal((await other.control.nextClose()).code, 1002);
        assert.deepEqual(await s.client.ws.nextClose(), {
          code: 1001,
          reason: "agent disconnected",
        });
        await assertHealthy(healthy, seed++);
      });
    } finally {
      await healthy.client.ws.close().catch(() => {});
      await agent.close().catch(() => {});
      assert.equal((await hub.close()).code, 0, hub.stderr());
    }
  },
});

Deno.test({
  name: "254 concurrent sessions on one machine, the 255th refused, indices reused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess();
    const token = hub.ownerToken!;
    const agent = await ScriptedAgent.register(hub.url, { machineName: "big", token });
    const sessions: OpenSession[] = [];
    try {
      // Sequential setup keeps session-request/join pairing simple and the load bounded.
      for (let i = 0; i < 254; i++) sessions.push(await openSession(hub.url, agent, { token }));
      const idx = sessions.map((s) => s.client.sessionIdx).sort((a, b) => a - b);
      assert.deepEqual(idx, Array.from({ length: 254 }, (_, i) => i + 1), "indices 1..254");
      assert.deepEqual(
        sessions.map((s) => s.agent.sessionIdx),
        sessions.map((s) => s.client.sessionIdx),
      );
      const st = await getJson(hub, "/api/status", token);
      assert.equal((st.body.machines as { sessionCount: number }[])[0].sessionCount, 254);

      const extra = await clientConnect(hub.url, { machineId: "big", token });
      assert.deepEqual(await extra.nextJson(), {
        message: "Too many sessions for this machine (max 254)",
        type: "error",
      });
      assert.equal((await extra.nextClose()).code, 1008);

      // Every session still relays its own frames to its own peer.
      for (const s of [sessions[0], sessions[127], sessions[253]]) {
        const f = encodeRelayFrame(new Uint8Array([s.client.sessionIdx]));
        s.client.ws.sendBinary(f);
        assert.equal((await s.agent.ws.nextBinary())[7], s.client.sessionIdx);
      }

      const victim = sessions.find((s) => s.client.sessionIdx === 77)!;
      await victim.client.ws.close();
      await victim.agent.ws.nextClose();
      await waitFor(async () => {
        const r = await getJson(hub, "/api/status", token);
        return (r.body.machines as { sessionCount: number }[])[0].sessionCount === 253;
      }, "session 77 released");
      const again = await openSession(hub.url, agent, { token });
      assert.equal(again.client.sessionIdx, 77, "the freed index is handed out again");
      sessions.push(again);
    } finally {
      for (const s of sessions) s.client.ws.ws.close();
      await agent.close().catch(() => {});
      assert.equal((await hub.close()).code, 0);
    }
  },
});

/** A raw WebSocket client that does not answer pings (a dead or wedged peer). */
async function rawWebSocket(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
      "Sec-WebSocket-Version: 13\r\n\r\n",
  ));
  return conn;
}

function maskedText(text: string): Uint8Array {
  const p = new TextEncoder().encode(text);
  const head = p.length < 126
    ? [0x81, 0x80 | p.length]
    : [0x81, 0x80 | 126, p.length >> 8, p.length & 0xff];
  const mask = [9, 8, 7, 6];
  return new Uint8Array([...head, ...mask, ...p.map((b, i) => b ^ mask[i % 4])]);
}

Deno.test({
  name: "an agent that stops answering pings is dropped; a responsive one stays",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess({ env: { TELAHUBD_WS_IDLE_TIMEOUT: "4" } });
    const token = hub.ownerToken!;
    const alive = await ScriptedAgent.register(hub.url, { machineName: "alive", token });
    const wedged = await rawWebSocket(hub.port);
    try {
      await wedged.write(maskedText(JSON.stringify({
        type: "register",
        machineName: "wedged",
        agentId: crypto.randomUUID(),
        token,
      })));
      const connected = async (id: string) => {
        const r = await getJson(hub, "/api/status", token);
        return (r.body.machines as { id: string; agentConnected: boolean }[])
          .find((m) => m.id === id)?.agentConnected;
      };
      await waitFor(async () => await connected("wedged") === true, "wedged registered");
      // Deno pings after 2 s of silence and gives up 2 s later; allow a generous margin.
      await waitFor(async () => await connected("wedged") === false, "wedged dropped", 30_000);
      assert.equal(await connected("alive"), true, "the agent that answers pings stays");
      assert.ok(alive.control.isOpen);
      const hist = await getJson(hub, "/api/history", token);
      assert.ok(
        (hist.body.events as { machineId: string; event: string }[])
          .some((e) => e.machineId === "wedged" && e.event === "agent-disconnect"),
      );
    } finally {
      wedged.close();
      await alive.close().catch(() => {});
      assert.equal((await hub.close()).code, 0);
    }
  },
});
