/**
 * `telahubd user ...` on the hub's machine: offline reads and edits of `telahubd.yaml` (spec
 * hub-http-api.md §10.6; book, Appendix A). Edits use the same pure operations as the running
 * hub's access store (`access/ops.ts`) and write the file atomically under the config's
 * advisory lock (`<config>.lock`, shared with the running hub, `config_lock.ts`); a running
 * hub watches the file and applies them within a second (issue 10 decision 8). Only
 * `bootstrap` creates a missing file.
 *
 * `show-owner` / `show-viewer`: TelaVisor's Docker integration runs
 * `telahubd user show-owner -config /app/data/telahubd.yaml` and takes the trimmed stdout as
 * the token, so stdout carries the token and nothing else; the command itself is
 * `user show-owner` in `cli.ts`, which prints what these functions return.
 *
 * @module
 */
import { ConfigError } from "../config/mod.ts";
import { UsageError } from "../cli/errors.ts";
import { grantsCell } from "../cli/grants.ts";
import {
  bootstrapConfig,
  type HubConfigFile,
  loadConfigFile,
  locateConfig,
  parseConfigText,
  parseRfc3339,
  saveConfigFile,
  systemConfigPath,
} from "./config.ts";
import { withConfigLock } from "./config_lock.ts";
import { TokenNotFoundError } from "./errors.ts";
import { accessEntry, inactive, isoSeconds, listedRole, preview } from "./access/ops.ts";
import type { AccessError, MachineGrant } from "./access/types.ts";

/**
 * The config file a `telahubd user ...` command edits: `-config`, else `TELAHUBD_CONFIG`,
 * else the file the hub would find (`./data/telahubd.yaml` when present, then the platform
 * path), else the platform path (spec §10.3).
 * @param flagPath the `-config` value, if given.
 * @param cwd the folder `./data/telahubd.yaml` is looked up in (default the working folder).
 * @param env the environment (`TELAHUBD_CONFIG`), injectable for tests.
 */
export function userConfigPath(
  flagPath?: string,
  cwd = Deno.cwd(),
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): string {
  return locateConfig(flagPath, cwd, env) ?? systemConfigPath();
}

async function firstToken(configPath: string, role: "owner" | "viewer"): Promise<string> {
  const cfg = await loadConfigFile(configPath); // a missing file is an empty config (§10.6)
  // A revoked or expired token is no use to the caller: the first one still valid.
  const t = cfg?.auth.tokens.find((x) => x.hubRole === role && x.token && !inactive(x, Date.now()));
  if (!t) throw new TokenNotFoundError(role, configPath, cfg !== undefined);
  return t.token;
}

/**
 * The token of the first `owner` identity in config order.
 * @param configPath the hub's `telahubd.yaml`.
 * @throws {TokenNotFoundError} (`no owner token found`) when there is none or no file.
 * @throws {ConfigError} when the file cannot be read or parsed.
 */
export function showOwnerToken(configPath: string): Promise<string> {
  return firstToken(configPath, "owner");
}

/**
 * The token of the first `viewer` identity in config order (the console viewer token).
 * @param configPath the hub's `telahubd.yaml`.
 * @throws {TokenNotFoundError} (`no viewer token found`) when there is none or no file.
 * @throws {ConfigError} when the file cannot be read or parsed.
 */
export function showViewerToken(configPath: string): Promise<string> {
  return firstToken(configPath, "viewer");
}

/** A `telahubd user` change that was refused; the message names the thing, the cause, the fix. */
export class UserCommandError extends Error {
  override name = "UserCommandError";
}

/** The config a `telahubd user` command edits, with the text it was read from. */
interface Loaded {
  cfg: HubConfigFile;
  /** File content, `undefined` when the file does not exist (spec §10.6: empty config). */
  text?: string;
}

async function readForEdit(path: string): Promise<Loaded> {
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new ConfigError(path, `cannot read: ${(err as Error).message}`);
    }
  }
  const cfg = text === undefined
    ? { auth: { tokens: [], machines: {} } }
    : parseConfigText(path, text);
  return { cfg, text };
}

/** `telahubd user ...` (other than `bootstrap`) on a config file that does not exist (exit 3). */
export class NoHubConfigError extends ConfigError {
  override name = "NoHubConfigError";
  /** @param path the config file that was looked for. */
  constructor(path: string) {
    super(path, "no hub config");
    this.message = `no hub config at ${path}: start the hub once, or run ` +
      `"telahubd user bootstrap -config ${path}"`;
  }
}

/**
 * Applies `change` to the config at `path` and writes it atomically (0600) with the same
 * pure operations the running hub uses (`access/ops.ts`). The read, the change and the write
 * happen under the exclusive lock of the config (`<config>.lock`, {@link withConfigLock}),
 * which the running hub also holds for its own read-modify-write, so neither side's change is
 * lost; the hub then reloads ours (issue 10 decision 8).
 * @param path the hub's `telahubd.yaml`.
 * @param change edits the config in place; returns `undefined` when nothing changed (no
 *   write), else its result.
 * @param opts.create create the file when it is missing (`bootstrap` only); otherwise a
 *   missing file is a {@link NoHubConfigError} (a mistyped `-config` must not create a hub
 *   config without an owner).
 * @throws {NoHubConfigError} when the file does not exist and `create` is not set.
 * @throws {ConfigError} for an unreadable or invalid file (left untouched).
 * @throws {AccessError} from the operation.
 * @throws I/O errors of the lock or the write (the old file is untouched).
 */
