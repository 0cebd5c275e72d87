/**
 * Hub directory remotes: `<user config dir>/config.yaml` (book, *Hub directories and
 * portals*; Appendix B *config.yaml (hub directory remotes)*; spec agent-and-client.md §9.4).
 *
 * ```yaml
 * remotes:
 *   work:
 *     url: https://directory.example.com
 *     token: <bearer>          # omitted when empty
 *     hub_directory: /api/hubs # discovered by `tela remote add`
 * ```
 *
 * A legacy top-level `portal: {url, token}` is migrated on load into a remote named
 * `portal` (unless one exists) and the file is rewritten (§9.4). Other top-level keys are
 * kept as they are. Writes are atomic, the folder 0700 and the file 0600 (it holds tokens).
 * @module
 */
import { join } from "node:path";
import { ConfigError, readYamlFile, writeYamlFile } from "../config/mod.ts";
import { userConfigDir } from "../host/paths.ts";

/** One remote as `config.yaml` stores it. */
export interface Remote {
  /** The directory's base URL, `http(s)://host[:port]`, no trailing `/`. */
  url: string;
  /** Bearer token sent to the directory; absent for an open directory. */
  token?: string;
  /** Directory path discovered through `/.well-known/tela` (default `/api/hubs`). */
  hub_directory?: string;
}

/** `config.yaml` as read: the remotes and every other top-level key, kept for the write. */
export interface ClientConfig {
  remotes: Record<string, Remote>;
  /** Top-level keys other than `remotes` (written back unchanged). */
  other: Record<string, unknown>;
}

/** `<user config dir>/config.yaml` (`~/.tela/config.yaml`, `%APPDATA%\tela\config.yaml`). */
export function clientConfigPath(): string {
  return join(userConfigDir(), "config.yaml");
}

/** Remote names: a letter or digit, then letters, digits, `.`, `_`, `-` (at most 64). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Checks a remote name.
 * @returns an error sentence, or undefined when the name is usable.
 */
export function remoteNameProblem(name: string): string | undefined {
  if (NAME.test(name)) return undefined;
  return `remote name ${JSON.stringify(name)} is not usable: use letters, digits, ".", "_" ` +
    `and "-" (at most 64, starting with a letter or digit), e.g. "work"`;
}

/**
 * Normalises a directory URL as `tela remote add` stores it (§9.4): trailing `/` removed,
 * `https://` prefixed when it has no `http://`/`https://` scheme.
 * @throws {Error} for another scheme (`ftp://x`), with the fix.
 */
export function normalizeRemoteUrl(u: string): string {
  const s = u.trim().replace(/\/+$/, "");
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s)?.[1].toLowerCase();
  if (scheme === undefined) return `https://${s}`;
  if (scheme === "http" || scheme === "https") return s;
  if (scheme === "ws" || scheme === "wss") {
    throw new Error(
      `${s} is a hub URL; a remote is a hub directory (portal) reached over HTTP: ` +
        `use ${scheme === "ws" ? "http" : "https"}://${s.slice(scheme.length + 3)}`,
    );
  }
  throw new Error(`${s} must be an http:// or https:// URL`);
}

function str(path: string, key: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new ConfigError(path, `${key} must be a string`);
  return v;
}

/**
 * Reads `config.yaml`; a missing file is an empty config. Migrates a legacy top-level
 * `portal:` into the remote `portal` and rewrites the file (§9.4).
 * @param path the file (default {@link clientConfigPath}).
 * @throws {ConfigError} when the file or a remote is malformed.
 */
