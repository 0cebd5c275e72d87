/**
 * `POST /api/admin/restart` on a real `telahubd` process (spec hub-http-api.md §5.8): the hub
 * answers, closes its listeners, starts its successor with the same arguments and exits 0;
 * the successor answers on the same port with the same config, a new pid and a fresh uptime.
 * In Docker mode (`TELAHUBD_RESTART=exit`, the default inside a container) it only exits 0.
 */
import assert from "node:assert/strict";
import { freeTcpPort } from "../free_port.ts";
import { call } from "./_admin_http.ts";
import { startHubProcess, waitFor } from "./scripted_peers.ts";

const OWNER = "a".repeat(64);
const CONFIG = `name: restarthub
auth:
  tokens:
    - id: owner
      token: ${OWNER}
      hubRole: owner
`;

async function answers(base: string): Promise<boolean> {
  try {
    const r = await fetch(`${base}/.well-known/tela`);
    await r.body?.cancel();
    return r.status === 200;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "restart: the hub re-execs itself and answers again on the same port with its config",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const port = freeTcpPort();
    const base = `http://127.0.0.1:${port}`;
    const hub = await startHubProcess({
      configYaml: CONFIG,
      args: ["-port", String(port), "-listen", "127.0.0.1"],
      env: { TELAHUBD_RESTART: "exec" },
    });
    let successor: number | undefined;
    try {
      await new Promise((r) => setTimeout(r, 1500)); // so the old uptime is at least 1 s
      const before = await call(base, "GET", "/api/status", { token: OWNER });
      assert.ok(before.body.hub.uptime >= 1);
      const r = await call(base, "POST", "/api/admin/restart", { token: OWNER });
      assert.equal(r.status, 200);
      assert.equal(r.text, '{"message":"restarting","ok":true}\n');
      const st = await hub.status;
      assert.equal(st.code, 0, hub.stderr());
      await waitFor(() => /restart: started pid (\d+)/.test(hub.stderr()), "the successor's pid");
      successor = Number(hub.stderr().match(/restart: started pid (\d+)/)![1]);
      assert.notEqual(successor, hub.child.pid);
      await waitFor(() => answers(base), "the successor to answer on the same port");
      const after = await call(base, "GET", "/api/status", { token: OWNER });
      assert.equal(after.status, 200, "the owner token from the same config works");
      assert.equal(after.body.hubId, before.body.hubId);
      assert.equal(after.body.hubName, "restarthub");
      assert.ok(after.body.hub.uptime < before.body.hub.uptime, "a fresh uptime");
      assert.ok(alive(successor));
      // Its log lines reach the same stderr, and it listens where the first one did.
      await waitFor(
        () =>
          (hub.stderr().match(new RegExp(`telahubd listening on 127\\.0\\.0\\.1:${port} `, "g")) ??
            []).length === 2,
        "the successor's listening line",
      );
    } finally {
      if (successor !== undefined && alive(successor)) {
        Deno.kill(successor, "SIGTERM");
        await waitFor(() => !alive(successor!), "the successor to stop", 30_000);
      }
      await hub.close();
    }
  },
});

Deno.test("restart in Docker mode: the hub answers, then exits 0 and starts nothing", async () => {
  const port = freeTcpPort();
  const base = `http://127.0.0.1:${port}`;
  const hub = await startHubProcess({
    configYaml: CONFIG,
    args: ["-port", String(port), "-listen", "127.0.0.1"],
    env: { TELAHUBD_RESTART: "exit" },
  });
  try {
    const r = await call(base, "POST", "/api/admin/restart", { token: OWNER });
    assert.equal(r.status, 200);
    assert.equal((await hub.status).code, 0);
    assert.ok(!/restart: started pid/.test(hub.stderr()));
    assert.equal(await answers(base), false);
  } finally {
    await hub.close();
  }
});
