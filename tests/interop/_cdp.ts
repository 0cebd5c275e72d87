/**
 * A small Chrome DevTools Protocol driver for headless Chromium, over Deno's built-in
 * WebSocket (no puppeteer, no playwright). Enough for browser tests of the hub console:
 * open a page, navigate, evaluate JavaScript, click like a user, emulate the system colour
 * scheme, and take screenshots.
 *
 * Flags follow /work/shared/testing/real-peers.md section 7; the DevTools endpoint comes
 * from `--remote-debugging-port=0` and the `DevToolsActivePort` file Chromium writes into
 * its user-data dir.
 *
 * @module
 */

/** Where Debian installs Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** True when the Chromium binary exists. */
export function chromiumInstalled(path = CHROMIUM_PATH): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Whether a browser test can run here: `have` when Chromium is installed; `ignore` when it
 * is not and CI is not set (`CI=true` makes a missing Chromium a failure: the test runs and
 * asserts `have`). Prints `<test>: skipped|FAIL: ...` when Chromium is missing.
 * @param test the test file's name, for the printed line.
 */
export function chromiumGate(test: string): { have: boolean; ignore: boolean } {
  const inCi = Deno.env.get("CI") === "true";
  const have = chromiumInstalled();
  if (!have) {
    console.log(
      `${test}: ${inCi ? "FAIL" : "skipped"}: ${CHROMIUM_PATH} not found ` +
        "(apt-get install chromium fonts-dejavu-core)",
    );
  }
  return { have, ignore: !have && !inCi };
}

/** A CDP command without an answer after this long fails, in milliseconds. */
const COMMAND_TIMEOUT_MS = 30_000;

/** A CDP error reply, naming the method that failed. */
export class CdpError extends Error {
  override name = "CdpError";
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string };
type Listener = (params: Record<string, unknown>, sessionId?: string) => void;

/** One headless Chromium process and its browser-level DevTools connection. */
export class Chromium {
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #listeners = new Set<{ method: string; fn: Listener }>();
  #stderrTail = "";

  private constructor(
    readonly process: Deno.ChildProcess,
    readonly userDataDir: string,
    private readonly socket: WebSocket,
  ) {
    socket.onmessage = (ev) => this.#onMessage(String(ev.data));
    socket.onclose = () => {
      for (const p of this.#pending.values()) {
        p.reject(new CdpError(`${p.method}: DevTools connection closed`));
      }
      this.#pending.clear();
    };
  }

