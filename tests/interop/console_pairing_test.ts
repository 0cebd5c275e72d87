/**
 * The console's Pairing section in a real browser (book, *Hub web console*, "Pairing (admin
 * only)"; spec hub-http-api.md 4.5, 5.5, 4.4): headless Chromium over CDP against a real
 * `telahubd` process with one machine registered by the scripted agent.
 *
 * - the viewer token (injected, or given as ?token=) never shows the Pairing section;
 * - "Sign in as administrator" with the owner token shows it; the token is kept in
 *   sessionStorage only (not in a cookie, not in the address);
 * - Generate gives a connect code `XXXX-XXXX` with its expiry in UTC and the `tela pair`
 *   command; redeeming it with POST /api/pair works once;
 * - a register code needs a machine (inline error); the hub's refusals show in the card.
 *
 * Screenshots of the card in both themes: /tmp/console-pairing-light.png and
 * /tmp/console-pairing-dark.png (also -signin.png and -error.png). Skips (with a printed reason) when Chromium is missing,
 * except with CI=true where that is a failure.
 * @module
 */
import assert from "node:assert/strict";
import { Chromium, chromiumGate, type Page } from "./_cdp.ts";
import {
  type HubProcess,
  ScriptedAgent,
  startHubProcess,
  stopHubAndClean,
} from "../hub/scripted_peers.ts";

const CHROMIUM = chromiumGate("console_pairing_test");

/** Where the screenshots of the card go (named in the report). */
const SHOT_LIGHT = "/tmp/console-pairing-light.png";
const SHOT_DARK = "/tmp/console-pairing-dark.png";
/** The sign-in card with a refused token (light), and a hub error in the card (dark). */
const SHOT_SIGNIN = "/tmp/console-pairing-signin.png";
const SHOT_ERROR = "/tmp/console-pairing-error.png";

function step(what: string) {
  console.log(`console_pairing_test: ${what}`);
}

const visible = (id: string) =>
  `(() => { const e = document.getElementById(${JSON.stringify(id)});
    return !!e && !e.hidden && e.getClientRects().length > 0; })()`;

/** Chooses `value` in a select as a user would (value set, `change` fired). */
async function choose(page: Page, id: string, value: string): Promise<void> {
  const ok = await page.evaluate<boolean>(`(() => {
    const s = document.getElementById(${JSON.stringify(id)});
    if (![...s.options].some((o) => o.value === ${JSON.stringify(value)})) return false;
    s.value = ${JSON.stringify(value)};
    s.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  })()`);
  assert.ok(ok, `#${id} has no option ${value}`);
}

const text = (page: Page, id: string) =>
  page.evaluate<string>(`document.getElementById(${JSON.stringify(id)}).textContent`);

