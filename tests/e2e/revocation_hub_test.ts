/**
 * Revocation end to end with real processes (`telahubd`, `telad`, `tela`) and the admin API
 * (issue 10, decisions 1-3): a per-service connect grant reaches telad as
 * `session-request.ports`; revoking the user's token makes `tela connect` print the hub's
 * reason and exit 1; taking the agent's register permission away makes telad log the reason
 * and back off, and granting it again brings the machine back without restarting telad.
 */
import assert from "node:assert/strict";
import {
  countLines,
  exitWithin,
  freeTcpPort,
  greeter,
  type Proc,
  readThrough,
  startAgent,
  startClient,
  startHub,
  threeHomes,
  tunnelUps,
  waitCount,
} from "./harness.ts";

const owner = "0a0e".repeat(16);

/** An admin API call with the owner token; returns status and JSON body. */
async function admin(
  httpUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${httpUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${owner}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

Deno.test({
  name: "real hub: a service grant limits telad's session; revoking ends tela (exit 1) and " +
    "backs telad off until a re-grant",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { root, hubDir, agentHome, clientHome } = await threeHomes("e2e-revocation-hub-");
    const allowed = greeter("granted service\n");
    const other = greeter("other service\n");
    const procs: Proc[] = [];
    try {
      const hub = await startHub(hubDir, owner);
      procs.push(hub.proc);
      const http = `http://127.0.0.1:${hub.port}`;
      const bob = await admin(http, "POST", "/api/admin/tokens", { id: "tech-bob" });
      assert.equal(bob.status, 201, JSON.stringify(bob.body));
      const agentId = await admin(http, "POST", "/api/admin/tokens", { id: "barn-agent" });
      assert.equal(agentId.status, 201, JSON.stringify(agentId.body));
      const grantRegister = () =>
        admin(http, "PUT", "/api/admin/access/barn-agent/machines/barn", {
          permissions: ["register"],
        });
      assert.equal((await grantRegister()).status, 200);
      const grant = await admin(http, "PUT", "/api/admin/access/tech-bob/machines/barn", {
        permissions: ["connect"],
        services: [`port-${allowed.port}`],
      });
      assert.equal(grant.status, 200, JSON.stringify(grant.body));

      const agent = startAgent(
        agentHome,
        hub.url,
        "barn",
        String(agentId.body.token),
        `${allowed.port},${other.port}`,
      );
      procs.push(agent);
      await agent.waitFor(/registered with hub/, 90_000);

      // The session carries the granted port only: telad forwards that one.
      const local = freeTcpPort();
      const client = startClient(clientHome, [
        "-hub",
        hub.url,
        "-machine",
        "barn",
        "-token",
        String(bob.body.token),
        "-ports",
        `${local}:${allowed.port}`,
      ]);
      procs.push(client);
      await tunnelUps(client, 1);
      await agent.waitFor(new RegExp(`hub limits this session to ports \\[${allowed.port}\\]`));
      assert.equal(await readThrough(local), "granted service\n");

      // Revoking bob's token: tela prints the hub's reason and exits 1, without retrying.
      const revoked = await admin(http, "POST", "/api/admin/tokens/tech-bob/revoke");
      assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
      const status = await exitWithin(client, 30_000);
      assert.ok(status, `tela still running 30 s after the revocation:\n${client.output}`);
      assert.equal(status.code, 1, client.output);
      assert.ok(
        client.stderrLines.includes(
          'Error: access to "barn" ended by the hub: token of identity "tech-bob" was revoked; ' +
            "ask the hub administrator (tela admin access) or use another token",
        ),
        client.output,
      );
      assert.equal(countLines(client, /connecting to hub:/), 1, "one connect, no retry");

      // The agent's register permission goes: telad says why and backs off...
      const cut = await admin(http, "DELETE", "/api/admin/access/barn-agent/machines/barn");
      assert.equal(cut.status, 200, JSON.stringify(cut.body));
      await agent.waitFor(
        /ERROR: hub ended the registration of "barn": register permission on "barn" was revoked; telad keeps retrying with backoff/,
        30_000,
      );
      await agent.waitFor(/reconnecting to hub .* in \d+s\.\.\./, 30_000);
      // ...and comes back once granted again, still the same process.
      assert.equal((await grantRegister()).status, 200);
      await waitCount(agent, /registered with hub/, 2, 90_000);
      const alive = await Promise.race([agent.exited.then(() => false), Promise.resolve(true)]);
      assert.equal(alive, true, agent.output);
    } finally {
      for (const p of procs.reverse()) await p.stop();
      allowed.listener.close();
      other.listener.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
