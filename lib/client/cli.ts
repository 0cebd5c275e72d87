/**
 * `tela`, the client CLI (book, Appendix A; spec agent-and-client.md §9-§12): connect,
 * machines, services, status, login, logout, profile, version. `cmd/tela.ts` only calls
 * {@link telaMain}.
 * @module
 */
import { FlagError, type FlagSpec, formatFlagHelp, helpRequested, parseFlags } from "../cli/mod.ts";
import { ConfigError } from "../config/mod.ts";
import { logger, setLogLevel } from "../log/mod.ts";
import {
  type BindFactory,
  DEFAULT_MTU,
  reconnectLoop,
  sleep,
  type TunnelEngine,
} from "../session/mod.ts";
import {
  lookupStoredToken,
  platformString,
  removeCredential,
  resolveClientToken,
  stdinLineReader,
  storeCredential,
  TELA_VERSION,
} from "../host/mod.ts";
import { MachineConnection } from "./connection.ts";
import {
  fetchHubStatus,
  formatMachines,
  formatServices,
  formatStatus,
  HubApiError,
  machineJson,
  resolveServiceNames,
  statusJson,
} from "./hubapi.ts";
import { HubResolveError, resolveHubUrl, resolveLoginHub } from "./hubs.ts";
import { formatServicesBlock, parseClientPorts, type PortMapping } from "./ports.ts";
import {
  createProfile,
  deleteProfile,
  listProfiles,
  loadProfile,
  type ProfileConnection,
  showProfile,
} from "./profile.ts";

/** What the CLI needs from outside: the transport, the tunnel engine and where text goes. */
export interface TelaDeps {
  bind: BindFactory;
  engine: TunnelEngine;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Reads one line of standard input (without the newline); null at end of input. */
  readLine?: () => Promise<string | null>;
  /** Resolves when the user asks to stop (Ctrl-C); default: SIGINT or SIGTERM. */
  interrupted?: Promise<void>;
}

/** An error the CLI prints as `Error: <message>` with exit status 1. */
class UsageError extends Error {}

/** `-h`/`-help` on a sub-command: its usage goes to stdout, exit status 0 (Go `flag`). */
class HelpRequested extends Error {}

/**
 * Parses a sub-command's flags, Go style: `-h`/`-help` asks for its usage (exit 0); an
 * unknown flag gives the message and the usage (exit 2).
 */
function parseCommandFlags<T extends Record<string, FlagSpec>>(
  args: string[],
  specs: T,
  usage: string,
) {
  if (helpRequested(args)) {
    throw new HelpRequested(`${usage}\n${formatFlagHelp(specs)}`);
  }
  try {
    return parseFlags(args, specs);
  } catch (e) {
    if (e instanceof FlagError) {
      throw new FlagError(`${e.message}\n${usage}\n${formatFlagHelp(specs)}`);
    }
    throw e;
  }
}

const USAGE = `Usage: tela <command> [flags]

Commands:
  connect    open a tunnel to a machine: tela connect -hub <hub> -machine <m> [-ports 22,2222:22]
             or every connection of a profile: tela connect -profile <name>
  machines   list machines on a hub:     tela machines -hub <hub> [-token <t>]
  services   list a machine's services:  tela services -hub <hub> -machine <m>
  status     hub summary:                tela status -hub <hub>
  login      store a token:              tela login <hub-url>
  logout     remove a stored token:      tela logout <hub-url>
  profile    list | show <name> | create <name> | delete <name>
  version    print the version

Environment: TELA_HUB, TELA_MACHINE, TELA_TOKEN, TELA_PROFILE, TELA_MTU.`;

const CONNECT_FLAGS = {
  hub: { type: "string", usage: "hub URL (wss://...) or short name (env TELA_HUB)" },
  machine: { type: "string", usage: "machine name (env TELA_MACHINE)" },
  token: { type: "string", usage: "hub auth token (env TELA_TOKEN)" },
  ports: { type: "string", usage: "comma-separated ports or local:remote pairs, e.g. 22,2222:22" },
  services: { type: "string", usage: "comma-separated service names (resolved via the hub API)" },
  profile: { type: "string", usage: "connection profile name or path (env TELA_PROFILE)" },
  port: { type: "number", usage: "legacy: local port" },
  "target-port": { type: "number", usage: "legacy: remote port (default -port)" },
  mtu: { type: "number", usage: "WireGuard tunnel MTU (env TELA_MTU, default 1100)" },
  v: { type: "boolean", usage: "verbose logging" },
} satisfies Record<string, FlagSpec>;

