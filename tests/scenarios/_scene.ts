/**
 * Shared harness of the scenario tests (issue 10, hub administration): the book's programs
 * as real processes (`telahubd`, `telad`, `tela`; the admin API only through
 * `tela admin ...`), real TCP services behind the agents, temporary HOMEs and config dirs,
 * free loopback ports. A {@link Scene} owns everything a test starts and stops it by PID.
 * @module
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { type DuplexConn, socketDuplex } from "../../lib/session/mod.ts";
import { DENO_DIR, freeTcpPort, portWithFallbackRoom, Proc, REPO_ROOT } from "../e2e/harness.ts";

export { freeTcpPort, Proc };

/** What a one-shot run printed, its exit status, and when it started and exited. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  /** `performance.now()` at spawn, ms. */
  startedAt: number;
  /** `performance.now()` when the process had exited and its output was read, ms. */
  exitedAt: number;
}

/** The programs of the book. */
export type Program = "tela" | "telad" | "telahubd";

/**
 * The command `deno run -A cmd/<program>.ts <args>` with HOME and working folder `home`,
 * stdin closed, stdout and stderr piped.
 * @param env variables added to HOME, DENO_DIR, NO_COLOR.
 * @param signal kills the process when it aborts.
 */
function programCommand(
  program: Program,
  args: string[],
  home: string,
  env: Record<string, string>,
  signal?: AbortSignal,
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}cmd/${program}.ts`, ...args],
    env: { NO_COLOR: "1", DENO_DIR, HOME: home, ...env },
    cwd: home,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  });
}

/**
 * Runs `deno run -A cmd/<program>.ts <args>` to completion with stdin closed.
 * @param home HOME (and working folder) of the run: a temporary folder.
 * @param env variables added to HOME, DENO_DIR, NO_COLOR.
 * @param timeoutMs the run is killed after this long (default 60 s).
 */
export async function run(
  program: Program,
  args: string[],
  home: string,
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<Ran> {
  const startedAt = performance.now();
  const out = await programCommand(program, args, home, env, AbortSignal.timeout(timeoutMs))
    .output();
  const exitedAt = performance.now();
  const dec = new TextDecoder();
  const ran = {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    startedAt,
    exitedAt,
  };
  if (Deno.env.get("E2E_VERBOSE")) {
    console.error(`[${program} ${args.join(" ")}] exit ${ran.code}\n${ran.stdout}${ran.stderr}`);
  }
  return ran;
}

/** A run's whole output for assertion messages. */
export function shown(r: Ran): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** Asserts exit 0 and returns the run. */
export function ok(r: Ran, what: string): Ran {
  assert.equal(r.code, 0, `${what} failed: ${shown(r)}`);
  return r;
}

/** The one 64-hex token a command printed (e.g. `tela admin tokens add`, `telahubd user add`). */
export function printedToken(r: Ran, what: string): string {
  const all = [...`${r.stdout}\n${r.stderr}`.matchAll(/\b[0-9a-f]{64}\b/g)].map((m) => m[0]);
  assert.equal(new Set(all).size, 1, `${what}: expected exactly one 64-hex token: ${shown(r)}`);
  return all[0];
}

/**
 * A TCP service on 127.0.0.1 standing for RDP/SSH/postgres: each connection first receives
 * `<name>\n` (so a test knows which service it reached), then everything it sends comes back
 * byte for byte until it half-closes.
 */
export class EchoService {
  readonly listener: Deno.TcpListener;
  readonly port: number;
  /** Connections accepted so far. */
  accepted = 0;
  #conns = new Set<Deno.Conn>();

  /**
   * @param name the banner.
   * @param port the port to listen on (0: any free one).
   */
  constructor(readonly name: string, port = 0) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port });
    this.port = this.listener.addr.port;
    this.#accept();
  }

  async #accept() {
    try {
      for await (const sock of this.listener) {
        this.accepted++;
        this.#conns.add(sock);
        (async () => {
          const c = socketDuplex(sock);
          const w = c.writable.getWriter();
          await w.write(new TextEncoder().encode(`${this.name}\n`));
          w.releaseLock();
          await c.readable.pipeTo(c.writable);
        })().catch(() => {}).finally(() => {
          this.#conns.delete(sock);
          try {
            sock.close();
          } catch { /* closed */ }
        });
      }
    } catch { /* listener closed */ }
  }

  /** Stops listening and closes every connection. */
  close(): void {
    try {
      this.listener.close();
    } catch { /* closed */ }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  }
}

/** A port P below 55536 with P and P+10000 free (tela moves a taken port to P+10000). */
export const servicePort = portWithFallbackRoom;

async function readExactly(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  n: number,
  pending: Uint8Array[],
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let o = 0;
  while (o < n) {
    let chunk = pending.shift();
    if (!chunk) {
      const { value, done } = await reader.read();
      if (done) break;
      chunk = value;
    }
    const take = Math.min(chunk.length, n - o);
    out.set(chunk.subarray(0, take), o);
    o += take;
    if (take < chunk.length) pending.unshift(chunk.subarray(take));
  }
  return out.subarray(0, o);
}

/**
 * A connection through a tunnel's local port to an {@link EchoService}, kept open.
 */
export class TunnelConn {
  #pending: Uint8Array[] = [];
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  /** The first line the service sent (its name). */
  banner = "";

  private constructor(readonly conn: DuplexConn) {
    this.#reader = conn.readable.getReader();
    this.#writer = conn.writable.getWriter();
  }

  /**
   * Connects to 127.0.0.1:`port` and reads the service's banner line.
   * @throws when the connection is refused or closes before a banner arrives (`timeoutMs`).
   */
  static async open(port: number, timeoutMs = 20_000): Promise<TunnelConn> {
    const conn = socketDuplex(await Deno.connect({ hostname: "127.0.0.1", port }));
    const t = new TunnelConn(conn);
    const bytes: number[] = [];
    const timer = setTimeout(() => t.close(), timeoutMs);
    try {
      while (true) {
        const b = await readExactly(t.#reader, 1, t.#pending);
        if (b.length === 0) throw new Error(`127.0.0.1:${port} closed before a banner`);
        if (b[0] === 0x0a) break;
        bytes.push(b[0]);
      }
    } catch (err) {
      t.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    t.banner = new TextDecoder().decode(new Uint8Array(bytes));
    return t;
  }

  /**
   * Sends `size` random bytes and checks the same bytes come back (echo), byte for byte.
   * @throws AssertionError on a short or different echo.
   */
  async echo(size: number): Promise<void> {
    const data = new Uint8Array(randomBytes(size));
    const [, got] = await Promise.all([
      this.#writer.write(data),
      readExactly(this.#reader, size, this.#pending),
    ]);
    assert.equal(got.length, size, `echo: ${got.length} of ${size} bytes came back`);
    assert.ok(
      got.every((b, i) => b === data[i]),
      "echo: the bytes that came back differ from those sent",
    );
  }

  /**
   * Resolves with `performance.now()` when the connection ends (EOF or reset); bytes read
   * meanwhile are dropped.
   */
  async ended(): Promise<number> {
    try {
      while (true) {
        const { done } = await this.#reader.read();
        if (done) break;
      }
    } catch { /* reset counts as closed */ }
    return performance.now();
  }

  /** Closes the socket. */
  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

/**
 * Opens a connection through the tunnel `client` printed for `label`, checks the banner
 * names `service`, echoes `size` random bytes byte-exact, and closes the connection (the
 * client keeps running).
 */
export async function echoThrough(
  client: Proc,
  label: string,
  service: string,
  size = 256 * 1024,
): Promise<void> {
  const conn = await openThrough(await localPort(client, label), service);
  try {
    await conn.echo(size);
  } finally {
    conn.close();
  }
}

/**
 * Like {@link echoThrough} but takes the local port and keeps the connection open (after a
 * 1 KiB echo) and returns it. Retries a refused or banner-less connection for up to `timeoutMs`.
 */
export async function openThrough(
  port: number,
  service: string,
  timeoutMs = 30_000,
): Promise<TunnelConn> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const c = await TunnelConn.open(port, Math.max(1000, deadline - Date.now()));
      assert.equal(c.banner, service, `reached "${c.banner}" instead of "${service}"`);
      await c.echo(1024);
      return c;
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      last = err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw new Error(`no tunnel connection to ${service} on 127.0.0.1:${port}: ${last}`);
}

/** A hub process started from a config file in a temporary folder. */
export interface Hub {
  proc: Proc;
  port: number;
  url: string;
  /** The config file (`<dir>/telahubd.yaml`). */
  config: string;
  dir: string;
  /** The owner token, as `telahubd user show-owner -config` prints it. */
  owner: string;
}

/** Everything a scenario started; {@link Scene.close} stops it all. */
export class Scene {
  #procs: Proc[] = [];
  #services: EchoService[] = [];
  #dirs: string[] = [];
  hub!: Hub;

  /** A new temporary folder, removed by {@link close}. */
  async tempDir(prefix: string): Promise<string> {
    const d = await Deno.makeTempDir({ prefix: `scen-${prefix}-` });
    this.#dirs.push(d);
    return d;
  }

  /** Starts an {@link EchoService}, closed by {@link close}. */
  service(name: string, port = 0): EchoService {
    const s = new EchoService(name, port);
    this.#services.push(s);
    return s;
  }

  /** Starts `deno run -A cmd/<program>.ts <args>` in the background (stopped by PID). */
  spawn(name: string, program: Program, args: string[], home: string, env = {}): Proc {
    const child = programCommand(program, args, home, env).spawn();
    const p = new Proc(name, child);
    this.#procs.push(p);
    return p;
  }

  /**
   * Starts `telahubd -config <dir>/telahubd.yaml` (first start: it bootstraps the owner) and
   * reads the owner token with `telahubd user show-owner -config ...`.
   */
  async startHub(): Promise<Hub> {
    const dir = await this.tempDir("hub");
    const config = `${dir}/telahubd.yaml`;
    const port = freeTcpPort();
    const proc = await this.#hubProc(dir, config, port);
    const owner = ok(
      await run("telahubd", ["user", "show-owner", "-config", config], dir),
      "telahubd user show-owner",
    ).stdout.trim();
    assert.match(owner, /^[0-9a-f]{64}$/, "show-owner prints the token and nothing else");
    this.hub = { proc, port, url: `ws://127.0.0.1:${port}`, config, dir, owner };
    return this.hub;
  }

  async #hubProc(dir: string, config: string, port: number): Promise<Proc> {
    const proc = this.spawn("telahubd", "telahubd", ["-config", config], dir, {
      TELAHUBD_PORT: String(port),
      TELAHUBD_UDP_PORT: "0",
    });
    await proc.waitFor(/listening on \S*:(\d+)/, 60_000);
    return proc;
  }

  /** Stops the hub by its PID (SIGTERM) and starts it again with the same config and port. */
  async restartHub(): Promise<void> {
    const st = await this.hub.proc.stop();
    assert.ok(st.success || st.signal === "SIGTERM", `hub stopped badly: ${JSON.stringify(st)}`);
    this.hub.proc = await this.#hubProc(this.hub.dir, this.hub.config, this.hub.port);
  }

  /** `tela admin <args> -hub <hub> -token <owner>` (flags after positionals, as the book allows). */
  admin(args: string[], home?: string): Promise<Ran> {
    return run(
      "tela",
      ["admin", ...args, "-hub", this.hub.url, "-token", this.hub.owner],
      home ?? this.hub.dir,
    );
  }

  /** `tela admin ...` that must succeed. */
  async adminOk(args: string[]): Promise<Ran> {
    return ok(await this.admin(args), `tela admin ${args.join(" ")}`);
  }

  /** `tela admin tokens add <id>` that must succeed; returns the token it printed. */
  async addToken(id: string): Promise<string> {
    return printedToken(await this.adminOk(["tokens", "add", id]), `tela admin tokens add ${id}`);
  }

  /** `tela machines -hub <hub> -token <token>` that must succeed (`who` names it in errors). */
  async machines(token: string, who: string): Promise<Ran> {
    return ok(
      await run("tela", ["machines", "-hub", this.hub.url, "-token", token], this.hub.dir),
      `tela machines (${who})`,
    );
  }

  /**
   * `tela connect -hub <hub> -machine <m> -token <t> [extra]` that must be refused (exit 1),
   * in a fresh HOME; returns the run (`who` names it in errors and in the HOME's name).
   */
  async refusedConnect(
    machine: string,
    token: string,
    who: string,
    extra: string[] = [],
  ): Promise<Ran> {
    const r = await run(
      "tela",
      ["connect", "-hub", this.hub.url, "-machine", machine, "-token", token, ...extra],
      await this.tempDir(`${who}-refused`),
      {},
      30_000,
    );
    assert.equal(r.code, 1, `${who} on ${machine}: ${shown(r)}`);
    return r;
  }

  /** `tela admin access -json`, parsed. */
  async accessJson(): Promise<unknown> {
    const r = await this.adminOk(["access", "-json"]);
    try {
      return JSON.parse(r.stdout);
    } catch {
      assert.fail(`tela admin access -json did not print JSON: ${shown(r)}`);
    }
  }

  /** `telad -hub <hub> -machine <m> -ports <ports> [-token <t>]` with its own HOME. */
  async agent(
    machine: string,
    ports: string,
    token?: string,
    env: Record<string, string> = {},
    home?: string,
  ): Promise<Proc> {
    const h = home ?? await this.tempDir(`agent-${machine}`);
    const args = ["-hub", this.hub.url, "-machine", machine, "-ports", ports];
    if (token) args.push("-token", token);
    return this.spawn(`telad:${machine}`, "telad", args, h, env);
  }

  /** `tela connect -hub <hub> -machine <m> [-token <t>] [extra]` in `home`. */
  connect(home: string, machine: string, token?: string, extra: string[] = []): Proc {
    const args = ["connect", "-hub", this.hub.url, "-machine", machine, ...extra];
    if (token) args.push("-token", token);
    return this.spawn(`tela:${machine}`, "tela", args, home);
  }

  /** Stops every process by PID, closes the services, removes the temporary folders. */
  async close(): Promise<void> {
    await Promise.all(this.#procs.map((p) => p.stop().catch(() => {})));
    for (const s of this.#services) s.close();
    for (const d of this.#dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
}

/** Resolves with the registration count of a telad once it reaches `n`. */
export function registrations(agent: Proc, machine: string, n: number, timeoutMs = 30_000) {
  return waitLines(agent, new RegExp(`registered with hub as "${machine}"`), n, timeoutMs);
}

/** Waits until `proc` has printed `n` lines matching `re`. */
export async function waitLines(proc: Proc, re: RegExp, n: number, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (proc.lines.filter((l) => re.test(l)).length < n) {
    if (Date.now() > deadline) {
      throw new Error(`${proc.name}: ${n} line(s) matching ${re} not seen\n${proc.output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The local port tela printed for a service label (`localhost:<port> → <label>`). */
export async function localPort(client: Proc, label: string, timeoutMs = 30_000): Promise<number> {
  const m = await client.waitFor(new RegExp(`localhost:(\\d+)\\s+→ ${label}\\b`), timeoutMs);
  return Number(m[1]);
}

/** Waits for a process to exit, failing after `timeoutMs` with its output. */
export async function exitOf(p: Proc, timeoutMs: number): Promise<Deno.CommandStatus> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, rej) => {
    t = setTimeout(
      () => rej(new Error(`${p.name} did not exit within ${timeoutMs} ms\n${p.output}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([p.exited, timeout]);
  } finally {
    clearTimeout(t);
  }
}

/** Resolves `p` or rejects after `ms` with `what`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/** What {@link measureCut} measured, in ms from the command's exit. */
export interface Cut {
  ran: Ran;
  /** How long the command ran, its process start included. */
  commandMs: number;
  /** Until the tunnel's TCP connection ended (EOF or reset). */
  tcpMs: number;
  /** Until tela printed the reason. */
  reportMs: number;
  /** Until tela exited. */
  exitMs: number;
  status: Deno.CommandStatus;
}

/** One line for the test output: the measured latencies. */
export function cutSummary(what: string, c: Cut): string {
  return `  ${what} (ran ${c.commandMs} ms): after it exited, the tunnel's TCP connection ` +
    `closed at ${c.tcpMs} ms, tela printed the reason at ${c.reportMs} ms, exited at ` +
    `${c.exitMs} ms (negative: before the command had exited)`;
}

/**
 * Measures a live cut: `act` (an admin command) runs while `conn` (a tunnel connection) and
 * `client` (the tela process) are live. Returns the ms from the command's exit to the TCP
 * connection ending, to tela printing `reason`, and to tela exiting (negative: before the
 * command had exited), and how long the command ran (`commandMs`, process start included).
 */
export async function measureCut(
  conn: TunnelConn,
  client: Proc,
  reason: RegExp,
  act: () => Promise<Ran>,
  timeoutMs = 10_000,
): Promise<Cut> {
  const ended = conn.ended();
  let reportedAt = -1;
  const reported = client.waitFor(reason, timeoutMs + 60_000, true).then(() => {
    reportedAt = performance.now();
  });
  reported.catch(() => {});
  const exited = client.exited.then((s) => ({ s, at: performance.now() }));
  const ran = await act();
  const t0 = ran.exitedAt;
  const tcpAt = await within(ended, timeoutMs, "the tunnel's TCP connection did not close");
  const ex = await within(exited, timeoutMs, `${client.name} did not exit\n${client.output}`);
  await within(reported, 2_000, `${client.name} did not print ${reason}\n${client.output}`);
  return {
    ran,
    commandMs: Math.round(ran.exitedAt - ran.startedAt),
    tcpMs: Math.round(tcpAt - t0),
    reportMs: Math.round(reportedAt - t0),
    exitMs: Math.round(ex.at - t0),
    status: ex.s,
  };
}

/**
 * Asserts a live cut measured by {@link measureCut}: the command (`what`) succeeded, the
 * tunnel's TCP connection closed and tela printed the reason within 1 s of the command's
 * exit, and tela exited with status 1. Prints the measured latencies.
 */
export function assertLiveCut(cut: Cut, what: string, client: Proc): void {
  ok(cut.ran, what);
  console.log(cutSummary(what, cut));
  assert.ok(cut.tcpMs < 1000, `tunnel TCP connection closed ${cut.tcpMs} ms after`);
  assert.ok(cut.reportMs < 1000, `tela reported the reason ${cut.reportMs} ms after`);
  assert.equal(cut.status.code, 1, `tela exit status\n${client.output}`);
}

/** Access entries without the in-memory `version` counters (reset by a restart, spec §14.1). */
export function withoutVersions(access: unknown): unknown {
  return JSON.parse(JSON.stringify(access, (k, v) => (k === "version" ? undefined : v)));
}

/** One identity as `tela admin access -json` shows it (the fields the scenarios read). */
export interface AccessRow {
  id: string;
  role: string;
  machines: { machineId: string; permissions: string[]; services?: string[] }[];
}

/**
 * The identities of `tela admin access -json` output: the API's `{"access":[...]}` or a
 * bare array.
 */
export function accessRows(json: unknown): AccessRow[] {
  const rows = Array.isArray(json) ? json : (json as { access?: unknown })?.access;
  assert.ok(Array.isArray(rows), `access -json: no list of identities in ${JSON.stringify(json)}`);
  return rows as AccessRow[];
}

/** `machineId → sorted permissions (+ services)` of one identity, for deepEqual. */
export function grantsOf(json: unknown, id: string): Record<string, string> {
  const row = accessRows(json).find((r) => r.id === id);
  assert.ok(row, `access -json: no identity "${id}" in ${JSON.stringify(json)}`);
  const out: Record<string, string> = {};
  for (const m of row.machines ?? []) {
    out[m.machineId] = [...m.permissions].sort().join(",") +
      (m.services?.length ? ` services=${[...m.services].sort().join(",")}` : "");
  }
  return out;
}

/**
 * `t.step` that stops the test at the first failed step (later steps depend on earlier ones;
 * running them would only add noise).
 */
export function stepper(t: Deno.TestContext) {
  return async (name: string, fn: () => Promise<void>): Promise<void> => {
    if (!(await t.step(name, fn))) throw new Error(`step failed: ${name}`);
  };
}

/** A named step of a scenario; the test stops at the first one that fails. */
export type Step = (name: string, fn: () => Promise<void>) => Promise<void>;

/**
 * A scenario test: a fresh {@link Scene} with its hub started, a {@link stepper}, and
 * {@link Scene.close} whatever happens (every process stopped by PID, folders removed).
 * @param name the test's name.
 * @param fn the scenario; `s.hub` is running when it is called.
 */
export function sceneTest(
  name: string,
  fn: (s: Scene, step: Step, hub: Hub) => Promise<void>,
): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const s = new Scene();
      try {
        const hub = await s.startHub();
        await fn(s, stepper(t), hub);
      } finally {
        await s.close();
      }
    },
  });
}

/**
 * The environment variable that moves the system credential store (`/etc/tela`) for
 * `telad pair` / `telad` in tests (running as root would otherwise write /etc/tela).
 */
export const SYSTEM_DIR_ENV = "TELA_SYSTEM_DIR";
