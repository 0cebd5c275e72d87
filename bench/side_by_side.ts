/**
 * Side-by-side tunnel benchmark (issue 11 item 4): hub, agent and client as **real
 * processes** inside a private network namespace, one trio per implementation, N rounds
 * interleaved (round 1: A, B, ...; round 2: A, B, ...), medians and ratios against the
 * first implementation.
 *
 * Per trio (fresh processes every round):
 * 1. hub up (`/.well-known/tela` answers), agent registered (`/api/status`);
 * 2. **connect**: `tela connect` is spawned at t0; the bench dials the client's local echo
 *    port every 5 ms until it accepts (t1), sends one byte and waits for its echo (t2).
 *    `connect ms` = t2 − t0 (what a user waits, process start included); the figure in
 *    brackets = t2 − t1 (first accepted TCP connection to first echoed byte: session,
 *    handshake and TCP through the tunnel);
 * 3. **RSS idle**: VmRSS of the three processes 500 ms after that;
 * 4. **throughput**: `iperf3 -c 127.0.0.1 -p <client port> -t T -J` (upload: client →
 *    agent's iperf3 server) then the same with `-R` (download, against a second iperf3
 *    server, so the first one finishing its test late cannot answer "busy"); Mbit/s as the
 *    receiver counted them;
 * 5. **CPU s per GB**: utime+stime (+cutime+cstime) of each process from `/proc/<pid>/stat`
 *    (all its threads) before and after both iperf3 runs, divided by the bytes both moved;
 * 6. **RTT**: a TCP_NODELAY ping-pong of `--rtt` × 64-byte round trips (after 100 warm-up
 *    ones) to an echo server behind the agent; p50 and p99 (nearest rank);
 * 7. **RSS peak**: VmHWM of the three processes at the end (the lifetime peak: the bulk
 *    transfers dominate it);
 * 8. **transport**: the hub's `/api/status` `machines[].sessions[]` (`client`/`agent`
 *    transports), asked halfway through the upload and at the end (`a → b` when they
 *    differ), else the client's last `transport: <kind>` log line, else `websocket?`
 *    (assumed: the only transport before issue 11).
 *
 * Implementations: `ours` = `deno run -A cmd/telahubd.ts|telad.ts|tela.ts` from this
 * checkout. `bin` = the same trio with any role replaced by `BIN_TELAHUBD`, `BIN_TELAD`,
 * `BIN_TELA` (paths to another Tela build, e.g. Go Tela binaries; their CLI is the book's:
 * `telahubd -config <tmp>/telahubd.yaml` with `TELAHUBD_PORT`, `TELAHUBD_UDP_PORT`,
 * `TELA_OWNER_TOKEN` (hub-http-api.md §10); `telad -hub -machine -token -ports`; `tela connect -hub -machine
 * -token -ports local:remote`). `NAME=DIR` = the Deno trio of another checkout (e.g. main
 * beside an optimised worktree: `--impls base=/work/main,ours`). `--transports
 * websocket,udp` runs each Deno implementation once per transport with `TELA_TRANSPORT` and
 * `TELAD_TRANSPORT` set (see lib/transport; `auto` = no cap).
 *
 * Needs root (`unshare -n`: the bench re-runs itself in a private network namespace with
 * only `lo`, so ports never clash and nothing leaves the machine) and `iperf3`
 * (`apt-get install -y --no-install-recommends iperf3`).
 *
 * Usage:
 *   deno run -A bench/side_by_side.ts [--rounds 3] [--seconds 5] [--rtt 2000]
 *     [--transports websocket,udp] [--impls ours,bin,NAME=DIR] [-json]
 *   (also `deno task bench:tunnel`). Environment: `BENCH_ROUNDS`, `BENCH_SECONDS`,
 *   `BENCH_RTT`, `BENCH_TRANSPORTS`, `BIN_TELAHUBD`, `BIN_TELAD`, `BIN_TELA`,
 *   `BENCH_CPU_PROF=<dir>` (our Deno processes run with `--cpu-prof --cpu-prof-dir
 *   <dir>/<impl>-r<round>-<role>` and are stopped with SIGINT so the profile is written;
 *   summarise with `deno run -A bench/profile_summary.ts <file.cpuprofile>`),
 *   `BENCH_DENO_FLAGS` (extra `deno run` flags for every Deno role, space-separated, e.g.
 *   `--v8-flags=--max-semi-space-size=1`), `BENCH_DENO_FLAGS_<NAME>` (the same for one
 *   implementation: `OURS`, or a NAME of `--impls`), `BENCH_VERBOSE=1` (echo the
 *   processes' output to stderr). The processes inherit the environment, so e.g.
 *   `TELA_MTU=9000 TELAD_MTU=9000` or `TELA_STUN_SERVERS` reach every trio.
 *
 * Absolute figures drift ±30 % between runs on shared 2-vCPU machines: compare ratios
 * from one run (shared/testing/real-peers.md, "Measuring a tunnel side by side").
 * @module
 */
import { formatTable } from "./_table.ts";

// ---------------------------------------------------------------------------------------
// Pure helpers (tests/bench/side_by_side_test.ts)
// ---------------------------------------------------------------------------------------

