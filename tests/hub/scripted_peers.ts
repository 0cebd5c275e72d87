/**
 * Scripted Tela peers for tests and benchmarks: a real `telahubd` process, and an
 * agent and a client that speak the spec's JSON and relay frames over real
 * WebSockets and UDP (spec session-and-relay.md §2-§5). No WireGuard: payloads
 * are whatever bytes the test chooses.
 *
 * Reused by tests/hub/*, bench/hub.ts and the console's browser test.
 *
 * ```ts
 * const hub = await startHubProcess();               // temp config dir, free ports
 * const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token: hub.ownerToken });
 * const s = await openSession(hub.url, agent, { token: hub.ownerToken });
 * s.client.ws.sendBinary(encodeRelayFrame(bytes));   // arrives at s.agent.ws with hop 7
 * await hub.stop();
 * ```
 *
 * How a test finds the hub's port: the hub is started with `TELAHUBD_PORT=0` and
 * `TELAHUBD_UDP_PORT=0` and logs `telahubd listening on [<address>]:<port> (udp relay :<udpPort>)`
 * on stderr once it serves; {@link startHubProcess} waits for that line. Stdout carries
 * only data (the first-start owner-token banner).
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { decodeUdpToken, encodeProbe, isReadyFor, UDP_TOKEN_LEN } from "../../lib/protocol/mod.ts";
import { type RunningHub, startHub, type StartHubOptions } from "../../lib/hub/mod.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const HUB_MAIN = `${REPO}cmd/telahubd.ts`;

/** Default wait for any single expected event, ms (generous: loaded 2-core CI). */
export const WAIT_MS = 15_000;

// ---------------------------------------------------------------- hub process

