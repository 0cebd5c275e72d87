/**
 * `telad`, the agent CLI (book, *Run an agent*, Appendix A; spec agent-and-client.md §8.4):
 * config-file mode (`-config`/`TELAD_CONFIG`) or flag mode (`-hub -machine -ports`), and the
 * sub-commands of the book. `telad` with flags (or none) runs the agent; a word that names
 * no sub-command is a usage error and starts nothing. `cmd/telad.ts` only calls
 * {@link teladMain}.
 * @module
 */
import { resolve } from "node:path";
import {
  channelCommand,
  type Command,
  command,
  helpCommand,
  intSetting,
  runCli,
  serviceCommand,
  transportFlags,
  updateCommand,
  UsageError,
  versionCommand,
} from "../cli/mod.ts";
import { type Logger, logger, setLogLevel } from "../log/mod.ts";
import {
  type BindFactory,
  DEFAULT_MTU,
  DEFAULT_STUN_SERVER,
  describeTransportSettings,
  MAX_MTU,
  MIN_MTU,
  type TransportSettings,
  type TunnelEngine,
} from "../session/mod.ts";
import {
  CredentialNotFoundError,
  emptyTokenMessage,
  ensureWsScheme,
  normalizePairingCode,
  pairingCodeProblem,
  PairingError,
  pairingFailure,
  platformString,
  promptIsInteractive,
  redeemPairingCode,
  removeCredential,
  storeCredential,
  systemCredentialsPath,
  TELA_VERSION,
  terminalPrompt,
  userCredentialsPath,
} from "../host/mod.ts";
import { AgentAuthError, MachineAgent } from "./agent.ts";
import { HubDialError } from "../session/hub_error.ts";
import { ConfigError } from "../config/mod.ts";
import { ensureShareDirectories } from "../fileshare/config.ts";
import {
  type AgentConfig,
  agentConfigFromFlags,
  type AgentState,
  agentStatePath,
  loadAgentConfig,
  loadAgentState,
  type MachineConfig,
  resolveAgentTokens,
  unreachableTargets,
} from "./config.ts";
import { startUpstreams } from "./upstreams.ts";
import { LogRing } from "../hub/log_ring.ts";
import { AgentManagement } from "./management_agent.ts";
import { spawnAgentSuccessor } from "./management_restart.ts";

/** What the agent CLI needs from outside. */
export interface TeladDeps {
  bind: BindFactory;
  engine: TunnelEngine;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Resolves when the user asks to stop; default SIGINT/SIGTERM. */
  interrupted?: Promise<void>;
  /** Reads one line of standard input; null at end (for `telad login`). */
  readLine?: () => Promise<string | null>;
}

const FLAGS = {
  config: { type: "string", arg: "path", usage: "Path to telad.yaml (env TELAD_CONFIG)" },
  hub: { type: "string", arg: "url", usage: "Hub WebSocket URL (env TELA_HUB)" },
  machine: {
    type: "string",
    arg: "name",
    usage: "Machine name for the hub registry (env TELA_MACHINE)",
  },
  token: { type: "string", arg: "hex", usage: "Hub auth token (env TELA_TOKEN)" },
  ports: {
    type: "string",
    arg: "spec",
    usage: 'Port specs port[:name[:description]], e.g. "22:SSH,3389:RDP" (env TELAD_PORTS)',
  },
  "target-host": {
    type: "string",
    arg: "host",
    usage: "Target host for services, gateway mode (env TELAD_TARGET_HOST). Default: 127.0.0.1",
  },
  mtu: {
    type: "number",
    usage: `WireGuard tunnel MTU, ${MIN_MTU}-${MAX_MTU} (env TELAD_MTU). Default: ${DEFAULT_MTU}`,
  },
  transport: {
    type: "string",
    arg: "mode",
    usage: "Highest transport this side sends on: auto (direct, then UDP relay, then " +
      "WebSocket), udp (no direct path) or websocket. Caps only this side's sending path; " +
      "the other side chooses its own (env TELAD_TRANSPORT; telad.yaml transport:). Default: auto",
  },
  stun: {
    type: "string",
    arg: "servers",
    usage: `STUN servers for the direct path, host:port[,host:port], or none (env ` +
      `TELAD_STUN_SERVERS; telad.yaml stun:). Default: ${DEFAULT_STUN_SERVER}`,
  },
  v: { type: "boolean", usage: "Verbose logging" },
} as const;

