/**
 * Where Tela keeps its per-user and system files (book, Appendix A, *Config and
 * credential storage*; spec agent-and-client.md §1.1).
 * @module
 */
import { join } from "node:path";
import { homeDir } from "../config/mod.ts";

/**
 * The per-user Tela folder: `$HOME/.tela` (Linux/macOS), `%APPDATA%\tela` (Windows).
 * Read at every call so tests can point `HOME` at a temporary folder.
 */
export function userConfigDir(): string {
  if (Deno.build.os === "windows") {
    const appData = Deno.env.get("APPDATA");
    if (appData) return join(appData, "tela");
  }
  return join(homeDir(), ".tela");
}

/**
 * The system Tela folder: `/etc/tela`, or `%ProgramData%\Tela` on Windows.
 *
 * `TELA_SYSTEM_DIR`, when set and non-empty, replaces it. It exists for tests (they run
 * `telad pair` and `telad` against a temporary "system" store without root) and for
 * unusual installs; it is read at every call.
 */
export function systemConfigDir(): string {
  const override = Deno.env.get("TELA_SYSTEM_DIR");
  if (override) return override;
  if (Deno.build.os === "windows") {
    return join(Deno.env.get("ProgramData") ?? "C:\\ProgramData", "Tela");
  }
  return "/etc/tela";
}

/**
 * The per-user folder of running programs' discovery files (`<cfgdir>/run`, spec
 * agent-and-client.md §1.1): `control.json` of `tela connect` (§13.1), `telad.json` (§8.3).
 */
export function runDir(): string {
  return join(userConfigDir(), "run");
}
