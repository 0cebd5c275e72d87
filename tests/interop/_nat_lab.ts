/**
 * The NAT traversal lab of /work/shared/testing/nat-lab.md, built by a test in network
 * namespaces it owns (every name carries a per-run prefix), for real-process tests of the
 * three transports (spec session-and-relay.md §5-§7):
 *
 * ```
 * h1 192.168.1.2 - nat1 (lan .1.1 | wan 10.240.1.2) -+- pub router (10.240.1.1, 10.240.2.1)
 * h2 192.168.2.2 - nat2 (lan .2.1 | wan 10.240.2.2) -+  hub + STUN on pub's lo: 10.240.0.1,
 *                                                       STUN also on 10.240.0.2
 * ```
 *
 * Each NAT is a home router: MASQUERADE on its WAN (optionally `--random-fully`, a
 * symmetric NAT) and a firewall that drops unsolicited WAN input (nat-lab.md gotcha 1).
 * The pub router counts, with iptables rules that only count (no target), the bytes it
 * sees: to and from the hub's UDP and TCP ports, STUN requests per NAT, and UDP forwarded
 * between the two NATs (the direct path). {@link NatLab.counters} reads them.
 *
 * The addresses are fixed: they live only inside the lab's own namespaces, so two labs at
 * once do not clash (the root namespace is never touched).
 * @module
 */
import { Proc } from "../e2e/harness.ts";
import { DENO_DIR, REPO_ROOT } from "../e2e/harness.ts";
import { killAndWait, must, run, type RunResult, uniqueSuffix, waitFor } from "./_netns.ts";

/** The hub's address (and the first STUN server's) on the public router's loopback. */
export const HUB_ADDR = "10.240.0.1";
/** The second STUN server address (same turnserver), to tell mapping types apart. */
export const STUN2_ADDR = "10.240.0.2";
/** STUN port of the lab's turnserver. */
export const STUN_PORT = 3478;
/** The WAN (public) addresses of nat1 and nat2. */
export const NAT_WAN = { nat1: "10.240.1.2", nat2: "10.240.2.2" } as const;
/** The LAN hosts behind nat1 and nat2. */
export const HOST_ADDR = { h1: "192.168.1.2", h2: "192.168.2.2" } as const;
/** The lab's STUN servers as a `-stun` list. */
export const STUN_SERVERS = `${HUB_ADDR}:${STUN_PORT},${STUN2_ADDR}:${STUN_PORT}`;

/** How a NAT box maps outbound UDP/TCP flows. */
export type NatMode =
  /** `MASQUERADE`: endpoint-independent mapping, source port kept (port-restricted cone). */
  | "masquerade"
  /** `MASQUERADE --random-fully`: a new random port per destination (symmetric NAT). */
  | "random-fully";

/** What {@link NatLab.create} builds. */
export interface NatLabOptions {
  /** Name prefix, at most 4 characters (default `tnl`); a random suffix is appended. */
  prefix?: string;
  /** nat1's (h1's) mapping (default `masquerade`). */
  nat1?: NatMode;
  /** nat2's (h2's) mapping (default `masquerade`). */
  nat2?: NatMode;
  /**
   * The NATs' firewall for unsolicited WAN input: `drop` (default; a home router, and
   * what hole punching needs, nat-lab.md gotcha 1) or `accept` (no filter rules at all).
   */
  wanInput?: "drop" | "accept";
  /** The hub's HTTP/WebSocket port on {@link HUB_ADDR} (default 8080). */
  hubTcpPort?: number;
  /** The hub's UDP relay port on {@link HUB_ADDR} (default 41820). */
  hubUdpPort?: number;
}

/** The lab's namespaces by role. */
export type LabNs = "pub" | "nat1" | "nat2" | "h1" | "h2";

/** One counting rule's totals. */
export interface Counter {
  packets: number;
  bytes: number;
}