const QUERY_USAGE = {
  machines: "Usage: tela machines -hub <hub> [-token <token>] [-json]",
  services: "Usage: tela services -hub <hub> -machine <machine> [-token <token>] [-json]",
  status: "Usage: tela status -hub <hub> [-token <token>] [-json]",
};

const CONNECT_USAGE = `Usage: tela connect -hub <hub> -machine <machine> [flags]
       tela connect -profile <name>`;

const QUERY_FLAGS = {
  hub: { type: "string", usage: "hub URL or short name (env TELA_HUB)" },
  machine: { type: "string", usage: "machine name (env TELA_MACHINE)" },
  token: { type: "string", usage: "hub auth token (env TELA_TOKEN)" },
  json: { type: "boolean", usage: "print JSON" },
  v: { type: "boolean", usage: "verbose logging" },
} satisfies Record<string, FlagSpec>;

function env(name: string): string | undefined {
  return Deno.env.get(name) || undefined;
}

function signalPromise(): Promise<void> {
  return new Promise((resolve) => {
    const on = () => resolve();
    Deno.addSignalListener("SIGINT", on);
    if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", on);
  });
}

/**
 * Runs `tela` with `args` (without the program name).
 * @returns the exit status: 0 success, 1 handled error, 2 bad flags.
 */
export async function telaMain(args: string[], deps: TelaDeps): Promise<number> {
  const out = deps.stdout ?? ((t: string) => console.log(t));
  const err = deps.stderr ?? ((t: string) => console.error(t));
  const [cmd, ...rest] = args;
  try {
    switch (cmd) {
      case undefined:
        err(USAGE);
        return 1;
      case "version":
      case "-version":
      case "--version":
        out(`tela ${TELA_VERSION} ${platformString()}`);
        return 0;
      case "help":
      case "-h":
      case "-help":
      case "--help":
      case "-?":
        out(USAGE);
        return 0;
      case "connect":
        return await connectCommand(rest, deps, out, err);
      case "machines":
      case "services":
      case "status":
        return await queryCommand(cmd, rest, out, err);
      case "login":
        return await loginCommand(rest, deps, out, err);
      case "logout": {
        const url = rest.find((a) => !a.startsWith("-"));
        if (!url) throw new UsageError("Usage: tela logout <hub-url>");
        const hub = await resolveLoginHub(url);
        out(
          (await removeCredential(hub))
            ? `Credentials removed for ${hub}`
            : `No credentials found for ${hub}`,
        );
        return 0;
      }
      case "profile":
        return await profileCommand(rest, out, err);
      default:
        err(`Unknown command: ${cmd}\n\n${USAGE}`);
        return 1;
    }
  } catch (e) {
    if (e instanceof HelpRequested) {
      out(e.message);
      return 0;
    }
    if (e instanceof FlagError) {
      err(e.message);
      return 2;
    }
    if (
      e instanceof UsageError || e instanceof ConfigError || e instanceof HubResolveError ||
      e instanceof HubApiError || e instanceof Error
    ) {
      err(
        e instanceof UsageError && e.message.startsWith("Usage")
          ? e.message
          : `Error: ${e.message}`,
      );
      return 1;
    }
    throw e;
  }
}

async function queryCommand(
  cmd: "machines" | "services" | "status",
  args: string[],
  out: (t: string) => void,
  err: (t: string) => void,
): Promise<number> {
  const { values } = parseCommandFlags(args, QUERY_FLAGS, QUERY_USAGE[cmd]);
  if (values.v) setLogLevel("debug");
  const hubArg = values.hub ?? env("TELA_HUB");
  if (!hubArg) {
    err(`Error: -hub is required (or set TELA_HUB)\n\n${formatFlagHelp(QUERY_FLAGS)}`);
    return 1;
  }
  const hub = await resolveHubUrl(hubArg);
  const token = await resolveClientToken(values.token, hub);
  const status = await fetchHubStatus(hub, token);
  if (cmd === "machines") {
    out(values.json ? JSON.stringify(statusJson(status), null, 2) : formatMachines(status));
  } else if (cmd === "status") {
    out(values.json ? JSON.stringify(statusJson(status), null, 2) : formatStatus(status, hub));
  } else {
    const machine = values.machine ?? env("TELA_MACHINE");
    if (!machine) {
      err(`Error: -machine is required (or set TELA_MACHINE)`);
      return 1;
    }
    if (values.json) {
      const m = status.machines.find((x) => x.id === machine);
      if (!m) {
        err(`Machine not found: ${machine}`);
        return 1;
      }
      out(JSON.stringify(machineJson(m), null, 2));
    } else {
      try {
        out(formatServices(status, machine, hub));
      } catch (e) {
        err((e as Error).message);
        return 1;
      }
    }
  }
  return 0;
}

