/**
 * The hub web console in a real browser: headless Debian Chromium driven over the Chrome
 * DevTools Protocol (tests/interop/_cdp.ts), against a real `telahubd` process with a
 * machine registered and a session opened by the scripted agent and client of
 * tests/hub/scripted_peers.ts (spec session-and-relay.md 2.1, 2.3).
 *
 * Checks the book's *Hub web console* behaviour (Machines table with status dot, Recent
 * Activity, Refresh, light/dark/system theme stored in localStorage) and Appendix E colours
 * (computed background is `--bg` of the active theme). Screenshots of each state are saved
 * in a temp dir whose path is printed.
 *
 * Skips (with a printed reason) when Chromium is missing, except with CI=true where that is
 * a failure.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Chromium, chromiumGate, type Page } from "./_cdp.ts";
import {
  type HubProcess,
  type OpenSession,
  openSession,
  ScriptedAgent,
  startHubProcess,
  stopHubAndClean,
} from "../hub/scripted_peers.ts";

const CHROMIUM = chromiumGate("console_browser_test");

/** Appendix E `--bg` in each theme, as getComputedStyle reports it. */
const BG_LIGHT = "rgb(245, 246, 248)";
const BG_DARK = "rgb(17, 24, 39)";

/** Progress lines, so a hang shows where it happened. */
function step(what: string) {
  console.log(`console_browser_test: ${what}`);
}

const HUB_NAME = "browser-test-hub";

