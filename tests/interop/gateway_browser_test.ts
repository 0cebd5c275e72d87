/**
 * The book's *Private web application* in a real browser (issue 13, item 1): headless Debian
 * Chromium (tests/interop/_cdp.ts) opens the one local address `tela connect` binds for the
 * gateway; the page, its script, its `fetch("/api/users")` and its WebSocket to `/api/live`
 * all go to that one origin and reach two different processes behind telad's path gateway.
 * Real processes: telahubd, telad -config, tela connect -profile, the SPA and API servers.
 *
 * Skips (with a printed reason) when Chromium is missing, except with CI=true where that is
 * a failure.
 * @module
 */
import assert from "node:assert/strict";
import { Chromium, chromiumGate } from "./_cdp.ts";
import type { Proc } from "../e2e/harness.ts";
import { Scene, stepper } from "../scenarios/_scene.ts";
import { firstFetch, setUpWebApp } from "../scenarios/_web_app.ts";

const CHROMIUM = chromiumGate("gateway_browser_test");

Deno.test({
  name: "private web application in Chromium: SPA, API and WebSocket through the path gateway",
  ignore: CHROMIUM.ignore,
  async fn(t) {
    assert.ok(CHROMIUM.have, "CI=true but /usr/bin/chromium is missing");
    const s = new Scene();
    const servers: Proc[] = [];
    let browser: Chromium | undefined;
    try {
      const hub = await s.startHub();
      const step = stepper(t);
      const app = await setUpWebApp(s, hub, step, servers);
      // The tunnel is up once a plain request has gone through.
      assert.equal((await firstFetch(`${app.base}/`)).status, 200);

      await step("the browser renders the API's data and the WebSocket's answer", async () => {
        browser = await Chromium.launch();
        const page = await browser.newPage();
        await page.goto(`${app.base}/`);
        assert.equal(await page.evaluate("location.origin"), app.base);
        const users = await page.waitFor<string>(
          `document.querySelectorAll("#users li").length === 3 && ` +
            `[...document.querySelectorAll("#users li")].map((li) => li.textContent).join(",")`,
          "the user list from /api/users",
        );
        assert.equal(users, "alice,bob,carol");
        const live = await page.waitFor<string>(
          `document.getElementById("live").textContent.startsWith("live:") && ` +
            `document.getElementById("live").textContent`,
          "the WebSocket answer from /api/live",
        );
        assert.equal(live, "live: ping");
      });
    } finally {
      await browser?.close();
      await Promise.all(servers.map((p) => p.stop().catch(() => {})));
      await s.close();
    }
  },
});
