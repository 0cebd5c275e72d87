/**
 * telad's reaction to the hub's denials (issue 10, decision 2), against a scripted hub
 * speaking the control protocol over a real WebSocket: a revocation that cuts a registered
 * control connection is logged with the reason and retried on the spec backoff (so a
 * re-grant brings the machine back); a denial of the very first registration stops it.
 */
import assert from "node:assert/strict";
import { AgentAuthError, MachineAgent } from "../../lib/agent/mod.ts";
import { backoffDelay, type TunnelEngine } from "../../lib/session/mod.ts";
import { wsRelayBind } from "../../lib/transport/mod.ts";

const REVOKED = 'Access denied: token of identity "agent-1" was revoked';

/** A hub that answers each `register` with `script(ws, attempt)`. */
function scriptedHub(script: (ws: WebSocket, attempt: number) => void) {
  let attempts = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (ev) => {
      if (typeof ev.data === "string" && JSON.parse(ev.data).type === "register") {
        script(socket, ++attempts);
      }
    };
    return response;
  });
  return { server, url: `ws://127.0.0.1:${server.addr.port}`, attempts: () => attempts };
}

function deny(ws: WebSocket, message: string) {
  ws.send(JSON.stringify({ type: "error", message }));
  ws.close(1008, message);
}

function registered(ws: WebSocket) {
  ws.send(JSON.stringify({ type: "registered", machineId: "barn" }));
}

const noEngine: TunnelEngine = () => {
  throw new Error("no session expected");
};

/**
 * Runs `agent` until it has registered twice (15 s at most), then stops it and shuts the
 * scripted hub down. Rejects when the run does (e.g. an AgentAuthError).
 */
async function untilReregistered(
  agent: MachineAgent,
  hub: { server: Deno.HttpServer },
): Promise<void> {
  const run = agent.run();
  const deadline = Date.now() + 15_000;
  while (agent.registrations < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  agent.stop();
  await run;
  await hub.server.shutdown();
}

function agentFor(url: string, sleeps: number[]) {
  const lines: string[] = [];
  const rec = (level: string) => (m: string) => lines.push(`${level} ${m}`);
  const log = { debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") };
  const agent = new MachineAgent(
    { name: "barn", target: "127.0.0.1", token: "t".repeat(64), ports: [22], services: [] },
    {
      hubUrl: url,
      agentId: crypto.randomUUID(),
      registrationIds: {},
      bind: wsRelayBind,
      engine: noEngine,
      log: () => log,
      random: () => 0,
      // Records the backoff asked for and waits only briefly.
      sleep: (ms) => {
        sleeps.push(ms);
        return new Promise((r) => setTimeout(r, 20));
      },
    },
  );
  return { agent, lines };
}

Deno.test({
  name: "telad cut by a revocation logs the reason, backs off and comes back on a re-grant",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = scriptedHub((ws, attempt) => {
      if (attempt === 1) {
        registered(ws);
        setTimeout(() => deny(ws, REVOKED), 100);
      } else if (attempt === 2) deny(ws, REVOKED); // still revoked
      else registered(ws); // granted again
    });
    const sleeps: number[] = [];
    const { agent, lines } = agentFor(hub.url, sleeps);
    // No AgentAuthError: the machine had been registered before.
    await untilReregistered(agent, hub);
    assert.equal(agent.registrations, 2, lines.join("\n"));
    assert.equal(hub.attempts(), 3);
    // The spec backoff, growing after each denial: 3 s then 6 s (before jitter).
    assert.deepEqual(sleeps.slice(0, 2), [backoffDelay(0, () => 0), backoffDelay(1, () => 0)]);
    // A revoked token never comes back: the line says how to give telad a new one.
    const newToken = "this token no longer works: give telad a new one (sudo telad login -hub " +
      `${hub.url}, -token, TELA_TOKEN or telad.yaml, or telad pair -hub ${hub.url} -code ` +
      "<register code>) and restart it (telad keeps retrying with backoff meanwhile)";
    assert.ok(
      lines.includes(
        'error hub ended the registration of "barn": token of identity "agent-1" was revoked; ' +
          newToken,
      ),
      lines.join("\n"),
    );
    assert.ok(
      lines.includes(
        `error hub still refuses "barn": token of identity "agent-1" was revoked; ${newToken}`,
      ),
      lines.join("\n"),
    );
    assert.ok(!lines.some((l) => /new grant brings it back/.test(l)), lines.join("\n"));
  },
});

Deno.test({
  name: "a revoked permission (the token still works) keeps the new-grant hint",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cut = 'Access denied: register permission on "barn" was revoked';
    const hub = scriptedHub((ws, attempt) => {
      registered(ws);
      if (attempt === 1) setTimeout(() => deny(ws, cut), 100);
    });
    const sleeps: number[] = [];
    const { agent, lines } = agentFor(hub.url, sleeps);
    await untilReregistered(agent, hub);
    assert.ok(
      lines.includes(
        'error hub ended the registration of "barn": register permission on "barn" was ' +
          "revoked; telad keeps retrying with backoff, so a new grant brings it back; ask the " +
          "hub administrator (tela admin access grant <id> <machine> register) or give telad " +
          "another token (-token, TELA_TOKEN, telad.yaml or 'telad login')",
      ),
      lines.join("\n"),
    );
  },
});

Deno.test({
  name: "a close whose reason is a denial (no error message) counts as the same revocation",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = scriptedHub((ws, attempt) => {
      registered(ws);
      if (attempt === 1) setTimeout(() => ws.close(1008, REVOKED), 100);
    });
    const sleeps: number[] = [];
    const { agent, lines } = agentFor(hub.url, sleeps);
    await untilReregistered(agent, hub);
    assert.equal(agent.registrations, 2);
    assert.equal(sleeps[0], backoffDelay(0, () => 0));
    assert.ok(lines.some((l) => l.startsWith('error hub ended the registration of "barn"')));
  },
});

Deno.test({
  name: "a denial of telad's very first registration still stops the machine (wrong token)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = scriptedHub((ws) => deny(ws, "Access denied"));
    const sleeps: number[] = [];
    const { agent } = agentFor(hub.url, sleeps);
    await assert.rejects(agent.run(), (e: Error) => {
      assert.ok(e instanceof AgentAuthError);
      assert.equal(
        e.message,
        'hub refused to register "barn": Access denied (the token is unknown, or its ' +
          'identity has no register permission on "barn": tela admin access grant <id> barn ' +
          "register)",
      );
      return true;
    });
    agent.stop();
    await hub.server.shutdown();
    assert.equal(hub.attempts(), 1);
    assert.deepEqual(sleeps, []);
  },
});

Deno.test({
  name: "a first registration refused for a dead token says to give telad a new one",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = scriptedHub((ws) => deny(ws, REVOKED));
    const { agent, lines } = agentFor(hub.url, []);
    await assert.rejects(agent.run(), (e: Error) => {
      assert.ok(e instanceof AgentAuthError);
      assert.equal(
        e.message,
        'hub refused to register "barn": token of identity "agent-1" was revoked; this token ' +
          `no longer works: give telad a new one (sudo telad login -hub ${hub.url}, -token, ` +
          `TELA_TOKEN or telad.yaml, or telad pair -hub ${hub.url} -code <register code>) ` +
          "and restart it",
      );
      return true;
    });
    agent.stop();
    await hub.server.shutdown();
    assert.ok(
      lines.includes(`error hub refused to register "barn", stopping reconnect: ${REVOKED}`),
      lines.join("\n"),
    );
  },
});
