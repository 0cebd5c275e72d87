/**
 * `tela machines`, `tela services`, `tela status`: read-only views of a hub's
 * `/api/status` (book, Appendix A; spec agent-and-client.md §11).
 * @module
 */
import { command, UsageError } from "../../cli/mod.ts";
import { setLogLevel } from "../../log/mod.ts";
import { resolveClientToken } from "../../host/mod.ts";
import {
  fetchHubStatus,
  formatMachines,
  formatServices,
  formatStatus,
  machineJson,
  MachineNotFoundError,
  statusJson,
} from "../hubapi.ts";
import { resolveHubUrl } from "../hubs.ts";
import { env, HUB_FLAG, JSON_FLAG, MACHINE_FLAG, TOKEN_FLAG, VERBOSE_FLAG } from "./shared.ts";

const HUB_FLAGS = { hub: HUB_FLAG, token: TOKEN_FLAG, json: JSON_FLAG, v: VERBOSE_FLAG } as const;

/** The hub URL and token from flags, environment and credential store. */
async function hubAndToken(values: { hub?: string; token?: string; v?: boolean }) {
  if (values.v) setLogLevel("debug");
  const hubArg = values.hub ?? env("TELA_HUB");
  if (!hubArg) throw new UsageError("-hub is required (or set TELA_HUB)");
  const hub = await resolveHubUrl(hubArg);
  return { hub, token: await resolveClientToken(values.token, hub) };
}

/**
 * `tela machines [-json]` (book, Appendix A): the hub's `/api/status` machines as a table.
 * Throws {@link UsageError} without a hub (exit 2), `HubApiError` when the hub cannot be
 * reached or refuses the token (exit 1), `ConfigError` for a malformed `hubs.yaml` (exit 3).
 */
export const machinesCommand = command({
  name: "machines",
  summary: "List the machines registered on a hub.",
  usage: ["tela machines -hub <hub> [-token <token>] [-json]"],
  description: `Reads the hub's /api/status and prints one row per machine: its name, whether its
agent is online, its services and its active sessions. The token is -token, TELA_TOKEN or
the one stored by "tela login" for the hub.`,
  flags: HUB_FLAGS,
  examples: [
    "tela machines -hub owlsnest.parkscomputing.com",
    "tela machines -hub wss://hub.example.com -json",
  ],
  seeAlso: ["tela services", "tela status", "tela connect"],
  async run({ values, out, err }) {
    const { hub, token } = await hubAndToken(values);
    const status = await fetchHubStatus(hub, token);
    if (values.json) out(JSON.stringify(statusJson(status), null, 2));
    // "No machines registered." is a note, not data: stdout stays empty for scripts.
    else if (status.machines.length === 0) err(formatMachines(status));
    else out(formatMachines(status));
  },
});

/**
 * `tela services -machine <name> [-json]` (book, Appendix A): one machine's advertised
 * services with a `tela connect` line each. Throws as {@link machinesCommand}, and
 * `MachineNotFoundError` when the machine is not on the hub (exit 1).
 */
export const servicesCommand = command({
  name: "services",
  summary: "List the services of one machine on a hub.",
  usage: ["tela services -hub <hub> -machine <machine> [-token <token>] [-json]"],
  description: `Reads the hub's /api/status and prints the services the machine's agent
advertises (port, name) with the "tela connect" line that reaches each.`,
  flags: {
    hub: HUB_FLAG,
    machine: MACHINE_FLAG,
    token: TOKEN_FLAG,
    json: JSON_FLAG,
    v: VERBOSE_FLAG,
  },
  examples: [
    "tela services -hub owlsnest.parkscomputing.com -machine dev-vm",
    "tela services -hub wss://hub.example.com -machine barn -json",
  ],
  seeAlso: ["tela machines", "tela connect"],
  async run({ values, out }) {
    const machine = values.machine ?? env("TELA_MACHINE");
    const { hub, token } = await hubAndToken(values);
    if (!machine) throw new UsageError("-machine is required (or set TELA_MACHINE)");
    const status = await fetchHubStatus(hub, token);
    if (!values.json) return void out(formatServices(status, machine, hub));
    const m = status.machines.find((x) => x.id === machine);
    if (!m) throw new MachineNotFoundError(machine, hub);
    out(JSON.stringify(machineJson(m), null, 2));
  },
});

/**
 * `tela status [-json]` (book, Appendix A): machine, service and session counts of a hub.
 * Throws as {@link machinesCommand}.
 */
export const statusCommand = command({
  name: "status",
  summary: "Print a summary of a hub: machines, services and sessions.",
  usage: ["tela status -hub <hub> [-token <token>] [-json]"],
  description: `Reads the hub's /api/status and prints how many machines are registered and
online, how many services they offer and how many sessions are active. When the hub lists
its sessions, a table follows with one row per session: the machine, the session index,
the transport each side sends on (direct, udp-relay or websocket) and when that last
changed. -json carries the same in each machine's "sessions".`,
  flags: HUB_FLAGS,
  examples: [
    "tela status -hub owlsnest.parkscomputing.com",
    "tela status -hub wss://hub.example.com -json",
  ],
  seeAlso: ["tela machines", "tela services"],
  async run({ values, out }) {
    const { hub, token } = await hubAndToken(values);
    const status = await fetchHubStatus(hub, token);
    out(values.json ? JSON.stringify(statusJson(status), null, 2) : formatStatus(status, hub));
  },
});
