/**
 * `telahubd.yaml`: lookup, validation, environment overrides, first-start
 * bootstrap and atomic saves (book, *Run a hub on the public internet* and
 * Appendix B; spec hub-http-api.md §10).
 *
 * A bad file is never rewritten: loading throws a {@link ConfigError} whose text
 * names the file, the key and the fix, and the hub exits before touching it.
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { stringify as stringifyYaml } from "yaml";
import { ConfigError, parseYamlText, readYamlFile, writeFileAtomic } from "../config/mod.ts";
import { randomHex } from "../protocol/mod.ts";
import { UsageError } from "../cli/errors.ts";
import { validateBridges } from "./bridge.ts";

/** One identity in `auth.tokens` (Appendix C). */
export interface TokenEntry {
  id: string;
  token: string;
  /** `owner` | `admin` | `viewer` | `""`/absent (user). */
  hubRole?: string;
  /** When the token value was issued (create, rotate), RFC 3339 (spec §14.2). */
  issuedAt?: string;
  /** After this instant the token fails every check, RFC 3339 (spec §14.2). */
  expiresAt?: string;
  /** Set when revoked: the token fails every check, the entry stays for audit (§14.2). */
  revokedAt?: string;
}

/** One entry of `auth.machines` (`"*"` is the wildcard). */
export interface MachineAcl {
  registerToken?: string;
  connectTokens?: string[];
  manageTokens?: string[];
  /**
   * Per-service connect filters, by token value (spec §14.1; decision 7): a token listed in
   * `connectTokens` with an entry here may reach only these services (service name, or
   * `port-<N>` when unnamed). In YAML the grant is written `{token, services}`; tokens
   * without a filter stay bare strings so v0.14 Go tools still read the file.
   */
  connectServices?: Record<string, string[]>;
}

/** The `auth` block. */
export interface AuthConfig {
  tokens: TokenEntry[];
  machines: Record<string, MachineAcl>;
}

/**
 * A registration with a portal (spec hub-http-api.md §10.1, §11; book Appendix B `portals`).
 * `hubUrl` is ours: the public URL the hub registered with (or last synced), sent with each
 * viewer-token sync so a portal follows the hub when its URL changes.
 */
export interface PortalEntry {
  url: string;
  token?: string;
  syncToken?: string;
  hubDirectory?: string;
  hubUrl?: string;
}

/** The parsed, validated `telahubd.yaml` (keys as in Appendix B). */
export interface HubConfigFile {
  hubId?: string;
  /** Address the HTTP+WS listener and the UDP relay bind (our extension; default `0.0.0.0`). */
  listen?: string;
  port?: number;
  udpPort?: number;
  udpHost?: string;
  name?: string;
  wwwDir?: string;
  /** Go duration text (`30s`, `2m`, `500ms`) or integer nanoseconds. */
  shutdownTimeout?: string | number;
  update?: { channel?: string; sources?: Record<string, string> };
  bridges?: unknown[];
  channels?: { enabled?: boolean; data?: string; publicURL?: string };
  auth: AuthConfig;
  portals?: Record<string, PortalEntry>;
  /** Keys this version does not know; preserved on save. */
  extra?: Record<string, unknown>;
}

/** Runtime settings after YAML and environment overrides are applied. */
export interface HubSettings {
  /** Address to bind, `0.0.0.0` unless `listen:` or `TELAHUBD_LISTEN` say otherwise. */
  listen: string;
  /** HTTP+WS port; 0 = pick a free port (only via `TELAHUBD_PORT=0`). */
  port: number;
  /** UDP relay port; 0 = pick a free port (only via `TELAHUBD_UDP_PORT=0`). */
  udpPort: number;
  udpHost: string;
  name: string;
  wwwDir: string;
  /** Graceful drain budget in milliseconds. */
  shutdownTimeoutMs: number;
}

