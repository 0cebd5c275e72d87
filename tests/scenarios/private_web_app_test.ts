/**
 * Scenario "Private web application" (book, *Private web application*; issue 13, item 1):
 * a single-page app and its REST API, two separate processes on the application server,
 * reached by a user through telad's path gateway under one origin. Real processes only:
 * `telahubd`, `telad -config telad.yaml` with a `gateway:` block, `tela connect -profile`
 * (the book's profile, `services: - name: gateway`), the SPA server and the API server as
 * their own `deno run` processes; tokens and grants through `tela admin` as the book's step 2.
 * The same scenario in a real browser: tests/interop/gateway_browser_test.ts.
 */
import assert from "node:assert/strict";
import type { Proc } from "../e2e/harness.ts";
import { sceneTest, shown, within } from "./_scene.ts";
import { firstFetch, setUpWebApp } from "./_web_app.ts";

sceneTest(
  "scenario private web application: a SPA and its API under one origin through telad's " +
    "path gateway",
  async (s, step, hub) => {
    const servers: Proc[] = [];
    try {
      const app = await setUpWebApp(s, hub, step, servers);
      const { base, local } = app;

      await step("the page, its script and its API come from one origin", async () => {
        const r = await firstFetch(`${base}/`);
        assert.equal(r.status, 200);
        assert.match(r.headers.get("content-type") ?? "", /text\/html/);
        const page = await r.text();
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

      await step("the API's WebSocket on the same origin", async () => {
        const ws = new WebSocket(`ws://localhost:${local}/api/live`);
        const got = await within(
          new Promise<string>((res, rej) => {
            ws.onopen = () => ws.send("ping");
            ws.onmessage = (e) => res(String(e.data));
            ws.onerror = () => rej(new Error("websocket failed"));
          }),
          20_000,
          "websocket answer",
        );
        assert.equal(got, "live: ping");
        const closed = new Promise((r) => (ws.onclose = r));
        ws.close();
        await within(closed, 20_000, "websocket close");
      });

      await step("a stopped API answers 502 naming the route; the page still loads", async () => {
        await app.api.proc.stop();
        const r = await fetch(`${base}/api/users`);
        assert.equal(r.status, 502);
        assert.match(
          await r.text(),
          new RegExp(`^gateway route /api/ -> 127\\.0\\.0\\.1:${app.api.port}: `),
        );
        assert.equal((await fetch(`${base}/`)).status, 200);
        await app.agent.waitFor(
          /\[gateway\] http: proxy error: dial tcp 127\.0\.0\.1:\d+: /,
          10_000,
        );
      });

      await step("a user without a connect grant cannot reach the machine", async () => {
        const r = await s.refusedConnect("myapp", app.bobToken, "bob");
        assert.match(r.stderr, /denied|not allowed|permission/i, shown(r));
      });

      await within(app.client.stop(), 20_000, "tela stops");
    } finally {
      await Promise.all(servers.map((p) => p.stop().catch(() => {})));
    }
  },
);
