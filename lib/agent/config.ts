/**
 * `telad.yaml` and `telad.state` (book, *Run an agent*, Appendix A/B; spec
 * agent-and-client.md §8.1-8.2), and the agent's token lookup order.
 * @module
 */
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError, readYamlFile, writeYamlFile } from "../config/mod.ts";
import {
  fileTransportSettings,
  parseAgentPorts,
  type ServiceSpec,
  type TransportSettings,
} from "../session/mod.ts";
import {
  lookupStoredToken,
  systemCredentialsPath,
  userConfigDir,
  userCredentialsPath,
} from "../host/mod.ts";

/** telad's flags do not make a configuration (e.g. no `-ports`). */
export class AgentFlagsError extends Error {
  override name = "AgentFlagsError";
}

/** One machine the agent registers (a `machines:` entry, defaults applied). */
export interface MachineConfig {
  name: string;
  displayName?: string;
  hostname?: string;
  os?: string;
  tags?: string[];
  location?: string;
  owner?: string;
  /** Host every forwarded connection dials; default `127.0.0.1`. */
  target: string;
  token?: string;
  /** Ports served inside the tunnel (from `ports`, else from `services`). */
  ports: number[];
  services: ServiceSpec[];
}

/** The whole agent configuration. */
export interface AgentConfig {
  hub: string;
  token?: string;
  machines: MachineConfig[];
  /**
   * Top-level `stun:` (a list of host:port, empty for no direct path) and `transport:`
   * (`auto`, `udp`, `websocket`) for every machine's sessions; `-stun`, `-transport` and
   * `TELAD_STUN_SERVERS`, `TELAD_TRANSPORT` override them.
   */
  transport?: TransportSettings;
  /** The file it came from; absent in flag mode. */
  path?: string;
}

function optString(path: string, where: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v === "object") throw new ConfigError(path, `${where} must be a string`);
  return String(v);
}

function portNumber(path: string, where: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new ConfigError(
      path,
      `${where} must be a port number 1-65535 (got ${JSON.stringify(v)})`,
    );
  }
  return v;
}

/**
 * Validates a parsed `telad.yaml` document and applies the defaults (spec §8.1):
 * `target` 127.0.0.1, `ports` from `services`, `services` from `ports`.
 * Tokens are not resolved here (see {@link resolveAgentTokens}).
 * @throws {ConfigError} naming the file, the machine and the key.
 */
export function validateAgentConfig(path: string, doc: unknown): AgentConfig {
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(path, "expected a YAML mapping with 'hub' and 'machines'");
  }
  const d = doc as Record<string, unknown>;
  const hub = optString(path, "hub", d.hub);
  if (!hub) throw new ConfigError(path, "'hub' is required (e.g. hub: wss://hub.example.com)");
  if (!/^wss?:\/\//i.test(hub)) {
    throw new ConfigError(path, `'hub' must be a ws:// or wss:// URL (got ${hub})`);
  }
  if (!Array.isArray(d.machines) || d.machines.length === 0) {
    throw new ConfigError(
      path,
      "'machines' list is empty; add at least one machine with a name and ports",
    );
  }
  const machines = d.machines.map((m, i): MachineConfig => {
    if (!m || typeof m !== "object") {
      throw new ConfigError(path, `machines[${i}] must be a mapping`);
    }
    const e = m as Record<string, unknown>;
    const name = optString(path, `machines[${i}].name`, e.name);
    if (!name) throw new ConfigError(path, `machines[${i}]: 'name' is required`);
    const where = `machines[${i}] (${name})`;
    let services: ServiceSpec[] = [];
    if (e.services !== undefined && e.services !== null) {
      if (!Array.isArray(e.services)) {
        throw new ConfigError(path, `${where}: 'services' must be a list`);
      }
      services = e.services.map((s, j) => {
        if (!s || typeof s !== "object") {
          throw new ConfigError(path, `${where}: services[${j}] must be a mapping with a 'port'`);
        }
        const o = s as Record<string, unknown>;
        const svc: ServiceSpec = {
          port: portNumber(path, `${where}: services[${j}].port`, o.port),
          proto: (optString(path, "proto", o.proto) ?? "tcp").toLowerCase(),
        };
        const n = optString(path, "name", o.name);
        if (n) svc.name = n;
        const desc = optString(path, "description", o.description);
        if (desc) svc.description = desc;
        return svc;
      });
    }
    let ports: number[] = [];
    if (e.ports !== undefined && e.ports !== null) {
      if (!Array.isArray(e.ports)) {
        throw new ConfigError(path, `${where}: 'ports' must be a list such as [22, 3389]`);
      }
      ports = e.ports.map((p, j) => portNumber(path, `${where}: ports[${j}]`, p));
    }
    if (ports.length === 0 && services.length === 0) {
      throw new ConfigError(path, `${where}: either 'ports' or 'services' is required`);
    }
    // Book: if both are present, services takes precedence.
    if (services.length > 0) ports = [...new Set(services.map((s) => s.port))];
    else services = ports.map((port) => ({ port, proto: "tcp" }));
    let tags: string[] | undefined;
    if (e.tags !== undefined && e.tags !== null) {
      if (!Array.isArray(e.tags)) throw new ConfigError(path, `${where}: 'tags' must be a list`);
      tags = e.tags.map(String);
    }
    return {
      name,
      displayName: optString(path, "displayName", e.displayName),
      hostname: optString(path, "hostname", e.hostname),
      os: optString(path, "os", e.os),
      tags,
      location: optString(path, "location", e.location),
      owner: optString(path, "owner", e.owner),
      target: optString(path, "target", e.target) ?? "127.0.0.1",
      token: optString(path, "token", e.token),
      ports,
      services,
    };
  });
  const transport = fileTransportSettings(path, d.stun, d.transport);
  return {
    hub,
    token: optString(path, "token", d.token),
    machines,
    ...(transport ? { transport } : {}),
    path,
  };
}