/** Default HTTP/WS port (Appendix B). */
export const DEFAULT_PORT = 80;
/** Default listen address: every IPv4 interface, as Go's hub (spec §1.1). */
export const DEFAULT_LISTEN = "0.0.0.0";
/** Default UDP relay port. */
export const DEFAULT_UDP_PORT = 41820;
/** Default drain budget, ms. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

const HEADER =
  "telahubd configuration\nA running hub applies edits to this file within a second.\n";

/** The platform-standard config path (`/etc/tela/telahubd.yaml`, `%ProgramData%\Tela\...`). */
export function systemConfigPath(): string {
  if (Deno.build.os === "windows") {
    const pd = Deno.env.get("ProgramData") ?? "C:\\ProgramData";
    return join(pd, "Tela", "telahubd.yaml");
  }
  return "/etc/tela/telahubd.yaml";
}

/**
 * Finds the config file (book, *Run a hub on the public internet*, foreground lookup; TDL
 * "Configuration and credentials"): `-config` (made absolute; may not exist yet), else
 * `TELAHUBD_CONFIG` (same), else `./data/telahubd.yaml` if it exists, else the platform path
 * if it exists.
 *
 * A non-root user whose platform file exists but is not readable is not silently given a
 * second hub: loading fails with {@link assertConfigReadable}'s message (use `sudo`, or
 * `-config ./data/telahubd.yaml` for a separate hub). When nothing exists the hub creates
 * `./data/telahubd.yaml` (spec §10.4 step 6), never the platform path, which needs root.
 *
 * @param flagPath the `-config` value.
 * @param cwd folder `./data` is relative to.
 * @param env environment lookup (for `TELAHUBD_CONFIG`).
 * @returns the path, or `undefined` when none exists and none was given.
 */
export function locateConfig(
  flagPath?: string,
  cwd = Deno.cwd(),
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): string | undefined {
  if (flagPath) return isAbsolute(flagPath) ? flagPath : resolve(cwd, flagPath);
  const fromEnv = env("TELAHUBD_CONFIG");
  if (fromEnv) return isAbsolute(fromEnv) ? fromEnv : resolve(cwd, fromEnv);
  const local = join(cwd, "data", "telahubd.yaml");
  if (existsSync(local)) return local;
  const sys = systemConfigPath();
  if (existsSync(sys)) return sys;
  return undefined;
}

/**
 * Fails early, with the fix, when `path` exists but this user may not read it (typically
 * `/etc/tela/telahubd.yaml`, mode 0600, owned by root for the service).
 * @throws {ConfigError} naming the file, the cause and the two ways out.
 */
export async function assertConfigReadable(path: string): Promise<void> {
  try {
    (await Deno.open(path, { read: true })).close();
  } catch (err) {
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError(
        path,
        "cannot be read by this user (it belongs to the hub service); run telahubd with sudo, " +
          "or start a separate hub with -config ./data/telahubd.yaml",
      );
    }
    // NotFound and the rest: loading reports them.
  }
}

const KNOWN_KEYS = [
  "hubId",
  "listen",
  "port",
  "udpPort",
  "udpHost",
  "name",
  "wwwDir",
  "shutdownTimeout",
  "update",
  "bridges",
  "channels",
  "auth",
  "portals",
];

/**
 * Parses a Go duration (`1h30m`, `2m`, `30s`, `500ms`, `1.5s`) or an integer of
 * nanoseconds.
 * @returns milliseconds, or `null` when the text is not a duration.
 */
export function parseGoDuration(v: string | number): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v / 1e6 : null;
  const s = v.trim();
  if (s === "0") return 0;
  if (/^-?\d+$/.test(s)) return Number(s) / 1e6;
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    "µs": 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let i = 0;
  let neg = false;
  let body = s;
  if (body.startsWith("-")) {
    neg = true;
    body = body.slice(1);
  }
  if (body === "") return null;
  re.lastIndex = 0;
  while (i < body.length) {
    re.lastIndex = i;
    const m = re.exec(body);
    if (!m) return null;
    total += Number(m[1]) * units[m[2]];
    i = re.lastIndex;
  }
  return neg ? -total : total;
}

function fail(path: string, key: string, what: string, got: unknown): never {
  const shown = typeof got === "string" ? JSON.stringify(got) : JSON.stringify(got) ?? String(got);
  throw new ConfigError(
    path,
    `key "${key}": expected ${what}, got ${shown}; fix the value or remove the key`,
  );
}

function str(path: string, key: string, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v !== "string") fail(path, key, "a string", v);
  return v;
}

function port(path: string, key: string, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 65535) {
    fail(path, key, "a port number 1-65535", v);
  }
  return v;
}

