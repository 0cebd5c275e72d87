/**
 * The hub web console in a real browser: headless Debian Chromium driven over the Chrome
 * DevTools Protocol (tests/interop/_cdp.ts), against a running hub with a machine registered
 * over the WebSocket the way telad does (spec session-and-relay.md 2.1).
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
import { Chromium, chromiumInstalled, type Page } from "./_cdp.ts";
import { consoleHandler } from "../../lib/hub/console.ts";

const IN_CI = Deno.env.get("CI") === "true";
const HAVE_CHROMIUM = chromiumInstalled();
if (!HAVE_CHROMIUM) {
  console.log(
    `console_browser_test: ${
      IN_CI ? "FAIL" : "skipped"
    }: /usr/bin/chromium not found (apt-get install chromium fonts-dejavu-core)`,
  );
}

/** Appendix E `--bg` in each theme, as getComputedStyle reports it. */
const BG_LIGHT = "rgb(245, 246, 248)";
const BG_DARK = "rgb(17, 24, 39)";

/** Progress lines, so a hang shows where it happened. */
function step(what: string) {
  console.log(`console_browser_test: ${what}`);
}

/** A hub the test can talk to. */
interface TestHub {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** A token allowed to register machines. */
  agentToken: string;
  /** Which hub this is, for the log. */
  kind: string;
  stop(): Promise<void>;
}

/** Registers one machine over the hub WebSocket and keeps its control connection open. */
async function registerMachine(
  hub: TestHub,
  machineName: string,
): Promise<{ close(): Promise<void> }> {
  const ws = new WebSocket(hub.url.replace(/^http/, "ws") + "/");
  const closed = new Promise<void>((r) => ws.addEventListener("close", () => r()));
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`cannot open a WebSocket to ${hub.url}`));
    }),
    15_000,
    `the WebSocket upgrade at ${hub.url}/`,
  ).catch((e) => {
    ws.close();
    throw e;
  });
  const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
    ws.onmessage = (ev) => resolve(JSON.parse(String(ev.data)));
    ws.onclose = (ev) => reject(new Error(`hub closed the agent socket (${ev.code} ${ev.reason})`));
  });
  ws.send(JSON.stringify({
    type: "register",
    machineName,
    agentId: crypto.randomUUID(),
    machineRegistrationId: crypto.randomUUID(),
    hostname: "browser-test-host",
    os: "linux",
    agentVersion: "v0.14.0",
    ports: [22, 8080],
    services: [{ port: 22, proto: "tcp", name: "SSH" }, { port: 8080, proto: "tcp", name: "Web" }],
    token: hub.agentToken,
    capabilities: { management: true },
  }));
  const msg = await withTimeout(reply, 15_000, "the hub's reply to register");
  assert.equal(msg.type, "registered", `hub answered register with ${JSON.stringify(msg)}`);
  assert.equal(msg.machineId, machineName);
  ws.onclose = null;
  return {
    async close() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
      await closed;
    },
  };
}

/**
 * A stand-in hub: the real console handler plus `/api/status`, `/api/history` and the agent
 * WebSocket with the spec's shapes and auth rules (viewer or owner token, as Bearer or the
 * `tela_viewer` cookie; 401 `{"error":"auth_required",...}` otherwise). Used only until the
 * real telahubd is available.
 */