async function loginCommand(
  args: string[],
  deps: TelaDeps,
  out: (t: string) => void,
  _err: (t: string) => void,
): Promise<number> {
  const url = args.find((a) => !a.startsWith("-"));
  if (!url) {
    throw new UsageError(
      "Usage: tela login <hub-url>\nStores a hub token in ~/.tela/credentials.yaml (mode 0600).",
    );
  }
  const hub = await resolveLoginHub(url);
  const readLine = deps.readLine ?? stdinLineReader();
  const write = (t: string) => Deno.stdout.writeSync(new TextEncoder().encode(t));
  (deps.stdout ? out : write)("Token: ");
  const token = (await readLine())?.trim() ?? "";
  if (!token) throw new Error("token cannot be empty");
  (deps.stdout ? out : write)("Identity (press Enter to skip): ");
  const identity = (await readLine())?.trim() ?? "";
  const key = await storeCredential(hub, { token, ...(identity ? { identity } : {}) });
  out(`${deps.stdout ? "" : "\n"}Credentials stored for ${key}`);
  return 0;
}

async function profileCommand(
  args: string[],
  out: (t: string) => void,
  err: (t: string) => void,
): Promise<number> {
  const [sub = "list", name] = args;
  switch (sub) {
    case "list":
    case "ls": {
      const names = await listProfiles();
      out(names.length ? names.join("\n") : "No profiles found.");
      return 0;
    }
    case "show":
      if (!name) throw new UsageError("Usage: tela profile show <name>");
      out((await showProfile(name)).replace(/\n$/, ""));
      return 0;
    case "create": {
      if (!name) throw new UsageError("Usage: tela profile create <name>");
      const path = await createProfile(name);
      out(`Created profile "${name}" at ${path}`);
      return 0;
    }
    case "delete":
    case "rm":
      if (!name) throw new UsageError("Usage: tela profile delete <name>");
      await deleteProfile(name);
      out(`Deleted profile "${name}"`);
      return 0;
    default:
      err(
        `Unknown profile subcommand: ${sub}\nUsage: tela profile list | show <name> | create <name> | delete <name>`,
      );
      return 1;
  }
}

function envMtu(flag: number | undefined, name: string): number {
  if (flag && flag > 0) return flag;
  const e = Number(Deno.env.get(name));
  return Number.isInteger(e) && e > 0 ? e : DEFAULT_MTU;
}

async function connectCommand(
  args: string[],
  deps: TelaDeps,
  out: (t: string) => void,
  err: (t: string) => void,
): Promise<number> {
  const { values } = parseCommandFlags(args, CONNECT_FLAGS, CONNECT_USAGE);
  if (values.v) setLogLevel("debug");
  const log = logger("tela");
  const mtu = envMtu(values.mtu, "TELA_MTU");
  const interrupted = deps.interrupted ?? signalPromise();
  const profileArg = values.profile ?? env("TELA_PROFILE");
  if (profileArg) return await connectProfile(profileArg, mtu, deps, out, err, interrupted);

  const hubArg = values.hub ?? env("TELA_HUB");
  const machine = values.machine ?? env("TELA_MACHINE");
  if (!hubArg || !machine) {
    err(
      `Error: -hub and -machine are required (or set TELA_HUB / TELA_MACHINE)\n\n` +
        `${CONNECT_USAGE}\n${formatFlagHelp(CONNECT_FLAGS)}`,
    );
    return 1;
  }
  const hub = await resolveHubUrl(hubArg);
  const token = await resolveClientToken(values.token, hub);
  const mappings: PortMapping[] = [];
  if (values.port) {
    mappings.push({ local: values.port, remote: values["target-port"] || values.port });
  }
  if (values.ports) mappings.push(...parseClientPorts(values.ports));
  if (values.services) {
    const names = values.services.split(",").map((s) => s.trim()).filter(Boolean);
    let status;
    try {
      status = await fetchHubStatus(hub, token);
    } catch (e) {
      throw new Error(`cannot resolve service names: ${(e as Error).message}`);
    }
    for (const p of resolveServiceNames(status, machine, names)) {
      mappings.push({ local: p, remote: p });
    }
  }
  const conn = new MachineConnection({
    hubUrl: hub,
    machine,
    token,
    mappings,
    mtu,
    bind: deps.bind,
    engine: deps.engine,
    log,
    fatalFirstDenial: true,
    onBound: (bound, wanted) => out(formatServicesBlock(bound, wanted)),
  });
  conn.bindExplicit();
  const running = conn.run();
  const result = await Promise.race([
    running.then(() => "done" as const, (e: Error) => e),
    interrupted.then(() => "interrupted" as const),
  ]);
  conn.stop();
  if (result instanceof Error) {
    err(`Error: ${result.message}`);
    return 1;
  }
  log.info("shutting down");
  await Promise.race([running.catch(() => {}), sleep(2000)]);
  return 0;
}