/** A `telahubd` child process. */
export interface HubProcess {
  /** HTTP/WS port. */
  port: number;
  /** UDP relay port. */
  udpPort: number;
  /** `ws://127.0.0.1:<port>` */
  url: string;
  /** `http://127.0.0.1:<port>` */
  httpUrl: string;
  /** The config folder (temp unless given). */
  dir: string;
  configPath: string;
  /** Token of the first `owner` identity in the config (undefined in open mode). */
  ownerToken?: string;
  /** Token of the first `viewer` identity. */
  viewerToken?: string;
  /**
   * Lines the hub printed on stdout so far (complete once {@link stop} returned). Stdout and
   * stderr are separate pipes: a line printed before the listening line may still be in
   * transit when {@link startHubProcess} returns; wait for it with {@link waitStdout}.
   */
  stdout: string[];
  /** Resolves with the stdout text (lines joined with `\n`) once it matches `re`. */
  waitStdout(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Everything the hub printed on stderr so far (log lines). */
  stderr(): string;
  child: Deno.ChildProcess;
  /** Sends a signal (default SIGTERM) and waits for exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /**
   * {@link HubProcess.stop}, then removes {@link HubProcess.dir} when
   * {@link startHubProcess} created it (a `dir` passed in is kept).
   */
  close(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Exit status once the process ended. */
  status: Promise<Deno.CommandStatus>;
}

/** Options of {@link startHubProcess}. */
export interface HubProcessOptions {
  /** Config folder to use (kept); default a new temp folder. */
  dir?: string;
  /** YAML text written to `<dir>/telahubd.yaml` before start. */
  configYaml?: string;
  /** Extra command-line arguments (e.g. `["-open"]`). */
  args?: string[];
  /** Extra environment (`TELAHUBD_PORT`/`TELAHUBD_UDP_PORT` default to 0). */
  env?: Record<string, string>;
  /** How long to wait for the listening line, ms. */
  timeoutMs?: number;
  /** Pass `-config <dir>/telahubd.yaml` (default true); false tests the lookup order (cwd = dir). */
  configFlag?: boolean;
  /** Run the hub under this descriptor limit (`prlimit --nofile=N:N`, which execs: same PID). */
  nofile?: number;
}

/**
 * Spawns `deno run -A cmd/telahubd.ts -config <dir>/telahubd.yaml` on free ports
 * and waits until it listens.
 * @throws when the process exits or does not print its listening line in time
 *   (the error carries its stderr).
 */
export async function startHubProcess(opts: HubProcessOptions = {}): Promise<HubProcess> {
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "telahubd-test-" });
  const configPath = opts.configFlag === false
    ? `${dir}/data/telahubd.yaml`
    : `${dir}/telahubd.yaml`;
  if (opts.configYaml !== undefined) {
    await Deno.mkdir(configPath.slice(0, configPath.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(configPath, opts.configYaml);
  }
  const prlimit = opts.nofile ? [`--nofile=${opts.nofile}:${opts.nofile}`, Deno.execPath()] : [];
  const child = new Deno.Command(opts.nofile ? "prlimit" : Deno.execPath(), {
    args: [
      ...prlimit,
      "run",
      "-A",
      HUB_MAIN,
      ...(opts.configFlag === false ? [] : ["-config", configPath]),
      ...(opts.args ?? []),
    ],
    env: { TELAHUBD_PORT: "0", TELAHUBD_UDP_PORT: "0", NO_COLOR: "1", ...(opts.env ?? {}) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    cwd: dir,
  }).spawn();
  const stdout: string[] = [];
  let stderr = "";
  const listening = Promise.withResolvers<{ port: number; udpPort: number }>();
  const stdoutWaiters = new Set<() => void>();
  const stdoutDone = (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of child.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        stdout.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      for (const w of stdoutWaiters) w();
    }
  })().catch(() => {}).finally(() => {
    for (const w of stdoutWaiters) w();
  });
  (async () => {
    const dec = new TextDecoder();
    let line = "";
    for await (const chunk of child.stderr) {
      const text = dec.decode(chunk, { stream: true });
      stderr += text;
      if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));
      // The listening line is a log line on stderr (data on stdout, logs on stderr).
      line += text;
      let nl;
      while ((nl = line.indexOf("\n")) >= 0) {
        const m = line.slice(0, nl).match(/telahubd listening on \S*:(\d+) \(udp relay :(\d+)/);
        if (m) listening.resolve({ port: Number(m[1]), udpPort: Number(m[2]) });
        line = line.slice(nl + 1);
      }
    }
  })().catch(() => {});
  const status = child.status;
  status.then((s) =>
    listening.reject(new Error(`telahubd exited (code ${s.code}) before listening:\n${stderr}`))
  );
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`telahubd did not listen within ${timeoutMs} ms:\n${stderr}`)),
      timeoutMs,
    );
  });
  let ports;
  try {
    ports = await Promise.race([listening.promise, timeout]);
  } catch (err) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await status;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const cfg = parseYaml(await Deno.readTextFile(configPath)) as {
    auth?: { tokens?: { token: string; hubRole?: string }[] };
  };
  const tokens = cfg?.auth?.tokens ?? [];
  async function stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      child.kill(signal);
    } catch { /* already exited */ }
    const s = await status;
    await stdoutDone; // stdout is complete once the process is gone
    return s;
  }
  return {
    ...ports,
    url: `ws://127.0.0.1:${ports.port}`,
    httpUrl: `http://127.0.0.1:${ports.port}`,
    dir,
    configPath,
    ownerToken: tokens.find((t) => t.hubRole === "owner")?.token,
    viewerToken: tokens.find((t) => t.hubRole === "viewer")?.token,
    stdout,
    stderr: () => stderr,
    child,
    status,
    waitStdout(re: RegExp, waitMs = WAIT_MS): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const text = stdout.join("\n");
          if (re.test(text)) {
            stdoutWaiters.delete(check);
            clearTimeout(t);
            resolve(text);
          }
        };
        const t = setTimeout(() => {
          stdoutWaiters.delete(check);
          reject(
            new Error(`stdout did not match ${re} within ${waitMs} ms:\n${stdout.join("\n")}`),
          );
        }, waitMs);
        stdoutWaiters.add(check);
        check();
      });
    },
    stop,
    async close(signal: Deno.Signal = "SIGTERM") {
      const s = await stop(signal);
      if (opts.dir === undefined) await Deno.remove(dir, { recursive: true });
      return s;
    },
  };
}

/** What a `telahubd` run that ends by itself printed, and its exit status. */
export interface HubRunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Stops a hub started by {@link startHubProcess} (SIGTERM; SIGKILL when it has not exited
 * after 15 s) and removes its temporary config folder.
 */