function startStubHub(): TestHub {
  const viewerToken = randomHex(32), ownerToken = randomHex(32);
  const started = Date.now();
  const rfc3339 = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
  type Entry = { register: Record<string, unknown>; connected: boolean; seen: number; at: number };
  const machines = new Map<string, Entry>();
  const events: Array<Record<string, string>> = [];
  const consoleFiles = consoleHandler({ hubName: "stub-hub", viewerToken });
  const callerToken = (req: Request) => {
    const auth = req.headers.get("authorization");
    if (auth?.startsWith("Bearer ")) return auth.slice(7);
    return /(?:^|;\s*)tela_viewer=([^;]*)/.exec(req.headers.get("cookie") ?? "")?.[1] ?? "";
  };
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      const { socket, response } = Deno.upgradeWebSocket(req);
      let name = "";
      socket.onmessage = (ev) => {
        const msg = JSON.parse(String(ev.data));
        if (msg.type !== "register" || msg.token !== ownerToken) return socket.close(1008);
        name = msg.machineName;
        const now = Date.now();
        machines.set(name, { register: msg, connected: true, seen: now, at: now });
        events.unshift({
          machineId: name,
          event: "agent-register",
          timestamp: rfc3339(),
          detail: `ports=[${msg.ports.join(" ")}]`,
        });
        socket.send(JSON.stringify({ type: "registered", machineId: name }));
      };
      socket.onclose = () => {
        const m = machines.get(name);
        if (!m) return;
        m.connected = false;
        m.seen = Date.now();
        events.unshift({
          machineId: name,
          event: "agent-disconnect",
          timestamp: rfc3339(),
          detail: "agent disconnected",
        });
      };
      return response;
    }
    if (path === "/api/status" || path === "/api/history") {
      const t = callerToken(req);
      const ok = t === viewerToken || t === ownerToken;
      if (path === "/api/history") {
        return ok ? json({ events, timestamp: rfc3339() }) : json({
          error: "auth_required",
          events: [],
        }, 401);
      }
      if (!ok) return json({ error: "auth_required", machines: [] }, 401);
      return json({
        hub: {
          arch: "amd64",
          goVersion: `deno ${Deno.version.deno}`,
          hostname: "stub",
          os: "linux",
          uptime: Math.floor((Date.now() - started) / 1000),
          version: "dev",
        },
        hubId: "00000000-0000-4000-8000-000000000000",
        hubName: "stub-hub",
        machines: [...machines.entries()].map(([id, m]) => ({
          id,
          agentId: m.register.agentId,
          displayName: null,
          hostname: m.register.hostname ?? null,
          os: m.register.os ?? null,
          agentVersion: m.register.agentVersion ?? null,
          tags: [],
          location: null,
          owner: null,
          agentConnected: m.connected,
          sessionCount: 0,
          registeredAt: rfc3339(m.at),
          lastSeen: rfc3339(m.seen),
          services: (m.register.services as Array<Record<string, unknown>>).map((s) => ({
            port: s.port,
            proto: s.proto ?? "tcp",
            name: s.name ?? "",
            description: "",
          })),
        })),
        timestamp: rfc3339(),
      });
    }
    return consoleFiles(req) ?? new Response("404 page not found\n", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    agentToken: ownerToken,
    kind: "stub hub (lib/hub/console.ts + fake API)",
    stop: () => server.shutdown(),
  };
}

const TELAHUBD = new URL("../../cmd/telahubd.ts", import.meta.url);

/**
 * Starts the real `telahubd` (cmd/telahubd.ts) as a separate process with a temp config,
 * free ports (`TELAHUBD_PORT=0`, `TELAHUBD_UDP_PORT=0`) and a known owner token
 * (`TELA_OWNER_TOKEN` bootstrap, book: *Docker* bootstrap). The hub generates its own
 * console-viewer token and injects it into the page, as in production.
 */
async function startRealHub(): Promise<TestHub> {
  const dir = await Deno.makeTempDir({ prefix: "tela-console-hub-" });
  const ownerToken = randomHex(32);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TELAHUBD.href, "-config", `${dir}/telahubd.yaml`],
    cwd: dir,
    env: {
      TELAHUBD_PORT: "0",
      TELAHUBD_UDP_PORT: "0",
      TELAHUBD_NAME: "browser-test-hub",
      TELA_OWNER_TOKEN: ownerToken,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) output = (output + dec.decode(chunk)).slice(-8000);
  };
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]).catch(() => {});
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 10_000);
      await status;
      clearTimeout(timer);
    }
    await drained;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // Wait for "telahubd listening on :<port>" (cmd/telahubd.ts prints it once serving).
  const deadline = Date.now() + 60_000;
  let port = 0;
  while (!port) {
    const m = /telahubd listening on :(\d+)/.exec(output);
    if (m) port = Number(m[1]);
    else if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(
        `telahubd did not start (${
          exited ? "it exited" : "no listening line in 60 s"
        }):\n${output}`,
      );
    } else await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    agentToken: ownerToken,
    kind: `real telahubd (${TELAHUBD.pathname})`,
    stop,
  };
}

/**
 * Starts the real hub when this checkout has cmd/telahubd.ts, else the stub (or the stub
 * when TELA_CONSOLE_TEST_STUB=1).
 */
function startHub(): Promise<TestHub> {
  let haveHub = false;
  try {
    haveHub = Deno.statSync(TELAHUBD).isFile;
  } catch { /* not built yet */ }
  if (haveHub && Deno.env.get("TELA_CONSOLE_TEST_STUB") !== "1") return startRealHub();
  return Promise.resolve(startStubHub());
}