function env(name: string): string | undefined {
  return Deno.env.get(name) || undefined;
}

/**
 * The whole `telad` tree: the root runs the agent; `telad help` and `telad -h` print its
 * help.
 */
export function teladCommand(deps: TeladDeps): Command {
  return command({
    name: "telad",
    summary: "Register machines with a Tela hub and forward their services.",
    usage: [
      "telad -config <telad.yaml>",
      "telad -hub <url> -machine <name> -ports <spec> [-token <hex>] [-target-host <host>]",
      "telad <command> [flags] [args]",
    ],
    description: `The agent daemon. With flags (or TELAD_CONFIG) it runs in the foreground: it
registers each machine with the hub over an outbound WebSocket and forwards the tunnel's
TCP connections to the machine's services, until Ctrl-C. Besides machines and their ports
or services, telad.yaml can give a machine file shares (shares:, for tela files and tela
mount), an HTTP path gateway (gateway:) and local forwards to other hosts (upstreams:). A
word after "telad" must be one of the commands below; "telad help" or "telad -h" prints
this help. Logs go to stderr.`,
    flags: FLAGS,
    examples: [
      "telad -config /etc/tela/telad.yaml",
      "telad -hub wss://owlsnest.parkscomputing.com -machine dev-vm -ports 22:SSH,3389:RDP",
    ],
    seeAlso: ["telad login", "telad pair", "tela machines", "tela files"],
    run: ({ values, out, err }) => runAgent(values, deps, out, err),
    commands: [
      loginCommand("login", deps),
      loginCommand("logout", deps),
      pairCommand(),
      serviceCommand("telad", {
        hub: FLAGS.hub,
        machine: FLAGS.machine,
        ports: FLAGS.ports,
      }, true),
      channelCommand("telad", true),
      updateCommand("telad"),
      versionCommand("telad", TELA_VERSION, platformString()),
      helpCommand("telad"),
    ],
  });
}

/**
 * Runs `telad` with `args`.
 * @returns exit status: 0 after a clean stop or help, 1 on a runtime or authentication
 *   error, 2 on a usage error (unknown command or flag, missing setting), 3 on a
 *   configuration error (book, *TDL for the command line*).
 */
export async function teladMain(args: string[], deps: TeladDeps): Promise<number> {
  const out = deps.stdout ?? ((t: string) => console.log(t));
  const err = deps.stderr ?? ((t: string) => console.error(t));
  return await runCli(teladCommand(deps), args, { out, err });
}

type AgentFlags = {
  config?: string;
  hub?: string;
  machine?: string;
  token?: string;
  ports?: string;
  "target-host"?: string;
  mtu?: number;
  transport?: string;
  stun?: string;
  v?: boolean;
};

async function runAgent(
  values: AgentFlags,
  deps: TeladDeps,
  _out: (t: string) => void,
  err: (t: string) => void,
): Promise<number> {
  if (values.v) setLogLevel("debug");
  const log = logger("telad");
  // The `logs` management action's ring (spec §8.7: the last 1000 lines), from the first line.
  const ring = new LogRing().attach();
  try {
    const restart = await runAgentLogged(values, deps, err, log, ring);
    if (!restart) return 0;
    // Machines stopped, upstream listeners closed: the successor can take over.
    spawnAgentSuccessor(log);
    return 0;
  } finally {
    ring.detach();
  }
}

/**
 * Runs the agent until it is stopped.
 * @returns true when it stopped for a remote `restart` (the caller starts the successor).
 */