  /**
   * Starts Chromium headless with a fresh user-data dir and connects to it.
   * @param opts.timeoutMs how long to wait for the DevTools endpoint, default 30 000 ms.
   * @throws {Error} when Chromium exits or does not open its DevTools port in time; the
   *   message carries the end of its stderr.
   */
  static async launch(opts: { timeoutMs?: number; path?: string } = {}): Promise<Chromium> {
    const userDataDir = await Deno.makeTempDir({ prefix: "tela-chromium-" });
    const child = new Deno.Command(opts.path ?? CHROMIUM_PATH, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--force-color-profile=srgb",
        `--user-data-dir=${userDataDir}`,
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();

    // Drain stderr (a full pipe would stall Chromium) and keep its tail for error messages.
    let tail = "";
    const drained = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of child.stderr) tail = (tail + dec.decode(chunk)).slice(-4000);
    })().catch(() => {});

    let exited = false;
    child.status.then(() => exited = true);
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    let wsUrl = "";
    while (!wsUrl) {
      try {
        const [port, path] = (await Deno.readTextFile(`${userDataDir}/DevToolsActivePort`))
          .split("\n");
        if (port && path) wsUrl = `ws://127.0.0.1:${port.trim()}${path.trim()}`;
      } catch {
        // Not written yet.
      }
      if (wsUrl) break;
      if (exited || Date.now() > deadline) {
        if (!exited) child.kill("SIGKILL");
        await child.status;
        await drained;
        await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
        throw new Error(
          `chromium did not open its DevTools port (${exited ? "it exited" : "timed out"}). ` +
            `stderr tail:\n${tail}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }

    const socket = new WebSocket(wsUrl);
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          socket.onopen = () => resolve();
          socket.onerror = () => reject(new Error(`cannot connect to DevTools at ${wsUrl}`));
        }),
        15_000,
        `DevTools WebSocket ${wsUrl}`,
      );
    } catch (e) {
      child.kill("SIGKILL");
      await child.status;
      await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
      throw e;
    }
    const browser = new Chromium(child, userDataDir, socket);
    drained.then(() => browser.#stderrTail = tail);
    return browser;
  }

  /** Last lines Chromium wrote to stderr (after it exited), for diagnostics. */
  get stderrTail(): string {
    return this.#stderrTail;
  }

  /**
   * Sends one CDP command and resolves with its result (30 s timeout).
   * @param sessionId target session from {@link newPage}; omit for browser-level commands.
   * @throws {CdpError} on an error reply or a closed connection.
   */
  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<T> {
    const id = this.#nextId++;
    const message: Record<string, unknown> = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    const reply = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method });
      try {
        this.socket.send(JSON.stringify(message));
      } catch (e) {
        this.#pending.delete(id);
        reject(new CdpError(`${method}: ${(e as Error).message}`));
      }
    });
    return withTimeout(reply, COMMAND_TIMEOUT_MS, `CDP ${method}`).finally(() =>
      this.#pending.delete(id)
    );
  }

  /** Calls `fn` for every event named `method`; returns a function that unsubscribes. */
  on(method: string, fn: Listener): () => void {
    const entry = { method, fn };
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }

  #onMessage(text: string) {
    const msg = JSON.parse(text);
    if (typeof msg.id === "number") {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.error) p.reject(new CdpError(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result ?? {});
      return;
    }
    for (const l of this.#listeners) {
      if (l.method === msg.method) l.fn(msg.params ?? {}, msg.sessionId);
    }
  }

  /** Opens a new tab and attaches to it. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.send<{ targetId: string }>("Target.createTarget", {
      url: "about:blank",
    });
    const { sessionId } = await this.send<{ sessionId: string }>("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(this, sessionId);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    return page;
  }

  /**
   * Closes the browser (Browser.close, then SIGKILL after 5 s) and removes its user-data
   * dir. Safe to call twice.
   */
  async close(): Promise<void> {
    let exited = false;
    const status = this.process.status.then(() => exited = true);
    if (this.socket.readyState === WebSocket.OPEN) {
      this.send("Browser.close").catch(() => {});
    }
    await Promise.race([status, new Promise((r) => setTimeout(r, 5_000))]);
    if (!exited) {
      try {
        this.process.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await status;
    }
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
    await Deno.remove(this.userDataDir, { recursive: true }).catch(() => {});
  }
}

/** One tab, driven through a flattened CDP session. */
export class Page {
  constructor(readonly browser: Chromium, readonly sessionId: string) {}

  /** Sends a command to this tab. */
  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}) {
    return this.browser.send<T>(method, params, this.sessionId);
  }

  /** Sets the viewport size in CSS pixels (device scale 1). */
  async setViewport(width: number, height: number): Promise<void> {
    await this.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
  }

  /** Emulates the operating system's colour scheme (`prefers-color-scheme`). */
  async emulateColorScheme(scheme: "light" | "dark"): Promise<void> {
    await this.send("Emulation.setEmulatedMedia", {
      features: [{ name: "prefers-color-scheme", value: scheme }],
    });
  }

  /** Navigates (or reloads, when `url` is omitted) and waits for the load event. */
  async goto(url?: string, timeoutMs = 30_000): Promise<void> {
    let off = () => {};
    const loaded = new Promise<void>((resolve) => {
      off = this.browser.on("Page.loadEventFired", (_p, sid) => {
        if (sid === this.sessionId) resolve();
      });
    });
    try {
      if (url === undefined) {
        await this.send("Page.reload", { ignoreCache: true });
      } else {
        const res = await this.send<{ errorText?: string }>("Page.navigate", { url });
        if (res.errorText) throw new CdpError(`navigate to ${url}: ${res.errorText}`);
      }
      await withTimeout(loaded, timeoutMs, `load event of ${url ?? "reload"}`);
    } finally {
      off();
    }
  }

  /**
   * Evaluates a JavaScript expression in the page (promises are awaited) and returns its
   * value as JSON.
   * @throws {CdpError} when the expression throws.
   */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const res = await this.send<{
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    }>("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    if (res.exceptionDetails) {
      const d = res.exceptionDetails;
      throw new CdpError(`evaluate ${expression}: ${d.exception?.description ?? d.text}`);
    }
    return res.result.value as T;
  }

  /**
   * Polls `expression` every 100 ms until it is truthy, and returns that value.
   * @throws {Error} after `timeoutMs` (default 30 000 ms), naming `what`.
   */
  async waitFor<T = unknown>(expression: string, what: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await this.evaluate<T>(expression).catch(() => undefined);
      if (v) return v;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Clicks the centre of the first element matching `selector` with real mouse events
   * (Input.dispatchMouseEvent), as a user would.
   * @throws {Error} when no visible element matches.
   */
  async click(selector: string): Promise<void> {
    // A page still laying out (a table filled by a fetch above the target) can move the
    // element between measuring and pressing: press only where the element itself is hit,
    // re-measuring until it is (bounded).
    for (let attempt = 0;; attempt++) {
      const box = await this.evaluate<{ x: number; y: number; hit: boolean } | null>(`(() => {
        const el = document.querySelector(${JSON.stringify(selector)});
        if (!el) return null;
        el.scrollIntoView({ block: "center" });
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) return null;
        const x = r.left + r.width / 2, y = r.top + r.height / 2;
        const at = document.elementFromPoint(x, y);
        return { x, y, hit: !!at && (at === el || el.contains(at)) };
      })()`);
      if (!box) throw new Error(`no visible element matches ${selector}`);
      if (!box.hit && attempt < 50) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (!box.hit) throw new Error(`${selector} stays covered by another element`);
      const base = { x: box.x, y: box.y, button: "left", clickCount: 1 };
      await this.send("Input.dispatchMouseEvent", { type: "mouseMoved", x: box.x, y: box.y });
      await this.send("Input.dispatchMouseEvent", { type: "mousePressed", ...base });
      await this.send("Input.dispatchMouseEvent", { type: "mouseReleased", ...base });
      return;
    }
  }

  /**
   * Focuses the first element matching `selector` and types `text` into it as a user would
   * (Input.insertText: one `input` event, as from an IME or a paste).
   * @throws {Error} when no element matches.
   */
  async type(selector: string, text: string): Promise<void> {
    const found = await this.evaluate<boolean>(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el) return false;
      el.focus();
      return document.activeElement === el;
    })()`);
    if (!found) throw new Error(`no focusable element matches ${selector}`);
    await this.send("Input.insertText", { text });
  }

  /** Presses and releases one key (a DOM `key` name such as `"Escape"` or `"ArrowDown"`). */
  async press(key: string): Promise<void> {
    const codes: Record<string, number> = { Escape: 27, Enter: 13, ArrowDown: 40, ArrowUp: 38 };
    const base = { key, code: key, windowsVirtualKeyCode: codes[key] ?? 0 };
    await this.send("Input.dispatchKeyEvent", { type: "rawKeyDown", ...base });
    await this.send("Input.dispatchKeyEvent", { type: "keyUp", ...base });
  }

  /**
   * Saves a PNG screenshot of the viewport to `path`, after `settleMs` (default 400 ms) so
   * CSS transitions (the theme switch fades button backgrounds) have finished.
   */
  async screenshot(path: string, settleMs = 400): Promise<void> {
    await new Promise((r) => setTimeout(r, settleMs));
    const { data } = await this.send<{ data: string }>("Page.captureScreenshot", {
      format: "png",
    });
    const bin = atob(data);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    await Deno.writeFile(path, bytes);
  }
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