function strList(path: string, key: string, v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) fail(path, key, "a list of tokens", v);
  return v.map((x, i) => {
    if (typeof x !== "string") fail(path, `${key}[${i}]`, "a token string", x);
    return x;
  });
}

/**
 * `connectTokens`: bare token strings, or `{token, services}` grants (spec §14.1).
 * @returns the tokens in order and the filters of those that carry one.
 */
function connectList(
  path: string,
  key: string,
  v: unknown,
): { tokens: string[]; services: Record<string, string[]> } | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) fail(path, key, "a list of tokens", v);
  const services: Record<string, string[]> = {};
  const tokens = v.map((x, i) => {
    if (typeof x === "string") return x;
    const k = `${key}[${i}]`;
    if (typeof x !== "object" || x === null || Array.isArray(x)) {
      fail(path, k, "a token string or {token, services}", x);
    }
    const o = x as Record<string, unknown>;
    if (typeof o.token !== "string") fail(path, `${k}.token`, "a token string", o.token);
    const list = strList(path, `${k}.services`, o.services)?.filter((s) => s !== "");
    if (list && list.length) services[o.token] = list;
    return o.token;
  });
  return { tokens, services };
}

/** RFC 3339 date-time with a zone (`2027-01-01T00:00:00Z`, `...+02:00`, fractions allowed). */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Parses an RFC 3339 timestamp.
 * @returns epoch ms, or `undefined` when `s` is not RFC 3339.
 */
export function parseRfc3339(s: string): number | undefined {
  if (!RFC3339.test(s)) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

function timestamp(path: string, key: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  // The YAML library may give a Date for an unquoted timestamp.
  if (v instanceof Date && !Number.isNaN(v.getTime())) {
    return v.toISOString().replace(/\.000Z$/, "Z");
  }
  if (typeof v !== "string" || parseRfc3339(v) === undefined) {
    fail(path, key, "an RFC 3339 time such as 2027-01-01T00:00:00Z", v);
  }
  return v;
}

function mapping(path: string, key: string, v: unknown): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) fail(path, key, "a mapping (key: value)", v);
  return v as Record<string, unknown>;
}

/**
 * Validates a parsed YAML document.
 * @param path shown in error messages.
 * @param doc the parsed top-level mapping.
 * @throws {ConfigError} naming the key, what was expected and the fix.
 */
