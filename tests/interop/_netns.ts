/**
 * Helpers for interop tests that build network namespaces and run real programs.
 * Prerequisite checks follow the project rule: skip with a reason locally, fail in CI.
 * @module
 */

/** Result of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (never throws for a non-zero exit). */
export async function run(cmd: string, args: string[], stdin?: string): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a command and throws with its stderr when it fails. */
export async function must(cmd: string, args: string[], stdin?: string): Promise<string> {
  const r = await run(cmd, args, stdin);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** True when `name` is an executable on PATH. */
export async function haveCommand(name: string): Promise<boolean> {
  try {
    return (await run("sh", ["-c", `command -v ${name}`])).code === 0;
  } catch {
    return false;
  }
}

/** What an interop test needs besides programs on PATH. */
export interface PrerequisiteOptions {
  /** Root, Linux and /dev/net/tun, for namespaces and TUN devices (default true). */
  root?: boolean;
}

/**
 * Checks root and the named commands. Returns null when all is there, else the reason.
 * Call {@link requirePrerequisites} to turn the reason into skip-or-fail.
 */
export async function missingPrerequisites(
  commands: string[],
  opts: PrerequisiteOptions = {},
): Promise<string | null> {
  const root = opts.root ?? true;
  if (root && Deno.build.os !== "linux") return "not Linux";
  if (root && Deno.uid() !== 0) return "not root (network namespaces and TUN need root)";
  const missing: string[] = [];
  for (const c of commands) if (!(await haveCommand(c))) missing.push(c);
  if (missing.length > 0) return `missing programs: ${missing.join(", ")}`;
  if (!root) return null;
  try {
    Deno.statSync("/dev/net/tun");
  } catch {
    return "no /dev/net/tun";
  }
  return null;
}

/** True when running in CI (env CI=true), where interop tests must not skip. */
export function inCI(): boolean {
  return (Deno.env.get("CI") ?? "").toLowerCase() === "true";
}

/**
 * Decides whether an interop test runs: returns `ignore` for Deno.test. Locally a
 * missing prerequisite prints why and skips; in CI it throws, failing the run.
 */
export async function requirePrerequisites(
  test: string,
  commands: string[],
  opts: PrerequisiteOptions = {},
): Promise<boolean> {
  const reason = await missingPrerequisites(commands, opts);
  return skipOrFail(test, reason);
}

/**
 * Turns a reason an interop test cannot run (null: it can) into `ignore` for Deno.test:
 * locally it prints the reason and skips; in CI it throws, failing the run.
 */
export function skipOrFail(test: string, reason: string | null): boolean {
  if (reason === null) return false;
  if (inCI()) throw new Error(`${test}: cannot run in CI: ${reason}`);
  console.log(`SKIP ${test}: ${reason}`);
  return true;
}

/** A short random suffix for namespace and link names (Linux names are <= 15 chars). */
export function uniqueSuffix(): string {
  return (Deno.pid % 1000).toString(36) +
    Math.floor(Math.random() * 36 ** 3).toString(36).padStart(3, "0");
}

/** Polls `fn` every `intervalMs` until it returns a value or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined> | T | null | undefined,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A network namespace joined to the root namespace by a veth pair, with Debian's
 * wireguard-go on a TUN inside it: the kernel of the namespace is reachable only through
 * the tunnel. {@link create} builds it; {@link destroy} removes everything it made
 * (wireguard-go, processes started with {@link spawn}, the veth, the namespace and its
 * iptables rules), also after a partial {@link create}.
 */
export class WireguardGoNetns {
  /** The namespace. */
  ns: string;
  /** veth end in the root namespace, and its address (our UDP side). */
  vethHost: string;
  hostAddr: string;
  /** veth end in the namespace, and its address (wireguard-go's UDP side). */
  vethNs: string;
  nsAddr: string;
  /** wireguard-go's TUN interface in the namespace. */
  wgIf: string;
  /** wireguard-go's UDP port on `nsAddr`. */
  wgPort = 51820;
  /** Our tunnel address and the namespace's (on `wgIf`). */
  ourTunnel: string;
  theirTunnel: string;
  /** wireguard-go's public key, base64. */
  publicKeyB64 = "";
  #privateKeyB64 = "";
  #tmp = "";
  #nsCreated = false;
  #vethCreated = false;
  #wg: Deno.ChildProcess | null = null;
  #children = new Set<Deno.ChildProcess>();

  private constructor(prefix: string, net: number) {
    const sfx = uniqueSuffix();
    const octet = 16 + Math.floor(Math.random() * 200);
    this.ns = `${prefix}${sfx}`;
    this.vethHost = `${prefix}h${sfx}`;
    this.vethNs = `${prefix}n${sfx}`;
    this.wgIf = `${prefix}${sfx}`;
    this.hostAddr = `10.${net}.${octet}.1`;
    this.nsAddr = `10.${net}.${octet}.2`;
    this.ourTunnel = `10.${net + 1}.${octet}.1`;
    this.theirTunnel = `10.${net + 1}.${octet}.2`;
  }

  /**
   * Makes the namespace, the veth pair with addresses 10.`net`.x.1/24 (root) and .2/24
   * (namespace), and starts wireguard-go with a fresh key; the tunnel addresses are
   * 10.`net+1`.x.1 (ours) and .2 (theirs). `prefix` is at most 4 characters.
   */
  static async create(prefix: string, net: number): Promise<WireguardGoNetns> {
    const n = new WireguardGoNetns(prefix, net);
    try {
      await n.#create();
      return n;
    } catch (err) {
      await n.destroy();
      throw err;
    }
  }

  async #create(): Promise<void> {
    this.#tmp = await Deno.makeTempDir({ prefix: "tlns-" });
    await must("ip", ["netns", "add", this.ns]);
    this.#nsCreated = true;
    await must("ip", ["link", "add", this.vethHost, "type", "veth", "peer", "name", this.vethNs]);
    this.#vethCreated = true;
    await must("ip", ["link", "set", this.vethNs, "netns", this.ns]);
    await must("ip", ["addr", "add", `${this.hostAddr}/24`, "dev", this.vethHost]);
    await must("ip", ["link", "set", this.vethHost, "up"]);
    await must("ip", ["-n", this.ns, "addr", "add", `${this.nsAddr}/24`, "dev", this.vethNs]);
    await must("ip", ["-n", this.ns, "link", "set", this.vethNs, "up"]);
    await must("ip", ["-n", this.ns, "link", "set", "lo", "up"]);
    this.#wg = new Deno.Command("ip", {
      args: ["netns", "exec", this.ns, "wireguard-go", "-f", this.wgIf],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor("wireguard-go's UAPI socket", () => {
      try {
        Deno.statSync(`/var/run/wireguard/${this.wgIf}.sock`);
        return true;
      } catch {
        return null;
      }
    });
    this.#privateKeyB64 = (await must("wg", ["genkey"])).trim();
    this.publicKeyB64 = (await must("wg", ["pubkey"], this.#privateKeyB64 + "\n")).trim();
  }

  /**
   * Configures wireguard-go with one peer (us): our public key, our tunnel address as its
   * allowed IP and our UDP endpoint; then puts `theirTunnel`/24 on the TUN with `mtu`.
   */
  async configure(ourPublicKeyB64: string, ourEndpoint: string, mtu: number): Promise<void> {
    const keyFile = `${this.#tmp}/wg.key`;
    Deno.writeTextFileSync(keyFile, this.#privateKeyB64 + "\n", { mode: 0o600 });
    await this.must("wg", [
      "set",
      this.wgIf,
      "private-key",
      keyFile,
      "listen-port",
      String(this.wgPort),
      "peer",
      ourPublicKeyB64,
      "allowed-ips",
      `${this.ourTunnel}/32`,
      "endpoint",
      ourEndpoint,
    ]);
    await must("ip", ["-n", this.ns, "addr", "add", `${this.theirTunnel}/24`, "dev", this.wgIf]);
    await must("ip", ["-n", this.ns, "link", "set", this.wgIf, "mtu", String(mtu), "up"]);
  }

  /** Runs a command inside the namespace to completion. */
  exec(cmd: string, args: string[]): Promise<RunResult> {
    return run("ip", ["netns", "exec", this.ns, cmd, ...args]);
  }

  /** Runs a command inside the namespace and throws with its stderr when it fails. */
  must(cmd: string, args: string[]): Promise<string> {
    return must("ip", ["netns", "exec", this.ns, cmd, ...args]);
  }

  /**
   * Starts a long-running command inside the namespace (stdout and stderr piped);
   * {@link destroy} kills it if it is still running.
   */
  spawn(cmd: string, args: string[]): Deno.ChildProcess {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", this.ns, cmd, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#children.add(child);
    child.status.finally(() => this.#children.delete(child));
    return child;
  }

  /** Stops every process it started and removes the veth and the namespace. */
  async destroy(): Promise<void> {
    for (const child of [...this.#children]) await killAndWait(child);
    if (this.#wg !== null) await killAndWait(this.#wg);
    this.#wg = null;
    if (this.#vethCreated) await run("ip", ["link", "del", this.vethHost]);
    this.#vethCreated = false;
    // Deleting the namespace also drops its interfaces and iptables rules.
    if (this.#nsCreated) await run("ip", ["netns", "del", this.ns]);
    this.#nsCreated = false;
    if (this.#tmp) await Deno.remove(this.#tmp, { recursive: true }).catch(() => {});
    this.#tmp = "";
  }
}

/** Sends SIGTERM (then SIGKILL after 5 s) and waits for the process to exit. */
export async function killAndWait(child: Deno.ChildProcess): Promise<void> {
  let exited = false;
  const status = child.status.then(() => (exited = true));
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  const t = setTimeout(() => {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
  }, 5000);
  await status;
  clearTimeout(t);
}