/**
 * The pub router's counting rules (iptables comments), each the traffic the router sees:
 * - `hub-udp-in` / `hub-udp-out`: UDP to / from the hub's relay port;
 * - `hub-tcp-in` / `hub-tcp-out`: TCP to / from the hub's HTTP/WebSocket port;
 * - `stun-nat1` / `stun-nat2`: STUN requests (UDP to port 3478) from each NAT's WAN address;
 * - `direct-1to2` / `direct-2to1`: UDP forwarded from one NAT's WAN address to the other's,
 *   i.e. the direct peer-to-peer path (hole punch and data), never through the hub.
 */
export type CounterName =
  | "hub-udp-in"
  | "hub-udp-out"
  | "hub-tcp-in"
  | "hub-tcp-out"
  | "stun-nat1"
  | "stun-nat2"
  | "direct-1to2"
  | "direct-2to1";

/** All counters at one moment. */
export type Counters = Record<CounterName, Counter>;

/** `after - before` per counter. */
export function counterDelta(before: Counters, after: Counters): Counters {
  const out = {} as Counters;
  for (const k of Object.keys(after) as CounterName[]) {
    out[k] = {
      packets: after[k].packets - (before[k]?.packets ?? 0),
      bytes: after[k].bytes - (before[k]?.bytes ?? 0),
    };
  }
  return out;
}

/**
 * A NAT lab: five namespaces, two NATs, the counting router. {@link create} builds it;
 * {@link destroy} kills every process started through it (by PID) and deletes the
 * namespaces (their veths, iptables rules and conntrack tables go with them), also after a
 * partial {@link create}.
 */
export class NatLab {
  /** Namespace names by role. */
  readonly ns: Record<LabNs, string>;
  /** The hub's TCP (HTTP/WebSocket) and UDP relay ports. */
  readonly hubTcpPort: number;
  readonly hubUdpPort: number;
  /** A temporary folder for logs and HOMEs; removed by {@link destroy}. */
  tmp = "";
  readonly #opts: NatLabOptions;
  readonly #created: string[] = [];
  readonly #procs = new Set<Proc>();
  readonly #prefix: string;

  private constructor(opts: NatLabOptions) {
    this.#opts = opts;
    const p = (opts.prefix ?? "tnl").slice(0, 4) + uniqueSuffix();
    this.#prefix = p;
    this.ns = { pub: `${p}pub`, nat1: `${p}nat1`, nat2: `${p}nat2`, h1: `${p}h1`, h2: `${p}h2` };
    this.hubTcpPort = opts.hubTcpPort ?? 8080;
    this.hubUdpPort = opts.hubUdpPort ?? 41820;
  }

  /**
   * Builds the lab of nat-lab.md (see the module doc).
   * @throws Error naming the failed `ip`/`iptables`/`sysctl` command; the partial lab is gone.
   */
  static async create(opts: NatLabOptions = {}): Promise<NatLab> {
    const lab = new NatLab(opts);
    try {
      await lab.#build();
      return lab;
    } catch (err) {
      await lab.destroy();
      throw err;
    }
  }

