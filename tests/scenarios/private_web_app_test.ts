/**
 * Scenario "Private web application" (book, *Private web application*; issue 13, item 1):
 * a single-page app and its REST API, two separate processes on the application server,
 * reached by a user through telad's path gateway under one origin. Real processes only:
 * `telahubd`, `telad -config telad.yaml` with a `gateway:` block, `tela connect -profile`
 * (the book's profile, `services: - name: gateway`), the SPA server and the API server as
 * their own `deno run` processes; tokens and grants through `tela admin` as the book's step 2.
 */
import assert from "node:assert/strict";
import { Proc } from "../e2e/harness.ts";
import { DENO_DIR } from "../e2e/harness.ts";
import {
  freeTcpPort,
  printedToken,
  registrations,
  run,
  sceneTest,
  shown,
  within,
} from "./_scene.ts";

/** The frontend: index.html and app.js; anything else under / is the SPA's fallback. */
const SPA_SERVER = `
const html = '<!doctype html><html><head><title>myapp</title></head><body>' +
  '<ul id="users"></ul><script src="/app.js"></script></body></html>';
const js = 'fetch("/api/users").then((r) => r.json()).then((d) => { ' +
  'document.getElementById("users").innerHTML = d.users.map((u) => "<li>" + u + "</li>")' +
  '.join(""); document.title = "loaded " + d.users.length; });';
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log("port " + port) },
  (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/app.js") {
      return new Response(js, { headers: { "content-type": "text/javascript" } });
    }
    return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
  });
`;

/** The REST API: /api/users, and /api/whoami echoing what the request carried. */
const API_SERVER = `
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log("port " + port) },
  async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/api/users") return Response.json({ users: ["alice", "bob", "carol"] });
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

/** Starts `deno run` of `source` (written to `dir/name.ts`); resolves with its port. */
async function startServer(dir: string, name: string, source: string) {
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

sceneTest(
  "scenario private web application: a SPA and its API under one origin through telad's " +
    "path gateway",
  async (s, step, hub) => {
    const servers: Proc[] = [];
    try {
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
            `          target: ${spa.port} # frontend (SPA)\n`,
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
      let base = "";
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
          base = `http://localhost:${local}`;
          await agent.waitFor(/\[gateway\] listening on 10\.77\.\d+\.1:80 \(2 routes\)/, 60_000);
        },
      );

      await step("the page, its script and its API come from one origin", async () => {
        let page = "";
        for (let i = 0; i < 30 && !page; i++) {
          try {
            const r = await fetch(`${base}/`, { signal: AbortSignal.timeout(20_000) });
            page = await r.text();
            assert.equal(r.status, 200);
            assert.match(r.headers.get("content-type") ?? "", /text\/html/);
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            await new Promise((r) => setTimeout(r, 500));
          }
        }
        assert.match(page, /<script src="\/app.js">/);
        // What the browser does next: the script from the same origin, then its API call.
        const script = await (await fetch(`${base}/app.js`)).text();
        assert.match(script, /fetch\("\/api\/users"\)/);
        const users = await fetch(`${base}/api/users`);
        assert.equal(users.status, 200);
        assert.deepEqual(await users.json(), { users: ["alice", "bob", "carol"] });
        // A client-side route of the SPA falls through to the frontend.
        assert.match(await (await fetch(`${base}/settings/profile`)).text(), /<title>myapp/);
        // The API sees the browser's Host, the tunnel address, path and query unchanged.
        const who = await fetch(`${base}/api/whoami?x=1`, { method: "POST", body: "hi" });
        const w = await who.json();
        assert.equal(w.host, `localhost:${local}`);
        assert.match(w.xff, /^10\.77\.\d+\.2$/);
        assert.equal(w.path, "/api/whoami?x=1");
        assert.equal(w.body, "hi");
        assert.equal((await fetch(`${base}/api/nothing`)).status, 404, "the API's own 404");
      });

      await step("a stopped API answers 502 naming the route; the page still loads", async () => {
        await api.proc.stop();
        const r = await fetch(`${base}/api/users`);
        assert.equal(r.status, 502);
        assert.match(
          await r.text(),
          new RegExp(`^gateway route /api/ -> 127\\.0\\.0\\.1:${api.port}: `),
        );
        assert.equal((await fetch(`${base}/`)).status, 200);
        await agent.waitFor(/\[gateway\] http: proxy error: dial tcp 127\.0\.0\.1:\d+: /, 10_000);
      });

      await step("a user without a connect grant cannot reach the machine", async () => {
        const r = await s.refusedConnect("myapp", bobToken, "bob");
        assert.match(r.stderr, /denied|not allowed|permission/i, shown(r));
      });

      await within(client.stop(), 20_000, "tela stops");
    } finally {
      await Promise.all(servers.map((p) => p.stop().catch(() => {})));
    }
  },
);
