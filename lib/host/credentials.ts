/**
 * The credential store `credentials.yaml` (book, *Credentials and pairing*; Appendix B;
 * spec agent-and-client.md §9.6): hub URL → token (+ optional identity), written
 * atomically with mode 0600.
 * @module
 */
import { join } from "node:path";
import { ConfigError, readYamlFile, writeYamlFile } from "../config/mod.ts";
import { systemConfigDir, userConfigDir } from "./paths.ts";

/** One stored credential (book, Appendix B, `credentials.yaml`). */
export interface HubCredential {
  /** The hub token, 64 hex characters for tokens the hub generated. */
  token: string;
  /** The token's identity name on the hub (`tela login` asks for it), if known. */
  identity?: string;
  /** The hub's pinned certificate fingerprint (TOFU), kept across a token change. */
  pin?: string;
}

/** The whole file. Unknown top-level keys (e.g. `update`) are kept on save. */
export interface CredentialFile {
  hubs: Record<string, HubCredential>;
  [key: string]: unknown;
}

/**
 * No token is stored for the hub `tela logout` (or `telad logout`) names. Exit status 1
 * (book, *TDL for the command line*: "not found" is a runtime error).
 */
export class CredentialNotFoundError extends Error {
  override name = "CredentialNotFoundError";
}

/** `<user config dir>/credentials.yaml`: `~/.tela/credentials.yaml`, `%APPDATA%\tela\...`. */
export function userCredentialsPath(): string {
  return join(userConfigDir(), "credentials.yaml");
}

/** `/etc/tela/credentials.yaml` (or `%ProgramData%\Tela\credentials.yaml`). */
export function systemCredentialsPath(): string {
  return join(systemConfigDir(), "credentials.yaml");
}

/**
 * The key a hub URL is stored under: trailing `/` removed, scheme lower-cased, host and
 * path kept as written (spec §9.6). No `https`↔`wss` mapping.
 * @param url a hub URL as typed or stored.
 * @example normalizeHubKey("WSS://Hub.example.com/") === "wss://Hub.example.com"
 */
export function normalizeHubKey(url: string): string {
  let u = url.trim().replace(/\/+$/, "");
  const i = u.indexOf("://");
  if (i > 0) u = u.slice(0, i).toLowerCase() + u.slice(i);
  return u;
}

/**
 * Gives a hub URL a WebSocket scheme for `tela login`: `ws://`/`wss://` kept,
 * `http://` → `ws://`, `https://` → `wss://`, no scheme → `wss://` (spec §9.8).
 * @param url a hub URL or bare host (`hub.example.com:8080`).
 * @example ensureWsScheme("https://h") === "wss://h"
 */
export function ensureWsScheme(url: string): string {
  const u = url.trim();
  const lower = u.toLowerCase();
  if (lower.startsWith("ws://") || lower.startsWith("wss://")) return u;
  if (lower.startsWith("http://")) return "ws://" + u.slice(7);
  if (lower.startsWith("https://")) return "wss://" + u.slice(8);
  return "wss://" + u;
}

/**
 * Reads a credential file; a missing file is an empty store. Keys are normalised with
 * {@link normalizeHubKey}.
 * @param path the `credentials.yaml` to read.
 * @throws {ConfigError} when the file cannot be read or is malformed (names the file and
 *   the fix).
 */
export async function loadCredentials(path: string): Promise<CredentialFile> {
  const doc = await readYamlFile<Record<string, unknown>>(path);
  if (!doc) return { hubs: {} };
  const hubs = doc.hubs ?? {};
  if (typeof hubs !== "object" || Array.isArray(hubs)) {
    throw new ConfigError(path, "'hubs' must be a mapping of hub URL to {token, identity}");
  }
  const out: Record<string, HubCredential> = {};
  for (const [url, entry] of Object.entries(hubs as Record<string, unknown>)) {
    if (!entry || typeof entry !== "object") {
      throw new ConfigError(path, `hubs["${url}"] must be a mapping with a 'token' key`);
    }
    const e = entry as Record<string, unknown>;
    out[normalizeHubKey(url)] = {
      token: String(e.token ?? ""),
      ...(e.identity ? { identity: String(e.identity) } : {}),
      ...(e.pin ? { pin: String(e.pin) } : {}),
    };
  }
  return { ...doc, hubs: out };
}

/**
 * Writes a credential file atomically with mode 0600 (folder 0700).
 * @param path the `credentials.yaml` to write.
 * @param file the whole store; unknown top-level keys are written back as they are.
 * @throws {Deno.errors.PermissionDenied} and other I/O errors; the old file is untouched.
 */
export async function saveCredentials(path: string, file: CredentialFile): Promise<void> {
  await writeYamlFile(path, file, { mode: 0o600 });
}

