/**
 * What `tela admin` prints and the values it parses (book, *Hub administration*, Appendix C
 * example table, *TDL for the command line*: tables with uppercase headers and two-space
 * padding, numbers right-aligned, timestamps ISO 8601 UTC). Pure functions: no I/O.
 * @module
 */
import { grantsCell } from "../cli/grants.ts";
import { suggest, UsageError } from "../cli/mod.ts";
import type { HubStatus, StatusMachine } from "./hubapi.ts";
import { serviceLabel } from "./hubapi.ts";

/** One machine line of an access entry (spec §5.6, §14.1). */
export interface AccessMachine {
  machineId: string;
  permissions: string[];
  services?: string[];
}

/** An access entry as `GET /api/admin/access` lists it (spec §5.6, §14.1, §14.2). */
export interface AccessRow {
  id: string;
  role: string;
  tokenPreview?: string;
  machines: AccessMachine[];
  version?: number;
  issuedAt?: string;
  expiresAt?: string;
  revokedAt?: string;
}

/** A row of `GET /api/admin/tokens` (spec §5.1, §14.2). */
export interface TokenRow {
  id: string;
  role: string;
  tokenPreview?: string;
  issuedAt?: string;
  expiresAt?: string;
  revokedAt?: string;
}

/** A row of `GET /api/admin/portals` (spec §5.4). */
export interface PortalRow {
  name: string;
  url: string;
  hubDirectory?: string;
  hasSyncToken?: boolean;
}

/** One event of `GET /api/history` (spec §7; decision 4 adds `identity`). */
export interface HistoryEvent {
  machineId: string;
  event: string;
  timestamp: string;
  detail?: string;
  identity?: string;
}

/** The `hub` block and header fields of `/api/status` (spec §4.1). */
export interface HubStatusHeader {
  hub?: {
    arch?: string;
    goVersion?: string;
    hostname?: string;
    os?: string;
    uptime?: number;
    version?: string;
  };
  hubId?: string;
  hubName?: string;
}

/** What `POST /api/admin/pair-code` answers (spec §5.5). */
export interface PairCodeReply {
  code: string;
  type: string;
  expiresAt: string;
}

/**
 * A table: uppercase header row first, columns separated by two spaces (book, *TDL for
 * the command line*), trailing spaces trimmed.
 * @param rows header row then data rows; every row has the header's column count.
 * @param right indexes of columns that hold counts (right-aligned).
 */
export function formatTable(rows: string[][], right: readonly number[] = []): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r.map((c, i) => right.includes(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])).join("  ")
      .trimEnd()
  ).join("\n");
}

/**
 * A timestamp as ISO 8601 UTC with second precision (`2026-04-15T10:30:00Z`); a value that
 * does not parse is returned as it is, an empty one as `-`.
 */