Deno.test({
  name: "hub console in Chromium lists a registered machine, refreshes, and switches theme",
  ignore: CHROMIUM.ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.ok(CHROMIUM.have, "CI=true but /usr/bin/chromium is missing");
    const shotDir = await Deno.makeTempDir({ prefix: "tela-console-shots-" });
    step(`screenshots in ${shotDir}`);
    const machineName = `browser-test-${randomHex(3)}`;
    let hub: HubProcess | undefined;
    let agent: ScriptedAgent | undefined;
    let second: ScriptedAgent | undefined;
    let session: OpenSession | undefined;
    let browser: Chromium | undefined;
    try {
      hub = await startHubProcess({ env: { TELAHUBD_NAME: HUB_NAME } });
      step(`telahubd (cmd/telahubd.ts) listening at ${hub.httpUrl}`);
      assert.ok(hub.ownerToken, "the hub bootstrapped an owner token");
      assert.ok(hub.viewerToken, "the hub bootstrapped a console-viewer token");
      step(`registering ${machineName} with a scripted agent, opening one session`);
      agent = await ScriptedAgent.register(hub.url, {
        machineName,
        token: hub.ownerToken,
        ports: [22, 8080],
        services: [{ port: 22, proto: "tcp", name: "SSH" }, {
          port: 8080,
          proto: "tcp",
          name: "Web",
        }],
      });
      session = await openSession(hub.url, agent, { token: hub.ownerToken, ports: [22] });

      step("starting chromium");
      browser = await Chromium.launch();
      const page = await browser.newPage();
      await page.setViewport(1200, 860);
      await page.emulateColorScheme("light");
      step("loading the console");
      await page.goto(`${hub.httpUrl}/`);

      // Machines table: the registered machine, online, its services and one session.
      const rowSel = `#machines-body tr[data-machine="${machineName}"]`;
      const rowInfo = `(() => {
        const tr = document.querySelector(${JSON.stringify(rowSel)});
        return tr && { text: tr.innerText, state: tr.querySelector(".status").dataset.state,
                       sessions: tr.querySelector(".sessions-col").textContent };
      })()`;
      await page.waitFor(`document.querySelector(${JSON.stringify(rowSel)})`, "the machine row");
      const row = await page.evaluate<{ text: string; state: string; sessions: string }>(rowInfo);
      assert.match(row.text, new RegExp(machineName));
      assert.match(row.text, /SSH\s*22/);
      assert.match(row.text, /Web\s*8080/);
      assert.equal(row.state, "online");
      assert.equal(row.sessions, "1");
      assert.equal(
        await page.evaluate(`document.getElementById("hub-title").textContent`),
        HUB_NAME,
      );
      assert.notEqual(
        await page.evaluate<string>(`document.getElementById("last-updated").textContent`),
        "never",
      );
      // Recent Activity shows the registration and the session.
      await page.waitFor(activityHas(machineName, "Agent registered"), "agent-register event");
      await page.waitFor(activityHas(machineName, "Session opened"), "client-connect event");
      // The viewer token came from the page, not from a login: the cookie is HttpOnly.
      assert.equal(await page.evaluate(`document.cookie.includes("tela_viewer")`), false);

      step("checking the theme toggle");
      // Theme: "system" by default, which follows the emulated light scheme.
      assert.equal(await page.evaluate(`localStorage.getItem("theme")`), null);
      assert.equal(await themeOf(page), "light");
      assert.equal(await backgroundOf(page), BG_LIGHT);
      await page.screenshot(`${shotDir}/console-light.png`);

      // The theme menu closes on Escape (focus back on its button) and on a click outside.
      const menuHidden = `document.getElementById("theme-menu").hidden`;
      await page.click("#theme-button");
      await page.waitFor(`!${menuHidden}`, "the theme menu");
      assert.equal(
        await page.evaluate(`document.getElementById("theme-button").ariaExpanded`),
        "true",
      );
      await page.press("Escape");
      await page.waitFor(menuHidden, "the menu closed by Escape");
      assert.equal(await page.evaluate(`document.activeElement.id`), "theme-button");
      await page.click("#theme-button");
      await page.waitFor(`!${menuHidden}`, "the theme menu");
      await page.click("#hub-title");
      await page.waitFor(menuHidden, "the menu closed by a click outside");
      assert.equal(await themeOf(page), "light", "closing the menu changes nothing");

      // Pick Dark from the theme menu with real clicks.
      await page.click("#theme-button");
      await page.waitFor(`!document.getElementById("theme-menu").hidden`, "the theme menu");
      await page.click(`[data-theme-choice="dark"]`);
      await page.waitFor(`document.documentElement.dataset.theme === "dark"`, "dark theme");
      assert.equal(await backgroundOf(page), BG_DARK);
      assert.equal(await page.evaluate(`localStorage.getItem("theme")`), "dark");
      assert.equal(
        await page.evaluate(`document.getElementById("topbar").classList.contains("tb-dark")`),
        true,
      );
      assert.equal(await page.evaluate(`document.getElementById("theme-menu").hidden`), true);
      await page.screenshot(`${shotDir}/console-dark.png`);

      // The choice survives a reload (it is applied before first paint by theme.js).
      await page.goto();
      assert.equal(await themeOf(page), "dark");
      assert.equal(await backgroundOf(page), BG_DARK);
      await page.waitFor(`document.querySelector(${JSON.stringify(rowSel)})`, "the row again");

      // System follows the OS scheme live.
      await page.click("#theme-button");
      await page.click(`[data-theme-choice="system"]`);
      await page.waitFor(`document.documentElement.dataset.theme === "light"`, "system = light");
      assert.equal(await page.evaluate(`localStorage.getItem("theme")`), "system");
      await page.emulateColorScheme("dark");
      await page.waitFor(`document.documentElement.dataset.theme === "dark"`, "system = dark");
      assert.equal(await backgroundOf(page), BG_DARK);

      step("waiting for auto-refresh to show a second machine (up to 10 s)");
      second = await ScriptedAgent.register(hub.url, {
        machineName: `${machineName}-b`,
        token: hub.ownerToken,
        ports: [3389],
      });
      await page.waitFor(
        `!!document.querySelector('#machines-body tr[data-machine="${machineName}-b"]')`,
        "the second machine, without clicking Refresh",
      );
      const order = await page.evaluate<string[]>(
        `[...document.querySelectorAll("#machines-body tr")].map((tr) => tr.dataset.machine)`,
      );
      assert.deepEqual(order, [machineName, `${machineName}-b`], "machines sorted by name");

      step("closing the session, then the agent");
      // The client leaves: Refresh shows no session and logs it.
      await session.client.ws.close();
      await session.agent.ws.close();
      session = undefined;
      await refreshUntil(page, `${rowInfo}?.sessions === "0"`, "sessions back to 0");
      await page.waitFor(activityHas(machineName, "Session closed"), "client-disconnect event");
      // The agent goes away: Refresh shows it offline and logs the disconnect.
      await agent.close();
      agent = undefined;
      await refreshUntil(page, `${rowInfo}?.state === "offline"`, "the machine shown offline");
      await page.waitFor(activityHas(machineName, "Agent disconnected"), "agent-disconnect event");
      await page.screenshot(`${shotDir}/console-dark-offline.png`);

      step("checking the 401 state");
      // A token the hub does not know: the page says so instead of showing an empty table.
      await page.emulateColorScheme("light");
      await page.goto(`${hub.httpUrl}/?token=not-a-valid-token`);
      await page.waitFor(
        `document.getElementById("machines-empty").innerText.includes("Not authorized")`,
        "the 401 state",
      );
      assert.match(
        await page.evaluate<string>(`document.getElementById("fetch-error").innerText`),
        /HTTP 401/,
      );
      await page.screenshot(`${shotDir}/console-401.png`);

      step("stopping the hub");
      // The hub stops: Refresh reports it unreachable and keeps the last data.
      await page.goto(`${hub.httpUrl}/`);
      await page.waitFor(`document.querySelector(${JSON.stringify(rowSel)})`, "the row");
      await stopHubAndClean(hub);
      hub = undefined;
      step("checking the unreachable state");
      await page.click("#refresh-button");
      await page.waitFor(
        `document.getElementById("fetch-error").innerText.includes("Hub unreachable")`,
        "the unreachable notice",
      );
      assert.ok(await page.evaluate(`!!document.querySelector(${JSON.stringify(rowSel)})`));
      await page.screenshot(`${shotDir}/console-unreachable.png`);
      step(`saved ${[...Deno.readDirSync(shotDir)].length} screenshots in ${shotDir}`);
    } finally {
      step("cleaning up");
      await browser?.close();
      await session?.client.ws.close().catch(() => {});
      await session?.agent.ws.close().catch(() => {});
      await agent?.close().catch(() => {});
      await second?.close().catch(() => {});
      if (hub) await stopHubAndClean(hub);
    }
  },
});

/**
 * Clicks Refresh (a real click) until `expression` holds: the hub applies a closed socket
 * asynchronously, so one click may still see the old state.
 */
async function refreshUntil(page: Page, expression: string, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    await page.click("#refresh-button");
    if (await page.waitFor(expression, what, 1_000).then(() => true, () => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after 30 s waiting for ${what}`);
  }
}

/** Expression: Recent Activity has a row for `machine` with the event label `label`. */
function activityHas(machine: string, label: string): string {
  return `[...document.querySelectorAll("#activity-body tr")].some((tr) =>
    tr.cells[2].textContent === ${JSON.stringify(machine)} &&
    tr.cells[1].textContent === ${JSON.stringify(label)})`;
}

function themeOf(page: Page): Promise<string> {
  return page.evaluate<string>(`document.documentElement.dataset.theme`);
}

function backgroundOf(page: Page): Promise<string> {
  return page.evaluate<string>(`getComputedStyle(document.body).backgroundColor`);
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
