/**
 * Hub name resolution (book, Appendix A *Hub name resolution*; Appendix B `hubs.yaml`;
 * spec agent-and-client.md §9.3–§9.5). A `ws://`/`wss://` URL is used as is; a short
 * name is asked of the hub directory remotes of `<user config dir>/config.yaml` (`tela
 * remote add`), then looked up in `<user config dir>/hubs.yaml`.
 * @module
 */
import { join } from "node:path";
import { ConfigError, readYamlFile } from "../config/mod.ts";
import { ensureWsScheme } from "../host/credentials.ts";
import { userConfigDir } from "../host/paths.ts";
import { UsageError } from "../cli/mod.ts";
import { escapeForLog, logger } from "../log/mod.ts";
import { fetchDirectoryHubs } from "./hubapi.ts";
import { clientConfigPath, listRemotes } from "./remotes.ts";

const log = logger("tela");

/**
 * A `-hub` value tela cannot use: a URL whose scheme is not `ws://`/`wss://`, or a short
 * name that no remote of `config.yaml` lists and `hubs.yaml` does not define. A usage error (exit 2): the value is checked
 * before anything is dialled, and the fix is a different value.
 */
export class HubResolveError extends UsageError {
  override name = "HubResolveError";
}

/** `<user config dir>/hubs.yaml`. */
export function hubsFilePath(): string {
  return join(userConfigDir(), "hubs.yaml");
}

/**
 * Reads `hubs.yaml`: alias → URL. Accepts the flat form (`alias: url`) and the
 * structured form (`alias: {url, pin}`).
 * @returns undefined when the file does not exist.
 * @throws {ConfigError} when the file or an entry is malformed.
 */
export async function loadHubAliases(
  path = hubsFilePath(),
): Promise<Record<string, string> | undefined> {
  const doc = await readYamlFile<Record<string, unknown>>(path);
  if (!doc) return undefined;
  const hubs = doc.hubs ?? {};
  if (typeof hubs !== "object" || Array.isArray(hubs)) {
    throw new ConfigError(path, "'hubs' must be a mapping of alias to hub URL");
  }
  const out: Record<string, string> = {};
  for (const [alias, v] of Object.entries(hubs as Record<string, unknown>)) {
    if (typeof v === "string") out[alias] = v;
    else if (v && typeof v === "object" && typeof (v as { url?: unknown }).url === "string") {
      out[alias] = (v as { url: string }).url;
    } else {
      throw new ConfigError(path, `hubs.${alias} must be a URL such as wss://hub.example.com`);
    }
  }
  return out;
}

/** True for `ws://` and `wss://` URLs (any case). */
export function isHubUrl(s: string): boolean {
  return /^wss?:\/\//i.test(s);
}

/** `scheme://rest`: the scheme, or undefined when `s` has none. */
function schemeOf(s: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(s)?.[1].toLowerCase();
}

/** The `ws://`/`wss://` spelling of a URL with another scheme (`http` → `ws`, else `wss`). */
function wsSpelling(s: string, scheme: string): string {
  const rest = s.slice(scheme.length + 3);
  return `${scheme === "http" ? "ws" : "wss"}://${rest}`;
}

/** A hub URL as a directory lists it, in its WebSocket spelling: `https://` → `wss://`,
 * `http://` → `ws://` (spec §9.5); `ws(s)://` kept; undefined for anything else. */