export function isoUtc(ts: string | undefined): string {
  if (!ts) return "-";
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return ts;
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The MACHINES cell of one access entry: `* (all permissions)` or `*: connect | barn: manage`. */
export function accessMachinesCell(e: AccessRow): string {
  return grantsCell(e.role, e.machines);
}

/**
 * A role as `tela admin` shows it: the hub's role, `user` when it is empty or missing (the
 * hub stores a user as no role; `POST /api/admin/tokens` echoes `""`, spec §5.2).
 * @example roleName("") === "user"; roleName("admin") === "admin"
 */
export function roleName(role: unknown): string {
  return typeof role === "string" && role ? role : "user";
}

/** The ROLE cell: the role, with `(revoked)` or `(expired)` when the token no longer works. */
export function roleCell(e: { role: string; revokedAt?: string; expiresAt?: string }, now: number) {
  const role = roleName(e.role);
  if (e.revokedAt) return `${role} (revoked)`;
  if (e.expiresAt && Date.parse(e.expiresAt) <= now) return `${role} (expired)`;
  return role;
}

/**
 * `tela admin access`: `IDENTITY  ROLE  MACHINES` (book, Appendix C).
 * @param now the current time in ms since the epoch (for expired tokens).
 */
export function formatAccess(entries: AccessRow[], now = Date.now()): string {
  const rows = [["IDENTITY", "ROLE", "MACHINES"]];
  for (const e of entries) rows.push([e.id, roleCell(e, now), accessMachinesCell(e)]);
  return formatTable(rows);
}

/** The STATUS cell of a token: `active`, `revoked`, `expired`. */
function tokenState(t: TokenRow, now: number): string {
  if (t.revokedAt) return "revoked";
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return "expired";
  return "active";
}

/**
 * `tela admin tokens list`: `IDENTITY  ROLE  TOKEN  ISSUED  EXPIRES  STATUS`; TOKEN is the
 * hub's 8-character preview, never more.
 */
export function formatTokens(tokens: TokenRow[], now = Date.now()): string {
  const rows = [["IDENTITY", "ROLE", "TOKEN", "ISSUED", "EXPIRES", "STATUS"]];
  for (const t of tokens) {
    rows.push([
      t.id,
      roleName(t.role),
      t.tokenPreview || "-",
      isoUtc(t.issuedAt),
      t.expiresAt ? isoUtc(t.expiresAt) : "never",
      tokenState(t, now),
    ]);
  }
  return formatTable(rows);
}

/** `tela admin portals list`: `NAME  URL  DIRECTORY  SYNC`, sorted by name. */
export function formatPortals(portals: PortalRow[]): string {
  const rows = [["NAME", "URL", "DIRECTORY", "SYNC"]];
  for (const p of [...portals].sort((a, b) => a.name.localeCompare(b.name))) {
    rows.push([p.name, p.url, p.hubDirectory || "/api/hubs", p.hasSyncToken ? "yes" : "no"]);
  }
  return formatTable(rows);
}

/** The SERVICES cell: `SSH:22, RDP:3389`, or `-`. */
function servicesCell(m: StatusMachine): string {
  return (m.services ?? []).map((s) => `${serviceLabel(s)}:${s.port}`).join(", ") || "-";
}

/**
 * `tela admin agent list`: `MACHINE  STATUS  VERSION  SERVICES  SESSIONS` from
 * `/api/status` (spec §4.1: there is no agents list endpoint), sorted by machine.
 */
export function formatAgents(status: HubStatus): string {
  const rows = [["MACHINE", "STATUS", "VERSION", "SERVICES", "SESSIONS"]];
  for (const m of [...status.machines].sort((a, b) => a.id.localeCompare(b.id))) {
    rows.push([
      m.id,
      m.agentConnected ? "online" : "offline",
      m.agentVersion || "-",
      servicesCell(m),
      String(m.sessionCount),
    ]);
  }
  return formatTable(rows, [4]);
}

/** A whole number of seconds as Go prints a duration: `3h12m5s`, `45s`. */
export function formatSeconds(total: number): string {
  const s = Math.max(0, Math.floor(total));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h}h${m}m${sec}s`;
  if (m) return `${m}m${sec}s`;
  return `${sec}s`;
}

/**
 * `tela admin hub status`: the `/api/status` hub block and the machine counts.
 * @param now the current time in ms (for the start time derived from `uptime`).
 */
export function formatHubStatus(
  head: HubStatusHeader,
  status: HubStatus,
  hubUrl: string,
  now = Date.now(),
): string {
  const h = head.hub ?? {};
  const online = status.machines.filter((m) => m.agentConnected).length;
  const services = status.machines.reduce((n, m) => n + (m.services?.length ?? 0), 0);
  const sessions = status.machines.reduce((n, m) => n + Math.max(0, m.sessionCount), 0);
  const platform = [h.os && h.arch ? `${h.os}/${h.arch}` : h.os || h.arch, h.goVersion]
    .filter(Boolean).join(", ");
  const lines = [
    ["Hub", hubUrl],
    ["Name", head.hubName || "-"],
    ["ID", head.hubId || "-"],
    ["Version", h.version || "-"],
    ["Host", (h.hostname || "-") + (platform ? ` (${platform})` : "")],
    [
      "Uptime",
      typeof h.uptime === "number"
        ? `${formatSeconds(h.uptime)} (since ${
          isoUtc(new Date(now - h.uptime * 1000).toISOString())
        })`
        : "-",
    ],
    ["Machines", `${status.machines.length} registered, ${online} online`],
    ["Services", `${services} total`],
    ["Sessions", `${sessions} active`],
  ];
  return lines.map(([k, v]) => `${(k + ":").padEnd(10)} ${v}`).join("\n");
}

/** `tela admin history`: `TIME  EVENT  MACHINE  IDENTITY  DETAIL`, in the hub's order. */
export function formatHistory(events: HistoryEvent[]): string {
  const rows = [["TIME", "EVENT", "MACHINE", "IDENTITY", "DETAIL"]];
  for (const e of events) {
    rows.push([
      isoUtc(e.timestamp),
      e.event,
      e.machineId || "-",
      e.identity || "-",
      e.detail || "-",
    ]);
  }
  return formatTable(rows);
}

/**
 * `tela admin pair-code` output (book, *Credentials and pairing*): the code, its expiry in
 * UTC, a blank line, and the command to give the recipient.
 * @param hubUrl the hub as the recipient should type it.
 * @param machine the machine of a register code (its agent must pair as that machine).
 */
export function formatPairCode(r: PairCodeReply, hubUrl: string, machine: string): string {
  return [
    `Generated pairing code: ${r.code}`,
    `Expires: ${isoUtc(r.expiresAt)}`,
    "",
    r.type === "register" ? "Agent pairing command:" : "Client pairing command:",
    `  ${pairCommand(r, hubUrl, machine)}`,
  ].join("\n");
}

/**
 * What a new pairing code grants, one sentence for stderr after the book's output block:
 * `The code grants connect on barn (role user), single use, until 2026-04-15T10:30:00Z.` or
 * `The code lets one agent register barn, single use, until ….`
 * @param machine the `<machine>` argument.
 * @param machines the machines a connect code covers (`*` for every machine).
 * @param role the paired identity's role (`user` or `viewer`).
 */
export function pairCodeGrant(
  r: PairCodeReply,
  machine: string,
  machines: readonly string[],
  role: string,
): string {
  const until = `single use, until ${isoUtc(r.expiresAt)}.`;
  if (r.type === "register") return `The code lets one agent register ${machine}, ${until}`;
  const on = machines.includes("*") ? "every machine ('*')" : machines.join(", ");
  return `The code grants connect on ${on} (role ${role}), ${until}`;
}

/**
 * The redemption command for a code: `tela pair -hub <hub> -code <code>`, or for a register
 * code `telad pair -hub <hub> -code <code> -machine <machine>` (the hub needs the machine
 * to redeem a register code, spec §4.4).
 */
export function pairCommand(r: PairCodeReply, hubUrl: string, machine: string): string {
  return r.type === "register"
    ? `telad pair -hub ${hubUrl} -code ${r.code} -machine ${shellWord(machine)}`
    : `tela pair -hub ${hubUrl} -code ${r.code}`;
}

/** `w`, single-quoted when a shell would change it (`*`, spaces). */
export function shellWord(w: string): string {
  return /^[A-Za-z0-9_.:@%+=,\/-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  "µs": 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 7 * 86400,
};

/**
 * A Go duration (`10m`, `1h30m`, `24h`) or days (`7d`), in seconds (fraction kept).
 * @returns undefined when `s` is not such a duration.
 * @example parseDuration("1h30m") === 5400; parseDuration("7d") === 604800
 */
export function parseDuration(s: string, units = ["ns", "us", "µs", "ms", "s", "m", "h", "d"]) {
  const text = s.trim();
  if (!text) return undefined;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w)/y;
  let total = 0;
  let i = 0;
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m || !units.includes(m[2])) return undefined;
    total += Number(m[1]) * UNIT_SECONDS[m[2]];
    i = re.lastIndex;
  }
  return total;
}

/** Longest pairing code lifetime, seconds (spec §5.5: 7 days). */
export const MAX_PAIR_SECONDS = 7 * 86400;

/** Shortest pairing code lifetime, seconds (book: "Codes expire between 10 minutes and 7 days"). */
export const MIN_PAIR_SECONDS = 10 * 60;

/**
 * `-expires` of `tela admin pair-code` in whole seconds (the `expiresIn` Go `tela admin`
 * sends).
 * @throws {UsageError} unless it is a duration of 10 minutes to 7 days (book, *Credentials
 *   and pairing*).
 */
export function pairExpiresIn(s: string): number {
  const sec = parseDuration(s);
  if (sec === undefined || sec < MIN_PAIR_SECONDS || sec > MAX_PAIR_SECONDS) {
    throw new UsageError(
      `-expires ${JSON.stringify(s)} is not a pairing code lifetime: give a duration from ` +
        `10m to 7d, e.g. 10m, 1h, 24h, 7d`,
    );
  }
  return Math.floor(sec);
}

/**
 * `-expires` of `tela admin tokens add`: a lifetime (`30d`, `4w`, `1y`, `12h`) or an
 * RFC 3339 time, as the RFC 3339 UTC `expiresAt` the hub takes (spec §14.2).
 * @param now the current time in ms since the epoch.
 * @throws {UsageError} for anything else, or a time not in the future.
 * @example tokenExpiresAt("30d", Date.parse("2026-01-01T00:00:00Z")) === "2026-01-31T00:00:00Z"
 */
export function tokenExpiresAt(s: string, now = Date.now()): string {
  const text = s.trim();
  let at: number | undefined;
  const years = /^(\d+)y$/.exec(text);
  if (years) {
    const d = new Date(now);
    d.setUTCFullYear(d.getUTCFullYear() + Number(years[1]));
    at = d.getTime();
  } else if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t) && /(Z|[+-]\d{2}:\d{2})$/i.test(text)) at = t;
  } else {
    const sec = parseDuration(text, ["s", "m", "h", "d", "w"]);
    if (sec !== undefined) at = now + sec * 1000;
  }
  if (at === undefined) {
    throw new UsageError(
      `-expires ${JSON.stringify(s)} is not a token lifetime: give a duration (30d, 4w, 1y, ` +
        `12h) or an RFC 3339 time (2027-01-01T00:00:00Z)`,
    );
  }
  if (at <= now) {
    throw new UsageError(`-expires ${JSON.stringify(s)} is not in the future`);
  }
  return isoUtc(new Date(at).toISOString());
}

/** The permissions `access grant` accepts (book, *Hub administration*). */
export const GRANT_PERMISSIONS = ["connect", "register", "manage"] as const;

/**
 * `<perms>` of `access grant`: a comma-separated list of connect, register, manage.
 * @returns the list in the order given, duplicates removed.
 * @throws {UsageError} for an empty list or another word (with a did-you-mean when one of
 *   the three is close: `conect` → connect).
 */
export function parsePermissions(s: string): string[] {
  const parts = s.split(",").map((p) => p.trim().toLowerCase()).filter(Boolean);
  const bad = parts.find((p) => !(GRANT_PERMISSIONS as readonly string[]).includes(p));
  if (parts.length === 0 || bad !== undefined) {
    const near = bad === undefined ? undefined : suggest(bad, GRANT_PERMISSIONS);
    const what = bad === undefined
      ? "no permission given"
      : `"${bad}" is not a permission${near ? ` (did you mean ${near}?)` : ""}`;
    throw new UsageError(
      `${what}: <perms> is a comma-separated list of connect, register, manage ` +
        `(e.g. connect,manage)`,
    );
  }
  return [...new Set(parts)];
}

/** A comma-separated flag value as a list: parts trimmed, empty parts dropped. */
export function commaList(s: string | undefined): string[] {
  return (s ?? "").split(",").map((p) => p.trim()).filter(Boolean);
}
