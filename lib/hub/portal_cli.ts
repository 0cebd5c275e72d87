/**
 * `telahubd portal add|list|remove|sync` (book, *Hub directories and portals*; Appendix A
 * *telahubd portal subcommands*; spec hub-http-api.md §10.3, §11) and the
 * `TELAHUBD_PORTAL_URL` first-start registration (§10.2, §10.4 step 10). The commands edit the
 * hub's config file (atomically, under its lock); a running hub picks the change up.
 * @module
 */
import { escapeForLog, logger } from "../log/mod.ts";
import { inactive } from "./access/ops.ts";
import type { HubConfigFile, PortalEntry } from "./config.ts";
import { loadConfigFile } from "./config.ts";
import {
  normalizePortalUrl,
  type PortalSyncResult,
  registerWithPortal,
  syncPortals,
} from "./portal_client.ts";
import { editConfig, NoHubConfigError } from "./user.ts";

const log = logger("hub");

/** A portal command cannot run as asked; the message names the cause and the fix. Exit 1. */
export class PortalCommandError extends Error {
  override name = "PortalCommandError";
}

/**
 * The hub's public URL as a portal stores it (Appendix D §3.1: `https://…` or `http://…`):
 * `wss://` → `https://`, `ws://` → `http://`, no scheme → `https://`, trailing `/` trimmed.
 * @throws {PortalCommandError} for another scheme.
 */
export function publicHubUrl(u: string): string {
  const s = u.trim().replace(/\/+$/, "");
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s);
  if (!m) return `https://${s}`;
  const scheme = m[1].toLowerCase();
  const rest = s.slice(m[0].length);
  if (scheme === "https" || scheme === "wss") return `https://${rest}`;
  if (scheme === "http" || scheme === "ws") return `http://${rest}`;
  throw new PortalCommandError(
    `the hub URL ${s} must be https:// (or http:// for a hub without TLS)`,
  );
}

/**
 * `TELAHUBD_PUBLIC_URL` as {@link publicHubUrl} spells it; undefined when unset or unusable
 * (then logged).
 */
export function publicUrlFromEnv(env: (n: string) => string | undefined): string | undefined {
  const raw = env("TELAHUBD_PUBLIC_URL");
  if (!raw) return undefined;
  try {
    return publicHubUrl(raw);
  } catch (err) {
    log.warn(`TELAHUBD_PUBLIC_URL ignored: ${escapeForLog((err as Error).message)}`);
    return undefined;
  }
}

/** The config at `path`; {@link NoHubConfigError} when there is none. */
async function readConfig(path: string): Promise<HubConfigFile> {
  const cfg = await loadConfigFile(path);
  if (!cfg) throw new NoHubConfigError(path);
  return cfg;
}

/** The first console viewer token still valid (spec §10.8), if any. */
function viewerTokenOf(cfg: HubConfigFile): string | undefined {
  return cfg.auth.tokens.find((t) => t.hubRole === "viewer" && t.token && !inactive(t, Date.now()))
    ?.token;
}

/** The hub's name: `TELAHUBD_NAME`, else `name:` of the config (spec §10.2 precedence). */
function hubNameOf(cfg: HubConfigFile, env: (n: string) => string | undefined): string {
  return env("TELAHUBD_NAME") || cfg.name || "";
}

/** What {@link portalAdd} did. */
export interface PortalAdded {
  name: string;
  url: string;
  hubDirectory: string;
  hubUrl: string;
  status: "created" | "updated";
}

/**
 * Registers the hub with a portal and stores the registration in the config file
 * (`telahubd portal add <name> <url>`; spec §11).
 * @param path the hub's config file (must exist: the hub has run once, or `telahubd user
 *   bootstrap` made it).
 * @param name the registration's local name (`portals.<name>`).
 * @param portalUrl the portal's base URL (no scheme means `https://`).
 * @param opts.hubUrl the hub's public URL (`-hub-url`, else `TELAHUBD_PUBLIC_URL`).
 * @param opts.portalToken the portal admin token for this call (never stored).
 * @throws {PortalCommandError} without a hub name or public URL.
 * @throws {PortalRegistrationError} with the spec's texts when the portal refuses.
 * @throws {ConfigError}/{NoHubConfigError} for a missing or bad config file.
 */
