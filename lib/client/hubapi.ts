/**
 * The hub's `/api/status` as the client reads it, and the three query commands built on
 * it: `tela machines`, `tela services`, `tela status` (spec agent-and-client.md §12).
 * @module
 */
import { tokenPreview } from "../log/mod.ts";
import { classifyHubError, HubDialError } from "../session/hub_error.ts";
import { hubHttpBase } from "./hubs.ts";

/** One service as `/api/status` lists it. */
export interface StatusService {
  port: number;
  proto?: string;
  name?: string;
  description?: string;
  label?: string;
}

/**
 * One session of a machine, as our hub lists it (issue 11): the path each side sends on
 * (`direct`, `udp-relay`, `websocket`; `agent` null until the agent joined) and when either
 * last changed (RFC 3339).
 */
export interface StatusSession {
  index: number;
  client: string;
  agent: string | null;
  since: string;
}

/** One machine as `/api/status` lists it. */
export interface StatusMachine {
  id: string;
  displayName?: string;
  hostname?: string;
  os?: string;
  agentVersion?: string;
  tags?: string[];
  location?: string;
  owner?: string;
  lastSeen?: string;
  agentConnected: boolean;
  sessionCount: number;
  /** Each session's transports; absent from hubs that do not send them (Go hubs). */
  sessions?: StatusSession[];
  registeredAt?: string;
  services: StatusService[] | null;
}

/** The decoded `/api/status` document. */
export interface HubStatus {
  machines: StatusMachine[];
  timestamp: string;
}

/** A hub HTTP call failed; the message says why in the spec's words. */
export class HubApiError extends Error {
  override name = "HubApiError";
}

/** The machine a command names is not in the hub's `/api/status`. Exit status 1. */
export class MachineNotFoundError extends HubApiError {
  override name = "MachineNotFoundError";
  /**
   * @param machine the name as the user gave it.
   * @param hubUrl the hub that was asked.
   */
  constructor(readonly machine: string, readonly hubUrl: string) {
    super(
      `machine ${JSON.stringify(machine)} is not registered on ${hubUrl}; ` +
        `"tela machines -hub ${hubUrl}" lists them`,
    );
  }
}

/** The hub answered 401: the token is missing or wrong. Retrying does not help. */
export class HubUnauthorizedError extends HubApiError {
  override name = "HubUnauthorizedError";
}

/** Time allowed for a hub API call by default, in milliseconds (spec §9.5, §10.1). */
export const HUB_API_TIMEOUT_MS = 10_000;

/**
 * `GET <http base>/api/status` with `Authorization: Bearer <token>`.
 * @param options.timeoutMs time allowed, in milliseconds (default {@link HUB_API_TIMEOUT_MS}).
 * @throws {HubDialError} `could not reach hub <url>: <cause and fix>` (see
 *   `describeHubError`) when no HTTP answer came; a reconnect loop retries it.
 * @throws {HubUnauthorizedError} `hub returned 401 unauthorized: <no token was given, or the
 *   token's 8-character preview>; <where the token comes from>`.
 * @throws {HubApiError} `hub returned HTTP <code>`, `invalid JSON from hub: …`.
 */
export async function fetchHubStatus(
  hubUrl: string,
  token?: string,
  options: { timeoutMs?: number } = {},
): Promise<HubStatus> {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(`${hubHttpBase(hubUrl)}/api/status`, {
      headers,
      signal: AbortSignal.timeout(options.timeoutMs ?? HUB_API_TIMEOUT_MS),
    });
  } catch (err) {
    throw new HubDialError(hubUrl, err);
  }
  if (res.status === 401) {
    await res.body?.cancel();
    throw new HubUnauthorizedError(
      token
        ? `hub returned 401 unauthorized: it does not accept the token (${
          tokenPreview(token)
        }); check -token, TELA_TOKEN or the one "tela login" stored`
        : `hub returned 401 unauthorized: no token was given; pass -token, set TELA_TOKEN, ` +
          `or run "tela login ${hubUrl}"`,
    );
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new HubApiError(`hub returned HTTP ${res.status}`);
  }
  let doc: unknown;
  try {
    doc = await res.json();
  } catch (err) {
    throw new HubApiError(`invalid JSON from hub: ${(err as Error).message}`);
  }
  return decodeHubStatus(doc);
}

/**
 * The machines and timestamp of a decoded `/api/status` body, with missing fields filled
 * (`agentConnected` false, `sessionCount` 0, `services` null when absent).
 * @param doc the parsed JSON (anything: a non-object gives no machines).
 */
