/**
 * `tela status` shows each session's transport (issue 11, *Visibility*): a real `telahubd`
 * with a scripted agent and two scripted sessions whose sides report or are inferred, read by
 * the real `tela` program, as a table and with `-json`.
 */
import assert from "node:assert/strict";
import { encodeRelayFrame } from "../../lib/protocol/mod.ts";
import {
  openSession,
  ScriptedAgent,
  startHubProcess,
  stopHubAndClean,
  UdpSide,
} from "../hub/scripted_peers.ts";
import { runProgram } from "./_run.ts";

Deno.test({
  name: "tela status: one row per session with each side's transport; -json carries sessions",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess();
    const token = hub.ownerToken!;
    const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token });
    const udp: UdpSide[] = [];
    try {
      const one = await openSession(hub.url, agent, { token });
      const two = await openSession(hub.url, agent, { token });
      // Session 1: both sides report direct. Session 2: the client reports udp-relay, the
      // agent says nothing and sends DATA on its UDP relay token.
      for (const end of [one.client.ws, one.agent.ws]) {
        end.sendText('{"type":"transport","transport":"direct"}');
      }
      await one.agent.ws.next();
      await one.client.ws.next();
      two.client.ws.sendText('{"type":"transport","transport":"udp-relay"}');
      await two.agent.ws.next();
      const au = new UdpSide(two.agent.udpOffer.port, two.agent.udpOffer.token);
      udp.push(au);
      await au.probe();
      await au.sendFrame(encodeRelayFrame(new Uint8Array([1, 2, 3])));
      await two.client.ws.nextBinary();

      const st = await runProgram("tela", ["status", "-hub", hub.url, "-token", token], {
        net: "loopback",
      });
      assert.equal(st.code, 0, st.stderr);
      const lines = st.stdout.trimEnd().split("\n");
      assert.deepEqual(lines.slice(0, 4), [
        `Hub:       ${hub.url}`,
        "Machines:  1 registered, 1 online",
        "Services:  1 total",
        "Sessions:  2 active",
      ]);
      assert.match(lines[4], /^Timestamp: \S+Z$/);
      assert.equal(lines[5], "");
      const since = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ";
      assert.equal(lines[6], "MACHINE   SESSION   CLIENT PATH   AGENT PATH   SINCE");
      assert.match(lines[7], new RegExp(`^barn {6}1 {9}direct {8}direct {7}${since}$`));
      assert.match(lines[8], new RegExp(`^barn {6}2 {9}udp-relay {5}udp-relay {4}${since}$`));
      assert.equal(lines.length, 9);

      const js = await runProgram("tela", ["status", "-json", "-hub", hub.url, "-token", token], {
        net: "loopback",
      });
      assert.equal(js.code, 0, js.stderr);
      const doc = JSON.parse(js.stdout) as {
        machines: { id: string; sessionCount: number; sessions: Record<string, unknown>[] }[];
      };
      const barn = doc.machines.find((m) => m.id === "barn")!;
      assert.equal(barn.sessionCount, 2);
      assert.deepEqual(barn.sessions.map((s) => ({ ...s, since: typeof s.since })), [
        { index: 1, client: "direct", agent: "direct", since: "string" },
        { index: 2, client: "udp-relay", agent: "udp-relay", since: "string" },
      ]);
    } finally {
      for (const u of udp) u.close();
      await agent.close().catch(() => {});
      await stopHubAndClean(hub);
    }
  },
});

Deno.test("-transport help (tela connect, telad): it caps this side's sending path only", async () => {
  for (const [prog, args] of [["tela", ["connect", "-h"]], ["telad", ["-h"]]] as const) {
    const r = await runProgram(prog, [...args], { net: false });
    const text = (r.stdout + r.stderr).replace(/\s+/g, " ");
    assert.match(text, /Caps only this side's sending path; the other side chooses its own/, prog);
  }
});
