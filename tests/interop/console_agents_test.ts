/**
 * The console's agent management in a real browser (issue 14 part 1; book, *Hub web
 * console*, *Hub administration* "Agent"; spec hub-http-api.md §8): headless Chromium over
 * CDP against a real `telahubd` and a real `telad -config telad.yaml` (machine `barn`), plus
 * a scripted agent (`shed`, version v0.14.0) that answers no management.
 *
 * - The viewer sees each agent's version in the Agent column and no Restart/Update button.
 * - A connect-only token cannot sign in; a token with manage on barn gets barn's buttons
 *   only (no Pairing); the owner gets them on every row.
 * - Update asks for confirmation naming the machine, then shows telad's answer (this build
 *   has no self-update yet: the refusal is shown in the row).
 * - Restart, confirmed, really restarts telad: a new process registers and the row is
 *   online again.
 *
 * Screenshots: /tmp/console-agents-manager-light.png, -dialog.png, -refused.png,
 * -owner-dark.png. Skips (with a printed reason) when Chromium is missing, except with
 * CI=true where that is a failure.
 * @module
 */
import assert from "node:assert/strict";
import { Chromium, chromiumGate, type Page } from "./_cdp.ts";
import {
  type HubProcess,
  ScriptedAgent,
  startHubProcess,
  stopHubAndClean,
  waitFor,
} from "../hub/scripted_peers.ts";
import { registeredAgain, startTelad, type TeladProcess } from "../cli/_telad.ts";
import { TELA_VERSION } from "../../lib/host/mod.ts";

const CHROMIUM = chromiumGate("console_agents_test");

const OWNER = "0a".repeat(32);
const VIEWER = "0b".repeat(32);
const MGR = "0c".repeat(32);
const CONN = "0d".repeat(32);

const HUB_CONFIG = `name: agents-console-hub
auth:
  tokens:
    - id: owner
      token: "${OWNER}"
      hubRole: owner
    - id: console-viewer
      token: "${VIEWER}"
      hubRole: viewer
    - id: mgr
      token: "${MGR}"
    - id: conn
      token: "${CONN}"
  machines:
    barn:
      manageTokens: ["${MGR}"]
      connectTokens: ["${MGR}", "${CONN}"]
    shed:
      connectTokens: ["${MGR}", "${CONN}"]
`;

const SHOT = (name: string) => `/tmp/console-agents-${name}.png`;

function step(what: string) {
  console.log(`console_agents_test: ${what}`);
}

const visible = (id: string) =>
  `(() => { const e = document.getElementById(${JSON.stringify(id)});
    return !!e && !e.hidden && e.getClientRects().length > 0; })()`;

/** The row of `machine` as the page shows it. */
const rowInfo = (machine: string) =>
  `(() => {
    const tr = document.querySelector('#machines-body tr[data-machine="${machine}"]');
    if (!tr) return null;
    const actions = tr.querySelector(".actions-col");
    return {
      version: tr.querySelector(".agent-col").textContent,
      state: tr.querySelector(".status").dataset.state,
      buttons: [...tr.querySelectorAll("button[data-agent-action]")]
        .filter((b) => b.getClientRects().length > 0).map((b) => b.textContent),
      actionsShown: getComputedStyle(actions).display !== "none",
      note: tr.querySelector(".agent-note")?.textContent ?? "",
    };
  })()`;

interface Row {
  version: string;
  state: string;
  buttons: string[];
  actionsShown: boolean;
  note: string;
}

const row = (page: Page, machine: string) => page.evaluate<Row | null>(rowInfo(machine));

async function signIn(page: Page, token: string): Promise<void> {
  // The card stays open after a refused token; the button would close it again.
  if (!(await page.evaluate<boolean>(visible("signin-card")))) await page.click("#signin-button");
  await page.waitFor(visible("signin-card"), "the sign-in card");
  await page.evaluate(`document.getElementById("signin-token").value = ""`);
  await page.type("#signin-token", token);
  await page.click("#signin-submit");
}

async function clickAction(page: Page, machine: string, action: string): Promise<void> {
  await page.click(
    `#machines-body tr[data-machine="${machine}"] button[data-agent-action="${action}"]`,
  );
  await page.waitFor(`document.getElementById("agent-dialog").open`, "the confirmation dialog");
}