async function runAgentLogged(
  values: AgentFlags,
  deps: TeladDeps,
  err: (t: string) => void,
  log: Logger,
  ring: LogRing,
): Promise<boolean> {
  const mtu = intSetting({
    flag: "mtu",
    flagValue: values.mtu,
    env: "TELAD_MTU",
    min: MIN_MTU,
    max: MAX_MTU,
    what: "tunnel MTU",
    fallback: DEFAULT_MTU,
  });
  // Flag and variable first (usage errors, exit 2), before any file is read.
  const fromFlags = transportFlags(values.stun, values.transport, "TELAD");
  let cfg: AgentConfig;
  let statePath: string;
  const configPath = values.config ?? env("TELAD_CONFIG");
  let absConfig: string | undefined;
  if (configPath) {
    const abs = resolve(configPath);
    absConfig = abs;
    const warnings: string[] = [];
    cfg = await loadAgentConfig(abs, { warn: (m) => warnings.push(m) });
    log.info(`loaded config from ${abs}`);
    log.info(`config: ${cfg.machines.length} machine(s), hub ${cfg.hub}`);
    for (const w of warnings) log.warn(w);
    statePath = agentStatePath(abs);
  } else {
    const hub = values.hub ?? env("TELA_HUB");
    const machine = values.machine ?? env("TELA_MACHINE");
    if (!hub || !machine) {
      throw new UsageError("-hub and -machine are required (or -config <telad.yaml>)");
    }
    if (!/^wss?:\/\//i.test(hub)) {
      throw new UsageError(`-hub must be a ws:// or wss:// URL (got ${hub})`);
    }
    // One bad part refuses the whole spec: an agent must not serve less than it was told.
    const portsFrom = values.ports !== undefined ? "-ports" : "environment variable TELAD_PORTS";
    const badPort = (part: string) => {
      throw new UsageError(
        `${portsFrom}: "${part}" is not a port spec: each comma-separated part is ` +
          `port[:name[:description]] with a port 1-65535, e.g. 22:SSH,3389:RDP`,
      );
    };
    try {
      cfg = agentConfigFromFlags(
        {
          hub,
          machine,
          ports: values.ports ?? env("TELAD_PORTS") ?? "",
          targetHost: values["target-host"] ?? env("TELAD_TARGET_HOST"),
        },
        badPort,
      );
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError((e as Error).message); // -ports missing
    }
    statePath = agentStatePath();
  }
  // Flag or variable, else the machine's keys, else telad.yaml's top level, else defaults.
  const transportOf = (m: { transport?: TransportSettings }): TransportSettings => ({
    ...cfg.transport,
    ...m.transport,
    ...fromFlags,
  });
  for (const m of cfg.machines) {
    const described = describeTransportSettings(transportOf(m));
    if (described) logger(cfg.machines.length > 1 ? `telad:${m.name}` : "telad").info(described);
  }
  // Share directories exist before any session serves them (spec §2.9).
  for (const m of cfg.machines) {
    if (!m.shares?.length) continue;
    try {
      await ensureShareDirectories(m.shares);
    } catch (e) {
      throw new ConfigError(cfg.path ?? "telad.yaml", `[${m.name}] ${(e as Error).message}`);
    }
  }
  await resolveAgentTokens(cfg, values.token);
  const state = await loadAgentState(statePath, cfg.machines.map((m) => m.name));
  // Upstreams start once, before any hub connection, and live until telad stops (spec §6).
  const upstreams = cfg.machines.filter((m) => m.upstreams?.length).map((m) =>
    startUpstreams(m.upstreams!, logger("upstream"))
  );
  try {
    // An unreachable service or target at start is a warning, not an error (issue 13).
    if (cfg.path) { for (const w of await unreachableTargets(cfg)) log.warn(w); }
    let restartAsked!: () => void;
    const restart = new Promise<void>((r) => restartAsked = r);
    const management = new AgentManagement({
      config: cfg,
      configPath: absConfig,
      logs: ring,
      log,
      flagToken: values.token,
      onRestart: () => restartAsked(),
    });
    return await runMachines(cfg, state, deps, mtu, transportOf, log, err, management, restart);
  } finally {
    await Promise.all(upstreams.map((u) => u.close()));
  }
}

/** Longest wait at shutdown for file-share connections to clean up, in ms. */
const SHARE_CLOSE_WAIT_MS = 5_000;