export async function loadClientConfig(path = clientConfigPath()): Promise<ClientConfig> {
  const doc = await readYamlFile<Record<string, unknown>>(path) ?? {};
  const { remotes: rawRemotes, ...other } = doc;
  const remotes: Record<string, Remote> = {};
  if (rawRemotes !== undefined && rawRemotes !== null) {
    if (typeof rawRemotes !== "object" || Array.isArray(rawRemotes)) {
      throw new ConfigError(path, "'remotes' must be a mapping of name to {url, token}");
    }
    for (const [name, v] of Object.entries(rawRemotes as Record<string, unknown>)) {
      if (!v || typeof v !== "object" || Array.isArray(v)) {
        throw new ConfigError(path, `remotes.${name} must be a mapping with url:`);
      }
      const m = v as Record<string, unknown>;
      const url = str(path, `remotes.${name}.url`, m.url);
      if (!url) {
        throw new ConfigError(
          path,
          `remotes.${name} has no url; run "tela remote add ${name} <url>" again`,
        );
      }
      const r: Remote = { url };
      const token = str(path, `remotes.${name}.token`, m.token);
      if (token) r.token = token;
      const dir = str(path, `remotes.${name}.hub_directory`, m.hub_directory);
      if (dir) r.hub_directory = dir;
      remotes[name] = r;
    }
  }
  const cfg: ClientConfig = { remotes, other };
  const legacy = other.portal as Record<string, unknown> | undefined;
  if (legacy && typeof legacy === "object" && typeof legacy.url === "string" && legacy.url) {
    delete other.portal;
    if (!remotes.portal) {
      remotes.portal = { url: legacy.url.replace(/\/+$/, "") };
      if (typeof legacy.token === "string" && legacy.token) remotes.portal.token = legacy.token;
    }
    await saveClientConfig(cfg, path);
  }
  return cfg;
}

/**
 * Writes `config.yaml` atomically (folder 0700, file 0600), remotes sorted by name.
 * @throws {Deno.errors.PermissionDenied} and other I/O errors; the old file is untouched.
 */
export async function saveClientConfig(cfg: ClientConfig, path = clientConfigPath()) {
  const remotes: Record<string, Remote> = {};
  for (const name of Object.keys(cfg.remotes).sort()) {
    const r = cfg.remotes[name];
    remotes[name] = {
      url: r.url,
      ...(r.token ? { token: r.token } : {}),
      ...(r.hub_directory ? { hub_directory: r.hub_directory } : {}),
    };
  }
  await writeYamlFile(path, { ...cfg.other, remotes }, {
    header: "Tela client configuration: hub directory remotes (tela remote add|remove|list).",
  });
}

/** The remotes of `config.yaml` in ascending name order (the resolution order, §9.5). */
export async function listRemotes(
  path = clientConfigPath(),
): Promise<{ name: string; remote: Remote }[]> {
  const { remotes } = await loadClientConfig(path);
  return Object.keys(remotes).sort().map((name) => ({ name, remote: remotes[name] }));
}

/**
 * Adds or replaces a remote and saves the file.
 * @returns true when a remote of that name was replaced.
 * @throws {ConfigError} when the existing file is malformed (it is left untouched).
 */
export async function putRemote(
  name: string,
  remote: Remote,
  path = clientConfigPath(),
): Promise<boolean> {
  const cfg = await loadClientConfig(path);
  const existed = Object.hasOwn(cfg.remotes, name);
  cfg.remotes[name] = remote;
  await saveClientConfig(cfg, path);
  return existed;
}

/**
 * Removes a remote and saves the file.
 * @returns false when there was no remote of that name (nothing is written then).
 * @throws {ConfigError} when the existing file is malformed.
 */
export async function deleteRemote(name: string, path = clientConfigPath()): Promise<boolean> {
  const cfg = await loadClientConfig(path);
  if (!Object.hasOwn(cfg.remotes, name)) return false;
  delete cfg.remotes[name];
  await saveClientConfig(cfg, path);
  return true;
}

/** How `tela remote list` shows a token: `****` and its last 4 characters, or `(none)`. */
export function maskToken(token: string | undefined): string {
  if (!token) return "(none)";
  return `****${token.length > 8 ? token.slice(-4) : ""}`;
}
