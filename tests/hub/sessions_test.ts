/** Hub sessions through a real front end on loopback: management requests reach the agent and
 * come back verbatim; a client whose agent never joins is closed with 1001. */
import assert from "node:assert/strict";
import { clientConnect, ScriptedAgent, startHubInProcess, waitFor } from "./scripted_peers.ts";
import { FileAccessStore } from "../../lib/hub/access/store.ts";
import { HubAuth } from "../../lib/hub/auth.ts";
import { History } from "../../lib/hub/history.ts";
import { Hub } from "../../lib/hub/hub.ts";
import { makeHttpHandler } from "../../lib/hub/http.ts";
import { LogRing } from "../../lib/hub/log_ring.ts";
import { PairingCodes } from "../../lib/hub/pairing.ts";
import { type FrontEnd, startFrontEnd } from "../../lib/hub/front_end.ts";

Deno.test({
  name: "mgmt plumbing: request reaches the agent, the raw response comes back verbatim",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { running, url, close } = await startHubInProcess();
    const owner = running.config.auth.tokens[0].token;
    const agent = await ScriptedAgent.register(url, { machineName: "barn", token: owner });
    try {
      const pending = running.hub.mgmtRequest("barn", "logs", { lines: 5 });
      const req = await agent.control.expect("mgmt-request");
      assert.equal(req.action, "logs");
      assert.deepEqual(req.payload, { lines: 5 });
      assert.match(String(req.requestId), /^[0-9a-f]{16}$/);
      const raw =
        `{"type":"mgmt-response","requestId":"${req.requestId}","ok":true,"payload":{"lines":["a"]}}\n`;
      agent.control.sendText(raw);
      assert.deepEqual(await pending, { status: 200, body: raw });

      assert.equal((await running.hub.mgmtRequest("nope", "logs")).status, 404);
      const slow = await running.hub.mgmtRequest("barn", "restart", undefined, 200);
      assert.equal(slow.status, 504);
      await agent.control.expect("mgmt-request");
      await agent.close();
      await waitFor(() => !running.hub.machineByName("barn")?.control, "control WS gone");
      assert.equal((await running.hub.mgmtRequest("barn", "logs")).status, 503);
    } finally {
      await agent.close().catch(() => {});
      await close();
    }
  },
});

Deno.test({
  name: "an agent that never joins: the client gets 1001 agent did not join session",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const auth = new HubAuth({ tokens: [], machines: {} });
    const history = new History();
    const hub = new Hub({
      auth: () => auth,
      history,
      hubId: "h",
      hubName: "",
      udpPort: 41820,
      joinTimeoutMs: 300,
    });
    const server: FrontEnd = startFrontEnd({
      hostname: "127.0.0.1",
      port: 0,
      handler: makeHttpHandler({
        hub,
        auth: () => auth,
        store: new FileAccessStore({
          path: `${Deno.cwd()}/no-such-dir-${crypto.randomUUID()}/telahubd.yaml`,
          config: { auth: { tokens: [], machines: {} } },
          watch: false,
        }),
        history,
        hubId: "h",
        hubName: "",
        startedAt: performance.now(),
        console: () => null,
        upgradeWebSocket: (req, o) => server.upgradeWebSocket(req, o),
        pairing: new PairingCodes(),
        logs: new LogRing(),
      }),
    });
    const url = `ws://127.0.0.1:${server.addr.port}`;
    try {
      const agent = await ScriptedAgent.register(url, { machineName: "slow" });
      const client = await clientConnect(url, { machineId: "slow" });
      const req = await agent.nextSessionRequest();
      assert.equal(req.sessionIdx, 1);
      assert.deepEqual(await client.nextClose(), {
        code: 1001,
        reason: "agent did not join session",
      });
      assert.equal(hub.sessionCount, 0);
      const late = await agent.join(req).catch((e: Error) => e.message);
      assert.match(String(late), /Session not found/);
      const again = await clientConnect(url, { machineId: "slow" });
      assert.equal((await agent.nextSessionRequest()).sessionIdx, 1, "index freed");
      await again.close();
      await agent.close();
    } finally {
      hub.closeAll();
      await server.shutdown(1000);
    }
  },
});