async function runMachines(
  cfg: AgentConfig,
  state: AgentState,
  deps: TeladDeps,
  mtu: number,
  transportOf: (m: MachineConfig) => TransportSettings,
  log: Logger,
  err: (t: string) => void,
  management: AgentManagement,
  restart: Promise<void>,
): Promise<boolean> {
  const regIds = Object.fromEntries(
    Object.entries(state.machines).map(([k, v]) => [k, v.machineRegistrationId]),
  );
  const agents = cfg.machines.map((m) =>
    new MachineAgent(m, {
      hubUrl: cfg.hub,
      agentId: state.agentId,
      registrationIds: regIds,
      bind: deps.bind,
      transport: transportOf(m),
      engine: deps.engine,
      mtu,
      log: (name) => logger(cfg.machines.length > 1 ? `telad:${name}` : "telad"),
      management,
    })
  );
  for (const a of agents) management.addMachine(a);
  const failures: string[] = [];
  const runs = Promise.all(agents.map((a) =>
    a.run().catch((e: Error) => {
      if (e instanceof AgentAuthError) failures.push(e.message);
      else failures.push(`machine "${a.machine.name}": ${e.message}`);
    })
  ));
  const interrupted = deps.interrupted ?? new Promise<void>((r) => {
    Deno.addSignalListener("SIGINT", () => r());
    if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", () => r());
  });
  const ended = await Promise.race([
    runs.then(() => "failed" as const),
    interrupted.then(() => "stopped" as const),
    restart.then(() => "restart" as const),
  ]);
  for (const a of agents) a.stop();
  // Uploads cut by the stop remove their temporary files before telad exits (bounded).
  let t: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(agents.map((a) => a.closeShares())),
    new Promise((r) => t = setTimeout(r, SHARE_CLOSE_WAIT_MS)),
  ]);
  clearTimeout(t);
  if (ended === "restart") {
    log.info("restarting (asked through the hub)");
    return true;
  }
  if (ended === "stopped") {
    log.info("shutting down");
    return false;
  }
  for (const f of failures.slice(0, -1)) err(`Error: ${f}`);
  throw new AgentStoppedError(failures.at(-1) ?? "every machine stopped");
}

/** Every machine of the agent stopped (authentication refused, fatal error). Exit status 1. */
export class AgentStoppedError extends Error {
  override name = "AgentStoppedError";
}

/**
 * A command that writes the system credential store was run without root (book,
 * *Credentials and pairing*: "telad login requires elevated privileges"). Exit status 1
 * (book, *TDL for the command line*: permission errors are runtime errors).
 */
export class PrivilegeError extends Error {
  override name = "PrivilegeError";
}

function loginCommand(cmd: "login" | "logout", deps: TeladDeps): Command {
  const store = "the system credential store (/etc/tela/credentials.yaml)";
  return command({
    name: cmd,
    summary: cmd === "login"
      ? "Store a hub token in the system credential store."
      : "Remove a hub's token from the system credential store.",
    usage: [`telad ${cmd} -hub <hub-url>`],
    description: cmd === "login"
      ? `Prompts for a token (typed without echo) and an optional identity and stores them
for the hub in ${store},
so telad.yaml and the command line need no token. Without a terminal it reads the
answers from stdin. Needs root. Prints nothing.`
      : `Removes the token stored by "telad login" for the hub from
${store}.
Needs root. Prints nothing; a hub with no stored token is an error.`,
    flags: { hub: { type: "string", arg: "url", usage: "Hub URL (env TELA_HUB)" } },
    examples: [`sudo telad ${cmd} -hub wss://owlsnest.parkscomputing.com`],
    seeAlso: [cmd === "login" ? "telad logout" : "telad login", "tela login"],
    run: ({ values }) => credentialCommand(cmd, values.hub, deps),
  });
}