export async function editConfig<T>(
  path: string,
  change: (cfg: HubConfigFile, now: number) => T | undefined,
  opts: { create?: boolean } = {},
): Promise<T | undefined> {
  if (!opts.create) await mustExist(path);
  return await withConfigLock(path, true, async () => {
    const { cfg, text } = await readForEdit(path);
    if (text === undefined && !opts.create) throw new NoHubConfigError(path);
    const result = change(cfg, Date.now());
    if (result === undefined) return undefined;
    await saveConfigFile(path, cfg);
    return result;
  });
}

/** Throws {@link NoHubConfigError} when nothing is at `path` (before a lock file is made). */
async function mustExist(path: string): Promise<void> {
  try {
    await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new NoHubConfigError(path);
  }
}

/**
 * Turns an {@link AccessError} of an operation into a message that names the identity, the
 * file, the cause and the fix.
 */
export function explain(err: AccessError, id: string, path: string, machine?: string): Error {
  const e = err.body.error;
  const q = JSON.stringify(id);
  if (err.status === 404 && e === "identity not found") {
    return new UserCommandError(
      `identity ${q} not found in ${path}; see the identities with: telahubd user list`,
    );
  }
  if (err.status === 409 && e === "identity already exists") {
    return new UserCommandError(
      `identity ${q} already exists in ${path}; choose another id, or give it a new token ` +
        `with: telahubd user rotate ${id}`,
    );
  }
  if (err.status === 409) {
    return new UserCommandError(
      `${q} is the last owner of the hub (${path}); add another owner first: ` +
        "telahubd user add <id> -role owner",
    );
  }
  if (err.status === 404 && machine !== undefined) {
    return new UserCommandError(
      `${e} (${path}); see the grants with: telahubd user list`,
    );
  }
  if (err.status === 400 && /^id must be/.test(e)) {
    // The argument's form, not the file: a usage error (exit 2), like the CLI's other checks.
    return new UsageError(`${q}: ${e}`);
  }
  return new UserCommandError(`${e} (${path})`);
}

/**
 * Parses `-expires`: `30d`, `4w`, `1y` (365 days), `12h`, or an RFC 3339 time.
 * @param v the flag value.
 * @param now epoch ms.
 * @returns RFC 3339 UTC (second precision).
 * @throws {UsageError} naming the value and the accepted forms.
 */
export function parseExpires(v: string, now = Date.now()): string {
  const m = v.trim().match(/^(\d{1,6})([hdwy])$/);
  if (m) {
    const unit = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 }[
      m[2] as "h" | "d" | "w" | "y"
    ];
    const n = Number(m[1]);
    if (n > 0) return isoSeconds(now + n * unit);
  }
  const t = parseRfc3339(v.trim());
  if (t !== undefined && t > now) return v.trim();
  throw new UsageError(
    `-expires ${JSON.stringify(v)} is not a lifetime or a future time: use e.g. 30d, 4w, 1y ` +
      "or 2027-01-01T00:00:00Z",
  );
}

/** One row of `telahubd user list`. */
export interface UserRow {
  id: string;
  role: string;
  tokenPreview: string;
  /** `active`, `revoked` or `expired`. */
  status: "active" | "revoked" | "expired";
  issuedAt?: string;
  expiresAt?: string;
  revokedAt?: string;
  /** The identity's grants (`auth.machines`), as `GET /api/admin/access` lists them. */
  machines: MachineGrant[];
}

/**
 * The MACHINES cell of `telahubd user list`, as `tela admin access` shows it ({@link grantsCell}).
 * @param row the identity's role and grants.
 */
export function machinesCell(row: { role: string; machines: MachineGrant[] }): string {
  return grantsCell(row.role, row.machines);
}

/**
 * The identities of the config at `path` (a missing file has none).
 * @throws {ConfigError} for an unreadable or invalid file.
 */
export async function listUsers(path: string, now = Date.now()): Promise<UserRow[]> {
  const { cfg } = await readForEdit(path);
  return cfg.auth.tokens.map((t) => {
    const row: UserRow = {
      id: t.id,
      role: listedRole(t),
      tokenPreview: preview(t.token),
      status: t.revokedAt ? "revoked" : inactive(t, now) ? "expired" : "active",
      machines: accessEntry(cfg.auth, t, 0).machines,
    };
    if (t.issuedAt) row.issuedAt = t.issuedAt;
    if (t.expiresAt) row.expiresAt = t.expiresAt;
    if (t.revokedAt) row.revokedAt = t.revokedAt;
    return row;
  });
}

/** What `bootstrap`, `add` and `rotate` report: the token, shown once. */
export interface IssuedToken {
  id: string;
  role: string;
  token: string;
  expiresAt?: string;
}

/**
 * `telahubd user bootstrap`: owner + console viewer + `*` connect for the owner, exactly as a
 * first hub start (spec §10.4, §10.6).
 * @throws {UserCommandError} when the config already has tokens.
 */
export async function bootstrapUsers(path: string): Promise<IssuedToken> {
  const r = await editConfig(path, (cfg) => {
    if (cfg.auth.tokens.length) {
      throw new UserCommandError(
        `auth is already bootstrapped (tokens exist in ${path}); print the owner token with: ` +
          `telahubd user show-owner -config ${path}`,
      );
    }
    const b = bootstrapConfig(cfg, { open: false });
    const now = isoSeconds(Date.now());
    for (const t of cfg.auth.tokens) t.issuedAt ??= now;
    return b.generatedOwnerToken!;
  }, { create: true });
  return { id: "owner", role: "owner", token: r! };
}
