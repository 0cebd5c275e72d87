/**
 * Hub name resolution (book, Appendix A *Hub name resolution*; Appendix B `hubs.yaml`;
 * spec agent-and-client.md §9.3, §9.5). A `ws://`/`wss://` URL is used as is; a short
 * name is looked up in `<user config dir>/hubs.yaml`.
 *
 * Not yet: hub-directory remotes (`config.yaml`, `tela remote add`).
 * @module
 */
import { join } from "node:path";
import { ConfigError, readYamlFile } from "../config/mod.ts";
import { ensureWsScheme } from "../host/credentials.ts";
import { userConfigDir } from "../host/paths.ts";

/** A hub name that is neither a URL nor a known alias. */
export class HubResolveError extends Error {
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

/**
 * Resolves `-hub` (URL or alias) to the URL to dial.
 * @throws {HubResolveError} with the spec's wording when an alias is unknown.
 */
export async function resolveHubUrl(nameOrUrl: string, path = hubsFilePath()): Promise<string> {
  const s = nameOrUrl.trim();
  if (s === "" || isHubUrl(s)) return s;
  const aliases = await loadHubAliases(path);
  if (!aliases) {
    throw new HubResolveError(
      `hub "${s}" is not a URL and could not be resolved (no remotes configured, no local config); ` +
        `use a ws:// or wss:// URL or add it to ${path}`,
    );
  }
  if (Object.hasOwn(aliases, s)) return aliases[s];
  const known = Object.keys(aliases).sort().join(", ");
  throw new HubResolveError(
    `hub "${s}" not found (remotes unreachable, not in ${path}; known: ${known || "none"})`,
  );
}

/**
 * Resolves the hub argument of `tela login` / `tela logout`: a short name from `hubs.yaml`
 * becomes its URL, so the token is stored under the very URL that `tela connect -hub
 * <name>` later looks up; anything else gets a WebSocket scheme as Go's `ensureWSScheme`
 * gives it (`https://` → `wss://`, `http://` → `ws://`, none → `wss://`, spec §9.8).
 * @param arg what the user typed: a URL, a host name, or a short name.
 * @param path the `hubs.yaml` to consult (default {@link hubsFilePath}).
 * @throws {ConfigError} when `hubs.yaml` exists but is malformed.
 * @example resolveLoginHub("lab") // "ws://10.0.0.5:8080" when hubs.yaml says `lab: ws://10.0.0.5:8080`
 */
export async function resolveLoginHub(arg: string, path = hubsFilePath()): Promise<string> {
  const s = arg.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    const aliases = await loadHubAliases(path);
    if (aliases && Object.hasOwn(aliases, s)) return aliases[s];
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