Deno.test({
  name: "hub console in Chromium lists a registered machine, refreshes, and switches theme",
  ignore: !HAVE_CHROMIUM && !IN_CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.ok(HAVE_CHROMIUM, "CI=true but /usr/bin/chromium is missing");
    const shotDir = await Deno.makeTempDir({ prefix: "tela-console-shots-" });
    console.log(`console_browser_test: screenshots in ${shotDir}`);
    const machineName = `browser-test-${randomHex(3)}`;
    let hub: TestHub | undefined;
    let agent: { close(): Promise<void> } | undefined;
    let browser: Chromium | undefined;
    try {
      hub = await startHub();
      console.log(`console_browser_test: ${hub.kind} at ${hub.url}`);
      step(`registering ${machineName} over the WebSocket`);
      agent = await registerMachine(hub, machineName);
      step("starting chromium");

      browser = await Chromium.launch();
      const page = await browser.newPage();
      await page.setViewport(1200, 860);
      await page.emulateColorScheme("light");
      step("loading the console");
      await page.goto(`${hub.url}/`);

      // Machines table: the registered machine, online, with its services.
      const rowSel = `#machines-body tr[data-machine="${machineName}"]`;
      await page.waitFor(`document.querySelector(${JSON.stringify(rowSel)})`, "the machine row");
      const row = await page.evaluate<{ text: string; state: string }>(`(() => {
        const tr = document.querySelector(${JSON.stringify(rowSel)});
        return { text: tr.innerText, state: tr.querySelector(".status").dataset.state };
      })()`);
      assert.match(row.text, new RegExp(machineName));
      assert.match(row.text, /SSH\s*22/);
      assert.match(row.text, /Web\s*8080/);
      assert.equal(row.state, "online");
      const lastUpdated = await page.evaluate<string>(
        `document.getElementById("last-updated").textContent`,
      );
      assert.notEqual(lastUpdated, "never");
      // Recent Activity shows the registration.
      await page.waitFor(
        `[...document.querySelectorAll("#activity-body tr")].some((tr) =>
           tr.innerText.includes(${JSON.stringify(machineName)}) &&
           tr.innerText.includes("Agent registered"))`,
        "the agent-register event in Recent Activity",
      );

      step("checking the theme toggle");
      // Theme: "system" by default, which follows the emulated light scheme.
      assert.equal(await page.evaluate(`localStorage.getItem("theme")`), null);
      assert.equal(await themeOf(page), "light");
      assert.equal(await backgroundOf(page), BG_LIGHT);
      await page.screenshot(`${shotDir}/console-light.png`);

      // Pick Dark from the theme menu with real clicks.
      await page.click("#theme-button");
      await page.waitFor(`!document.getElementById("theme-menu").hidden`, "the theme menu");
      await page.click(`[data-theme-choice="dark"]`);
      await page.waitFor(`document.documentElement.dataset.theme === "dark"`, "dark theme");
      assert.equal(await backgroundOf(page), BG_DARK);
      assert.notEqual(BG_DARK, BG_LIGHT);
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

      step("disconnecting the agent");
      // The agent goes away; Refresh shows it offline and logs the disconnect.
      await agent.close();
      agent = undefined;
      await page.click("#refresh-button");
      await page.waitFor(
        `document.querySelector(${JSON.stringify(rowSel + " .status")})?.dataset.state ===
           "offline"`,
        "the machine shown offline after Refresh",
      );
      await page.waitFor(
        `[...document.querySelectorAll("#activity-body tr")].some((tr) =>
           tr.innerText.includes(${JSON.stringify(machineName)}) &&
           tr.innerText.includes("Agent disconnected"))`,
        "the agent-disconnect event",
      );
      await page.screenshot(`${shotDir}/console-dark-offline.png`);

      step("checking the 401 state");
      // A token the hub does not know: the page says so instead of showing an empty table.
      await page.emulateColorScheme("light");
      await page.goto(`${hub.url}/?token=not-a-valid-token`);
      await page.waitFor(
        `document.getElementById("machines-empty").innerText.includes("Not authorized")`,
        "the 401 state",
      );
      assert.match(
        await page.evaluate<string>(`document.getElementById("fetch-error").innerText`),
        /HTTP 401/,
      );
      await page.screenshot(`${shotDir}/console-401.png`);

      // The hub stops: Refresh reports it unreachable and keeps the last data.
      await page.goto(`${hub.url}/`);
      await page.waitFor(`document.querySelector(${JSON.stringify(rowSel)})`, "the row");
      step("stopping the hub");
      await hub.stop();
      hub = undefined;
      step("checking the unreachable state");
      await page.click("#refresh-button");
      await page.waitFor(
        `document.getElementById("fetch-error").innerText.includes("Hub unreachable")`,
        "the unreachable notice",
      );
      assert.ok(await page.evaluate(`!!document.querySelector(${JSON.stringify(rowSel)})`));
      await page.screenshot(`${shotDir}/console-unreachable.png`);
      console.log(
        `console_browser_test: saved ${[...Deno.readDirSync(shotDir)].length} screenshots`,
      );
    } finally {
      step("cleaning up");
      await browser?.close();
      await agent?.close().catch(() => {});
      await hub?.stop();
    }
  },
});

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

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
