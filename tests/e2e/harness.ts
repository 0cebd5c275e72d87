/**
 * Real-process harness for end-to-end tests: `telahubd`, `telad` and `tela` started as
 * `deno run` subprocesses with temporary HOME folders and free loopback ports, their output
 * collected line by line so tests can wait for what a user would see.
 * @module
 */
const ROOT = new URL("../../", import.meta.url).pathname;

/** The repository root (absolute, with a trailing slash). */
export const REPO_ROOT = ROOT;

/** Deno's cache, so the children (with their own HOME) reuse it instead of downloading. */
export const DENO_DIR: string = JSON.parse(
  new TextDecoder().decode(
    new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" }).outputSync()
      .stdout,
  ),
).denoDir;

export { freeTcpPort } from "../free_port.ts";

/**
 * A port P below 55536 with P and P+10000 both free on 127.0.0.1 (the client's fallback
 * when P cannot be bound moves to P+10000).
 * @throws Error when 200 random tries find none
 */
export function portWithFallbackRoom(): number {
  for (let i = 0; i < 200; i++) {
    const p = 20000 + Math.floor(Math.random() * 30000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port: p }).close();
      Deno.listen({ hostname: "127.0.0.1", port: p + 10000 }).close();
      return p;
    } catch { /* taken, try another */ }
  }
  throw new Error("no port with room for the +10000 fallback");
}

/** A subprocess with its output lines. */
export class Proc {
  /** Every line, stdout and stderr interleaved as they arrived. */
  readonly lines: string[] = [];
  /** The lines of stdout alone (data). */
  readonly stdoutLines: string[] = [];
  /** The lines of stderr alone (logs and errors). */
  readonly stderrLines: string[] = [];
  #waiters: { re: RegExp; from: number; resolve: (m: RegExpMatchArray) => void }[] = [];
  readonly exited: Promise<Deno.CommandStatus>;

  constructor(readonly name: string, readonly child: Deno.ChildProcess) {
    this.#pump(child.stdout, this.stdoutLines);
    this.#pump(child.stderr, this.stderrLines);
    this.exited = child.status;
  }

  async #pump(stream: ReadableStream<Uint8Array>, own: string[]) {
    const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          own.push(buf.slice(0, i));
          this.#line(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      }
    } catch { /* process killed */ }
    if (buf) {
      own.push(buf);
      this.#line(buf);
    }
  }

  #line(l: string) {
    this.lines.push(l);
    if (Deno.env.get("E2E_VERBOSE")) console.error(`[${this.name}] ${l}`);
    for (const w of [...this.#waiters]) {
      const m = l.match(w.re);
      if (m) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  /** Output so far, one string. */
  get output(): string {
    return this.lines.join("\n");
  }

  /**
   * Waits for a line matching `re` (lines already seen count unless `onlyNew`).
   * @throws {Error} after `timeoutMs` with the process output, so failures explain themselves.
   */
  waitFor(re: RegExp, timeoutMs = 60_000, onlyNew = false): Promise<RegExpMatchArray> {
    if (!onlyNew) {
      for (const l of this.lines) {
        const m = l.match(re);
        if (m) return Promise.resolve(m);
      }
    }
    return new Promise((resolve, reject) => {
      const w = {
        re,
        from: this.lines.length,
        resolve: (m: RegExpMatchArray) => {
          clearTimeout(t);
          resolve(m);
        },
      };
      const t = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        reject(
          new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms\n${this.output}`),
        );
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }

  /** Sends SIGTERM (then SIGKILL after 5 s) and waits for the exit. */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    const t = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5_000);
    const s = await this.exited;
    clearTimeout(t);
    return s;
  }
}

/** Starts `deno run -A <script> ...args` with the given environment (HOME required). */
export function spawnDeno(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}${script}`, ...args],
    env: { NO_COLOR: "1", DENO_DIR, ...env },
    cwd: env.HOME ?? ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new Proc(name, child);
}

/** A hub subprocess and how to reach it. */
export interface HubProc {
  proc: Proc;
  port: number;
  url: string;
  ownerToken: string;
}

/**
 * Starts `telahubd` with a config in `dir` and a known owner token.
 * @param port HTTP port, or 0 for a free one.
 */
export async function startHub(dir: string, ownerToken: string, port = 0): Promise<HubProc> {
  const proc = spawnDeno("hub", "cmd/telahubd.ts", ["-config", `${dir}/telahubd.yaml`], {
    HOME: dir,
    TELAHUBD_PORT: String(port),
    TELAHUBD_UDP_PORT: "0",
    TELA_OWNER_TOKEN: ownerToken,
  });
  const m = await proc.waitFor(/listening on \S*:(\d+)/, 90_000);
  const p = Number(m[1]);
  return { proc, port: p, url: `ws://127.0.0.1:${p}`, ownerToken };
}

/** Starts `telad` in flag mode. */
export function startAgent(
  home: string,
  hubUrl: string,
  machine: string,
  token: string,
  ports: string,
  extra: string[] = [],
): Proc {
  return spawnDeno(
    `telad:${machine}`,
    "cmd/telad.ts",
    ["-hub", hubUrl, "-machine", machine, "-token", token, "-ports", ports, ...extra],
    { HOME: home },
  );
}

/** Starts `tela connect`. */
export function startClient(home: string, args: string[], env: Record<string, string> = {}): Proc {
  return spawnDeno("tela", "cmd/tela.ts", ["connect", ...args], { HOME: home, ...env });
}

/** Waits until the client has printed `localhost:<port> → <label>` for `remote`'s label and returns the port. */
export async function boundPort(client: Proc, label: string, timeoutMs = 90_000): Promise<number> {
  const m = await client.waitFor(new RegExp(`localhost:(\\d+)\\s+→ ${label}`), timeoutMs);
  return Number(m[1]);
}

/** Waits until the client reports a tunnel up (count-th time, 1-based). */
export function tunnelUps(client: Proc, count: number, timeoutMs = 120_000): Promise<void> {
  return waitCount(client, /WireGuard tunnel up/, count, timeoutMs);
}

/** Reads everything from a connection until EOF. */
export async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of conn.readable) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A temporary folder `root` (prefix `prefix`) with the three HOMEs of a hub-agent-client
 * test in it: `root/hub`, `root/agent`, `root/client`. The caller removes `root`.
 */
export async function threeHomes(
  prefix: string,
): Promise<{ root: string; hubDir: string; agentHome: string; clientHome: string }> {
  const root = await Deno.makeTempDir({ prefix });
  const [hubDir, agentHome, clientHome] = ["hub", "agent", "client"].map((d) => `${root}/${d}`);
  for (const d of [hubDir, agentHome, clientHome]) await Deno.mkdir(d);
  return { root, hubDir, agentHome, clientHome };
}

/**
 * A TCP server on 127.0.0.1 answering every connection with `text`, then closing it.
 * Close `listener` to stop it.
 */
export function greeter(text: string): { listener: Deno.TcpListener; port: number } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const c of l) {
      c.write(new TextEncoder().encode(text)).finally(() => c.close()).catch(() => {});
    }
  })().catch(() => {});
  return { listener: l, port: (l.addr as Deno.NetAddr).port };
}