export function validateConfig(path: string, doc: Record<string, unknown>): HubConfigFile {
  const cfg: HubConfigFile = { auth: { tokens: [], machines: {} } };
  cfg.hubId = str(path, "hubId", doc.hubId);
  cfg.listen = str(path, "listen", doc.listen);
  if (cfg.listen !== undefined && !isListenAddress(cfg.listen)) {
    fail(path, "listen", "an IP address such as 0.0.0.0, 127.0.0.1 or ::", cfg.listen);
  }
  cfg.port = port(path, "port", doc.port);
  cfg.udpPort = port(path, "udpPort", doc.udpPort);
  cfg.udpHost = str(path, "udpHost", doc.udpHost);
  cfg.name = str(path, "name", doc.name);
  cfg.wwwDir = str(path, "wwwDir", doc.wwwDir);
  if (doc.shutdownTimeout !== undefined && doc.shutdownTimeout !== null) {
    const v = doc.shutdownTimeout;
    if ((typeof v !== "string" && typeof v !== "number") || parseGoDuration(v) === null) {
      fail(path, "shutdownTimeout", 'a duration such as "30s", "2m" or "500ms"', v);
    }
    cfg.shutdownTimeout = v as string | number;
  }
  const update = mapping(path, "update", doc.update);
  if (update) {
    cfg.update = {};
    cfg.update.channel = str(path, "update.channel", update.channel);
    const sources = mapping(path, "update.sources", update.sources);
    if (sources) {
      cfg.update.sources = {};
      for (const [k, v] of Object.entries(sources)) {
        cfg.update.sources[k] = str(path, `update.sources.${k}`, v) ?? "";
      }
    }
  }
  if (doc.bridges !== undefined && doc.bridges !== null) {
    validateBridges(path, doc.bridges); // kept as written; the hub reads it at start
    cfg.bridges = doc.bridges as unknown[];
  }
  const channels = mapping(path, "channels", doc.channels);
  if (channels) {
    if (channels.enabled !== undefined && typeof channels.enabled !== "boolean") {
      fail(path, "channels.enabled", "true or false", channels.enabled);
    }
    cfg.channels = {
      enabled: channels.enabled as boolean | undefined,
      data: str(path, "channels.data", channels.data),
      publicURL: str(path, "channels.publicURL", channels.publicURL),
    };
  }
  const auth = mapping(path, "auth", doc.auth);
  if (auth) {
    if (auth.tokens !== undefined && auth.tokens !== null) {
      if (!Array.isArray(auth.tokens)) {
        fail(path, "auth.tokens", "a list of {id, token, hubRole}", auth.tokens);
      }
      auth.tokens.forEach((t: unknown, i: number) => {
        const k = `auth.tokens[${i}]`;
        const m = mapping(path, k, t);
        if (!m) fail(path, k, "a mapping with id and token", t);
        const entry: TokenEntry = {
          id: str(path, `${k}.id`, m.id) ?? "",
          token: str(path, `${k}.token`, m.token) ?? "",
        };
        const role = str(path, `${k}.hubRole`, m.hubRole);
        if (role !== undefined) entry.hubRole = role;
        for (const f of ["issuedAt", "expiresAt", "revokedAt"] as const) {
          const v = timestamp(path, `${k}.${f}`, m[f]);
          if (v !== undefined) entry[f] = v;
        }
        cfg.auth.tokens.push(entry);
      });
    }
    const machines = mapping(path, "auth.machines", auth.machines);
    if (machines) {
      for (const [name, raw] of Object.entries(machines)) {
        const k = `auth.machines.${name}`;
        const m = mapping(path, k, raw) ?? {};
        const acl: MachineAcl = {};
        const rt = str(path, `${k}.registerToken`, m.registerToken);
        if (rt !== undefined) acl.registerToken = rt;
        const ct = connectList(path, `${k}.connectTokens`, m.connectTokens);
        if (ct) {
          acl.connectTokens = ct.tokens;
          if (Object.keys(ct.services).length) acl.connectServices = ct.services;
        }
        const mt = strList(path, `${k}.manageTokens`, m.manageTokens);
        if (mt) acl.manageTokens = mt;
        cfg.auth.machines[name] = acl;
      }
    }
  }
  const portals = mapping(path, "portals", doc.portals);
  if (portals) {
    cfg.portals = {};
    for (const [name, raw] of Object.entries(portals)) {
      const k = `portals.${name}`;
      const m = mapping(path, k, raw);
      if (!m) fail(path, k, "a mapping with url", raw);
      const p: PortalEntry = { url: str(path, `${k}.url`, m.url) ?? "" };
      for (const f of ["token", "syncToken", "hubDirectory", "hubUrl"] as const) {
        const v = str(path, `${k}.${f}`, m[f]);
        if (v !== undefined) p[f] = v;
      }
      cfg.portals[name] = p;
    }
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (!KNOWN_KEYS.includes(k)) extra[k] = v;
  if (Object.keys(extra).length) cfg.extra = extra;
  return cfg;
}

/**
 * Parses and validates the text of a config file (the running hub's reload of an outside edit).
 * @param path shown in error messages.
 * @param text the file's content.
 * @throws {ConfigError} for malformed YAML or an invalid key (file, key and fix named).
 */
export function parseConfigText(path: string, text: string): HubConfigFile {
  return validateConfig(path, parseYamlText(path, text));
}

/**
 * Reads and validates a config file.
 * @returns the config, or `undefined` when the file does not exist.
 * @throws {ConfigError} for unreadable, malformed or invalid files (file untouched).
 */
export async function loadConfigFile(path: string): Promise<HubConfigFile | undefined> {
  const doc = await readYamlFile(path);
  if (doc === undefined) return undefined;
  return validateConfig(path, doc);
}

/**
 * The document as written: Appendix B key order, unknown keys kept at the end. Only what the
 * file holds is written: runtime values from flags, the environment or built-in defaults are
 * never materialised into it (Go writes `port: 80` into a fresh file even when the hub runs
 * on another port; we leave the key out, which reads back as the same default).
 */
export function configToYamlObject(cfg: HubConfigFile): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (cfg.hubId) o.hubId = cfg.hubId;
  if (cfg.listen !== undefined) o.listen = cfg.listen;
  if (cfg.port !== undefined) o.port = cfg.port;
  if (cfg.udpPort !== undefined) o.udpPort = cfg.udpPort;
  if (cfg.udpHost) o.udpHost = cfg.udpHost;
  if (cfg.name !== undefined) o.name = cfg.name;
  if (cfg.wwwDir !== undefined) o.wwwDir = cfg.wwwDir;
  if (cfg.shutdownTimeout !== undefined) o.shutdownTimeout = cfg.shutdownTimeout;
  if (cfg.update && (cfg.update.channel || Object.keys(cfg.update.sources ?? {}).length)) {
    o.update = cfg.update;
  }
  if (cfg.bridges?.length) o.bridges = cfg.bridges;
  if (cfg.channels) o.channels = cfg.channels;
  const auth: Record<string, unknown> = {};
  if (cfg.auth.tokens.length) auth.tokens = cfg.auth.tokens;
  const names = Object.keys(cfg.auth.machines).sort();
  if (names.length) {
    const machines: Record<string, unknown> = {};
    for (const n of names) {
      const { connectServices, ...acl } = cfg.auth.machines[n];
      const o: Record<string, unknown> = { ...acl };
      if (acl.connectTokens) {
        // Decision 7: bare strings unless a filter exists.
        o.connectTokens = acl.connectTokens.map((t) =>
          connectServices?.[t]?.length ? { token: t, services: connectServices[t] } : t
        );
      }
      machines[n] = o;
    }
    auth.machines = machines;
  }
  if (Object.keys(auth).length) o.auth = auth;
  if (cfg.portals && Object.keys(cfg.portals).length) o.portals = cfg.portals;
  for (const [k, v] of Object.entries(cfg.extra ?? {})) o[k] = v;
  return JSON.parse(JSON.stringify(o)); // drop undefined members
}