export async function stopHubAndClean(hub: HubProcess): Promise<void> {
  const timer = setTimeout(() => {
    try {
      hub.child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, 15_000);
  try {
    await hub.stop();
  } finally {
    clearTimeout(timer);
  }
  await Deno.remove(hub.dir, { recursive: true }).catch(() => {});
}

/**
 * Runs `deno run -A cmd/telahubd.ts <args>` to completion (a sub-command such as `health`,
 * or arguments that must be refused). `TELAHUBD_PORT` and `TELAHUBD_UDP_PORT` are 0, so a
 * run that starts a hub by mistake takes free ports; `env` adds to that.
 */
export async function runHubOnce(
  args: string[],
  env: Record<string, string> = {},
): Promise<HubRunResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HUB_MAIN, ...args],
    env: { TELAHUBD_PORT: "0", TELAHUBD_UDP_PORT: "0", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

// ---------------------------------------------------------------- in-process hub

/** Options of {@link startHubInProcess}: {@link StartHubOptions} plus what a test sets up. */
export interface InProcessHubOptions extends Omit<StartHubOptions, "env"> {
  /** YAML text written to `<dir>/telahubd.yaml` before start. */
  configYaml?: string;
  /** Environment the hub sees, over `TELAHUBD_PORT=0` and `TELAHUBD_UDP_PORT=0`. */
  env?: Record<string, string>;
}

/** A hub started by {@link startHubInProcess}. */
export interface InProcessHub {
  running: RunningHub;
  /** Its temporary config folder (the working folder too unless `cwd` was given). */
  dir: string;
  /** `ws://127.0.0.1:<port>` */
  url: string;
  /** `http://127.0.0.1:<port>` */
  http: string;
  /** Shuts the hub down and removes {@link InProcessHub.dir}. */
  close(): Promise<void>;
}

/**
 * Starts a hub in this process on 127.0.0.1 with free ports, `<dir>/telahubd.yaml` in a new
 * temporary folder, and nothing printed; `opts` override any of that.
 * @throws whatever {@link startHub} throws (a bad config, a port in use)
 */
export async function startHubInProcess(opts: InProcessHubOptions = {}): Promise<InProcessHub> {
  const dir = await Deno.makeTempDir({ prefix: "telahubd-test-" });
  const { configYaml, env: extraEnv, ...rest } = opts;
  if (configYaml !== undefined) await Deno.writeTextFile(`${dir}/telahubd.yaml`, configYaml);
  const env: Record<string, string> = { TELAHUBD_PORT: "0", TELAHUBD_UDP_PORT: "0", ...extraEnv };
  let running: RunningHub;
  try {
    running = await startHub({
      configPath: `${dir}/telahubd.yaml`,
      print: () => {},
      cwd: dir,
      listen: "127.0.0.1",
      ...rest,
      env: (n) => env[n],
    });
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
  return {
    running,
    dir,
    url: `ws://127.0.0.1:${running.port}`,
    http: `http://127.0.0.1:${running.port}`,
    async close() {
      await running.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

// ---------------------------------------------------------------- WebSocket peer

/** Something received on a {@link WsPeer}. */
export type WsEvent =
  | { kind: "text"; text: string }
  | { kind: "binary"; data: Uint8Array }
  | { kind: "close"; code: number; reason: string };

/** A WebSocket with an inbox, so tests can `await next()` in order. */
export class WsPeer {
  readonly #inbox: WsEvent[] = [];
  readonly #waiters: ((e: WsEvent) => void)[] = [];
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Counts of binary messages and bytes received (bench). */
  rxFrames = 0;
  rxBytes = 0;
  /** When set, binary messages go here instead of the inbox (bench hot path). */
  onBinary?: (data: Uint8Array) => void;

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = "arraybuffer";
    const closed = Promise.withResolvers<{ code: number; reason: string }>();
    this.closed = closed.promise;
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") this.#push({ kind: "text", text: ev.data });
      else {
        const data = new Uint8Array(ev.data as ArrayBuffer);
        this.rxFrames++;
        this.rxBytes += data.length;
        if (this.onBinary) this.onBinary(data);
        else this.#push({ kind: "binary", data });
      }
    };
    ws.onclose = (ev) => {
      closed.resolve({ code: ev.code, reason: ev.reason });
      this.#push({ kind: "close", code: ev.code, reason: ev.reason });
    };
    ws.onerror = () => {};
  }

  /**
   * Opens a WebSocket (no `Origin` header, like Go peers).
   * @throws when the upgrade fails.
   */
  static open(url: string, opts: { headers?: Record<string, string> } = {}): Promise<WsPeer> {
    const ws = opts.headers
      ? new WebSocket(url, { headers: opts.headers } as unknown as string[])
      : new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve(new WsPeer(ws));
      ws.onerror = (e) =>
        reject(new Error(`WebSocket ${url}: ${(e as ErrorEvent).message ?? "error"}`));
    });
  }

  #push(e: WsEvent): void {
    const w = this.#waiters.shift();
    if (w) w(e);
    else this.#inbox.push(e);
  }

  /** The next event, or a rejection after `timeoutMs`. */
  next(timeoutMs = WAIT_MS): Promise<WsEvent> {
    const e = this.#inbox.shift();
    if (e) return Promise.resolve(e);
    return new Promise((resolve, reject) => {
      const waiter = (ev: WsEvent) => {
        clearTimeout(timer);
        resolve(ev);
      };
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`no WebSocket message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Next event must be a JSON text message; returns it parsed (and its raw text). */
  async nextJson(timeoutMs = WAIT_MS): Promise<Record<string, unknown> & { type: string }> {
    const e = await this.next(timeoutMs);
    if (e.kind !== "text") {
      throw new Error(`expected a JSON text message, got ${describe(e)}`);
    }
    return JSON.parse(e.text);
  }

  /** Next event must be JSON of the given `type`. */
  async expect(type: string, timeoutMs = WAIT_MS): Promise<Record<string, unknown>> {
    const m = await this.nextJson(timeoutMs);
    if (m.type !== type) throw new Error(`expected "${type}", got ${JSON.stringify(m)}`);
    return m;
  }

  /** Next event must be a binary message; returns its bytes. */
  async nextBinary(timeoutMs = WAIT_MS): Promise<Uint8Array> {
    const e = await this.next(timeoutMs);
    if (e.kind !== "binary") throw new Error(`expected a binary message, got ${describe(e)}`);
    return e.data;
  }

  /** Next event must be the close; returns code and reason. */
  async nextClose(timeoutMs = WAIT_MS): Promise<{ code: number; reason: string }> {
    for (;;) {
      const e = await this.next(timeoutMs);
      if (e.kind === "close") return { code: e.code, reason: e.reason };
    }
  }

  /** Messages already received and not yet consumed. */
  get pending(): number {
    return this.#inbox.length;
  }

  sendJson(obj: unknown): void {
    this.ws.send(JSON.stringify(obj));
  }
  sendText(text: string): void {
    this.ws.send(text);
  }
  sendBinary(data: Uint8Array): void {
    this.ws.send(data);
  }
  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }
  /** Closes (normal closure) and waits for the close to complete. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    try {
      this.ws.close();
    } catch { /* closing */ }
    await this.closed;
  }
}

/**
 * Reads a peer's events (20 at most) until the hub closes it: the hub's cut of a session or
 * control socket. @returns the `error` message text sent before the close ("" when none),
 * and the close code and reason.
 * @throws Error when no close arrives within 20 events.
 */
export async function cutOf(
  ws: WsPeer,
): Promise<{ message: string; code: number; reason: string }> {
  let message = "";
  for (let i = 0; i < 20; i++) {
    const e = await ws.next();
    if (e.kind === "text") {
      const m = JSON.parse(e.text);
      if (m.type === "error") message = m.message;
    } else if (e.kind === "close") {
      return { message, code: e.code, reason: e.reason };
    }
  }
  throw new Error("no close");
}

function describe(e: WsEvent): string {
  if (e.kind === "text") return `text ${e.text.slice(0, 200)}`;
  if (e.kind === "binary") return `binary (${e.data.length} bytes)`;
  return `close ${e.code} ${e.reason}`;
}

// ---------------------------------------------------------------- agent and client

/** A 64-hex-char fake WireGuard public key. */
export function fakeKey(seed: number): string {
  return seed.toString(16).padStart(8, "0").repeat(8);
}

/** What a per-session agent WS or client WS learnt during setup. */
export interface SessionEnd {
  ws: WsPeer;
  sessionIdx: number;
  /** `udp-offer` for this side. */
  udpOffer: { port: number; token: string; host?: string };
  /** Message types received during setup, in order. */
  order: string[];
}

/** Options of {@link ScriptedAgent.register}. */
export interface RegisterOptions {
  machineName: string;
  token?: string;
  agentId?: string;
  machineRegistrationId?: string;
  ports?: number[];
  services?: { port: number; proto?: string; name?: string; description?: string }[];
  /** More fields merged into the register message. */
  extra?: Record<string, unknown>;
}

/** An agent: one control WebSocket, one per-session WebSocket per accepted session. */
export class ScriptedAgent {
  private constructor(
    readonly url: string,
    readonly control: WsPeer,
    readonly opts: RegisterOptions & { agentId: string },
  ) {}

  /** Builds the register message a Go agent would send. */
  static registerMessage(o: RegisterOptions & { agentId: string }): Record<string, unknown> {
    return {
      type: "register",
      machineName: o.machineName,
      agentId: o.agentId,
      ...(o.machineRegistrationId ? { machineRegistrationId: o.machineRegistrationId } : {}),
      hostname: o.machineName,
      os: "linux",
      agentVersion: "v0.14.0",
      ports: o.ports ?? [22],
      ...(o.services ? { services: o.services } : {}),
      ...(o.token !== undefined ? { token: o.token } : {}),
      capabilities: { management: true },
      ...(o.extra ?? {}),
    };
  }

  /**
   * Dials the hub and registers; resolves once `registered` arrives.
   * @throws an Error carrying the hub's `error` message (e.g. "Access denied").
   */
  static async register(url: string, opts: RegisterOptions): Promise<ScriptedAgent> {
    const o = { ...opts, agentId: opts.agentId ?? crypto.randomUUID() };
    const control = await WsPeer.open(url);
    control.sendText(JSON.stringify(ScriptedAgent.registerMessage(o)) + "\n");
    const m = await control.nextJson();
    if (m.type !== "registered") {
      await control.close();
      throw new HubError(String(m.message ?? JSON.stringify(m)));
    }
    return new ScriptedAgent(url, control, o);
  }

  /** Waits for the next `session-request` on the control WS. */
  async nextSessionRequest(
    timeoutMs = WAIT_MS,
  ): Promise<{ sessionId: string; sessionIdx: number; wgPubKey: string }> {
    const m = await this.control.expect("session-request", timeoutMs);
    return m as unknown as { sessionId: string; sessionIdx: number; wgPubKey: string };
  }

  /**
   * Opens the per-session WS, sends `session-join`, and reads `session-start` and
   * `udp-offer` (the order a Go agent requires).
   */
  async join(req: { sessionId: string; sessionIdx: number }): Promise<SessionEnd> {
    const ws = await WsPeer.open(this.url);
    ws.sendText(
      JSON.stringify({
        type: "session-join",
        machineId: this.opts.machineName,
        sessionId: req.sessionId,
      }) + "\n",
    );
    const order: string[] = [];
    const start = await ws.nextJson();
    order.push(start.type);
    if (start.type !== "session-start") {
      throw new HubError(`expected session-start, got ${JSON.stringify(start)}`);
    }
    const offer = await ws.expect("udp-offer");
    order.push("udp-offer");
    return {
      ws,
      sessionIdx: req.sessionIdx,
      udpOffer: offer as unknown as SessionEnd["udpOffer"],
      order,
    };
  }

  /** Closes the control WS. */
  close(): Promise<void> {
    return this.control.close();
  }
}

/** The hub answered with an `error` message. */
export class HubError extends Error {
  override name = "HubError";
}

/**
 * Opens a client WS and sends `connect` (with the trailing newline Go adds).
 */
export async function clientConnect(
  url: string,
  o: { machineId: string; token?: string; wgPubKey?: string; ports?: number[] },
): Promise<WsPeer> {
  const ws = await WsPeer.open(url);
  ws.sendText(
    JSON.stringify({
      type: "connect",
      machineId: o.machineId,
      wgPubKey: o.wgPubKey ?? fakeKey(1),
      ...(o.ports ? { ports: o.ports } : {}),
      ...(o.token !== undefined ? { token: o.token } : {}),
    }) + "\n",
  );
  return ws;
}

/** Both ends of an established session. */
export interface OpenSession {
  client: SessionEnd;
  agent: SessionEnd;
  sessionId: string;
  /** The key the agent saw in `session-request` / `session-start`. */
  clientKeySeen: string;
}

/**
 * Runs the whole setup: client `connect` → agent `session-request` →
 * `session-join` → `session-start`/`udp-offer` (agent), `ready`/`udp-offer`
 * (client) → agent `wg-pubkey` relayed to the client.
 * @throws {HubError} when the hub refuses the connect.
 */
export async function openSession(
  url: string,
  agent: ScriptedAgent,
  o: { token?: string; ports?: number[]; clientKey?: string; agentKey?: string } = {},
): Promise<OpenSession> {
  const clientKey = o.clientKey ?? fakeKey(0xc1);
  const ws = await clientConnect(url, {
    machineId: agent.opts.machineName,
    token: o.token,
    wgPubKey: clientKey,
    ports: o.ports,
  });
  const first = await Promise.race([
    agent.nextSessionRequest().then((r) => ({ r })),
    ws.closed.then(() => ({ r: undefined })),
  ]);
  if (!first.r) {
    const m = await ws.nextJson();
    throw new HubError(String(m.message));
  }
  const req = first.r;
  const agentEnd = await agent.join(req);
  const order: string[] = [];
  const ready = await ws.expect("ready");
  order.push("ready");
  const offer = await ws.expect("udp-offer");
  order.push("udp-offer");
  agentEnd.ws.sendText(
    JSON.stringify({
      type: "wg-pubkey",
      wgPubKey: o.agentKey ?? fakeKey(0xa9),
      ports: agent.opts.ports ?? [22],
      capabilities: { management: true },
    }) + "\n",
  );
  await ws.expect("wg-pubkey");
  order.push("wg-pubkey");
  return {
    client: {
      ws,
      sessionIdx: ready.sessionIdx as number,
      udpOffer: offer as unknown as SessionEnd["udpOffer"],
      order,
    },
    agent: agentEnd,
    sessionId: req.sessionId,
    clientKeySeen: req.wgPubKey,
  };
}

// ---------------------------------------------------------------- UDP side

/** One side's UDP socket towards the hub relay, with a background reader and an inbox. */
export class UdpSide {
  readonly conn: Deno.DatagramConn;
  readonly token: Uint8Array;
  readonly #hub: Deno.NetAddr;
  readonly #inbox: Uint8Array[] = [];
  readonly #waiters: ((d: Uint8Array) => void)[] = [];
  /** When set, datagrams go here (a view valid during the call) instead of the inbox. */
  onDatagram?: (d: Uint8Array) => void;
  rxDatagrams = 0;
  rxBytes = 0;

  /**
   * @param hubUdpPort the port from `udp-offer`.
   * @param tokenHex the token from `udp-offer`.
   */
  constructor(hubUdpPort: number, tokenHex: string) {
    const t = decodeUdpToken(tokenHex);
    if (!t) throw new Error(`bad UDP token ${tokenHex}`);
    this.token = t;
    this.#hub = { transport: "udp", hostname: "127.0.0.1", port: hubUdpPort };
    this.conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    this.#read();
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(65536);
    for (;;) {
      let d: Uint8Array;
      try {
        [d] = await this.conn.receive(buf);
      } catch {
        return; // closed
      }
      this.rxDatagrams++;
      this.rxBytes += d.length;
      if (this.onDatagram) {
        this.onDatagram(d);
        continue;
      }
      const copy = d.slice();
      const w = this.#waiters.shift();
      if (w) w(copy);
      else this.#inbox.push(copy);
    }
  }

  /**
   * Sends PROBE and waits for READY with our token (re-sent every 2 s: UDP).
   * @throws when no READY arrives within `timeoutMs`.
   */
  async probe(timeoutMs = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const probe = encodeProbe(this.token);
    while (Date.now() < deadline) {
      await this.conn.send(probe, this.#hub);
      const d = await this.receive(Math.min(2000, Math.max(1, deadline - Date.now()))).catch(
        () => undefined,
      );
      if (d && isReadyFor(d, this.token)) return;
    }
    throw new Error("no READY from the hub's UDP relay");
  }

  /** Sends `token ‖ frame`. */
  async sendFrame(frame: Uint8Array): Promise<void> {
    const d = new Uint8Array(UDP_TOKEN_LEN + frame.length);
    d.set(this.token, 0);
    d.set(frame, UDP_TOKEN_LEN);
    await this.conn.send(d, this.#hub);
  }

  /** Sends raw bytes to the hub's relay port. */
  async sendRaw(d: Uint8Array): Promise<void> {
    await this.conn.send(d, this.#hub);
  }

  /** Next datagram, or a rejection after `timeoutMs`. */
  receive(timeoutMs = WAIT_MS): Promise<Uint8Array> {
    const d = this.#inbox.shift();
    if (d) return Promise.resolve(d);
    return new Promise((resolve, reject) => {
      const waiter = (x: Uint8Array) => {
        clearTimeout(timer);
        resolve(x);
      };
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`no datagram within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Datagrams received and not yet consumed. */
  get pending(): number {
    return this.#inbox.length;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

/** GET a hub JSON endpoint with an optional bearer token. */
export async function getJson(
  hub: { httpUrl: string },
  path: string,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const r = await fetch(`${hub.httpUrl}${path}`, {
    headers: token !== undefined ? { Authorization: `Bearer ${token}` } : {},
  });
  const text = await r.text();
  return { status: r.status, body: JSON.parse(text), headers: r.headers };
}

/** Polls `cond` every 50 ms until true or `timeoutMs` passes. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
