/**
 * The book's *Private web application* set up with real processes (steps 2-4): tokens and
 * grants through `tela admin`, a single-page app and its REST API as two `deno run`
 * processes on the application server, `telad -config telad.yaml` with the book's
 * multi-service `gateway:` block (tunnel port 80), and the user's `tela connect -profile`
 * with the book's profile (`services: - name: gateway`, here with a `local:` port so tests
 * do not need port 80). Shared by the fetch scenario and the Chromium test.
 * @module
 */
import assert from "node:assert/strict";
import { DENO_DIR, Proc } from "../e2e/harness.ts";
import {
  freeTcpPort,
  type Hub,
  printedToken,
  registrations,
  run,
  type Scene,
  shown,
  type Step,
} from "./_scene.ts";

/**
 * The frontend: `/app.js`, anything else is the SPA's `index.html` (client-side routes fall
 * through to it). The script calls `/api/users` and opens `/api/live` (a WebSocket) on the
 * page's own origin and shows what came back.
 */
export const SPA_SERVER = `
const html = '<!doctype html><html><head><title>myapp</title></head><body>' +
  '<ul id="users"></ul><p id="live">connecting</p><script src="/app.js"></script></body></html>';
const js = 'fetch("/api/users").then((r) => r.json()).then((d) => { ' +
  'document.getElementById("users").innerHTML = d.users.map((u) => "<li>" + u + "</li>")' +
  '.join(""); });' +
  'const ws = new WebSocket("ws://" + location.host + "/api/live");' +
  'ws.onopen = () => ws.send("ping");' +
  'ws.onmessage = (e) => { document.getElementById("live").textContent = e.data; };';
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log("port " + port) },
  (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/app.js") {
      return new Response(js, { headers: { "content-type": "text/javascript" } });
    }
    return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
  });
`;

/**
 * The REST API: `/api/users`; `/api/whoami` echoing what the request carried; `/api/live`, a
 * WebSocket answering each message `m` with `live: m`.
 */
export const API_SERVER = `
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log("port " + port) },
  async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/api/users") return Response.json({ users: ["alice", "bob", "carol"] });
    if (url.pathname === "/api/live" && req.headers.get("upgrade") === "websocket") {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (e) => socket.send("live: " + e.data);
      return response;
    }
    if (url.pathname === "/api/whoami") {
      return Response.json({
        method: req.method,
        path: url.pathname + url.search,
        host: req.headers.get("host"),
        xff: req.headers.get("x-forwarded-for"),
        body: req.body ? await req.text() : "",
      });
    }
    return new Response("no such API\\n", { status: 404 });
  });
`;

/** Starts `deno run --allow-net` of `source` (written to `dir/name.ts`); resolves with its port. */
export async function startServer(
  dir: string,
  name: string,
  source: string,
): Promise<{ proc: Proc; port: number }> {
  await Deno.writeTextFile(`${dir}/${name}.ts`, source);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", `${dir}/${name}.ts`],
    env: { NO_COLOR: "1", DENO_DIR, HOME: dir },
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = new Proc(name, child);
  const m = await proc.waitFor(/^port (\d+)$/, 60_000);
  return { proc, port: Number(m[1]) };
}

/** What {@link setUpWebApp} started. */
export interface WebApp {
  spa: { proc: Proc; port: number };
  api: { proc: Proc; port: number };
  agent: Proc;
  client: Proc;
  /** `http://localhost:<local>`: the one origin the user's browser sees. */
  base: string;
  local: number;
  aliceToken: string;
  /** A valid token without a connect grant on `myapp`. */
  bobToken: string;
  /** The SPA and API processes, for the caller to stop by PID. */
  servers: Proc[];
}

/**
 * Steps 2-4 of the book's scenario. `servers` of the result (also pushed to `servers` as they
 * start, so a failing step still lets the caller stop them) are the caller's to stop.
 */
export async function setUpWebApp(
  s: Scene,
  hub: Hub,
  step: Step,
  servers: Proc[],
): Promise<WebApp> {
  const appDir = await s.tempDir("appserver");
  let agentToken = "", aliceToken = "", bobToken = "";
  await step("step 2: agent and user tokens, register and connect grants", async () => {
    agentToken = await s.addToken("app-agent");
    await s.adminOk(["access", "grant", "app-agent", "myapp", "register"]);
    aliceToken = await s.addToken("alice");
    bobToken = printedToken(await s.adminOk(["tokens", "add", "bob"]), "tokens add bob");
    await s.adminOk(["access", "grant", "alice", "myapp", "connect"]);
  });

  const spa = await startServer(appDir, "spa", SPA_SERVER);
  servers.push(spa.proc);
  const api = await startServer(appDir, "api", API_SERVER);
  servers.push(api.proc);

  let agent!: Proc;
  await step("step 3: telad.yaml with the gateway on port 80 inside the tunnel", async () => {
    // The book's multi-service file: /api/ to the REST API, everything else to the SPA.
    await Deno.writeTextFile(
      `${appDir}/telad.yaml`,
      `hub: ${hub.url}\ntoken: "${agentToken}"\nmachines:\n  - name: myapp\n` +
        `    gateway:\n      port: 80\n      routes:\n        - path: /api/\n` +
        `          target: ${api.port} # REST API\n        - path: /\n` +
        `          target: ${spa.port} # frontend (SPA or server-rendered)\n`,
    );
    agent = s.spawn("telad:myapp", "telad", ["-config", `${appDir}/telad.yaml`], appDir);
    await registrations(agent, "myapp", 1, 60_000);
    // The hub lists the machine with its one service, the gateway.
    const ran = await run(
      "tela",
      ["services", "-hub", hub.url, "-machine", "myapp", "-token", aliceToken],
      appDir,
    );
    assert.equal(ran.code, 0, shown(ran));
    assert.match(ran.stdout, /gateway/, shown(ran));
  });

  const home = await s.tempDir("alice");
  const local = freeTcpPort();
  let client!: Proc;
  await step(
    "step 4: alice connects with the book's profile (services: name: gateway)",
    async () => {
      await Deno.mkdir(`${home}/.tela/profiles`, { recursive: true });
      await Deno.writeTextFile(
        `${home}/.tela/profiles/myapp.yaml`,
        `connections:\n  - hub: ${hub.url}\n    token: \${MYAPP_TOKEN}\n    machine: myapp\n` +
          `    services:\n      - name: gateway\n        local: ${local}\n`,
      );
      client = s.spawn("tela:alice", "tela", ["connect", "-profile", "myapp"], home, {
        MYAPP_TOKEN: aliceToken,
      });
      await client.waitFor(new RegExp(`localhost:${local}\\b`), 60_000);
      await agent.waitFor(/\[gateway\] listening on 10\.77\.\d+\.1:80 \(2 routes\)/, 60_000);
    },
  );
  return {
    spa,
    api,
    agent,
    client,
    base: `http://localhost:${local}`,
    local,
    aliceToken,
    bobToken,
    servers,
  };
}

/** GET `url` retried every 500 ms while it fails at the transport level (tunnel coming up). */
export async function firstFetch(url: string, tries = 30): Promise<Response> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(20_000) });
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`GET ${url} failed ${tries} times: ${last}`);
}