/** Reads 127.0.0.1:`port` until EOF or reset; the bytes as text (empty when none came). */
export async function readPort(port: number): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  let out = "";
  const dec = new TextDecoder();
  try {
    for await (const chunk of c.readable) out += dec.decode(chunk, { stream: true });
  } catch { /* reset */ }
  return out;
}

/**
 * {@link readPort} retried every 500 ms while it reads nothing (the tunnel coming up),
 * `tries` times at most; "" when every try read nothing.
 */
export async function readThrough(port: number, tries = 30): Promise<string> {
  for (let i = 0; i < tries; i++) {
    const out = await readPort(port);
    if (out) return out;
    await new Promise((r) => setTimeout(r, 500));
  }
  return "";
}

/** Waits for the process to exit, at most `ms`; null when it is still running. */
export async function exitWithin(p: Proc, ms: number): Promise<Deno.CommandStatus | null> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    p.exited,
    new Promise<null>((res) => (t = setTimeout(() => res(null), ms))),
  ]);
  clearTimeout(t);
  return r;
}

/** HTTP GET through a local port with retries while the tunnel comes up; returns the body. */
export async function httpGet(url: string, attempts = 30): Promise<string> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
      return await res.text();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  throw new Error(`GET ${url} failed ${attempts} times: ${last}`);
}

/** True when the CI environment requires interop prerequisites (missing ones fail). */
export const IN_CI = Deno.env.get("CI") === "true";

/**
 * Spawns `cmd` (stdin, stdout and stderr piped), writes `input` to its stdin and closes it,
 * and waits for it to exit; its output decoded as text.
 */
export async function outputWithInput(
  cmd: Deno.Command,
  input: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = cmd.spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(input));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a one-shot `tela <args>` to completion, feeding `input` on stdin. */
export function runTela(
  home: string,
  args: string[],
  input = "",
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return outputWithInput(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}cmd/tela.ts`, ...args],
      env: { NO_COLOR: "1", DENO_DIR, HOME: home, ...env },
      cwd: home,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }),
    input,
  );
}

/** Lines of `proc` matching `re` so far. */
export function countLines(proc: Proc, re: RegExp): number {
  return proc.lines.filter((l) => re.test(l)).length;
}

/** Waits until `proc` has printed at least `count` lines matching `re`. */
export async function waitCount(
  proc: Proc,
  re: RegExp,
  count: number,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (countLines(proc, re) < count) {
    if (Date.now() > deadline) {
      throw new Error(`${proc.name}: ${count} line(s) matching ${re} not seen\n${proc.output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
