/**
 * `telad`, the agent CLI (book, *Run an agent*, Appendix A; spec agent-and-client.md §8.4):
 * config-file mode (`-config`/`TELAD_CONFIG`) or flag mode (`-hub -machine -ports`).
 * `cmd/telad.ts` only calls {@link teladMain}.
 * @module
 */
import { resolve } from "node:path";
import { FlagError, type FlagSpec, formatFlagHelp, helpRequested, parseFlags } from "../cli/mod.ts";
import { logger, setLogLevel } from "../log/mod.ts";
import { type BindFactory, DEFAULT_MTU, type TunnelEngine } from "../session/mod.ts";
import {
  ensureWsScheme,
  platformString,
  removeCredential,
  stdinLineReader,
  storeCredential,
  systemCredentialsPath,
  TELA_VERSION,
} from "../host/mod.ts";
import { AgentAuthError, MachineAgent } from "./agent.ts";
import {
  type AgentConfig,
  agentConfigFromFlags,
  agentStatePath,
  loadAgentConfig,
  loadAgentState,
  resolveAgentTokens,
} from "./config.ts";

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
  config: { type: "string", usage: "path to telad.yaml (env TELAD_CONFIG)" },
  hub: { type: "string", usage: "hub WebSocket URL (env TELA_HUB)" },
  machine: { type: "string", usage: "machine name for the hub registry (env TELA_MACHINE)" },
  token: { type: "string", usage: "hub auth token (env TELA_TOKEN)" },
  ports: {
    type: "string",
    usage: 'port specs port[:name[:description]], e.g. "22:SSH,3389:RDP" (env TELAD_PORTS)',
  },
  "target-host": {
    type: "string",
    usage: "target host for services (env TELAD_TARGET_HOST, default 127.0.0.1)",
  },
  mtu: { type: "number", usage: "WireGuard tunnel MTU (env TELAD_MTU, default 1100)" },
  v: { type: "boolean", usage: "verbose logging" },
} satisfies Record<string, FlagSpec>;

const USAGE = `Usage:
  telad -config <telad.yaml>
  telad -hub <url> -machine <name> -ports "22:SSH,3389:RDP" [-token <t>] [-target-host <host>]
  telad login -hub <url> | logout -hub <url> | version

Flags:
${formatFlagHelp(FLAGS)}`;

function env(name: string): string | undefined {
  return Deno.env.get(name) || undefined;
}

/**
 * Runs `telad` with `args`.
 * @returns exit status: 0 after a clean stop, 1 on a configuration or authentication
 *   error, 2 on bad flags.
 */
export async function teladMain(args: string[], deps: TeladDeps): Promise<number> {
  const out = deps.stdout ?? ((t: string) => console.log(t));
  const err = deps.stderr ?? ((t: string) => console.error(t));
  const first = args[0];
  if (first === "version" || first === "--version" || first === "-version") {
    out(`telad ${TELA_VERSION} ${platformString()}`);
    return 0;
  }
  if (first === "help" || helpRequested(args)) {
    out(USAGE);
    return 0;
  }
  if (first === "login" || first === "logout") {
    return await loginCommand(first, args.slice(1), deps, out, err);
  }
  let values;
  try {
    ({ values } = parseFlags(args, FLAGS));
  } catch (e) {
    if (e instanceof FlagError) {
      err(`${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (values.v) setLogLevel("debug");
  const log = logger("telad");
  const mtuEnv = Number(env("TELAD_MTU"));
  const mtu = values.mtu && values.mtu > 0
    ? values.mtu
    : Number.isInteger(mtuEnv) && mtuEnv > 0
    ? mtuEnv
    : DEFAULT_MTU;
  let cfg: AgentConfig;
  let statePath: string;
  try {
    const configPath = values.config ?? env("TELAD_CONFIG");
    if (configPath) {
      const abs = resolve(configPath);
      cfg = await loadAgentConfig(abs);
      log.info(`loaded config from ${abs}`);
      log.info(`config: ${cfg.machines.length} machine(s), hub ${cfg.hub}`);
      statePath = agentStatePath(abs);
    } else {
      const hub = values.hub ?? env("TELA_HUB");
      const machine = values.machine ?? env("TELA_MACHINE");
      if (!hub || !machine) {
        err(`Error: -hub and -machine are required (or -config <telad.yaml>)\n\n${USAGE}`);
        return 1;
      }
      if (!/^wss?:\/\//i.test(hub)) {
        err(`Error: -hub must be a ws:// or wss:// URL (got ${hub})`);
        return 1;
      }
      cfg = agentConfigFromFlags(
        {
          hub,
          machine,
          ports: values.ports ?? env("TELAD_PORTS") ?? "",
          targetHost: values["target-host"] ?? env("TELAD_TARGET_HOST"),
        },
        (part) => log.warn(`ignoring invalid port spec: ${part}`),
      );
      statePath = agentStatePath();
    }
    await resolveAgentTokens(cfg, values.token);
  } catch (e) {
    err(`Error: ${(e as Error).message}`);
    return 1;
  }
  const state = await loadAgentState(statePath, cfg.machines.map((m) => m.name));
  const regIds = Object.fromEntries(
    Object.entries(state.machines).map(([k, v]) => [k, v.machineRegistrationId]),
  );
  const agents = cfg.machines.map((m) =>
    new MachineAgent(m, {
      hubUrl: cfg.hub,
      agentId: state.agentId,
      registrationIds: regIds,
      bind: deps.bind,
      engine: deps.engine,
      mtu,
      log: (name) => logger(cfg.machines.length > 1 ? `telad:${name}` : "telad"),
    })
  );
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
  const stopped = await Promise.race([runs.then(() => false), interrupted.then(() => true)]);
  for (const a of agents) a.stop();
  if (stopped) {
    log.info("shutting down");
    return 0;
  }
  for (const f of failures) err(`Error: ${f}`);
  return 1;
}

async function loginCommand(
  cmd: "login" | "logout",
  args: string[],
  deps: TeladDeps,
  out: (t: string) => void,
  err: (t: string) => void,
): Promise<number> {
  const { values } = parseFlags(args, { hub: { type: "string" } });
  const hubArg = values.hub ?? env("TELA_HUB");
  if (!hubArg) {
    err(
      `Usage: telad ${cmd} -hub <hub-url>\nUses the system credential store ${systemCredentialsPath()}.`,
    );
    return 1;
  }
  if (Deno.build.os !== "windows" && Deno.uid() !== 0) {
    err(`Error: telad ${cmd} requires administrator/root privileges.`);
    return 1;
  }
  const hub = ensureWsScheme(hubArg);
  if (cmd === "logout") {
    out(
      (await removeCredential(hub, systemCredentialsPath()))
        ? `Credentials removed for ${hub}`
        : `No credentials found for ${hub}`,
    );
    return 0;
  }
  const readLine = deps.readLine ?? stdinLineReader();
  // Prompts stay on the line the answer is typed on (no newline), as Go's do.
  const ask = deps.stdout ?? ((t: string) => Deno.stdout.writeSync(new TextEncoder().encode(t)));
  ask("Token: ");
  const token = (await readLine())?.trim() ?? "";
  if (!token) {
    err("Error: token cannot be empty");
    return 1;
  }
  ask("Identity (press Enter to skip): ");
  const identity = (await readLine())?.trim() ?? "";
  const key = await storeCredential(
    hub,
    { token, ...(identity ? { identity } : {}) },
    systemCredentialsPath(),
  );
  out(`Credentials stored for ${key}`);
  return 0;
}