/** The exact text {@link saveConfigFile} writes for `cfg` (header comment + YAML). */
export function configToText(cfg: HubConfigFile): string {
  return HEADER.replace(/^/gm, "# ") + "\n" + stringifyYaml(configToYamlObject(cfg));
}

/**
 * Writes the config atomically with mode 0600 (folder 0700).
 * @returns the text written (callers compare it with the file later to spot outside edits).
 */
export async function saveConfigFile(path: string, cfg: HubConfigFile): Promise<string> {
  const text = configToText(cfg);
  await writeFileAtomic(path, text, { mode: 0o600 });
  return text;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Runtime settings: YAML, then environment (env wins; Appendix B precedence).
 * `TELAHUBD_PORT=0` / `TELAHUBD_UDP_PORT=0` ask for a free port (our extension,
 * for tests and side-by-side hubs; the chosen port is printed at start).
 */
export function resolveSettings(
  cfg: HubConfigFile,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): HubSettings {
  const s: HubSettings = {
    listen: cfg.listen || DEFAULT_LISTEN,
    port: cfg.port || DEFAULT_PORT,
    udpPort: cfg.udpPort || DEFAULT_UDP_PORT,
    udpHost: cfg.udpHost ?? "",
    name: cfg.name ?? "",
    wwwDir: cfg.wwwDir && isDir(cfg.wwwDir) ? cfg.wwwDir : "",
    shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS,
  };
  if (cfg.shutdownTimeout !== undefined) {
    const ms = parseGoDuration(cfg.shutdownTimeout) ?? 0;
    if (ms > 0) s.shutdownTimeoutMs = ms;
  }
  const intEnv = (name: string) => envInteger(env, name, 0, 65535, "a port number");
  const listen = env("TELAHUBD_LISTEN")?.trim();
  if (listen && !isListenAddress(listen)) {
    throw new UsageError(
      `environment variable TELAHUBD_LISTEN="${listen}" is not an IP address: use e.g. ` +
        "0.0.0.0 or 127.0.0.1, or unset it",
    );
  }
  if (listen) s.listen = listen;
  s.listen = s.listen.replace(/^\[(.*)\]$/, "$1"); // Deno binds "::", not "[::]"
  const p = intEnv("TELAHUBD_PORT");
  if (p !== undefined) s.port = p;
  const u = intEnv("TELAHUBD_UDP_PORT");
  if (u !== undefined) s.udpPort = u;
  const host = env("TELAHUBD_UDP_HOST");
  if (host) s.udpHost = host;
  const name = env("TELAHUBD_NAME");
  if (name) s.name = name;
  const www = env("TELAHUBD_WWW_DIR");
  if (www && isDir(www)) s.wwwDir = www;
  return s;
}

/**
 * An integer setting from the environment: unset or empty gives `undefined`; anything else
 * must be decimal digits within `min..max`.
 * @param env the environment lookup.
 * @param name the variable, e.g. `TELAHUBD_PORT`.
 * @param min smallest accepted value.
 * @param max largest accepted value.
 * @param what what the value is, for the message ("a port number").
 * @throws {UsageError} naming the variable, its value, the range and the fix (exit 2: an
 *   environment variable stands in for its flag, as in tela and telad).
 */
export function envInteger(
  env: (name: string) => string | undefined,
  name: string,
  min: number,
  max: number,
  what: string,
): number | undefined {
  const v = env(name)?.trim();
  if (!v) return undefined;
  const n = /^\d{1,15}$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) {
    throw new UsageError(
      `environment variable ${name}="${v}" is not ${what} ${min}-${max}; fix it or unset it`,
    );
  }
  return n;
}