/**
 * Reads and validates `telad.yaml`.
 * @throws {ConfigError} for a missing file, bad YAML or an invalid entry.
 */
export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError(path, `cannot read config: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(path, `invalid YAML: ${String((err as Error).message).split("\n")[0]}`);
  }
  return validateAgentConfig(path, doc);
}

/** Flag-mode inputs (`-hub -machine -ports -target-host`). */
export interface AgentFlags {
  hub: string;
  machine: string;
  ports: string;
  targetHost?: string;
  token?: string;
}

/**
 * Builds the configuration of flag mode (one machine).
 * @throws {AgentFlagsError} `-ports is required (e.g. -ports 22:SSH,3389:RDP)`.
 * @throws {PortSpecError} `no valid ports in: …`.
 */
export function agentConfigFromFlags(
  f: AgentFlags,
  onInvalidPort: (part: string) => void = () => {},
): AgentConfig {
  if (!f.ports.trim()) {
    throw new AgentFlagsError("-ports is required (e.g. -ports 22:SSH,3389:RDP)");
  }
  const services = parseAgentPorts(f.ports, onInvalidPort);
  return {
    hub: f.hub,
    token: f.token,
    machines: [{
      name: f.machine,
      target: f.targetHost || "127.0.0.1",
      ports: [...new Set(services.map((s) => s.port))],
      services,
    }],
  };
}

/**
 * Fills each machine's token per the book's lookup order (*Run an agent*): `-token` flag,
 * `TELA_TOKEN`, per-machine token, top-level token, credential store by hub URL (system
 * store, then user store, Appendix A).
 */
export async function resolveAgentTokens(
  cfg: AgentConfig,
  flagToken?: string,
  stores: string[] = [systemCredentialsPath(), userCredentialsPath()],
): Promise<void> {
  const explicit = flagToken || Deno.env.get("TELA_TOKEN") || undefined;
  let stored: string | undefined | null = null;
  for (const m of cfg.machines) {
    if (explicit) m.token = explicit;
    else if (!m.token && cfg.token) m.token = cfg.token;
    if (!m.token) {
      if (stored === null) stored = await lookupStoredToken(cfg.hub, stores);
      m.token = stored || undefined;
    }
  }
}

/** The persisted identity of an agent installation. */
export interface AgentState {
  agentId: string;
  machines: Record<string, { machineRegistrationId: string }>;
}

/** `telad.state` beside the config file, else `<user config dir>/telad.state`. */
export function agentStatePath(configPath?: string): string {
  return configPath
    ? join(dirname(configPath), "telad.state")
    : join(userConfigDir(), "telad.state");
}

/**
 * Loads `telad.state`, generating a v4 `agentId` and a `machineRegistrationId` per
 * machine name that lacks one, and writes it back (0600) if anything was added. A
 * malformed file is treated as empty (as Go does). Entries of machines no longer
 * configured are kept.
 */
export async function loadAgentState(path: string, machineNames: string[]): Promise<AgentState> {
  let doc: Record<string, unknown> | undefined;
  try {
    doc = await readYamlFile<Record<string, unknown>>(path);
  } catch {
    doc = undefined;
  }
  const state: AgentState = {
    agentId: typeof doc?.agentId === "string" ? doc.agentId : "",
    machines: {},
  };
  const ms = doc?.machines;
  if (ms && typeof ms === "object" && !Array.isArray(ms)) {
    for (const [k, v] of Object.entries(ms as Record<string, unknown>)) {
      const id = (v as { machineRegistrationId?: unknown } | null)?.machineRegistrationId;
      if (typeof id === "string" && id) state.machines[k] = { machineRegistrationId: id };
    }
  }
  let changed = false;
  if (!state.agentId) {
    state.agentId = crypto.randomUUID();
    changed = true;
  }
  for (const name of machineNames) {
    if (!state.machines[name]) {
      state.machines[name] = { machineRegistrationId: crypto.randomUUID() };
      changed = true;
    }
  }
  if (changed) await writeYamlFile(path, state, { mode: 0o600 });
  return state;
}