/**
 * Stores `credential` for `hubUrl` in the store at `path` (default: the user store),
 * keeping a pin stored before when `credential` has none.
 * @param hubUrl the hub's WebSocket URL (normalised into the key).
 * @param credential token and optional identity and pin.
 * @param path the store, default {@link userCredentialsPath}.
 * @returns the normalised key it was stored under.
 * @throws {ConfigError} when the existing store is malformed; I/O errors of the write.
 */
export async function storeCredential(
  hubUrl: string,
  credential: HubCredential,
  path = userCredentialsPath(),
): Promise<string> {
  const file = await loadCredentials(path);
  const key = normalizeHubKey(hubUrl);
  const old = file.hubs[key];
  file.hubs[key] = {
    token: credential.token,
    ...(credential.identity ? { identity: credential.identity } : {}),
    ...(credential.pin ?? old?.pin ? { pin: credential.pin ?? old?.pin } : {}),
  };
  await saveCredentials(path, file);
  return key;
}

/**
 * Removes the credential for `hubUrl` (`tela logout`, `telad logout`).
 * @param hubUrl the hub's URL (normalised for the lookup).
 * @param path the store, default {@link userCredentialsPath}.
 * @returns true if there was one.
 * @throws {ConfigError} when the store is malformed; I/O errors of the write.
 */
export async function removeCredential(
  hubUrl: string,
  path = userCredentialsPath(),
): Promise<boolean> {
  const file = await loadCredentials(path);
  const key = normalizeHubKey(hubUrl);
  if (!(key in file.hubs)) return false;
  delete file.hubs[key];
  await saveCredentials(path, file);
  return true;
}

/** A credential found by {@link lookupStoredCredential}, with the store it came from. */
export interface StoredCredential {
  /** The entry as stored (token, identity, pin). */
  credential: HubCredential;
  /** The `credentials.yaml` it was found in. */
  path: string;
}

/**
 * Looks a hub up in the given stores, first entry found wins (even with an empty token, as
 * Go does). Unreadable stores (e.g. `/etc/tela` without permission) are skipped.
 * @param hubUrl the resolved hub URL (normalised for the lookup).
 * @param paths stores in lookup order; default user then system (spec §9.6).
 * @returns the entry and its store, or undefined when no store has the hub.
 * @throws {ConfigError} when a readable store is malformed.
 */
export async function lookupStoredCredential(
  hubUrl: string,
  paths: string[] = [userCredentialsPath(), systemCredentialsPath()],
): Promise<StoredCredential | undefined> {
  const key = normalizeHubKey(hubUrl);
  for (const path of paths) {
    let file: CredentialFile;
    try {
      file = await loadCredentials(path);
    } catch (err) {
      if (err instanceof ConfigError && !/cannot read/.test(err.message)) throw err;
      continue;
    }
    if (key in file.hubs) return { credential: file.hubs[key], path };
  }
  return undefined;
}

/**
 * The identity stored with `token` in any entry of the given stores (the same token may be
 * stored under another spelling of the hub URL, or passed with `-token` after `tela pair`
 * stored it). Unreadable or malformed stores are skipped: this only improves a message.
 * @param token the token to look for (compared exactly); "" finds nothing.
 * @param paths stores to search; default user then system.
 * @returns the first non-empty identity stored with that token, or undefined.
 */
export async function identityForToken(
  token: string,
  paths: string[] = [userCredentialsPath(), systemCredentialsPath()],
): Promise<string | undefined> {
  if (!token) return undefined;
  for (const path of paths) {
    let file: CredentialFile;
    try {
      file = await loadCredentials(path);
    } catch {
      continue;
    }
    for (const c of Object.values(file.hubs)) {
      if (c?.token === token && c.identity) return c.identity;
    }
  }
  return undefined;
}

/**
 * Looks a token up in the given stores, first entry found wins (even with an empty
 * token, as Go does). Unreadable stores (e.g. `/etc/tela` without permission) are skipped.
 * @param hubUrl the resolved hub URL (normalised for the lookup).
 * @param paths stores in lookup order; default user then system (spec §9.6).
 * @returns the stored token, or undefined when no store has the hub.
 * @throws {ConfigError} when a readable store is malformed.
 */
export async function lookupStoredToken(
  hubUrl: string,
  paths: string[] = [userCredentialsPath(), systemCredentialsPath()],
): Promise<string | undefined> {
  return (await lookupStoredCredential(hubUrl, paths))?.credential.token;
}

/**
 * The client's token lookup order (book, Appendix A: `-token` > `TELA_TOKEN` >
 * credential store, user then system).
 * @param flagToken the `-token` value, if given.
 * @param hubUrl the resolved hub URL.
 * @returns the token, or undefined when none of the three has one (open-mode hubs).
 * @throws {ConfigError} when a readable store is malformed.
 */
export async function resolveClientToken(
  flagToken: string | undefined,
  hubUrl: string,
): Promise<string | undefined> {
  if (flagToken) return flagToken;
  const env = Deno.env.get("TELA_TOKEN");
  if (env) return env;
  return await lookupStoredToken(hubUrl);
}