Deno.test({
  name: "console: agent versions for everyone; Restart/Update only for those who may manage",
  ignore: CHROMIUM.ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.ok(CHROMIUM.have, "CI=true but /usr/bin/chromium is missing");
    let hub: HubProcess | undefined;
    let telad: TeladProcess | undefined;
    let shed: ScriptedAgent | undefined;
    let browser: Chromium | undefined;
    try {
      step("starting telahubd, telad (barn) and a scripted agent (shed)");
      hub = await startHubProcess({ configYaml: HUB_CONFIG });
      telad = await startTelad(
        `hub: ${hub.url}\ntoken: "${OWNER}"\nmachines:\n  - name: barn\n    ports: [22]\n`,
        "barn",
      );
      shed = await ScriptedAgent.register(hub.url, { machineName: "shed", token: OWNER });
      browser = await Chromium.launch();
      const page = await browser.newPage();
      await page.setViewport(1200, 900);
      await page.emulateColorScheme("light");

      step("the viewer: versions shown, no buttons");
      await page.goto(`${hub.httpUrl}/`);
      await page.waitFor(`${rowInfo("barn")} && ${rowInfo("shed")}`, "both rows");
      const vb = (await row(page, "barn"))!;
      const vs = (await row(page, "shed"))!;
      assert.equal(vb.version, TELA_VERSION);
      assert.equal(vs.version, "v0.14.0");
      assert.deepEqual([vb.buttons, vs.buttons], [[], []]);
      assert.equal(vb.actionsShown, false, "no Actions column for the viewer");

      step("a connect-only token cannot sign in");
      await signIn(page, CONN);
      await page.waitFor(visible("signin-error"), "the sign-in error");
      assert.match(
        await page.evaluate<string>(`document.getElementById("signin-error").textContent`),
        /did not accept this token as an owner or admin token \(HTTP 403\), and it may not manage any machine/,
      );
      assert.deepEqual((await row(page, "barn"))!.buttons, []);

      step("a manager of barn: barn's buttons only, no Pairing");
      await signIn(page, MGR);
      await page.waitFor(`${rowInfo("barn")}?.buttons.length === 2`, "barn's buttons");
      assert.deepEqual((await row(page, "barn"))!.buttons, ["Restart", "Update"]);
      assert.deepEqual((await row(page, "shed"))!.buttons, []);
      assert.equal((await row(page, "barn"))!.actionsShown, true);
      assert.equal(await page.evaluate(visible("pairing-section")), false);
      assert.match(
        await page.evaluate<string>(`document.getElementById("admin-note").textContent`),
        /Signed in: manage 1 machine$/,
      );
      await page.screenshot(SHOT("manager-light"));

      step("Update: confirmation names the machine; telad's refusal shows in the row");
      await clickAction(page, "barn", "update");
      assert.equal(
        await page.evaluate(`document.getElementById("agent-dialog-title").textContent`),
        "Update the agent of barn?",
      );
      await page.screenshot(SHOT("dialog"));
      // Cancel sends nothing.
      await page.click("#agent-dialog-cancel");
      await page.waitFor(`!document.getElementById("agent-dialog").open`, "the dialog closed");
      assert.equal((await row(page, "barn"))!.note, "");
      await clickAction(page, "barn", "update");
      await page.click("#agent-dialog-confirm");
      await page.waitFor(
        `${rowInfo("barn")}?.note.startsWith("The agent refused update: update is not available")`,
        "the refusal in the row",
      );
      await page.screenshot(SHOT("refused"));

      step("Restart: telad really restarts and comes back online");
      const pid = telad.proc.child.pid;
      await clickAction(page, "barn", "restart");
      await page.click("#agent-dialog-confirm");
      await page.waitFor(`${rowInfo("barn")}?.note.startsWith("Restarting")`, "the restart note");
      assert.equal((await telad.proc.exited).code, 0, telad.proc.output);
      const t = telad;
      await waitFor(() => registeredAgain(t.proc, "barn"), "telad's successor registered", 60_000);
      assert.equal(t.successors().length, 1);
      assert.notEqual(t.successors()[0], pid);
      await page.click("#refresh-button");
      await page.waitFor(`${rowInfo("barn")}?.state === "online"`, "barn online again");

      step("the owner: buttons on every row, dark theme");
      await page.click("#signout-button");
      await page.waitFor(`${rowInfo("barn")}?.buttons.length === 0`, "signed out: no buttons");
      await signIn(page, OWNER);
      await page.waitFor(visible("pairing-section"), "the Pairing section");
      await page.waitFor(
        `${rowInfo("barn")}?.buttons.length === 2 && ${rowInfo("shed")}?.buttons.length === 2`,
        "buttons on both rows",
      );
      await page.emulateColorScheme("dark");
      await page.waitFor(`document.documentElement.dataset.theme === "dark"`, "dark theme");
      await page.screenshot(SHOT("owner-dark"));
      step(
        `screenshots: ${["manager-light", "dialog", "refused", "owner-dark"].map(SHOT).join(" ")}`,
      );
    } finally {
      step("cleaning up");
      await browser?.close();
      await shed?.close().catch(() => {});
      await telad?.close();
      if (hub) await stopHubAndClean(hub);
    }
  },
});