  async #build(): Promise<void> {
    this.tmp = await Deno.makeTempDir({ prefix: "tela-natlab-" });
    const p = this.#prefix;
    for (const role of ["pub", "nat1", "nat2", "h1", "h2"] as const) {
      await must("ip", ["netns", "add", this.ns[role]]);
      this.#created.push(this.ns[role]);
      await this.must(role, "ip", ["link", "set", "lo", "up"]);
    }
    await this.must("pub", "ip", ["addr", "add", `${HUB_ADDR}/32`, "dev", "lo"]);
    await this.must("pub", "ip", ["addr", "add", `${STUN2_ADDR}/32`, "dev", "lo"]);
    await this.must("pub", "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    for (const i of [1, 2] as const) {
      const nat = `nat${i}` as const, host = `h${i}` as const;
      const pubIf = `${p}p${i}`, wan = `${p}n${i}w`, lan = `${p}n${i}l`, eth = `${p}h${i}e`;
      await must("ip", [
        "link",
        "add",
        pubIf,
        "netns",
        this.ns.pub,
        "type",
        "veth",
        "peer",
        "name",
        wan,
        "netns",
        this.ns[nat],
      ]);
      await must("ip", [
        "link",
        "add",
        lan,
        "netns",
        this.ns[nat],
        "type",
        "veth",
        "peer",
        "name",
        eth,
        "netns",
        this.ns[host],
      ]);
      const addr = async (role: LabNs, a: string, dev: string) => {
        await this.must(role, "ip", ["addr", "add", a, "dev", dev]);
        await this.must(role, "ip", ["link", "set", dev, "up"]);
      };
      await addr("pub", `10.240.${i}.1/24`, pubIf);
      await addr(nat, `10.240.${i}.2/24`, wan);
      await addr(nat, `192.168.${i}.1/24`, lan);
      await addr(host, `192.168.${i}.2/24`, eth);
      await this.must(nat, "ip", ["route", "add", "default", "via", `10.240.${i}.1`]);
      await this.must(host, "ip", ["route", "add", "default", "via", `192.168.${i}.1`]);
      await this.must(nat, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
      // A home router's firewall: unsolicited WAN input dropped (nat-lab.md gotcha 1).
      const filtered = (this.#opts.wanInput ?? "drop") === "drop";
      for (const chain of filtered ? ["FORWARD", "INPUT"] : []) {
        await this.must(nat, "iptables", [
          "-A",
          chain,
          "-i",
          wan,
          "-m",
          "conntrack",
          "--ctstate",
          "ESTABLISHED,RELATED",
          "-j",
          "ACCEPT",
        ]);
        await this.must(nat, "iptables", ["-A", chain, "-i", wan, "-j", "DROP"]);
      }
      const mode = (i === 1 ? this.#opts.nat1 : this.#opts.nat2) ?? "masquerade";
      await this.must(nat, "iptables", [
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-o",
        wan,
        "-j",
        "MASQUERADE",
        ...(mode === "random-fully" ? ["--random-fully"] : []),
      ]);
    }
    // Counting rules on the public router (no target: they only count).
    const count = (chain: string, name: CounterName, match: string[]) =>
      this.must("pub", "iptables", ["-A", chain, ...match, "-m", "comment", "--comment", name]);
    const udp = String(this.hubUdpPort), tcp = String(this.hubTcpPort);
    await count("INPUT", "hub-udp-in", ["-d", HUB_ADDR, "-p", "udp", "--dport", udp]);
    await count("OUTPUT", "hub-udp-out", ["-s", HUB_ADDR, "-p", "udp", "--sport", udp]);
    await count("INPUT", "hub-tcp-in", ["-d", HUB_ADDR, "-p", "tcp", "--dport", tcp]);
    await count("OUTPUT", "hub-tcp-out", ["-s", HUB_ADDR, "-p", "tcp", "--sport", tcp]);
    const stunPort = String(STUN_PORT);
    await count("INPUT", "stun-nat1", ["-s", NAT_WAN.nat1, "-p", "udp", "--dport", stunPort]);
    await count("INPUT", "stun-nat2", ["-s", NAT_WAN.nat2, "-p", "udp", "--dport", stunPort]);
    await count("FORWARD", "direct-1to2", ["-s", NAT_WAN.nat1, "-d", NAT_WAN.nat2, "-p", "udp"]);
    await count("FORWARD", "direct-2to1", ["-s", NAT_WAN.nat2, "-d", NAT_WAN.nat1, "-p", "udp"]);
  }

  /** Runs a command inside a lab namespace to completion. */
  exec(role: LabNs, cmd: string, args: string[]): Promise<RunResult> {
    return run("ip", ["netns", "exec", this.ns[role], cmd, ...args]);
  }

  /** Runs a command inside a lab namespace; throws with its stderr when it fails. */
  must(role: LabNs, cmd: string, args: string[]): Promise<string> {
    return must("ip", ["netns", "exec", this.ns[role], cmd, ...args]);
  }

  /**
   * Starts a long-running program inside a lab namespace (`ip netns exec` execs, so the
   * PID is the program's); {@link destroy} stops it if it still runs.
   */
  spawn(
    role: LabNs,
    name: string,
    cmd: string,
    args: string[],
    env: Record<string, string> = {},
    stdin: "null" | "piped" = "null",
  ): Proc {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", this.ns[role], cmd, ...args],
      env: { NO_COLOR: "1", ...env },
      cwd: this.tmp,
      stdin,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const proc = new Proc(name, child);
    this.#procs.add(proc);
    proc.exited.finally(() => this.#procs.delete(proc));
    return proc;
  }

  /**
   * Starts `deno run -A <repo>/<script> ...args` inside a lab namespace, with the
   * parent's Deno cache and `env` (give each role its own HOME).
   */
  spawnDeno(
    role: LabNs,
    name: string,
    script: string,
    args: string[],
    env: Record<string, string> = {},
    stdin: "null" | "piped" = "null",
  ): Proc {
    return this.spawn(
      role,
      name,
      Deno.execPath(),
      ["run", "-A", `${REPO_ROOT}${script}`, ...args],
      { DENO_DIR, HOME: this.tmp, ...env },
      stdin,
    );
  }

  /** Runs `tests/interop/_nat_peer.ts <mode> ...` in a namespace to completion. */
  peer(role: LabNs, mode: string, args: string[]): Promise<RunResult> {
    return run("ip", [
      "netns",
      "exec",
      this.ns[role],
      "env",
      `DENO_DIR=${DENO_DIR}`,
      "NO_COLOR=1",
      Deno.execPath(),
      "run",
      "-A",
      `${REPO_ROOT}tests/interop/_nat_peer.ts`,
      mode,
      ...args,
    ]);
  }

  /**
   * From one UDP socket in `role`'s namespace, the reflexive addresses the lab's STUN
   * servers see (nat-lab.md "What was observed"); null for a server that did not answer.
   */
  async stunFrom(role: LabNs, servers = [
    `${HUB_ADDR}:${STUN_PORT}`,
    `${STUN2_ADDR}:${STUN_PORT}`,
  ]): Promise<(string | null)[]> {
    const r = await this.peer(role, "stun", servers);
    if (r.code !== 0) throw new Error(`STUN query from ${role} failed: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!).mapped;
  }

  /**
   * Starts coturn's `turnserver` STUN-only (no auth, no config file) on {@link HUB_ADDR}
   * and {@link STUN2_ADDR} port 3478 in the pub namespace, and waits until both answer.
   * @throws Error when it does not answer within 20 s (with its log).
   */
  async startStun(): Promise<Proc> {
    const turn = this.spawn("pub", "turnserver", "turnserver", [
      "-c",
      "/dev/null",
      "-n",
      "-S",
      "-z",
      "-L",
      HUB_ADDR,
      "-L",
      STUN2_ADDR,
      "-p",
      String(STUN_PORT),
      "--no-tls",
      "--no-dtls",
      "--no-cli",
      "--simple-log",
      "--no-stdout-log",
      "--log-file",
      `${this.tmp}/turn.log`,
      "--pidfile",
      `${this.tmp}/turn.pid`,
    ]);
    await waitFor(
      "turnserver to answer STUN on both addresses",
      async () => {
        if (!this.#procs.has(turn)) {
          throw new Error(`turnserver exited: ${turn.output}\n${this.#readLog("turn.log")}`);
        }
        const m = await this.stunFrom("pub").catch(() => [null]);
        return m.length === 2 && m.every((x) => x !== null) ? true : null;
      },
      20_000,
      200,
    );
    return turn;
  }

  #readLog(name: string): string {
    try {
      return Deno.readTextFileSync(`${this.tmp}/${name}`);
    } catch {
      return "";
    }
  }

  /**
   * A bare hole punch between h1 and h2 with no Tela code (nat-lab.md's experiment): each
   * side binds `port`, learns its reflexive address from the first STUN server, gets the
   * other's, and sends `TPUNCH` every 100 ms for `durationMs`.
   * @returns the datagrams each side received from the other.
   */
  async barePunch(port = 40000, durationMs = 3000): Promise<{ h1: number; h2: number }> {
    const stun = `${HUB_ADDR}:${STUN_PORT}`;
    const args = ["punch", String(port), stun, String(durationMs)];
    const script = "tests/interop/_nat_peer.ts";
    const p1 = this.spawnDeno("h1", "punch-h1", script, args, {}, "piped");
    const p2 = this.spawnDeno("h2", "punch-h2", script, args, {}, "piped");
    const m1 = JSON.parse((await p1.waitFor(/^\{"mapped".*/, 30_000))[0]).mapped;
    const m2 = JSON.parse((await p2.waitFor(/^\{"mapped".*/, 30_000))[0]).mapped;
    const tell = async (p: Proc, addr: string) => {
      const w = p.child.stdin.getWriter();
      await w.write(new TextEncoder().encode(addr + "\n"));
      await w.close();
    };
    await Promise.all([tell(p1, m2), tell(p2, m1)]);
    const r1 = JSON.parse((await p1.waitFor(/^\{"received".*/, durationMs + 30_000))[0]);
    const r2 = JSON.parse((await p2.waitFor(/^\{"received".*/, durationMs + 30_000))[0]);
    await Promise.all([p1.exited, p2.exited]);
    return { h1: r1.received, h2: r2.received };
  }

  /** Drops every UDP datagram to the hub's relay port at the pub router (after counting it). */
  async blockHubUdp(): Promise<void> {
    await this.must("pub", "iptables", [
      "-A",
      "INPUT",
      "-d",
      HUB_ADDR,
      "-p",
      "udp",
      "--dport",
      String(this.hubUdpPort),
      "-j",
      "DROP",
    ]);
  }

  /** Flushes both NATs' conntrack tables (nat-lab.md gotcha 2). */
  async flushConntrack(): Promise<void> {
    for (const nat of ["nat1", "nat2"] as const) {
      const r = await this.exec(nat, "conntrack", ["-F"]);
      // conntrack -F on an empty table prints a notice and exits 0; anything else fails.
      if (r.code !== 0) throw new Error(`conntrack -F in ${nat} failed: ${r.stderr.trim()}`);
    }
  }

  /** The pub router's counting rules now (`iptables-save -c`). */
  async counters(): Promise<Counters> {
    const text = await this.must("pub", "iptables-save", ["-c", "-t", "filter"]);
    const out = {} as Counters;
    for (const line of text.split("\n")) {
      const m = line.match(/^\[(\d+):(\d+)\] -A \S+ .*--comment "?([\w-]+)"?/);
      if (m) out[m[3] as CounterName] = { packets: Number(m[1]), bytes: Number(m[2]) };
    }
    for (
      const k of [
        "hub-udp-in",
        "hub-udp-out",
        "hub-tcp-in",
        "hub-tcp-out",
        "stun-nat1",
        "stun-nat2",
        "direct-1to2",
        "direct-2to1",
      ] as const
    ) {
      if (!out[k]) throw new Error(`counting rule ${k} missing from the pub router:\n${text}`);
    }
    return out;
  }

  /** Stops every process started through the lab, deletes its namespaces and temp folder. */
  async destroy(): Promise<void> {
    for (const p of [...this.#procs].reverse()) await killAndWait(p.child);
    this.#procs.clear();
    for (const ns of this.#created.reverse()) await run("ip", ["netns", "del", ns]);
    this.#created.length = 0;
    if (this.tmp) await Deno.remove(this.tmp, { recursive: true }).catch(() => {});
    this.tmp = "";
  }
}