/**
 * The p-th percentile of `sorted` (ascending) by nearest rank: the smallest value with at
 * least p % of the values at or below it.
 * @param p percent, 0 < p <= 100 (0 gives the minimum).
 * @throws RangeError when `sorted` is empty or p is outside 0..100.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError("percentile of no values: measure something");
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** The median of `xs` (any order; mean of the middle two when even); NaN when empty. */
export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** CPU time of a process from `/proc/<pid>/stat`, in clock ticks (proc(5) fields 14-17). */
export interface CpuTicks {
  /** User time of all threads (field 14). */
  utime: number;
  /** System time of all threads (field 15). */
  stime: number;
  /** User time of waited-for children (field 16). */
  cutime: number;
  /** System time of waited-for children (field 17). */
  cstime: number;
}

/**
 * Parses `/proc/<pid>/stat` (proc(5)). The command name (field 2) is in parentheses and may
 * itself hold spaces and parentheses, so fields are counted from the last `)`.
 * @throws Error when the text is not a stat line.
 */
export function parseProcStat(text: string): CpuTicks {
  const close = text.lastIndexOf(")");
  const rest = close < 0 ? [] : text.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const f = (n: number) => Number(rest[n - 3]);
  const t = { utime: f(14), stime: f(15), cutime: f(16), cstime: f(17) };
  if (Object.values(t).some((x) => !Number.isInteger(x))) {
    throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(text.slice(0, 80))}`);
  }
  return t;
}

/** Total ticks of a {@link CpuTicks} (threads and waited-for children, user and system). */
export function totalTicks(t: CpuTicks): number {
  return t.utime + t.stime + t.cutime + t.cstime;
}

/**
 * A `kB` field of `/proc/<pid>/status` (e.g. `VmRSS`, `VmHWM`), in KiB.
 * @throws Error when the field is missing (a kernel thread, or the process has exited).
 */
export function parseStatusKiB(text: string, field: string): number {
  const m = text.match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m"));
  if (!m) throw new Error(`/proc/<pid>/status has no ${field} line`);
  return Number(m[1]);
}

/**
 * CPU seconds per gigabyte (10^9 bytes) moved.
 * @param ticks CPU clock ticks spent (see {@link totalTicks}).
 * @param clkTck ticks per second (`getconf CLK_TCK`, 100 on Linux).
 * @param bytes bytes moved while they were spent; 0 gives NaN.
 */
export function cpuSecondsPerGB(ticks: number, clkTck: number, bytes: number): number {
  if (bytes <= 0) return NaN;
  return (ticks / clkTck) / (bytes / 1e9);
}

/** What one iperf3 `-J` run moved, from the receiver's side (`end.sum_received`). */
export interface IperfResult {
  bitsPerSecond: number;
  bytes: number;
  seconds: number;
}

/**
 * Reads an `iperf3 -J` report (with or without `-R`: `end.sum_received` is always the
 * receiving end's count).
 * @throws Error naming iperf3's own error when the report has one or lacks the sums.
 */
export function parseIperfJson(text: string): IperfResult {
  let j: {
    error?: string;
    end?: { sum_received?: { bits_per_second: number; bytes: number; seconds: number } };
  };
  try {
    j = JSON.parse(text);
  } catch {
    throw new Error(`iperf3 printed no JSON report: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const s = j.end?.sum_received;
  if (j.error || !s) {
    throw new Error(`iperf3 failed: ${j.error ?? "no end.sum_received in report"}`);
  }
  return { bitsPerSecond: s.bits_per_second, bytes: s.bytes, seconds: s.seconds };
}

/** Per-role figures of one trio. */
export interface Roles<T> {
  hub: T;
  agent: T;
  client: T;
}

/** One trio's measurements (one implementation, one round). */
export interface Sample {
  round: number;
  upMbps: number;
  downMbps: number;
  /** Bytes received in the upload and the download runs. */
  bytes: number;
  /** CPU ticks of each process over both iperf3 runs. */
  ticks: Roles<number>;
  /** CPU seconds per GB of each process (ticks / CLK_TCK / (bytes / 1e9)). */
  cpuPerGB: Roles<number>;
  rttP50Ms: number;
  rttP99Ms: number;
  /** Spawn of `tela connect` to the first echoed byte, ms. */
  connectMs: number;
  /** First accepted TCP connection on the client's port to the first echoed byte, ms. */
  connectAfterListenMs: number;
  rssIdleKiB: Roles<number>;
  rssPeakKiB: Roles<number>;
  transport: string;
}

/** Medians over the rounds of one implementation. */
export interface Summary {
  label: string;
  rounds: number;
  upMbps: number;
  downMbps: number;
  cpuPerGB: Roles<number> & { total: number };
  rttP50Ms: number;
  rttP99Ms: number;
  connectMs: number;
  connectAfterListenMs: number;
  rssIdleMB: Roles<number>;
  rssPeakMB: Roles<number>;
  /** The transports seen, distinct, joined with `,`. */
  transport: string;
}

const ROLES = ["hub", "agent", "client"] as const;