/**
 * True for an address a listener can bind: an IPv4 literal, an IPv6 literal (brackets
 * allowed), or `localhost`.
 */
export function isListenAddress(addr: string): boolean {
  if (addr === "localhost") return true;
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(addr)) {
    return addr.split(".").every((o) => Number(o) <= 255);
  }
  const v6 = addr.startsWith("[") && addr.endsWith("]") ? addr.slice(1, -1) : addr;
  return v6.includes(":") && /^[0-9A-Fa-f:.]+$/.test(v6);
}

/** What {@link bootstrapConfig} changed, so the caller can print and persist. */
export interface BootstrapResult {
  /** The config needs saving. */
  changed: boolean;
  /** A freshly generated owner token (to print once), when one was generated. */
  generatedOwnerToken?: string;
  /** The owner token came from `TELA_OWNER_TOKEN`. */
  ownerFromEnv: boolean;
}

/** A new 64-hex-char token (32 random bytes). */
export function newToken(): string {
  return randomHex(32);
}

/**
 * First-start bootstrap (spec §10.4 steps 4-9): owner token (from
 * `TELA_OWNER_TOKEN` or generated), console viewer, `*` connect for the owner,
 * a viewer for hubs that have tokens but none, and a `hubId`.
 *
 * @param cfg mutated in place.
 * @param opts.open the operator asked for open mode (`-open`): no tokens are generated.
 * @param opts.ownerTokenEnv the value of `TELA_OWNER_TOKEN`.
 */
export function bootstrapConfig(
  cfg: HubConfigFile,
  opts: { open: boolean; ownerTokenEnv?: string },
): BootstrapResult {
  const r: BootstrapResult = { changed: false, ownerFromEnv: false };
  if (cfg.auth.tokens.length === 0 && !opts.open) {
    let owner = opts.ownerTokenEnv ?? "";
    if (owner) r.ownerFromEnv = true;
    else {
      owner = newToken();
      r.generatedOwnerToken = owner;
    }
    cfg.auth.tokens = [
      { id: "owner", token: owner, hubRole: "owner" },
      { id: "console-viewer", token: newToken(), hubRole: "viewer" },
    ];
    cfg.auth.machines["*"] = { connectTokens: [owner] };
    r.changed = true;
  }
  if (cfg.auth.tokens.length > 0 && !cfg.auth.tokens.some((t) => t.hubRole === "viewer")) {
    cfg.auth.tokens.push({ id: "console-viewer", token: newToken(), hubRole: "viewer" });
    r.changed = true;
  }
  if (!cfg.hubId) {
    cfg.hubId = crypto.randomUUID();
    r.changed = true;
  }
  return r;
}

/** Default config path when none exists: `./data/telahubd.yaml`. */
export function defaultConfigPath(cwd = Deno.cwd()): string {
  return join(cwd, "data", "telahubd.yaml");
}

/** Folder holding the config file (history is kept beside it). */
export function configDir(path: string): string {
  return dirname(path);
}