Deno.test({
  name: "console Pairing: hidden for the viewer, shown after an owner signs in, codes redeem once",
  ignore: CHROMIUM.ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.ok(CHROMIUM.have, "CI=true but /usr/bin/chromium is missing");
    let hub: HubProcess | undefined;
    let agent: ScriptedAgent | undefined;
    let browser: Chromium | undefined;
    try {
      step("starting telahubd");
      hub = await startHubProcess({ env: { TELAHUBD_NAME: "pairing-test-hub" } });
      const owner = hub.ownerToken!;
      const viewer = hub.viewerToken!;
      assert.ok(owner && viewer, "the hub bootstrapped owner and viewer tokens");
      agent = await ScriptedAgent.register(hub.url, {
        machineName: "barn",
        token: owner,
        ports: [22],
        services: [{ port: 22, proto: "tcp", name: "SSH" }],
      });
      step("starting chromium");
      browser = await Chromium.launch();
      const page = await browser.newPage();
      await page.setViewport(1200, 1100);
      await page.emulateColorScheme("light");
      const row = `!!document.querySelector('#machines-body tr[data-machine="barn"]')`;

      step("the viewer token: no Pairing section");
      await page.goto(`${hub.httpUrl}/`);
      await page.waitFor(row, "the machine row");
      // The probe (with ?token=, the only token there is) answers 403 for a viewer.
      await page.goto(`${hub.httpUrl}/?token=${viewer}`);
      await page.waitFor(row, "the machine row with ?token=<viewer>");
      const probe = await fetch(`${hub.httpUrl}/api/admin/tokens`, {
        headers: { Authorization: `Bearer ${viewer}` },
      });
      await probe.body?.cancel();
      assert.equal(probe.status, 403, "the hub refuses the viewer on the admin API");
      await new Promise((r) => setTimeout(r, 1_000)); // the page's own probe has answered
      assert.equal(await page.evaluate(visible("pairing-section")), false);
      assert.equal(await page.evaluate(visible("signin-button")), true);

      step("a wrong token is refused in the sign-in card");
      await page.goto(`${hub.httpUrl}/`);
      await page.waitFor(row, "the machine row");
      await page.click("#signin-button");
      await page.waitFor(visible("signin-card"), "the sign-in card");
      await page.type("#signin-token", viewer);
      await page.click("#signin-submit");
      await page.waitFor(visible("signin-error"), "the sign-in error");
      assert.match(await text(page, "signin-error"), /did not accept this token.*HTTP 403/);
      await page.screenshot(SHOT_SIGNIN);
      assert.equal(await page.evaluate(visible("pairing-section")), false);

      step("signing in with the owner token");
      await page.evaluate(`document.getElementById("signin-token").value = ""`);
      await page.type("#signin-token", owner);
      await page.click("#signin-submit");
      await page.waitFor(visible("pairing-section"), "the Pairing section");
      assert.equal(await page.evaluate(visible("signin-card")), false);
      assert.equal(await page.evaluate(visible("signout-button")), true);
      // Kept for this tab only: sessionStorage, never a cookie or the address.
      assert.equal(await page.evaluate(`sessionStorage.getItem("tela-admin-token")`), owner);
      assert.equal(
        await page.evaluate(`document.cookie.includes(${JSON.stringify(owner)})`),
        false,
      );
      assert.equal(await page.evaluate(`location.href.includes(${JSON.stringify(owner)})`), false);
      assert.equal(
        await page.evaluate(`localStorage.length === 0 ||
        !Object.values(localStorage).includes(${JSON.stringify(owner)})`),
        true,
      );
      // The machine list of the connect scope follows the Machines table; default *.
      await page.waitFor(
        `[...document.getElementById("pair-machines").options].some((o) => o.value === "barn")`,
        "barn among the machine choices",
      );
      assert.equal(await page.evaluate(`document.getElementById("pair-machines").value`), "*");

      step("a reload keeps the sign-in (same tab)");
      await page.goto();
      await page.waitFor(visible("pairing-section"), "the Pairing section after a reload");
      // The machines table fills in after a fetch and moves the Pairing section down.
      await page.waitFor(row, "the machine row after a reload");

      step("generating a connect code");
      const before = Date.now();
      await page.click("#pair-generate");
      await page.waitFor(visible("pair-result"), "the generated code");
      const code = await text(page, "pair-code");
      assert.match(code, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
      const expires = await text(page, "pair-expires");
      assert.match(expires, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/, "ISO 8601 UTC");
      const ttl = Date.parse(expires) - before;
      assert.ok(ttl > 9 * 60_000 && ttl <= 10 * 60_000 + 5_000, `default 10 min, got ${ttl} ms`);
      assert.equal(
        await text(page, "pair-command"),
        `tela pair -hub ${hub.url} -code ${code}`,
      );
      await page.evaluate(`document.getElementById("pairing-section").scrollIntoView()`);
      await page.screenshot(SHOT_LIGHT);

      step("redeeming the code once");
      const redeem = () =>
        fetch(`${hub!.httpUrl}/api/pair`, { method: "POST", body: JSON.stringify({ code }) });
      const first = await redeem();
      const firstBody = await first.json();
      assert.equal(first.status, 200, JSON.stringify(firstBody));
      assert.match(firstBody.token, /^[0-9a-f]{64}$/);
      assert.equal(firstBody.type, "connect");
      const again = await redeem();
      const againBody = await again.json();
      assert.equal(again.status, 401, JSON.stringify(againBody));
      assert.deepEqual(againBody, { error: "pairing code not found" });

      step("the dark theme");
      await page.emulateColorScheme("dark");
      await page.waitFor(`document.documentElement.dataset.theme === "dark"`, "dark theme");
      await page.evaluate(`document.getElementById("pairing-section").scrollIntoView()`);
      await page.screenshot(SHOT_DARK);

      step("a register code needs a machine; then it gives the telad command");
      await choose(page, "pair-type", "register");
      await page.waitFor(visible("pair-machine"), "the machine field");
      assert.equal(await page.evaluate(visible("pair-machines")), false);
      await page.click("#pair-generate");
      await page.waitFor(visible("pair-machine-error"), "the inline error");
      await page.type("#pair-machine", "new-box");
      await choose(page, "pair-expiry", "3600");
      await page.click("#pair-generate");
      await page.waitFor(
        `document.getElementById("pair-command").textContent.startsWith("telad pair")`,
        "the telad command",
      );
      const regCode = await text(page, "pair-code");
      assert.match(regCode, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
      assert.equal(
        await text(page, "pair-command"),
        `telad pair -hub ${hub.url} -code ${regCode} -machine new-box`,
      );

      step("an error from the hub is shown in the card");
      // An expiry beyond the hub's maximum (a tampered option): the hub's 400 is shown.
      await page.evaluate(`(() => {
        const s = document.getElementById("pair-expiry");
        s.options[0].value = "9999999";
        s.value = "9999999";
      })()`);
      await page.click("#pair-generate");
      await page.waitFor(visible("pair-error"), "the hub's error");
      assert.match(await text(page, "pair-error"), /HTTP 400: expiresIn exceeds maximum of 7 days/);
      assert.equal(await page.evaluate(visible("pair-result")), false);
      await page.evaluate(`document.getElementById("pairing-section").scrollIntoView()`);
      await page.screenshot(SHOT_ERROR);

      step("signing out hides the section");
      await page.click("#signout-button");
      await page.waitFor(`!${visible("pairing-section")}`, "the section hidden");
      assert.equal(await page.evaluate(`sessionStorage.getItem("tela-admin-token")`), null);
    } finally {
      await browser?.close();
      await agent?.close().catch(() => {});
      if (hub) await stopHubAndClean(hub);
    }
  },
});