/** Medians of `samples` (one implementation); NaN figures when `samples` is empty. */
export function summarize(label: string, samples: readonly Sample[]): Summary {
  const med = (f: (s: Sample) => number) => median(samples.map(f));
  const roles = (f: (s: Sample, r: typeof ROLES[number]) => number): Roles<number> => ({
    hub: med((s) => f(s, "hub")),
    agent: med((s) => f(s, "agent")),
    client: med((s) => f(s, "client")),
  });
  const cpu = roles((s, r) => s.cpuPerGB[r]);
  return {
    label,
    rounds: samples.length,
    upMbps: med((s) => s.upMbps),
    downMbps: med((s) => s.downMbps),
    cpuPerGB: { ...cpu, total: med((s) => s.cpuPerGB.hub + s.cpuPerGB.agent + s.cpuPerGB.client) },
    rttP50Ms: med((s) => s.rttP50Ms),
    rttP99Ms: med((s) => s.rttP99Ms),
    connectMs: med((s) => s.connectMs),
    connectAfterListenMs: med((s) => s.connectAfterListenMs),
    rssIdleMB: roles((s, r) => s.rssIdleKiB[r] / 1024),
    rssPeakMB: roles((s, r) => s.rssPeakKiB[r] / 1024),
    transport: [...new Set(samples.map((s) => s.transport))].join(",") || "-",
  };
}

const num = (n: number, digits: number) => Number.isNaN(n) ? "-" : n.toFixed(digits);
const mbit = (n: number) =>
  Number.isNaN(n) ? "-" : n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);
const trio = (r: Roles<number>) => `${num(r.hub, 0)} / ${num(r.agent, 0)} / ${num(r.client, 0)}`;

/** The issue's table columns. */
export const TABLE_HEADER = [
  "impl",
  "up Mbit/s",
  "down Mbit/s",
  "CPU s per GB (hub / agent / client)",
  "RTT p50 / p99 ms",
  "connect ms (after listen)",
  "RSS hub / agent / client MB (idle; peak)",
  "transport",
];

/** One table row per summary (see {@link TABLE_HEADER}). */
export function tableRows(summaries: readonly Summary[]): string[][] {
  return summaries.map((s) => [
    s.label,
    mbit(s.upMbps),
    mbit(s.downMbps),
    `${num(s.cpuPerGB.total, 1)} (${num(s.cpuPerGB.hub, 1)} / ${num(s.cpuPerGB.agent, 1)} / ${
      num(s.cpuPerGB.client, 1)
    })`,
    `${num(s.rttP50Ms, 2)} / ${num(s.rttP99Ms, 2)}`,
    `${num(s.connectMs, 0)} (${num(s.connectAfterListenMs, 0)})`,
    `${trio(s.rssIdleMB)}; ${trio(s.rssPeakMB)}`,
    s.transport,
  ]);
}

/** `value / base` of each headline figure (for "× vs the first implementation"). */
export interface Ratios {
  label: string;
  up: number;
  down: number;
  cpu: number;
  rttP50: number;
  rttP99: number;
  connect: number;
  rssIdle: number;
  rssPeak: number;
}

const sum3 = (r: Roles<number>) => r.hub + r.agent + r.client;

/** Ratios of `s` to `base` (throughput: higher is better; the rest: lower is better). */
export function ratios(s: Summary, base: Summary): Ratios {
  return {
    label: s.label,
    up: s.upMbps / base.upMbps,
    down: s.downMbps / base.downMbps,
    cpu: s.cpuPerGB.total / base.cpuPerGB.total,
    rttP50: s.rttP50Ms / base.rttP50Ms,
    rttP99: s.rttP99Ms / base.rttP99Ms,
    connect: s.connectMs / base.connectMs,
    rssIdle: sum3(s.rssIdleMB) / sum3(base.rssIdleMB),
    rssPeak: sum3(s.rssPeakMB) / sum3(base.rssPeakMB),
  };
}

/**
 * The ratio table's rows (columns as {@link TABLE_HEADER} without `transport`; RSS as the
 * sum of the three).
 */
export function ratioRows(rs: readonly Ratios[]): string[][] {
  const x = (n: number) => Number.isFinite(n) ? `${n.toFixed(2)}×` : "-";
  return rs.map((r) => [
    r.label,
    x(r.up),
    x(r.down),
    x(r.cpu),
    `${x(r.rttP50)} / ${x(r.rttP99)}`,
    x(r.connect),
    `${x(r.rssIdle)}; ${x(r.rssPeak)}`,
  ]);
}

/** The whole text report: the medians table and, with two or more rows, the ratios. */
export function formatReport(summaries: readonly Summary[], note: string): string {
  let out = formatTable(
    `Tunnel side by side (medians; ${note})`,
    TABLE_HEADER,
    tableRows(summaries),
  );
  if (summaries.length > 1) {
    out += "\n\n" + formatTable(
      `Ratios vs ${summaries[0].label} (throughput: higher is better; CPU, RTT, connect, RSS ` +
        "sum of the three: lower is better)",
      TABLE_HEADER.slice(0, -1),
      ratioRows(summaries.slice(1).map((s) => ratios(s, summaries[0]))),
    );
  }
  return out;
}

/** Bench options from flags (`--name value` or `--name=value`) over environment variables. */
export interface Options {
  rounds: number;
  seconds: number;
  rttRounds: number;
  /** Transports to force on ours; `[undefined]` = none forced (auto). */
  transports: (string | undefined)[];
  /** `ours`, `bin` (needs a BIN_* variable), `NAME=DIR` (the Deno trio of another checkout). */
  impls: string[];
  json: boolean;
}

