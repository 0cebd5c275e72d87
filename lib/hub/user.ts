/**
 * Offline reads of `telahubd.yaml` for `telahubd user show-owner` and `show-viewer` (spec
 * hub-http-api.md §10.6; book, Appendix A). TelaVisor's Docker integration runs
 * `telahubd user show-owner -config /app/data/telahubd.yaml` and takes the trimmed stdout as
 * the token, so stdout carries the token and nothing else; the command itself is
 * `user show-owner` in `cli.ts`, which prints what these functions return.
 *
 * @module
 */
import { loadConfigFile, locateConfig, systemConfigPath } from "./config.ts";
import { TokenNotFoundError } from "./errors.ts";

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
  const t = cfg?.auth.tokens.find((x) => x.hubRole === role && x.token);
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
