/**
 * A real `telahubd` process, a scripted agent and client: registration, session
 * setup order, WS and UDP relay byte-exactness, teardown (spec
 * session-and-relay.md §2-§5, hub-http-api.md §4).
 */
import assert from "node:assert/strict";
import {
  encodeRelayFrame,
  FLAG_CONTROL,
  KEEPALIVE_TEXT,
  UDP_TOKEN_LEN,
} from "../../lib/protocol/mod.ts";
import {
  clientConnect,
  fakeKey,
  getJson,
  type HubProcess,
  openSession,
  ScriptedAgent,
  startHubProcess,
  UdpSide,
  waitFor,
  WsPeer,
} from "./scripted_peers.ts";

function payload(n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + seed) & 0xff;
  return p;
}

function expectedAfterHub(frame: Uint8Array): Uint8Array {
  const e = frame.slice();
  e[1] = 7;
  return e;
}

type Machine = Record<string, unknown> & { id: string };

/** Waits until `count()` stops changing for 300 ms (bounded to 50 rounds). */
async function settle(count: () => number): Promise<void> {
  let last = -1;
  for (let i = 0; i < 50 && last !== count(); i++) {
    last = count();
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function machines(hub: HubProcess): Promise<Machine[]> {
  const r = await getJson(hub, "/api/status", hub.ownerToken);
  assert.equal(r.status, 200);
  return r.body.machines as Machine[];
}

Deno.test({
  name: "hub relays sessions between a scripted agent and client",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const hub = await startHubProcess({ env: { TELAHUBD_NAME: "relay-test" } });
    const token = hub.ownerToken!;
    const closers: (() => Promise<void> | void)[] = [];
    try {
      const agent = await ScriptedAgent.register(hub.url, {
        machineName: "barn",
        token,
        ports: [22, 8080],
        services: [{ port: 22, proto: "TCP", name: "" }, { port: 8080 }, { port: 0, name: "x" }],
        extra: { tags: ["lab"], displayName: "Barn PC" },
      });
      closers.push(() => agent.close());

      await t.step(
        "register: /api/status lists the machine, connected, services normalised",
        async () => {
          const r = await getJson(hub, "/api/status", token);
          assert.equal(r.status, 200);
          assert.equal(r.headers.get("access-control-allow-origin"), "*");
          assert.equal(r.body.hubName, "relay-test");
          assert.match(String(r.body.hubId), /^[0-9a-f-]{36}$/);
          const m = (r.body.machines as Machine[]).find((x) => x.id === "barn")!;
          assert.ok(m, "barn listed");
          assert.equal(m.agentConnected, true);
          assert.equal(m.sessionCount, 0);
          assert.equal(m.displayName, "Barn PC");
          assert.equal(m.location, null);
          assert.deepEqual(m.tags, ["lab"]);
          assert.deepEqual(m.services, [
            { port: 22, proto: "tcp", name: "SSH", description: "" },
            { port: 8080, proto: "tcp", name: "HTTP-Alt", description: "" },
          ]);
          assert.deepEqual(m.capabilities, { management: true });
        },
      );

      let s!: Awaited<ReturnType<typeof openSession>>;
      await t.step("connect: the full setup sequence arrives in the spec's order", async () => {
        s = await openSession(hub.url, agent, { token, clientKey: fakeKey(0x1234) });
        closers.push(() => s.client.ws.close(), () => s.agent.ws.close());
        assert.equal(s.clientKeySeen, fakeKey(0x1234));
        assert.match(s.sessionId, /^[0-9a-f]{16}$/);
        assert.deepEqual(s.agent.order, ["session-start", "udp-offer"]);
        assert.deepEqual(s.client.order, ["ready", "udp-offer", "wg-pubkey"]);
        assert.equal(s.client.sessionIdx, 1);
        assert.match(s.client.udpOffer.token, /^[0-9a-f]{16}$/);
        assert.match(s.agent.udpOffer.token, /^[0-9a-f]{16}$/);
        assert.notEqual(s.client.udpOffer.token, s.agent.udpOffer.token);
        assert.equal(s.client.udpOffer.port, hub.udpPort);
        assert.equal(s.client.udpOffer.host, undefined, "no udpHost configured");
        const m = (await machines(hub)).find((x) => x.id === "barn")!;
        assert.equal(m.sessionCount, 1);
      });

      await t.step("WS relay: frames byte-exact both ways with hop 0 → 7", async () => {
        for (const [i, n] of [0, 1, 148, 1100, 1139, 65000].entries()) {
          const f = encodeRelayFrame(payload(n, i), { sessionId: 0x9c41d2e7 });
          s.client.ws.sendBinary(f);
          assert.deepEqual(await s.agent.ws.nextBinary(), expectedAfterHub(f));
          const g = encodeRelayFrame(payload(n, i + 100), { sessionId: 0x05b3a01f });
          s.agent.ws.sendBinary(g);
          assert.deepEqual(await s.client.ws.nextBinary(), expectedAfterHub(g));
        }
        const ka = encodeRelayFrame(new Uint8Array([1]), { flags: FLAG_CONTROL, sessionId: 7 });
        s.client.ws.sendBinary(ka);
        assert.deepEqual(
          [...await s.agent.ws.nextBinary()],
          [0x54, 0x07, 0x01, 0, 0, 0, 7, 0x01],
          "CONTROL frames are relayed like DATA",
        );
        const hop3 = encodeRelayFrame(payload(10, 1), { hop: 3 });
        s.agent.ws.sendBinary(hop3);
        assert.equal((await s.client.ws.nextBinary())[1], 2, "a non-zero hop is decremented");
        s.agent.ws.sendBinary(encodeRelayFrame(payload(10, 1), { hop: 1 }));
        const marker = encodeRelayFrame(payload(3, 3));
        s.agent.ws.sendBinary(marker);
        assert.deepEqual(
          await s.client.ws.nextBinary(),
          expectedAfterHub(marker),
          "the frame whose hop budget was spent was dropped",
        );
      });

      await t.step("WS relay: keepalive text absorbed, other text relayed verbatim", async () => {
        s.client.ws.sendText(KEEPALIVE_TEXT);
        s.agent.ws.sendText(KEEPALIVE_TEXT);
        const pe = '{"type":"peer-endpoint","message":"203.0.113.5:54321"}';
        s.client.ws.sendText(pe);
        const got = await s.agent.ws.next();
        assert.deepEqual(got, { kind: "text", text: pe });
        const odd = '{"type":"whatever","x":[1,2,3]}  ';
        s.agent.ws.sendText(odd);
        assert.deepEqual(await s.client.ws.next(), { kind: "text", text: odd });
      });

      await t.step(
        "UDP relay: PROBE/READY, then frames byte-exact both ways over UDP",
        async () => {
          const cu = new UdpSide(s.client.udpOffer.port, s.client.udpOffer.token);
          const au = new UdpSide(s.agent.udpOffer.port, s.agent.udpOffer.token);
          closers.push(() => cu.close(), () => au.close());
          await cu.probe();
          await au.probe();
          for (const n of [1, 148, 1100, 1400]) {
            const f = encodeRelayFrame(payload(n, n), { sessionId: 0x11223344 });
            await cu.sendFrame(f);
            const d = await au.receive();
            assert.deepEqual(d.subarray(0, UDP_TOKEN_LEN), au.token, "recipient's token");
            assert.deepEqual(d.subarray(UDP_TOKEN_LEN), expectedAfterHub(f));
            const g = encodeRelayFrame(payload(n, n + 1), { sessionId: 0x55667788 });
            await au.sendFrame(g);
            const e = await cu.receive();
            assert.deepEqual(e.subarray(0, UDP_TOKEN_LEN), cu.token);
            assert.deepEqual(e.subarray(UDP_TOKEN_LEN), expectedAfterHub(g));
          }
          // A datagram with an unknown token or a bad frame is dropped without reply.
          await cu.sendRaw(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 0x54, 0, 0, 0, 0, 0, 0]));
          const bad = new Uint8Array(UDP_TOKEN_LEN + 7);
          bad.set(cu.token);
          bad[UDP_TOKEN_LEN] = 0x55;
          await cu.sendRaw(bad);
          const after = encodeRelayFrame(payload(5, 5));
          await cu.sendFrame(after);
          assert.deepEqual((await au.receive()).subarray(UDP_TOKEN_LEN), expectedAfterHub(after));
          assert.equal(s.client.ws.pending + s.agent.ws.pending, 0, "nothing leaked onto the WSs");
          cu.close();
          au.close();
        },
      );

      await t.step("UDP relay, one side on UDP and the other on WS, both directions", async () => {
        const s2 = await openSession(hub.url, agent, { token });
        closers.push(() => s2.client.ws.close(), () => s2.agent.ws.close());
        assert.equal(s2.client.sessionIdx, 2);
        const cu = new UdpSide(s2.client.udpOffer.port, s2.client.udpOffer.token);
        closers.push(() => cu.close());
        await cu.probe();
        // Client on UDP → agent (never probed) gets it on its per-session WS.
        const f = encodeRelayFrame(payload(1000, 9), { sessionId: 1 });
        await cu.sendFrame(f);
        assert.deepEqual(await s2.agent.ws.nextBinary(), expectedAfterHub(f));
        assert.equal(s2.client.ws.pending, 0, "not echoed to the sender's own WS (Go defect)");
        // Agent on WS → client: the WS path stays WS.
        const g = encodeRelayFrame(payload(900, 8), { sessionId: 2 });
        s2.agent.ws.sendBinary(g);
        assert.deepEqual(await s2.client.ws.nextBinary(), expectedAfterHub(g));
        // Now the agent side on UDP, client never sends UDP again but still has an address:
        const au = new UdpSide(s2.agent.udpOffer.port, s2.agent.udpOffer.token);
        closers.push(() => au.close());
        await au.probe();
        const h = encodeRelayFrame(payload(700, 7), { sessionId: 3 });
        await au.sendFrame(h);
        const d = await cu.receive();
        assert.deepEqual(d.subarray(UDP_TOKEN_LEN), expectedAfterHub(h));
        await s2.client.ws.close();
        await s2.agent.ws.nextClose();
        // Third session: agent on UDP, client only on WS.
        const s3 = await openSession(hub.url, agent, { token });
        closers.push(() => s3.client.ws.close(), () => s3.agent.ws.close());
        assert.equal(s3.client.sessionIdx, 2, "index 2 was freed and is reused");
        const au3 = new UdpSide(s3.agent.udpOffer.port, s3.agent.udpOffer.token);
        closers.push(() => au3.close());
        await au3.probe();
        const k = encodeRelayFrame(payload(1100, 4), { sessionId: 4 });
        await au3.sendFrame(k);
        assert.deepEqual(await s3.client.ws.nextBinary(), expectedAfterHub(k));
        assert.equal(s3.agent.ws.pending, 0);
        await s3.client.ws.close();
        await s3.agent.ws.nextClose();
      });

      await t.step(
        "pooled UDP buffers: thousands of frames arrive uncorrupted (UDP→WS, UDP→UDP)",
        async () => {
          const sx = await openSession(hub.url, agent, { token });
          closers.push(() => sx.client.ws.close(), () => sx.agent.ws.close());
          const cu = new UdpSide(sx.client.udpOffer.port, sx.client.udpOffer.token);
          closers.push(() => cu.close());
          await cu.probe();
          // Every payload byte is a function of the frame number, so any overwrite shows.
          const check = (d: Uint8Array) => {
            const k = d[7] | (d[8] << 8);
            for (let i = 9; i < d.length; i++) if (d[i] !== ((k + i) & 0xff)) return false;
            return true;
          };
          const blast = async (n: number) => {
            for (let k = 0; k < n; k++) {
              const p = new Uint8Array(1100);
              p[0] = k & 0xff;
              p[1] = k >> 8;
              for (let i = 2; i < p.length; i++) p[i] = (k + i + 7) & 0xff;
              await cu.sendFrame(encodeRelayFrame(p));
              if (k % 32 === 0) await new Promise((r) => setTimeout(r, 0));
            }
          };
          let wsGot = 0;
          let wsBad = 0;
          sx.agent.ws.onBinary = (d) => {
            wsGot++;
            if (!check(d)) wsBad++;
          };
          await blast(3000);
          // UDP may drop datagrams on a loaded machine: ask for a good sample, then settle.
          await waitFor(() => wsGot >= 500, "frames over WS");
          await settle(() => wsGot);
          assert.equal(wsBad, 0, "no frame corrupted on the UDP→WS path");
          sx.agent.ws.onBinary = undefined;
          const au = new UdpSide(sx.agent.udpOffer.port, sx.agent.udpOffer.token);
          closers.push(() => au.close());
          await au.probe();
          let udpGot = 0;
          let udpBad = 0;
          au.onDatagram = (d) => {
            udpGot++;
            if (!check(d.subarray(UDP_TOKEN_LEN))) udpBad++;
          };
          await blast(3000);
          await waitFor(() => udpGot >= 500, "frames over UDP");
          await settle(() => udpGot);
          assert.equal(udpBad, 0, "no frame corrupted on the UDP→UDP path");
          await sx.client.ws.close();
          await sx.agent.ws.nextClose();
        },
      );

      await t.step("client loss: agent gets session-end then close; index freed", async () => {
        await s.client.ws.close();
        assert.deepEqual(await s.agent.ws.nextJson(), { type: "session-end" });
        await s.agent.ws.nextClose();
        await waitFor(
          async () => (await machines(hub)).find((x) => x.id === "barn")?.sessionCount === 0,
          "sessionCount 0",
        );
        const again = await openSession(hub.url, agent, { token });
        assert.equal(again.client.sessionIdx, 1, "lowest free index reused");
        // agent per-session loss: client gets 1001 agent session ended
        {
          await again.agent.ws.close();
          const c = await again.client.ws.nextClose();
          assert.deepEqual(c, { code: 1001, reason: "agent session ended" });
        }
      });

      await t.step("unknown machine: error then close 1008", async () => {
        const ws = await clientConnect(hub.url, { machineId: "nope", token });
        assert.deepEqual(await ws.nextJson(), { message: "Machine not found", type: "error" });
        assert.deepEqual(await ws.nextClose(), { code: 1008, reason: "Machine not found" });
      });

      await t.step("duplicate registration: the newer control WS takes over", async () => {
        const a2 = await ScriptedAgent.register(hub.url, {
          machineName: "dup",
          token,
          agentId: "11111111-1111-4111-8111-111111111111",
        });
        const a3 = await ScriptedAgent.register(hub.url, {
          machineName: "dup",
          token,
          agentId: "11111111-1111-4111-8111-111111111111",
        });
        closers.push(() => a3.close());
        await a2.control.closed;
        const s4 = await openSession(hub.url, a3, { token });
        assert.equal(s4.client.sessionIdx, 1);
        const m = (await machines(hub)).filter((x) => x.id === "dup");
        assert.equal(m.length, 1, "same agentId+name: one entry");
        assert.equal(m[0].agentConnected, true);
        // losing the agent tears down its sessions with 1001
        {
          await a3.close();
          assert.deepEqual(await s4.client.ws.nextClose(), {
            code: 1001,
            reason: "agent disconnected",
          });
          await s4.agent.ws.nextClose();
          const after = (await machines(hub)).find((x) => x.id === "dup")!;
          assert.equal(after.agentConnected, false);
          assert.equal(after.sessionCount, 0);
          const ws = await clientConnect(hub.url, { machineId: "dup", token });
          assert.equal((await ws.nextJson()).message, "Machine not found");
          await ws.nextClose();
        }
      });

      await t.step(
        "same name, another agentId: the older control WS is closed, one status row",
        async () => {
          const older = await ScriptedAgent.register(hub.url, {
            machineName: "twin",
            token,
            agentId: "22222222-2222-4222-8222-222222222222",
          });
          const newer = await ScriptedAgent.register(hub.url, {
            machineName: "twin",
            token,
            agentId: "33333333-3333-4333-8333-333333333333",
          });
          closers.push(() => newer.close());
          const c = await older.control.nextClose();
          assert.deepEqual(c, { code: 1001, reason: "replaced by a newer registration" });
          const rows = (await machines(hub)).filter((x) => x.id === "twin");
          assert.equal(rows.length, 1, "one row per machine name");
          assert.equal(rows[0].agentConnected, true);
          assert.equal(rows[0].agentId, "33333333-3333-4333-8333-333333333333");
          // The older agent comes back (its reconnect): it replaces the newer one in turn.
          const back = await ScriptedAgent.register(hub.url, {
            machineName: "twin",
            token,
            agentId: "22222222-2222-4222-8222-222222222222",
          });
          closers.push(() => back.close());
          await newer.control.nextClose();
          // The replaced generation's close changes nothing: the current agent stays listed.
          await newer.close();
          const after = (await machines(hub)).filter((x) => x.id === "twin");
          assert.equal(after.length, 1);
          assert.equal(after[0].agentConnected, true);
          assert.equal(after[0].agentId, "22222222-2222-4222-8222-222222222222");
          const s5 = await openSession(hub.url, back, { token });
          assert.equal(s5.client.sessionIdx, 1);
          await s5.client.ws.close();
          await s5.agent.ws.nextClose().catch(() => {});
        },
      );

      await t.step("history lists the events newest first", async () => {
        const r = await getJson(hub, "/api/history", token);
        assert.equal(r.status, 200);
        const events = r.body.events as { event: string; machineId: string; detail?: string }[];
        const kinds = events.map((e) => `${e.machineId}:${e.event}`);
        assert.ok(kinds.includes("barn:agent-register"));
        assert.ok(kinds.includes("barn:client-connect"));
        assert.ok(kinds.includes("barn:client-disconnect"));
        assert.ok(kinds.includes("dup:agent-disconnect"));
        assert.equal(kinds.at(-1), "barn:agent-register", "oldest last");
        assert.equal(events.at(-1)!.detail, "ports=[22 8080]");
        const cc = events.find((e) => e.event === "client-connect" && e.machineId === "barn")!;
        assert.equal(cc.detail, "services=SSH:22,HTTP-Alt:8080");
      });

      await t.step("/.well-known/tela, CORS preflight, 404 and /ws without upgrade", async () => {
        const r = await fetch(`${hub.httpUrl}/.well-known/tela`);
        const text = await r.text();
        assert.equal(r.status, 200);
        const body = JSON.parse(text);
        assert.equal(body.protocolVersion, "1.1");
        assert.deepEqual(body.supportedVersions, ["1.1"]);
        assert.deepEqual(body.capabilities, ["per-service-access-control"]);
        assert.match(text, /^\{\n {2}"hubId": /, "indented, hubId first");
        const o = await fetch(`${hub.httpUrl}/api/status`, { method: "OPTIONS" });
        await o.body?.cancel();
        assert.equal(o.status, 204);
        assert.equal(o.headers.get("access-control-allow-headers"), "Content-Type, Authorization");
        const h = await fetch(`${hub.httpUrl}/.well-known/tela`, { method: "POST" });
        assert.equal(h.status, 405);
        assert.equal(await h.text(), "method not allowed\n");
        const nf = await fetch(`${hub.httpUrl}/api/nothing`);
        assert.equal(nf.status, 404);
        assert.equal(await nf.text(), "404 page not found\n");
        const ws = await fetch(`${hub.httpUrl}/ws`);
        await ws.body?.cancel();
        assert.equal(ws.status, 400);
        // GET / without upgrade headers is the console, with the viewer token injected.
        const page = await fetch(`${hub.httpUrl}/`);
        assert.equal(page.status, 200);
        assert.ok((await page.text()).includes(`window.TELA_CONSOLE_TOKEN="${hub.viewerToken}"`));
        assert.match(page.headers.get("set-cookie") ?? "", /^tela_viewer=/);
        // The /ws path works as a WebSocket endpoint too.
        const p = await WsPeer.open(`${hub.url}/ws`);
        p.sendJson({ type: "connect", machineId: "nope" });
        assert.equal((await p.nextJson()).type, "error");
        await p.nextClose();
      });
    } finally {
      for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => {});
      const st = await hub.close();
      assert.equal(st.code, 0, `hub exit code (stderr:\n${hub.stderr()})`);
    }
  },
});