/**
 * Parses the bench's flags over `env` (`BENCH_ROUNDS`, `BENCH_SECONDS`, `BENCH_RTT`,
 * `BENCH_TRANSPORTS`, `BENCH_IMPLS`).
 * @throws Error naming the flag when a value is not a positive integer or is unknown.
 */
export function parseOptions(
  args: readonly string[],
  env: (name: string) => string | undefined,
  haveBin: boolean,
): Options {
  const flags = new Map<string, string>();
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-json" || a === "--json") {
      json = true;
      continue;
    }
    const m = a.match(/^--?([a-z-]+)(?:=(.*))?$/);
    if (!m) throw new Error(`unexpected argument ${a}: see the usage in bench/side_by_side.ts`);
    const v = m[2] ?? args[++i];
    if (v === undefined) throw new Error(`--${m[1]} needs a value`);
    flags.set(m[1], v);
  }
  const known = ["rounds", "seconds", "rtt", "transports", "impls"];
  for (const k of flags.keys()) {
    if (!known.includes(k)) throw new Error(`unknown flag --${k}: use ${known.join(", ")}`);
  }
  const int = (flag: string, envName: string, def: number) => {
    const raw = flags.get(flag) ?? env(envName);
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`--${flag} (or ${envName}) ${raw} is not a positive integer`);
    }
    return n;
  };
  const list = (flag: string, envName: string) =>
    (flags.get(flag) ?? env(envName) ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const transports = list("transports", "BENCH_TRANSPORTS");
  for (const t of transports) {
    if (!["auto", "websocket", "udp", "direct"].includes(t)) {
      throw new Error(`--transports ${t}: use auto, websocket, udp or direct`);
    }
  }
  const impls = list("impls", "BENCH_IMPLS");
  for (const i of impls) {
    if (i !== "ours" && i !== "bin" && !/^[A-Za-z0-9._-]+=./.test(i)) {
      throw new Error(`--impls ${i}: use ours, bin or NAME=DIR (another Tela checkout)`);
    }
  }
  if (impls.includes("bin") && !haveBin) {
    throw new Error("--impls bin needs BIN_TELAHUBD, BIN_TELAD or BIN_TELA (a binary path)");
  }
  return {
    rounds: int("rounds", "BENCH_ROUNDS", 3),
    seconds: int("seconds", "BENCH_SECONDS", 5),
    rttRounds: int("rtt", "BENCH_RTT", 2000),
    transports: transports.length ? transports : [undefined],
    impls: impls.length ? impls : haveBin ? ["ours", "bin"] : ["ours"],
    json,
  };
}

/** True when `/proc/net/tcp` text lists a listening socket on `port` (state 0A). */
export function tcpListening(procNetTcp: string, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return procNetTcp.split("\n").some((l) => {
    const f = l.trim().split(/\s+/);
    return f[1]?.endsWith(`:${hex}`) && f[3] === "0A";
  });
}

/**
 * The transports of `machine`'s sessions in an `/api/status` body (issue 11's
 * `machines[].sessions[] = {client, agent}`): per session `kind` when both sides agree, else
 * `client|agent`; sessions joined with `,`; "" when the body has none.
 */
export function sessionTransport(status: unknown, machine: string): string {
  const machines = (status as { machines?: StatusMachine[] } | null)?.machines;
  const sessions = machines?.find((m) => m.id === machine)?.sessions ?? [];
  return sessions.map((x) =>
    x.client === x.agent ? x.client ?? "" : `${x.client ?? "?"}|${x.agent ?? "?"}`
  ).filter(Boolean).join(",");
}

/** A machine of `/api/status` (spec hub-http-api.md §4.1), the fields the bench reads. */
interface StatusMachine {
  id: string;
  agentConnected?: boolean;
  sessions?: { client?: string; agent?: string }[];
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

const ROOT = new URL("../", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const VERBOSE = !!Deno.env.get("BENCH_VERBOSE");

/**
 * How to run one role: a Deno entry point of a checkout (`deno run -A <flags>
 * <root>cmd/<script>`) or another build's binary.
 */
type RoleCmd =
  | { kind: "deno"; root: string; script: string; flags: string[] }
  | { kind: "bin"; path: string };

/** One implementation to measure. */
interface Variant {
  label: string;
  hub: RoleCmd;
  agent: RoleCmd;
  client: RoleCmd;
  /** TELA_TRANSPORT / TELAD_TRANSPORT for our agent and client. */
  transport?: string;
}

/** A started process: its output (last 400 lines) and how to stop it by PID. */
class Proc {
  readonly lines: string[] = [];
  readonly exited: Promise<Deno.CommandStatus>;
  constructor(readonly name: string, readonly child: Deno.ChildProcess) {
    this.#pump(child.stdout);
    this.#pump(child.stderr);
    this.exited = child.status;
  }
  get pid(): number {
    return this.child.pid;
  }
  async #pump(stream: ReadableStream<Uint8Array>) {
    let buf = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          this.#line(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      }
    } catch { /* killed */ }
    if (buf) this.#line(buf);
  }
  #line(l: string) {
    this.lines.push(l);
    if (this.lines.length > 400) this.lines.shift();
    if (VERBOSE) console.error(`[${this.name}] ${l}`);
  }
  /** Sends `signal` to the PID, SIGKILL after 5 s, and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
    const t = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5_000);
    await this.exited;
    clearTimeout(t);
  }
  tail(n = 15): string {
    return this.lines.slice(-n).map((l) => `    [${this.name}] ${l}`).join("\n");
  }
}

let denoDir: string | undefined;

/** Every process started and not yet stopped: an interrupted bench stops them by PID. */
const live = new Set<{ pid: number; kill(s: Deno.Signal): void }>();