export function decodeHubStatus(doc: unknown): HubStatus {
  const d = (doc ?? {}) as Partial<HubStatus>;
  const machines = Array.isArray(d.machines) ? d.machines : [];
  return {
    machines: machines.map((m) => ({
      ...m,
      id: String(m.id ?? ""),
      agentConnected: !!m.agentConnected,
      sessionCount: Number(m.sessionCount ?? 0),
      sessions: decodeSessions(m.sessions),
      services: Array.isArray(m.services) ? m.services : null,
    })),
    timestamp: String(d.timestamp ?? ""),
  };
}

/** A machine's `sessions`, entries that are not objects dropped; undefined when absent. */
function decodeSessions(v: unknown): StatusSession[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const str = (x: unknown) => typeof x === "string" ? x : "";
  return v.filter((x) => x && typeof x === "object" && !Array.isArray(x)).map((x) => {
    const o = x as Record<string, unknown>;
    return {
      index: Number(o.index ?? 0),
      client: str(o.client),
      agent: typeof o.agent === "string" ? o.agent : null,
      since: str(o.since),
    };
  });
}

/**
 * A machine as `-json` prints it: only the fields the client knows, in Go's order, the
 * optional ones omitted when empty (spec agent-and-client.md §12). Extra keys the hub
 * sent are dropped.
 */
export function machineJson(m: StatusMachine): Record<string, unknown> {
  const out: Record<string, unknown> = { id: m.id };
  for (
    const k of [
      "displayName",
      "hostname",
      "os",
      "agentVersion",
      "tags",
      "location",
      "owner",
      "lastSeen",
    ] as const
  ) {
    const v = m[k];
    if (Array.isArray(v) ? v.length > 0 : v) out[k] = v;
  }
  out.agentConnected = m.agentConnected;
  out.sessionCount = m.sessionCount;
  if (m.sessions) out.sessions = m.sessions.map((x) => ({ ...x }));
  out.registeredAt = m.registeredAt ?? "";
  out.services = m.services === null ? null : m.services.map((s) => {
    const svc: Record<string, unknown> = { port: s.port };
    for (const k of ["proto", "name", "description", "label"] as const) if (s[k]) svc[k] = s[k];
    return svc;
  });
  return out;
}

/** The whole status document as `tela machines -json` / `tela status -json` print it. */
export function statusJson(status: HubStatus): Record<string, unknown> {
  return { machines: status.machines.map(machineJson), timestamp: status.timestamp };
}

/** Display label of a service: `name`, else `label`, else `port <n>`. */
export function serviceLabel(s: StatusService): string {
  return s.name || s.label || (s.port ? `port ${s.port}` : "service");
}

/** Left-aligned columns separated by 3 spaces (like Go's tabwriter output). */
export function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join("").trimEnd()
  ).join("\n");
}

/** `tela machines` output: `No machines registered.` or a MACHINE/STATUS/SERVICES/SESSION table. */
export function formatMachines(status: HubStatus): string {
  if (status.machines.length === 0) return "No machines registered.";
  const rows = [["MACHINE", "STATUS", "SERVICES", "SESSION"]];
  for (const m of status.machines) {
    const svcs = (m.services ?? []).map((s) => `${serviceLabel(s)}:${s.port}`).join(", ") || "-";
    rows.push([
      m.id,
      m.agentConnected ? "online" : "offline",
      svcs,
      m.sessionCount > 0 ? `${m.sessionCount} active` : "-",
    ]);
  }
  return formatTable(rows);
}

/**
 * `tela services -machine <m>` output.
 * @throws {MachineNotFoundError} when the hub has no such machine.
 */
export function formatServices(status: HubStatus, machine: string, hubUrl: string): string {
  const m = status.machines.find((x) => x.id === machine);
  if (!m) throw new MachineNotFoundError(machine, hubUrl);
  const lines = [`Machine: ${m.id} (${m.agentConnected ? "online" : "offline"})`];
  if (!m.services || m.services.length === 0) {
    lines.push("No services advertised.");
    return lines.join("\n");
  }
  const rows = [["PORT", "SERVICE", "CONNECT"]];
  for (const s of m.services) {
    rows.push([
      String(s.port),
      serviceLabel(s),
      `tela connect -hub ${hubUrl} -machine ${m.id} -ports ${s.port}`,
    ]);
  }
  lines.push(formatTable(rows));
  return lines.join("\n");
}