export function directoryUrlToWs(url: string): string | undefined {
  const s = url.trim();
  if (/^wss?:\/\//i.test(s)) return s;
  if (/^https:\/\//i.test(s)) return `wss://${s.slice(8)}`;
  if (/^http:\/\//i.test(s)) return `ws://${s.slice(7)}`;
  return undefined;
}

/** What asking the remotes for a short name gave. */
export interface RemoteLookup {
  /** The hub's WebSocket URL, when a remote listed the name. */
  url?: string;
  /** The remote that listed it. */
  remote?: string;
  /** Remotes asked, in order. */
  asked: string[];
  /** One sentence per remote that could not be asked (unreachable, 401, bad answer). */
  failures: string[];
}

/**
 * Asks each remote of `config.yaml`, in ascending name order, for a hub of that name
 * (book, Appendix A *Hub name resolution*; spec §9.5): `GET <url><hub_directory>` with the
 * remote's bearer token; the first hub whose `name` matches case-insensitively wins. A
 * remote that fails is skipped (its failure is recorded and logged as a warning).
 * @param name the short name.
 * @param configPath the `config.yaml` to read (default {@link clientConfigPath}).
 * @throws {ConfigError} when `config.yaml` is malformed.
 */
export async function lookupRemotes(
  name: string,
  configPath = clientConfigPath(),
): Promise<RemoteLookup> {
  const out: RemoteLookup = { asked: [], failures: [] };
  const want = name.toLowerCase();
  for (const { name: r, remote } of await listRemotes(configPath)) {
    out.asked.push(r);
    let hubs;
    try {
      hubs = await fetchDirectoryHubs(r, remote.url, remote.hub_directory ?? "", remote.token);
    } catch (err) {
      const msg = (err as Error).message;
      out.failures.push(msg);
      log.warn(`${escapeForLog(msg)}; trying the next place`);
      continue;
    }
    const hit = hubs.find((h) => h.name.toLowerCase() === want);
    if (!hit) continue;
    const url = directoryUrlToWs(hit.url);
    if (!url) {
      const msg = `remote "${r}" lists hub "${escapeForLog(hit.name)}" with the URL ` +
        `${escapeForLog(hit.url)}, which is not http(s):// or ws(s)://`;
      out.failures.push(msg);
      log.warn(msg);
      continue;
    }
    log.info(`hub "${name}" resolved through remote "${r}": ${escapeForLog(url)}`);
    return { ...out, url, remote: r };
  }
  return out;
}

/**
 * Resolves `-hub` (URL or short name) to the URL to dial (book, Appendix A *Hub name
 * resolution*; spec agent-and-client.md §9.5): a `ws://`/`wss://` URL as is; a short name
 * through the remotes of `config.yaml` ({@link lookupRemotes}), then `hubs.yaml` (exact
 * key); else an error naming both places and the fix.
 * @param nameOrUrl what the user gave: `ws://…`, `wss://…` or a short name.
 * @param path the `hubs.yaml` to consult (default {@link hubsFilePath}).
 * @param label how the value is named in errors (`-hub`, or a profile's `hub:`).
 * @param configPath the `config.yaml` holding the remotes (default {@link clientConfigPath}).
 * @throws {HubResolveError} for another scheme (`http://h` suggests `ws://h`) or a short
 *   name no remote lists and `hubs.yaml` does not define (the message names `config.yaml`
 *   and its remotes, `hubs.yaml` and its aliases, and the three fixes).
 * @throws {ConfigError} when `hubs.yaml` or `config.yaml` is malformed.
 */
export async function resolveHubUrl(
  nameOrUrl: string,
  path = hubsFilePath(),
  label = "-hub",
  configPath = clientConfigPath(),
): Promise<string> {
  const s = nameOrUrl.trim();
  if (s === "" || isHubUrl(s)) return s;
  const scheme = schemeOf(s);
  if (scheme) {
    throw new HubResolveError(
      `${label} must be a ws:// or wss:// URL or a short name from ${path}; ` +
        `for ${s} use ${wsSpelling(s, scheme)}`,
    );
  }
  const found = await lookupRemotes(s, configPath);
  if (found.url) return found.url;
  const aliases = await loadHubAliases(path);
  if (aliases && Object.hasOwn(aliases, s)) return aliases[s];
  const remotes = found.asked.length === 0
    ? `no remotes in ${configPath}`
    : `not listed by the remotes in ${configPath} (${found.asked.join(", ")}` +
      (found.failures.length ? `; ${found.failures.join("; ")}` : "") + ")";
  const where = aliases
    ? `not a short name in ${path} (it defines: ${
      Object.keys(aliases).sort().join(", ") || "none"
    })`
    : `not a short name (${path} does not exist)`;
  throw new HubResolveError(
    `${label} "${s}" is not a ws:// or wss:// URL, ${remotes}, and ${where}; use wss://${s} ` +
      `(ws://${s} for a hub without TLS), add a hub directory that lists it with ` +
      `"tela remote add <name> <directory-url>", or add "${s}: wss://<host>" under "hubs:" in ${path}`,
  );
}

/**
 * Resolves the hub argument of `tela login` / `tela logout` / `tela pair`: a short name
 * listed by a remote or defined in `hubs.yaml` becomes its URL, so the token is stored
 * under the very URL that `tela connect -hub <name>` later looks up; anything else gets a
 * WebSocket scheme as Go's `ensureWSScheme` gives it (`https://` → `wss://`, `http://` →
 * `ws://`, none → `wss://`, spec §9.8).
 * @param arg what the user typed: a URL, a host name, or a short name.
 * @param path the `hubs.yaml` to consult (default {@link hubsFilePath}).
 * @param configPath the `config.yaml` holding the remotes (default {@link clientConfigPath}).
 * @throws {HubResolveError} for a scheme other than ws, wss, http or https.
 * @throws {ConfigError} when `hubs.yaml` or `config.yaml` exists but is malformed.
 * @example resolveLoginHub("lab") // "ws://10.0.0.5:8080" when hubs.yaml says `lab: ws://10.0.0.5:8080`
 */
export async function resolveLoginHub(
  arg: string,
  path = hubsFilePath(),
  configPath = clientConfigPath(),
): Promise<string> {
  const s = arg.trim();
  const scheme = schemeOf(s);
  if (!scheme) {
    const found = await lookupRemotes(s, configPath);
    if (found.url) return found.url;
    const aliases = await loadHubAliases(path);
    if (aliases && Object.hasOwn(aliases, s)) return aliases[s];
  } else if (!["ws", "wss", "http", "https"].includes(scheme)) {
    throw new HubResolveError(
      `the hub must be a ws:// or wss:// URL or a short name from ${path}; ` +
        `for ${s} use ${wsSpelling(s, scheme)}`,
    );
  }
  return ensureWsScheme(s);
}

/**
 * Hub WebSocket URL → HTTP base URL for REST calls: `wss://` → `https://`,
 * `ws://` → `http://`, trailing `/` removed (spec §9.8 `wsToHTTP`).
 */
export function hubHttpBase(wsUrl: string): string {
  return wsUrl.replace(/^wss:\/\//i, "https://").replace(/^ws:\/\//i, "http://").replace(
    /\/+$/,
    "",
  );
}