async function credentialCommand(
  cmd: "login" | "logout",
  hubFlag: string | undefined,
  deps: TeladDeps,
): Promise<number> {
  const hubArg = hubFlag ?? env("TELA_HUB");
  if (!hubArg) {
    throw new UsageError(
      `-hub is required (or set TELA_HUB); telad ${cmd} uses ${systemCredentialsPath()}`,
    );
  }
  if (Deno.build.os !== "windows" && Deno.uid() !== 0) {
    throw new PrivilegeError(
      `telad ${cmd} writes ${systemCredentialsPath()} and needs root; run "sudo telad ${cmd}"`,
    );
  }
  const hub = ensureWsScheme(hubArg);
  const store = systemCredentialsPath();
  if (cmd === "logout") {
    if (!(await removeCredential(hub, store))) {
      throw new CredentialNotFoundError(
        `no token stored for ${hub} in ${store}; "telad login -hub ${hubArg}" stores one`,
      );
    }
    return 0;
  }
  // Silence is success (book, *TDL for the command line*: "tela login echoes nothing").
  const ask = terminalPrompt(deps.readLine);
  const token = (await ask("Token: ", { secret: true }))?.trim() ?? "";
  if (!token) {
    throw new UsageError(
      emptyTokenMessage(`telad login -hub ${hubArg}`, promptIsInteractive(deps.readLine)),
    );
  }
  const identity = (await ask("Identity (press Enter to skip): "))?.trim() ?? "";
  await storeCredential(hub, { token, ...(identity ? { identity } : {}) }, store);
  return 0;
}

/**
 * `telad pair -hub <url> -code <code> [-machine <id>]` (book, *Credentials and pairing*;
 * spec agent-and-client.md §8.5): redeems a register code (`POST /api/pair` with the
 * machine) and stores the token in the system credential store, where `telad` finds it
 * without `-token`; when that store cannot be written (not root) it goes to the user store
 * (`telad` looks there too) and stderr says so. Prints no data: the identity and the next
 * command go to stderr. Usage errors (exit 2) for a missing hub or a malformed code come
 * before any request.
 */
function pairCommand(): Command {
  return command({
    name: "pair",
    summary: "Exchange a pairing code for the agent's hub token and store it.",
    usage: ["telad pair -hub <hub-url> -code <code> [-machine <id>]"],
    description: `Sends the one-time register code from "tela admin pair-code -type register" to
the hub and stores the token it returns in the system credential store
(/etc/tela/credentials.yaml), so telad and telad.yaml need no token. Without write access
there (not root) the token goes to the user store instead, which telad also reads.
TELA_SYSTEM_DIR, when set, replaces /etc/tela (tests, unusual installs).`,
    flags: {
      hub: { type: "string", arg: "url", usage: "Hub URL (env TELA_HUB)" },
      code: { type: "string", arg: "code", usage: "Pairing code, e.g. ABCD-1234" },
      machine: {
        type: "string",
        arg: "id",
        usage: "Machine the code was made for (env TELA_MACHINE)",
      },
    },
    examples: [
      "sudo telad pair -hub wss://owlsnest.parkscomputing.com -code ABCD-1234 -machine barn",
    ],
    seeAlso: ["tela admin pair-code", "telad login", "telad"],
    async run({ values, err }) {
      const hubArg = values.hub ?? env("TELA_HUB");
      if (!hubArg) throw new UsageError("-hub is required (or set TELA_HUB)");
      const problem = pairingCodeProblem(
        values.code,
        "telad pair -hub <hub> -code ABCD-1234 -machine <id>",
      );
      if (problem) throw new UsageError(problem);
      const code = normalizePairingCode(values.code!)!;
      const machine = values.machine ?? env("TELA_MACHINE");
      const hub = ensureWsScheme(hubArg);
      let result;
      try {
        result = await redeemPairingCode(hub, code, "register", machine);
      } catch (e) {
        if (e instanceof PairingError) {
          throw new PairingError(e.status, e.hubError, pairingFailure(e, hub, code, true));
        }
        throw new HubDialError(hub, e);
      }
      const credential = {
        token: result.token,
        ...(result.identity ? { identity: result.identity } : {}),
      };
      let store = systemCredentialsPath();
      try {
        await storeCredential(hub, credential, store);
      } catch (e) {
        if (e instanceof ConfigError && !/cannot read/.test(e.message)) throw e;
        store = userCredentialsPath();
        await storeCredential(hub, credential, store);
        err(
          `Token stored in user credential store (system store not writable): ${store}; ` +
            `run "sudo telad pair" to store it for the system service`,
        );
      }
      err(`Identity: ${result.identity || "agent"} (token stored in ${store})`);
      const m = machine ?? "<machine>";
      err(`Next: telad -hub ${hub} -machine ${m} -ports <spec> (no -token needed)`);
    },
  });
}