/** The transport names `tela status` prints as they are; anything else shows as `unknown`. */
const TRANSPORT_WORDS = new Set(["direct", "udp-relay", "websocket"]);

/**
 * `tela status` output: the summary, then, when the hub lists its sessions (ours does, issue
 * 11), one row per session with each side's transport:
 * ```
 * MACHINE   SESSION   CLIENT PATH   AGENT PATH   SINCE
 * barn      1         direct        direct       2026-12-02T16:03:11Z
 * ```
 * `CLIENT PATH` is the path the client sends on, `AGENT PATH` the one the agent sends on:
 * each side picks its own (its `-transport` caps only its own sending path).
 * A Go hub sends no `sessions`: the summary alone, as before.
 */
export function formatStatus(status: HubStatus, hubUrl: string): string {
  const online = status.machines.filter((m) => m.agentConnected).length;
  const services = status.machines.reduce((n, m) => n + (m.services?.length ?? 0), 0);
  const sessions = status.machines.reduce((n, m) => n + Math.max(0, m.sessionCount), 0);
  const lines = [
    `Hub:       ${hubUrl}`,
    `Machines:  ${status.machines.length} registered, ${online} online`,
    `Services:  ${services} total`,
    `Sessions:  ${sessions} active`,
    `Timestamp: ${status.timestamp}`,
  ];
  const word = (t: string | null) => t === null ? "-" : TRANSPORT_WORDS.has(t) ? t : "unknown";
  const rows = [["MACHINE", "SESSION", "CLIENT PATH", "AGENT PATH", "SINCE"]];
  for (const m of status.machines) {
    for (const x of m.sessions ?? []) {
      rows.push([m.id, String(x.index), word(x.client), word(x.agent), x.since || "-"]);
    }
  }
  if (rows.length > 1) lines.push("", formatTable(rows));
  return lines.join("\n");
}

/** The hub lists no machine of that name (its agent has not registered, or the name is wrong). */
export class MachineNotListedError extends HubApiError {
  override name = "MachineNotListedError";
}

/** The machine is listed but advertises no service of that name. */
export class UnknownServiceError extends HubApiError {
  override name = "UnknownServiceError";
}

/**
 * Resolves service names to ports through `/api/status` (spec §10.1).
 * @returns one port per name, in order.
 * @throws {MachineNotListedError} `machine "<m>" not found on hub (cannot resolve service
 *   names)`: the agent may not have registered yet.
 * @throws {UnknownServiceError} `service "<n>" not found on machine "<m>" (available: SSH:22, …)`.
 */
export function resolveServiceNames(
  status: HubStatus,
  machine: string,
  names: string[],
): number[] {
  const m = status.machines.find((x) => x.id === machine);
  if (!m) {
    throw new MachineNotListedError(
      `machine "${machine}" not found on hub (cannot resolve service names)`,
    );
  }
  const svcs = m.services ?? [];
  return names.map((n) => {
    const want = n.toLowerCase();
    const s = svcs.find((x) => x.name?.toLowerCase() === want || x.label?.toLowerCase() === want);
    if (!s) {
      const avail = svcs.map((x) => `${serviceLabel(x)}:${x.port}`).join(", ");
      throw new UnknownServiceError(
        `service "${n}" not found on machine "${machine}" (available: ${avail || "none"})`,
      );
    }
    return s.port;
  });
}

/** `hub_directory` used when a directory's `/.well-known/tela` names none (spec §9.5). */
export const DEFAULT_HUB_DIRECTORY = "/api/hubs";

/** What {@link discoverDirectory} learnt from `<base>/.well-known/tela`. */
export interface DirectoryDiscovery {
  /** Path of the hub directory on the same origin (`/api/hubs` when not named). */
  hubDirectory: string;
  /** The `supportedVersions` list, when the document had one (Appendix D §2). */
  supportedVersions?: string[];
  /** The `portalId`, when the document had one (Appendix D §1.1). */
  portalId?: string;
  /** True when no usable document came (404, unreachable, bad JSON): legacy fallback. */
  fallback: boolean;
}

/**
 * `GET <base>/.well-known/tela` of a hub directory (book, *Hub directories and portals*;
 * Appendix D §2; spec agent-and-client.md §9.5): `Authorization: Bearer <token>` when a
 * token is given, {@link HUB_API_TIMEOUT_MS}. Any failure falls back to `/api/hubs`
 * (Appendix D §2 *Fallback*), reported with `fallback: true`.
 * @param base the directory's `http(s)://host[:port]` (no trailing `/`).
 * @param token the remote's bearer token, if any.
 */
