/**
 * The hub's view of each session's transport (issue 11, *Visibility*), on a real `telahubd`
 * process with a scripted agent and client: a side's `transport` report is recorded and still
 * relayed verbatim to the peer (spec §1.6); a side that never reports is inferred from what
 * the hub relays (DATA on its UDP relay token: `udp-relay`; DATA on its WebSocket:
 * `websocket`; CONTROL frames and PROBEs do not count); `/api/status` machines carry
 * `sessions: [{index, client, agent, since}]`, and a change is visible at once (the status
 * cache is rebuilt, the ETag changes); the hub logs one line per change.
 */
import assert from "node:assert/strict";
import { encodeRelayFrame, FLAG_CONTROL } from "../../lib/protocol/mod.ts";
import {
  getJson,
  type HubProcess,
  openSession,
  ScriptedAgent,
  startHubProcess,
  stopHubAndClean,
  UdpSide,
  waitFor,
} from "./scripted_peers.ts";

interface SessionView {
  index: number;
  client: string;
  agent: string | null;
  since: string;
}

/** GET /api/status: barn's `sessions` and the ETag. */
async function barn(hub: HubProcess): Promise<{ sessions: SessionView[]; etag: string }> {
  const r = await getJson(hub, "/api/status", hub.ownerToken);
  assert.equal(r.status, 200);
  const m = (r.body.machines as { id: string; sessions: SessionView[] }[]).find((x) =>
    x.id === "barn"
  );
  assert.ok(m, "barn listed");
  return { sessions: m.sessions, etag: r.headers.get("etag") ?? "" };
}

Deno.test({
  name:
    "hub: transport reports are recorded and relayed, silent sides are inferred, /api/status shows both at once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess();
    const token = hub.ownerToken!;
    const udp: UdpSide[] = [];
    const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token });
    try {
      const before = await barn(hub);
      assert.deepEqual(before.sessions, [], "no session yet: an empty list");

      const s = await openSession(hub.url, agent, { token });
      const start = await barn(hub);
      assert.equal(start.sessions.length, 1);
      const [first] = start.sessions;
      assert.deepEqual({ ...first, since: "" }, {
        index: s.client.sessionIdx,
        client: "websocket",
        agent: "websocket",
        since: "",
      });
      assert.match(first.since, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      // The client reports direct: the agent gets the text verbatim, the status shows it now
      // (within the status cache's 1 s, so only a rebuilt body can show it).
      const report = '{"type":"transport","transport":"direct"}';
      s.client.ws.sendText(report);
      const relayed = await s.agent.ws.next();
      assert.deepEqual(relayed, { kind: "text", text: report });
      const reported = await barn(hub);
      assert.equal(reported.sessions[0].client, "direct");
      assert.equal(reported.sessions[0].agent, "websocket");
      assert.notEqual(reported.etag, start.etag, "a transport change changes the ETag");
      assert.ok(reported.sessions[0].since >= first.since);

      // A reporting side is believed: its DATA on the WebSocket does not make it websocket.
      s.client.ws.sendBinary(encodeRelayFrame(new Uint8Array([1, 2, 3])));
      await s.agent.ws.nextBinary();
      assert.equal((await barn(hub)).sessions[0].client, "direct");

      // An unknown transport value is relayed and otherwise ignored.
      const unknown = '{"type":"transport","transport":"carrier-pigeon"}';
      s.client.ws.sendText(unknown);
      assert.deepEqual(await s.agent.ws.next(), { kind: "text", text: unknown });
      assert.equal((await barn(hub)).sessions[0].client, "direct");

      // The agent never reports: a PROBE and a CONTROL frame change nothing, DATA on its UDP
      // token makes it udp-relay, DATA on its WebSocket makes it websocket again.
      const au = new UdpSide(s.agent.udpOffer.port, s.agent.udpOffer.token);
      udp.push(au);
      await au.probe();
      assert.equal((await barn(hub)).sessions[0].agent, "websocket");
      await au.sendFrame(encodeRelayFrame(new Uint8Array([9, 9, 9, 9])));
      await s.client.ws.nextBinary(); // the client has no UDP address: the hub uses its WS
      const onUdp = await barn(hub);
      assert.equal(onUdp.sessions[0].agent, "udp-relay");
      s.agent.ws.sendBinary(
        encodeRelayFrame(new Uint8Array([1]), { flags: FLAG_CONTROL }),
      );
      await s.client.ws.nextBinary();
      assert.equal((await barn(hub)).sessions[0].agent, "udp-relay", "CONTROL does not count");
      s.agent.ws.sendBinary(encodeRelayFrame(new Uint8Array([5, 6])));
      await s.client.ws.nextBinary();
      const back = await barn(hub);
      assert.equal(back.sessions[0].agent, "websocket");
      assert.notEqual(back.etag, onUdp.etag);

      // One log line per change, naming the session, machine, index, side and cause.
      const id = s.sessionId.slice(0, 8);
      const n = s.client.sessionIdx;
      const lines = hub.stderr().split("\n").filter((l) => l.includes(" transport "));
      const expected = [
        `session ${id} barn #${n}: client transport websocket → direct (reported)`,
        `session ${id} barn #${n}: agent transport websocket → udp-relay (seen on the UDP relay)`,
        `session ${id} barn #${n}: agent transport udp-relay → websocket (seen on the WebSocket relay)`,
      ];
      assert.deepEqual(lines.map((l) => l.replace(/^.*\[hub\] /, "")), expected);

      // The session ends: the list empties.
      await s.client.ws.close();
      await waitFor(async () => (await barn(hub)).sessions.length === 0, "session gone");
    } finally {
      for (const u of udp) u.close();
      await agent.close().catch(() => {});
      await stopHubAndClean(hub);
    }
  },
});