export async function portalAdd(
  path: string,
  name: string,
  portalUrl: string,
  opts: { hubUrl?: string; portalToken?: string; env?: (n: string) => string | undefined } = {},
): Promise<PortalAdded> {
  const env = opts.env ?? ((n: string) => Deno.env.get(n));
  // The file is read first so a missing config is reported before any network call.
  const cfg = await readConfig(path);
  const hubName = hubNameOf(cfg, env);
  if (!hubName) {
    throw new PortalCommandError(
      `the hub has no name: set name: in ${path} (or TELAHUBD_NAME), then run this again; ` +
        `portals list hubs by name`,
    );
  }
  const rawHubUrl = opts.hubUrl || env("TELAHUBD_PUBLIC_URL");
  if (!rawHubUrl) {
    throw new PortalCommandError(
      `the portal needs the hub's public URL: pass -hub-url https://hub.example.com ` +
        `(or set TELAHUBD_PUBLIC_URL)`,
    );
  }
  const hubUrl = publicHubUrl(rawHubUrl);
  const hubId = cfg.hubId || crypto.randomUUID();
  const reg = await registerWithPortal({
    portalUrl,
    portalToken: opts.portalToken || undefined,
    hubName,
    hubUrl,
    hubId,
    viewerToken: viewerTokenOf(cfg),
  });
  let status: "created" | "updated" = "created";
  await editConfig(path, (c) => {
    c.hubId ||= hubId;
    c.portals ??= {};
    if (c.portals[name]) status = "updated";
    c.portals[name] = {
      url: reg.url,
      syncToken: reg.syncToken,
      hubDirectory: reg.hubDirectory,
      hubUrl,
    };
    return true;
  });
  return { name, url: reg.url, hubDirectory: reg.hubDirectory, hubUrl, status };
}

/** One row of `telahubd portal list` (the admin API's shape, spec §5.4, plus `hubUrl`). */
export interface PortalRow {
  name: string;
  url: string;
  hubDirectory: string;
  hasSyncToken: boolean;
  hubUrl: string;
}

/**
 * The registrations of the config file, by name.
 * @throws {ConfigError} for a bad config file (a missing one lists nothing).
 */
export async function portalList(path: string): Promise<PortalRow[]> {
  const cfg = await loadConfigFile(path);
  const portals: Record<string, PortalEntry> = cfg?.portals ?? {};
  return Object.keys(portals).sort().map((name) => ({
    name,
    url: portals[name].url,
    hubDirectory: portals[name].hubDirectory || "/api/hubs",
    hasSyncToken: !!portals[name].syncToken,
    hubUrl: portals[name].hubUrl ?? "",
  }));
}

/**
 * Forgets a registration locally (nothing is sent to the portal, spec §5.4).
 * @throws {PortalCommandError} when the config has no registration of that name.
 */
export async function portalRemove(path: string, name: string): Promise<void> {
  const done = await editConfig(path, (c) => {
    if (!c.portals?.[name]) return undefined;
    delete c.portals[name];
    return true;
  });
  if (!done) {
    const names = (await portalList(path)).map((p) => p.name);
    throw new PortalCommandError(
      `portal "${name}" not found in ${path} (${
        names.length ? `it has: ${names.join(", ")}` : "it has none"
      }); "telahubd portal list" shows them`,
    );
  }
}

/**
 * Pushes the console viewer token (and the hub's public URL) to every registered portal
 * (`telahubd portal sync`). With `hubUrl` (`-hub-url`, else `TELAHUBD_PUBLIC_URL`), the new
 * URL is stored in every registration first and announced to the portals.
 * @returns one result per portal holding a sync token.
 * @throws {PortalCommandError} without a hub name, viewer token or any sync token.
 */