function spawnRole(
  name: string,
  cmd: RoleCmd,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  profDir?: string,
): Proc {
  const exe = cmd.kind === "deno" ? Deno.execPath() : cmd.path;
  let full = args;
  if (cmd.kind === "deno") {
    let config: string[] = [];
    try {
      Deno.statSync(`${cmd.root}deno.json`);
      config = ["--config", `${cmd.root}deno.json`];
    } catch { /* no deno.json: Deno looks for one itself */ }
    full = [
      "run",
      "-A",
      ...config,
      ...cmd.flags,
      ...(profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : []),
      `${cmd.root}cmd/${cmd.script}`,
      ...args,
    ];
  }
  const child = new Deno.Command(exe, {
    args: full,
    env: { NO_COLOR: "1", ...(denoDir ? { DENO_DIR: denoDir } : {}), ...env },
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child);
  child.status.finally(() => live.delete(child));
  return new Proc(name, child);
}

function readTicks(pid: number): number {
  return totalTicks(parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`)));
}

function readKiB(pid: number, field: string): number {
  return parseStatusKiB(Deno.readTextFileSync(`/proc/${pid}/status`), field);
}

/** Polls `check` every `everyMs` until it returns a value, the process exits, or `ms` pass. */
async function until<T>(
  what: string,
  ms: number,
  check: () => Promise<T | undefined>,
  procs: Proc[],
  everyMs = 20,
): Promise<T> {
  const deadline = performance.now() + ms;
  let exited: string | undefined;
  for (const p of procs) p.exited.then((s) => exited ??= `${p.name} exited (code ${s.code})`);
  while (performance.now() < deadline) {
    if (exited) break;
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch { /* not yet */ }
    await sleep(everyMs);
  }
  throw new Error(
    `${what}: ${exited ?? `not within ${ms} ms`}\n${procs.map((p) => p.tail()).join("\n")}`,
  );
}

async function getJson(url: string, token: string): Promise<unknown> {
  const res = await fetch(url, {
    headers: { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(2000),
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url}: HTTP ${res.status}`);
  }
  return await res.json();
}

/**
 * The session's transport as the hub's `/api/status` reports it (`machines[].sessions[]`,
 * issue 11): `kind` when client and agent agree, else `client kind|agent kind`; "" when the
 * hub reports none (a hub before issue 11, or the Go hub).
 */
async function hubTransport(statusUrl: string, token: string): Promise<string> {
  try {
    return sessionTransport(await getJson(statusUrl, token), MACHINE);
  } catch {
    return "";
  }
}

