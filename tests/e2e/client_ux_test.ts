/**
 * What a new user sees from `tela` (issue 9, "What a new user trips over"), with real
 * processes on loopback: the service names the agent advertises, one line per attempt
 * while the hub is unreachable, and local ports that say why they moved.
 */
import assert from "node:assert/strict";
import {
  DENO_DIR,
  freeTcpPort,
  portWithFallbackRoom,
  Proc,
  runTela,
  spawnDeno,
  startAgent,
  startClient,
  startHub,
} from "./harness.ts";

const owner = "c".repeat(64);

/** `tela connect` flags for one machine of the hub with the owner token. */
function connectArgs(hubUrl: string, machine: string, ports: string): string[] {
  return ["-hub", hubUrl, "-machine", machine, "-token", owner, "-ports", ports];
}

Deno.test({
  name: "an agent's -ports 5432:postgres shows as postgres in tela connect and tela services",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hubDir = await Deno.makeTempDir({ prefix: "e2e-ux-hub-" });
    const home = await Deno.makeTempDir({ prefix: "e2e-ux-home-" });
    const procs: Proc[] = [];
    const db = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dbPort = (db.addr as Deno.NetAddr).port;
    try {
      const hub = await startHub(hubDir, owner);
      procs.push(hub.proc);
      const agent = startAgent(home, hub.url, "db", owner, `${dbPort}:postgres`);
      procs.push(agent);
      await agent.waitFor(/registered with hub as "db"/, 90_000);
      const services = await runTela(home, [
        "services",
        "-hub",
        hub.url,
        "-machine",
        "db",
        "-token",
        owner,
      ]);
      assert.equal(services.code, 0, services.stderr);
      assert.match(services.stdout, new RegExp(`^${dbPort}\\s+postgres\\s+tela connect `, "m"));
      const local = freeTcpPort();
      const client = startClient(home, connectArgs(hub.url, "db", `${local}:${dbPort}`));
      procs.push(client);
      await client.waitFor(new RegExp(`^ {2}localhost:${local}\\s+→ postgres$`), 90_000);
      assert.doesNotMatch(client.output, new RegExp(`→ port ${dbPort}`));

      // A client that starts before its agent prints the well-known label first, then the
      // block again with the agent's name once the agent is there.
      const early = freeTcpPort();
      const waiting = startClient(home, connectArgs(hub.url, "late", `${early}:${dbPort}`));
      procs.push(waiting);
      await waiting.waitFor(new RegExp(`^ {2}localhost:${early}\\s+→ port ${dbPort}$`), 90_000);
      procs.push(startAgent(home, hub.url, "late", owner, `${dbPort}:pg`));
      await waiting.waitFor(new RegExp(`^ {2}localhost:${early}\\s+→ pg$`), 90_000);
    } finally {
      for (const p of procs.reverse()) await p.stop();
      db.close();
      await Deno.remove(hubDir, { recursive: true });
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "tela connect to an unreachable hub prints one line per attempt with the cause and the wait",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "e2e-ux-" });
    const closed = freeTcpPort();
    const url = `ws://127.0.0.1:${closed}`;
    const client = startClient(home, connectArgs(url, "db", `${freeTcpPort()}:5432`));
    const agent = startAgent(home, url, "db", owner, "5432:postgres");
    try {
      const line = (n: number) =>
        new RegExp(
          `WARN: could not reach hub ${url}: connection refused by 127\\.0\\.0\\.1:${closed} ` +
            `\\(no hub listens there\\); check that telahubd is running and the port is right; ` +
            `retrying in \\d+s \\(attempt ${n}\\)$`,
        );
      await client.waitFor(line(1), 90_000);
      // Backoff 3 s ± 25 % before attempt 2; the process keeps going.
      await client.waitFor(line(2), 20_000);
      assert.equal(client.lines.filter((l) => /connecting to hub: /.test(l)).length >= 2, true);
      // telad reports the same way.
      await agent.waitFor(line(1), 90_000);
    } finally {
      await agent.stop();
      const status = await client.stop();
      assert.equal(status.code, 0, "Ctrl-C while retrying is a clean exit");
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "tela connect -services retries an unreachable hub with one line per attempt, then " +
    "binds the named service; a wrong token or an unknown name ends it at once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hubDir = await Deno.makeTempDir({ prefix: "e2e-ux-hub-" });
    const home = await Deno.makeTempDir({ prefix: "e2e-ux-home-" });
    const db = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dbPort = (db.addr as Deno.NetAddr).port;
    const port = freeTcpPort();
    const url = `ws://127.0.0.1:${port}`;
    const connect = (token: string, services: string) => [
      "connect",
      "-hub",
      url,
      "-machine",
      "db",
      "-token",
      token,
      "-services",
      services,
    ];
    const client = spawnDeno("tela", "cmd/tela.ts", connect(owner, "postgres"), { HOME: home });
    const procs: Proc[] = [client];
    try {
      const line = (n: number) =>
        new RegExp(
          `WARN: could not reach hub ${url}: connection refused by 127\\.0\\.0\\.1:${port} ` +
            `\\(no hub listens there\\); check that telahubd is running and the port is right; ` +
            `retrying in \\d+s \\(attempt ${n}\\)$`,
        );
      await client.waitFor(line(1), 90_000);
      await client.waitFor(line(2), 20_000);
      assert.doesNotMatch(client.output, /^Error:/m, "still running");
      // The hub comes up on that port, the agent registers: the next attempt resolves the
      // name and binds it (attempt 3 is ~12 s after attempt 2).
      const hub = await startHub(hubDir, owner, port);
      procs.push(hub.proc);
      const agent = startAgent(home, url, "db", owner, `${dbPort}:postgres`);
      procs.push(agent);
      await client.waitFor(/^ {2}localhost:\d+\s+→ postgres( \(.*\))?$/, 60_000);

      const wrong = await runTela(home, connect("d".repeat(64), "postgres"));
      assert.equal(wrong.code, 1, wrong.stderr);
      assert.match(
        wrong.stderr,
        /^Error: cannot resolve service names: hub returned 401 unauthorized: it does not accept the token \(dddddddd\.\.\.\); check -token/m,
      );
      const unknown = await runTela(home, connect(owner, "mysql"));
      assert.equal(unknown.code, 1, unknown.stderr);
      assert.match(
        unknown.stderr,
        /^Error: service "mysql" not found on machine "db" \(available: postgres:\d+\)$/m,
      );
      assert.doesNotMatch(wrong.stderr + unknown.stderr, /retrying/);
    } finally {
      for (const p of procs.reverse()) await p.stop();
      db.close();
      await Deno.remove(hubDir, { recursive: true });
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "a local port that cannot be bound says why: needs privileges, or in use (moved to +10000)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "e2e-ux-" });
    const busyPort = portWithFallbackRoom();
    const busy = Deno.listen({ hostname: "127.0.0.1", port: busyPort });
    // As root, take the one capability away that lets a process bind ports below 1024.
    const root = Deno.uid() === 0;
    const setpriv = root
      ? await new Deno.Command("setpriv", { args: ["--version"], stdout: "null", stderr: "null" })
        .output().then((o) => o.success, () => false)
      : false;
    const privileged = !root || setpriv;
    const lowPort = 1000 - Math.floor(Math.random() * 900); // 100..1000, +10000 usually free
    const args = [
      "connect",
      "-hub",
      `ws://127.0.0.1:${freeTcpPort()}`,
      "-machine",
      "db",
      "-ports",
      `${busyPort}:5432${privileged ? `,${lowPort}:22` : ""}`,
    ];
    const client = root && setpriv
      ? new Proc(
        "tela",
        new Deno.Command("setpriv", {
          args: [
            "--bounding-set",
            "-net_bind_service",
            Deno.execPath(),
            "run",
            "-A",
            ...tela(args),
          ],
          env: { NO_COLOR: "1", DENO_DIR, HOME: home },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn(),
      )
      : spawnDeno("tela", "cmd/tela.ts", args, { HOME: home });
    try {
      await client.waitFor(
        new RegExp(
          `^ {2}localhost:${busyPort + 10000} → port 5432 ` +
            `\\(127\\.0\\.0\\.1:${busyPort} in use, moved to ${busyPort + 10000}\\)$`,
        ),
        90_000,
      );
      if (privileged) {
        await client.waitFor(
          new RegExp(
            `^ {2}localhost:(\\d+) → SSH \\(127\\.0\\.0\\.1:${lowPort} needs privileges ` +
              `\\(ports below 1024 need root or CAP_NET_BIND_SERVICE\\), moved to \\d+\\)$`,
          ),
          30_000,
        );
      } else console.warn("root without setpriv: the privileged-port case is not checked");
    } finally {
      await client.stop();
      busy.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});

function tela(args: string[]): string[] {
  return [new URL("../../cmd/tela.ts", import.meta.url).pathname, ...args];
}