export async function portalSync(
  path: string,
  opts: { hubUrl?: string; env?: (n: string) => string | undefined } = {},
): Promise<PortalSyncResult[]> {
  const env = opts.env ?? ((n: string) => Deno.env.get(n));
  const raw = opts.hubUrl || env("TELAHUBD_PUBLIC_URL");
  const hubUrl = raw ? publicHubUrl(raw) : undefined;
  if (hubUrl) {
    await editConfig(path, (c) => {
      for (const p of Object.values(c.portals ?? {})) p.hubUrl = hubUrl;
      return true;
    });
  }
  const cfg = await readConfig(path);
  const hubName = hubNameOf(cfg, env);
  if (!hubName) {
    throw new PortalCommandError(`the hub has no name: set name: in ${path} (or TELAHUBD_NAME)`);
  }
  const viewer = viewerTokenOf(cfg);
  if (!viewer) {
    throw new PortalCommandError(
      `the hub has no console viewer token in ${path}; start the hub once (it creates one) ` +
        `or run "telahubd user add console-viewer -role viewer"`,
    );
  }
  const portals = cfg.portals ?? {};
  if (!Object.values(portals).some((p) => p.syncToken)) {
    throw new PortalCommandError(
      `no portal registration with a sync token in ${path}; register with ` +
        `"telahubd portal add <name> <url>" first`,
    );
  }
  return await syncPortals(portals, hubName, viewer, hubUrl);
}

/**
 * The first-start registration (spec §10.2, §10.4 step 10, §11): when `TELAHUBD_PORTAL_URL`
 * is set and the hub has no portal registration, register with it as `default` using
 * `TELAHUBD_PORTAL_TOKEN` (used once, never stored) and `TELAHUBD_PUBLIC_URL`. Failures are
 * logged; the hub runs on.
 * @param cfg the running hub's config (portals, viewer token).
 * @param hubName the hub's name.
 * @param save stores the registration (the running hub's access store).
 * @param env the environment.
 * @returns the stored entry, or undefined when nothing was (or could be) registered.
 */
export async function portalEnvBootstrap(
  cfg: { portals?: Record<string, PortalEntry>; hubId?: string },
  hubName: string,
  viewerToken: string | undefined,
  save: (name: string, entry: PortalEntry) => void,
  env: (n: string) => string | undefined = (n) => Deno.env.get(n),
): Promise<PortalEntry | undefined> {
  const portalUrl = env("TELAHUBD_PORTAL_URL");
  if (!portalUrl) return undefined;
  if (cfg.portals && Object.keys(cfg.portals).length) {
    log.debug("TELAHUBD_PORTAL_URL ignored: the hub already has portal registrations");
    return undefined;
  }
  const rawHubUrl = env("TELAHUBD_PUBLIC_URL");
  if (!hubName || !rawHubUrl) {
    log.warn(
      `TELAHUBD_PORTAL_URL is set but the hub has no ${
        !hubName ? "name (set name: or TELAHUBD_NAME)" : "public URL (set TELAHUBD_PUBLIC_URL)"
      }; not registering with ${escapeForLog(portalUrl)}`,
    );
    return undefined;
  }
  try {
    const hubUrl = publicHubUrl(rawHubUrl);
    const reg = await registerWithPortal({
      portalUrl,
      portalToken: env("TELAHUBD_PORTAL_TOKEN") || undefined,
      hubName,
      hubUrl,
      hubId: cfg.hubId,
      viewerToken,
    });
    const entry: PortalEntry = {
      url: reg.url,
      syncToken: reg.syncToken,
      hubDirectory: reg.hubDirectory,
      hubUrl,
    };
    save("default", entry);
    log.info(
      `registered with portal default at ${escapeForLog(reg.url)} as ${escapeForLog(hubName)} ` +
        `(${escapeForLog(hubUrl)})`,
    );
    return entry;
  } catch (err) {
    log.warn(
      `portal registration with ${escapeForLog(normalizePortalUrl(portalUrl))} failed: ${
        escapeForLog((err as Error).message)
      }; fix it and restart, or run "telahubd portal add default <url>"`,
    );
    return undefined;
  }
}