/** An echo server on 127.0.0.1:`port` (the agent's RTT and connect target). */
function startEcho(port: number): Deno.TcpListener {
  const l = Deno.listen({ hostname: "127.0.0.1", port });
  (async () => {
    for await (const c of l) {
      (async () => {
        c.setNoDelay(true);
        const buf = new Uint8Array(64 * 1024);
        for (let n; (n = await c.read(buf)) !== null;) {
          for (let o = 0; o < n;) o += await c.write(buf.subarray(o, n));
        }
      })().catch(() => {}).finally(() => {
        try {
          c.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  return l;
}

/** Reads exactly `buf.length` bytes; false on EOF first. */
async function readFull(c: Deno.Conn, buf: Uint8Array): Promise<boolean> {
  for (let o = 0; o < buf.length;) {
    const n = await c.read(buf.subarray(o));
    if (n === null) return false;
    o += n;
  }
  return true;
}

/** `promise`, or an Error naming `what` after `ms`. */
async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, rej) => {
        t = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/** TCP_NODELAY ping-pong: `rounds` × 64-byte round trips (after 100 warm-up); ms percentiles. */
async function pingPong(port: number, rounds: number): Promise<{ p50: number; p99: number }> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  // One watchdog for the whole run (not a timer per round trip, which would be measured):
  // after 60 s the connection is closed, so a stuck read ends.
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    c.close();
  }, 60_000);
  try {
    c.setNoDelay(true);
    const out = new Uint8Array(64).fill(0x5a);
    const back = new Uint8Array(64);
    const times: number[] = [];
    for (let i = 0; i < rounds + 100; i++) {
      const t0 = performance.now();
      await c.write(out);
      if (!(await readFull(c, back))) {
        throw new Error("RTT: the echo connection closed through the tunnel");
      }
      if (i >= 100) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return { p50: percentile(times, 50), p99: percentile(times, 99) };
  } catch (e) {
    throw timedOut ? new Error(`RTT: ${rounds} round trips took over 60 s`) : e;
  } finally {
    clearTimeout(watchdog);
    if (!timedOut) c.close();
  }
}

/** Runs iperf3 (bounded: killed by PID after `seconds` + 30 s); its JSON report parsed. */
async function iperf(port: number, seconds: number, reverse: boolean): Promise<IperfResult> {
  const child = new Deno.Command("iperf3", {
    args: [
      "-c",
      "127.0.0.1",
      "-p",
      String(port),
      "-t",
      String(seconds),
      "-J",
      "--connect-timeout",
      "10000",
      ...(reverse ? ["-R"] : []),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child);
  child.status.finally(() => live.delete(child));
  const t = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, (seconds + 30) * 1000);
  const out = await child.output();
  clearTimeout(t);
  return parseIperfJson(new TextDecoder().decode(out.stdout));
}

/** iperf3 servers behind the agent: one for the upload, one for the download (an iperf3
 * server still finishing the previous test answers "the server is busy"). */
const IPERF_UP_PORT = 5201;
const IPERF_DOWN_PORT = 5202;
const ECHO_PORT = 5300;
const MACHINE = "bench";

/** Hub, agent, client of `v` up, measured, stopped. `k` (0, 1, ...) picks distinct ports. */
async function runTrio(
  v: Variant,
  round: number,
  k: number,
  opts: Options,
  clkTck: number,
  profRoot?: string,
): Promise<Sample> {
  const hubPort = 20000 + k, udpPort = 30000 + k;
  const localUp = 40000 + 3 * k, localDown = 40001 + 3 * k, localEcho = 40002 + 3 * k;
  const token = Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const hubUrl = `ws://127.0.0.1:${hubPort}`;
  const root = await Deno.makeTempDir({ prefix: "bench-sbs-" });
  const dirs = { hub: `${root}/hub`, agent: `${root}/agent`, client: `${root}/client` };
  for (const d of Object.values(dirs)) await Deno.mkdir(d);
  const slug = v.label.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
  const prof = (role: string, cmd: RoleCmd) =>
    profRoot && cmd.kind === "deno" ? `${profRoot}/${slug}-r${round}-${role}` : undefined;
  const stopSignal: Deno.Signal = profRoot ? "SIGINT" : "SIGTERM";
  const transportEnv: Record<string, string> = v.transport
    ? { TELA_TRANSPORT: v.transport, TELAD_TRANSPORT: v.transport }
    : {};
  const procs: Proc[] = [];
  const iperfServers = [IPERF_UP_PORT, IPERF_DOWN_PORT].map((port) => {
    const child = new Deno.Command("iperf3", {
      args: ["-s", "-B", "127.0.0.1", "-p", String(port)],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    live.add(child);
    child.status.finally(() => live.delete(child));
    return child;
  });
  try {
    await until(
      "iperf3 -s listening",
      10_000,
      async () => {
        const t = await Deno.readTextFile("/proc/net/tcp");
        return (tcpListening(t, IPERF_UP_PORT) && tcpListening(t, IPERF_DOWN_PORT)) || undefined;
      },
      [],
    );
    const hub = spawnRole(
      "hub",
      v.hub,
      ["-config", `${dirs.hub}/telahubd.yaml`],
      {
        HOME: dirs.hub,
        TELAHUBD_PORT: String(hubPort),
        TELAHUBD_UDP_PORT: String(udpPort),
        TELA_OWNER_TOKEN: token,
      },
      dirs.hub,
      prof("hub", v.hub),
    );
    procs.push(hub);
    await until("hub answering /.well-known/tela", 60_000, async () => {
      const r = await fetch(`http://127.0.0.1:${hubPort}/.well-known/tela`);
      await r.body?.cancel();
      return r.ok || undefined;
    }, procs);
    const agent = spawnRole(
      "agent",
      v.agent,
      [
        "-hub",
        hubUrl,
        "-machine",
        MACHINE,
        "-token",
        token,
        "-ports",
        `${IPERF_UP_PORT},${IPERF_DOWN_PORT},${ECHO_PORT}`,
      ],
      { HOME: dirs.agent, ...transportEnv },
      dirs.agent,
      prof("agent", v.agent),
    );
    procs.push(agent);
    const statusUrl = `http://127.0.0.1:${hubPort}/api/status`;
    await until(
      "agent registered (hub /api/status)",
      60_000,
      async () => {
        const s = await getJson(statusUrl, token) as { machines?: StatusMachine[] };
        return s.machines?.some((m) => m.id === MACHINE && m.agentConnected) || undefined;
      },
      procs,
      50,
    );

    // connect: spawn → listener accepts → first echoed byte
    const t0 = performance.now();
    const client = spawnRole(
      "client",
      v.client,
      [
        "connect",
        "-hub",
        hubUrl,
        "-machine",
        MACHINE,
        "-token",
        token,
        "-ports",
        `${localUp}:${IPERF_UP_PORT},${localDown}:${IPERF_DOWN_PORT},${localEcho}:${ECHO_PORT}`,
      ],
      { HOME: dirs.client, ...transportEnv },
      dirs.client,
      prof("client", v.client),
    );
    procs.push(client);
    let t1 = NaN;
    const t2 = await until(
      "first byte echoed through the tunnel",
      60_000,
      async () => {
        const c = await Deno.connect({ hostname: "127.0.0.1", port: localEcho });
        if (Number.isNaN(t1)) t1 = performance.now();
        try {
          c.setNoDelay(true);
          await c.write(new Uint8Array([0x2a]));
          const b = new Uint8Array(1);
          return await within("first echo", 30_000, readFull(c, b)) ? performance.now() : undefined;
        } finally {
          c.close();
        }
      },
      procs,
      5,
    );
    await sleep(500);
    const pids = { hub: hub.pid, agent: agent.pid, client: client.pid };
    const each = <T>(f: (pid: number) => T): Roles<T> => ({
      hub: f(pids.hub),
      agent: f(pids.agent),
      client: f(pids.client),
    });
    const rssIdleKiB = each((p) => readKiB(p, "VmRSS"));

    const before = each(readTicks);
    // The transport while the upload runs (halfway) and after every run.
    const transportMid: string[] = [];
    const mid = setTimeout(() => {
      hubTransport(statusUrl, token).then((t) => transportMid.push(t));
    }, opts.seconds * 500);
    const up = await iperf(localUp, opts.seconds, false);
    clearTimeout(mid);
    const down = await iperf(localDown, opts.seconds, true);
    const after = each(readTicks);
    const bytes = up.bytes + down.bytes;
    const ticks = {
      hub: after.hub - before.hub,
      agent: after.agent - before.agent,
      client: after.client - before.client,
    };
    const rtt = await pingPong(localEcho, opts.rttRounds);
    const rssPeakKiB = each((p) => readKiB(p, "VmHWM"));

    const seen = [...transportMid, await hubTransport(statusUrl, token)].filter(Boolean);
    let transport = [...new Set(seen)].join(" → ");
    if (!transport) {
      const m = client.lines.findLast((l) => /transport: [a-z]/.test(l))?.match(
        /transport: ([a-z-]+)/,
      );
      transport = m ? m[1] : "websocket?";
    }
    return {
      round,
      upMbps: up.bitsPerSecond / 1e6,
      downMbps: down.bitsPerSecond / 1e6,
      bytes,
      ticks,
      cpuPerGB: {
        hub: cpuSecondsPerGB(ticks.hub, clkTck, bytes),
        agent: cpuSecondsPerGB(ticks.agent, clkTck, bytes),
        client: cpuSecondsPerGB(ticks.client, clkTck, bytes),
      },
      rttP50Ms: rtt.p50,
      rttP99Ms: rtt.p99,
      connectMs: t2 - t0,
      connectAfterListenMs: t2 - t1,
      rssIdleKiB,
      rssPeakKiB,
      transport,
    };
  } finally {
    for (const p of procs.reverse()) await p.stop(stopSignal);
    for (const c of iperfServers) {
      try {
        c.kill("SIGTERM");
      } catch { /* gone */ }
      await c.status;
    }
    await Deno.remove(root, { recursive: true });
  }
}

/** `BENCH_DENO_FLAGS` plus `BENCH_DENO_FLAGS_<NAME>` (upper case, other characters `_`). */
function denoFlags(name: string): string[] {
  const own = `BENCH_DENO_FLAGS_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
  return [Deno.env.get("BENCH_DENO_FLAGS"), Deno.env.get(own)]
    .flatMap((f) => f?.trim() ? f.trim().split(/\s+/) : []);
}

function variants(opts: Options): Variant[] {
  const out: Variant[] = [];
  const checkout = (name: string, root: string) => {
    const dir = root.endsWith("/") ? root : `${root}/`;
    try {
      Deno.statSync(`${dir}cmd/tela.ts`);
    } catch {
      throw new Error(`--impls ${name}=${root}: ${dir}cmd/tela.ts not found: name a Tela checkout`);
    }
    const flags = denoFlags(name);
    const role = (script: string): RoleCmd => ({ kind: "deno", root: dir, script, flags });
    for (const t of opts.transports) {
      out.push({
        label: t ? `${name} (${t})` : name,
        hub: role("telahubd.ts"),
        agent: role("telad.ts"),
        client: role("tela.ts"),
        transport: t === "auto" ? undefined : t,
      });
    }
  };
  for (const impl of opts.impls) {
    if (impl === "ours") checkout("ours", ROOT);
    else if (impl === "bin") {
      const bin = (env: string, script: string): RoleCmd => {
        const p = Deno.env.get(env);
        return p
          ? { kind: "bin", path: p }
          : { kind: "deno", root: ROOT, script, flags: denoFlags("ours") };
      };
      const v: Variant = {
        label: "",
        hub: bin("BIN_TELAHUBD", "telahubd.ts"),
        agent: bin("BIN_TELAD", "telad.ts"),
        client: bin("BIN_TELA", "tela.ts"),
      };
      const bins = ROLES.filter((r) => v[r].kind === "bin");
      v.label = bins.length === 3 ? "bin" : `bin (${bins.join("+")})`;
      out.push(v);
    } else {
      const i = impl.indexOf("=");
      checkout(impl.slice(0, i), impl.slice(i + 1));
    }
  }
  return out;
}

function describe(v: Variant): Record<string, string> {
  const d = (c: RoleCmd) =>
    c.kind === "deno"
      ? `deno run -A ${[...c.flags, `${c.root === ROOT ? "" : c.root}cmd/${c.script}`].join(" ")}`
      : c.path;
  return {
    hub: d(v.hub),
    agent: d(v.agent),
    client: d(v.client),
    ...(v.transport ? { transport: v.transport } : {}),
  };
}

async function inNamespace(): Promise<number> {
  const haveBin = ["BIN_TELAHUBD", "BIN_TELAD", "BIN_TELA"].some((n) => !!Deno.env.get(n));
  const opts = parseOptions(Deno.args, (n) => Deno.env.get(n), haveBin);
  const lo = await new Deno.Command("ip", { args: ["link", "set", "lo", "up"] }).output();
  if (!lo.success) {
    throw new Error(`ip link set lo up failed: ${new TextDecoder().decode(lo.stderr)}`);
  }
  const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
  const clk = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
  const clkTck = Number(new TextDecoder().decode(clk.stdout).trim()) || 100;
  const profRoot = Deno.env.get("BENCH_CPU_PROF");
  if (profRoot) await Deno.mkdir(profRoot, { recursive: true });

  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    console.error("interrupted: stopping the bench's processes");
    for (const c of live) {
      try {
        c.kill("SIGTERM");
      } catch { /* gone */ }
    }
    setTimeout(() => Deno.exit(130), 3000);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const vs = variants(opts);
  const samples = new Map<Variant, Sample[]>(vs.map((v) => [v, []]));
  const errors: string[] = [];
  const echo = startEcho(ECHO_PORT);
  let k = 0;
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      for (const v of vs) {
        if (interrupted) break;
        console.error(`round ${round}/${opts.rounds}: ${v.label} ...`);
        try {
          const s = await runTrio(v, round, k++, opts, clkTck, profRoot);
          samples.get(v)!.push(s);
          console.error(
            `  up ${s.upMbps.toFixed(0)} Mbit/s, down ${s.downMbps.toFixed(0)} Mbit/s, ` +
              `RTT p50 ${s.rttP50Ms.toFixed(2)} ms, connect ${s.connectMs.toFixed(0)} ms, ` +
              `transport ${s.transport}`,
          );
        } catch (e) {
          const msg = `round ${round} ${v.label}: ${(e as Error).message}`;
          errors.push(msg);
          console.error(`  FAILED ${msg}`);
        }
      }
    }
  } finally {
    echo.close();
  }
  const summaries = vs.map((v) => summarize(v.label, samples.get(v)!));
  const note = `${opts.rounds} interleaved rounds, iperf3 -t ${opts.seconds} each way, ` +
    `${opts.rttRounds} × 64 B round trips; ${navigator.hardwareConcurrency} CPUs, ` +
    `Deno ${Deno.version.deno}`;
  if (opts.json) {
    console.log(JSON.stringify(
      {
        options: { ...opts, transports: opts.transports.map((t) => t ?? "auto") },
        clkTck,
        implementations: vs.map((v, i) => ({
          label: v.label,
          commands: describe(v),
          summary: summaries[i],
          ratios: i > 0 ? ratios(summaries[i], summaries[0]) : undefined,
          samples: samples.get(v),
        })),
        errors,
      },
      null,
      2,
    ));
  } else {
    console.log(formatReport(summaries, note));
    for (const [i, v] of vs.entries()) {
      const d = describe(v);
      console.log(`\n${summaries[i].label}: hub ${d.hub}; agent ${d.agent}; client ${d.client}`);
    }
    console.log(
      "\nconnect ms = spawn of the client to the first byte echoed through the tunnel " +
        "(in brackets: from the first TCP connection its local port accepted). CPU = " +
        "utime+stime of each process over the upload and download runs per 10^9 bytes " +
        "received. RSS idle = VmRSS after connect, peak = VmHWM after the runs. " +
        "transport '?' = assumed (the hub reported none).",
    );
    if (profRoot) console.log(`CPU profiles in ${profRoot} (bench/profile_summary.ts)`);
    for (const e of errors) console.log(`FAILED: ${e}`);
  }
  return errors.length && summaries.every((s) => s.rounds === 0) ? 1 : 0;
}

/** Re-runs this script inside `unshare -n` (a private network namespace). */
async function main(): Promise<number> {
  if (Deno.env.get("BENCH_SBS_IN_NETNS") === "1") return await inNamespace();
  if (Deno.uid() !== 0) {
    console.error(
      "bench/side_by_side.ts needs root (unshare -n makes a private network namespace): " +
        "run it as root",
    );
    return 2;
  }
  const which = await new Deno.Command("sh", { args: ["-c", "command -v iperf3"] }).output();
  if (!which.success) {
    console.error(
      "bench/side_by_side.ts needs iperf3: apt-get install -y --no-install-recommends iperf3",
    );
    return 2;
  }
  const child = new Deno.Command("unshare", {
    args: [
      "-n",
      "--",
      Deno.execPath(),
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      ...Deno.args,
    ],
    env: { BENCH_SBS_IN_NETNS: "1" },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Pass SIGINT/SIGTERM on to the inner bench (by PID), which stops its processes.
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      try {
        child.kill(sig);
      } catch { /* gone */ }
    });
  }
  return (await child.status).code;
}

if (import.meta.main) Deno.exit(await main());