export async function discoverDirectory(base: string, token?: string): Promise<DirectoryDiscovery> {
  const fallback: DirectoryDiscovery = { hubDirectory: DEFAULT_HUB_DIRECTORY, fallback: true };
  let doc: Record<string, unknown>;
  try {
    const res = await fetch(`${base}/.well-known/tela`, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(HUB_API_TIMEOUT_MS),
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      return fallback;
    }
    doc = await res.json();
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) return fallback;
  } catch {
    return fallback;
  }
  const dir = doc.hub_directory;
  const out: DirectoryDiscovery = {
    hubDirectory: typeof dir === "string" && dir.startsWith("/") ? dir : DEFAULT_HUB_DIRECTORY,
    fallback: false,
  };
  if (Array.isArray(doc.supportedVersions)) {
    out.supportedVersions = doc.supportedVersions.filter((v): v is string => typeof v === "string");
  }
  if (typeof doc.portalId === "string") out.portalId = doc.portalId;
  return out;
}

/** One entry of a hub directory's `GET {hub_directory}` (Appendix D §3.1). */
export interface DirectoryHub {
  /** The hub's `hubId` (protocol 1.1); absent from older directories. */
  id?: string;
  name: string;
  /** The hub's public URL as the directory lists it (`https://…` or `http://…`). */
  url: string;
  canManage?: boolean;
  orgName?: string | null;
}

/** Why a directory could not be reached, in a few words (no runtime boilerplate). */
function dialCause(err: unknown): string {
  switch (classifyHubError(err)) {
    case "refused":
      return "connection refused (is the directory running, and the port right?)";
    case "timeout":
      return `no answer within ${HUB_API_TIMEOUT_MS / 1000} s`;
    case "dns":
      return "DNS lookup failed (check the host name)";
    case "blocked-port":
      return 'the port is one that HTTP clients refuse (a Fetch standard "bad port"); ' +
        "serve the directory on another port";
    default: {
      let e = err as { message?: string; cause?: unknown } | undefined;
      while (e?.cause) e = e.cause as typeof e;
      return String(e?.message ?? err).replace(/^.*client error \(\w+\): /, "");
    }
  }
}

/** A directory refused or failed the listing; the message names the remote and the fix. */
export class DirectoryError extends HubApiError {
  override name = "DirectoryError";
}

/**
 * `GET <base><hubDirectory>` of a hub directory (spec agent-and-client.md §9.5; Appendix D
 * §3.1): bearer token when given, {@link HUB_API_TIMEOUT_MS}. Entries without a string
 * `name` and `url` are dropped.
 * @param remote the remote's name, for messages.
 * @param base the directory's `http(s)://host[:port]` (no trailing `/`).
 * @param hubDirectory the directory path (`/api/hubs`).
 * @param token the remote's bearer token, if any.
 * @throws {DirectoryError} `remote "<r>" returned 401 unauthorized; try 'tela remote add <r>
 *   <url>' with a valid token`, `remote "<r>" returned HTTP <code>`, `could not reach remote
 *   "<r>" at <url>: <cause>`, `remote "<r>" returned invalid JSON: …`.
 */
export async function fetchDirectoryHubs(
  remote: string,
  base: string,
  hubDirectory: string,
  token?: string,
): Promise<DirectoryHub[]> {
  const url = `${base}${hubDirectory || DEFAULT_HUB_DIRECTORY}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(HUB_API_TIMEOUT_MS),
    });
  } catch (err) {
    throw new DirectoryError(`could not reach remote "${remote}" at ${url}: ${dialCause(err)}`);
  }
  if (res.status === 401) {
    await res.body?.cancel();
    throw new DirectoryError(
      `remote "${remote}" returned 401 unauthorized; try 'tela remote add ${remote} ${base}' ` +
        `with a valid token`,
    );
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new DirectoryError(`remote "${remote}" returned HTTP ${res.status} for ${url}`);
  }
  let doc: { hubs?: unknown };
  try {
    doc = await res.json();
  } catch (err) {
    throw new DirectoryError(`remote "${remote}" returned invalid JSON: ${(err as Error).message}`);
  }
  const hubs = Array.isArray(doc?.hubs) ? doc.hubs : [];
  return hubs.filter((h): h is DirectoryHub =>
    !!h && typeof h === "object" && typeof h.name === "string" && typeof h.url === "string"
  );
}