function mergeConnections(conns: (ProfileConnection & { url: string })[]) {
  const merged = new Map<string, ProfileConnection & { url: string }>();
  for (const c of conns) {
    const key = `${c.url}\n${c.machine}`;
    const m = merged.get(key);
    if (!m) merged.set(key, { ...c, services: c.services ? [...c.services] : undefined });
    else {
      if (c.services) m.services = [...(m.services ?? []), ...c.services];
      m.token ||= c.token;
      m.address ||= c.address;
    }
  }
  return [...merged.values()];
}

async function connectProfile(
  arg: string,
  flagMtu: number,
  deps: TelaDeps,
  out: (t: string) => void,
  err: (t: string) => void,
  interrupted: Promise<void>,
): Promise<number> {
  const log = logger("tela");
  const { profile } = await loadProfile(arg);
  const mtu = profile.mtu && profile.mtu > 0 ? profile.mtu : flagMtu;
  log.info(`loaded profile with ${profile.connections.length} connection(s)`);
  profile.connections.forEach((c, i) =>
    log.info(`  [${i + 1}] hub=${c.hub} machine=${c.machine} services=${c.services?.length ?? 0}`)
  );
  const resolved = [];
  for (const c of profile.connections) resolved.push({ ...c, url: await resolveHubUrl(c.hub) });
  const conns = mergeConnections(resolved);
  if (conns.length !== resolved.length) log.info(`merged to ${conns.length} unique connection(s)`);
  const multi = conns.length > 1;
  const running: MachineConnection[] = [];
  let fatal = 0;
  const tasks = conns.map(async (c, i) => {
    const tag = logger(`profile:${i + 1}`);
    const token = c.token || await lookupStoredToken(c.url);
    const mappings: PortMapping[] = [];
    const named = (c.services ?? []).filter((s) => s.name);
    for (const s of c.services ?? []) {
      if (!s.name && s.remote) mappings.push({ local: s.local ?? s.remote, remote: s.remote });
    }
    // Service names resolve through the hub; failures retry with backoff (spec §10.3).
    if (named.length > 0) {
      const done = new AbortController();
      interrupted.then(() => done.abort());
      let resolved = false;
      await reconnectLoop(async () => {
        try {
          const status = await fetchHubStatus(c.url, token);
          const ports = resolveServiceNames(status, c.machine, named.map((s) => s.name!));
          ports.forEach((p, j) => mappings.push({ local: named[j].local ?? p, remote: p }));
          resolved = true;
          done.abort();
        } catch (e) {
          tag.warn((e as Error).message);
        }
        return "grow";
      }, { hubUrl: c.url, log: tag, signal: done.signal, label: "retrying service resolution" });
      if (!resolved) return;
    }
    tag.info(`connecting to ${c.url} → ${c.machine}`);
    const conn = new MachineConnection({
      hubUrl: c.url,
      machine: c.machine,
      token,
      mappings,
      mtu,
      address: c.address,
      bind: deps.bind,
      engine: deps.engine,
      log: tag,
      onBound: (bound, wanted) =>
        out(
          formatServicesBlock(
            bound.map((b) => ({ ...b, machine: multi ? c.machine : undefined })),
            wanted,
          ),
        ),
    });
    running.push(conn);
    conn.bindExplicit();
    try {
      await conn.run();
    } catch (e) {
      fatal++;
      tag.error(`${(e as Error).message}`);
      tag.error(`fatal error, stopping`);
    }
  });
  const stopped = await Promise.race([
    Promise.all(tasks).then(() => false),
    interrupted.then(() => true),
  ]);
  log.info("shutting down all connections");
  for (const c of running) c.stop();
  await Promise.race([Promise.all(tasks), sleep(2000)]);
  // Every connection gave up (e.g. `Invalid token` everywhere): nothing is left running.
  if (!stopped && fatal > 0) {
    err(`Error: every connection of profile "${profile.name}" stopped (see the log above)`);
    return 1;
  }
  return 0;
}
