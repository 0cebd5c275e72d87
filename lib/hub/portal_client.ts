/**
 * The hub's outbound portal registration (spec hub-http-api.md §11; book, Appendix D "hub
 * directory" §3.2): discover the portal's hub directory with `GET {portal}/.well-known/tela`,
 * then `POST {portal}{hubDirectory}` with the hub's name, public URL, hubId and console viewer
 * token; the portal answers with a `syncToken` the hub keeps.
 *
 * @module
 */
import { escapeForLog, logger } from "../log/mod.ts";

const log = logger("hub");

/** Timeout of the discovery request, ms (spec §11 step 2). */
export const DISCOVERY_TIMEOUT_MS = 10_000;
/** Timeout of the registration request, ms (spec §11 step 3). */
export const REGISTER_TIMEOUT_MS = 15_000;
/** Hub directory used when the portal does not name one. */
export const DEFAULT_HUB_DIRECTORY = "/api/hubs";
/** Largest portal response read, bytes: reading stops there and the rest is not fetched. */
export const MAX_RESPONSE_BYTES = 1 << 20;
/** Characters of a portal's error body quoted in {@link PortalRegistrationError}. */
export const ERROR_BODY_QUOTE = 200;

/** A registration the portal refused or that could not be made; the message is shown as is. */
export class PortalRegistrationError extends Error {
  override name = "PortalRegistrationError";
}

/** What {@link registerWithPortal} sends. */
export interface PortalRegistration {
  /** Portal base URL as the operator typed it (normalised here). */
  portalUrl: string;
  /** Portal admin token, used for this call only (never persisted). */
  portalToken?: string;
  hubName: string;
  /** The hub's public URL. */
  hubUrl: string;
  hubId?: string;
  /** The console viewer token, omitted when the hub has none. */
  viewerToken?: string;
}

/** What the hub stores after a successful registration. */
export interface PortalRegistered {
  /** Normalised portal URL. */
  url: string;
  syncToken: string;
  hubDirectory: string;
  /** The portal's `updated` flag (true when it upserted an existing record). */
  updated: boolean;
}

/**
 * Normalises a portal URL: trailing `/` trimmed, `https://` prefixed when it has no scheme.
 * @param u the URL as given.
 */
export function normalizePortalUrl(u: string): string {
  let s = u.trim().replace(/\/+$/, "");
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(s)) s = `https://${s}`;
  return s;
}

/**
 * Reads at most {@link MAX_RESPONSE_BYTES} of a response body, chunk by chunk, and cancels
 * the rest (a portal, or whatever answers at its URL, cannot make the hub buffer an endless
 * body).
 */
async function readCapped(r: Response): Promise<string> {
  if (!r.body) return "";
  const reader = r.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_RESPONSE_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = MAX_RESPONSE_BYTES - size;
      const part = value.length > room ? value.subarray(0, room) : value;
      parts.push(part);
      size += part.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const buf = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    buf.set(p, at);
    at += p.length;
  }
  return new TextDecoder().decode(buf);
}

/**
 * Finds the portal's hub directory: `hub_directory` of its `/.well-known/tela`, or
 * `/api/hubs` on any failure. A `supportedVersions` list without a `1.x` entry is only logged.
 * @param portal normalised portal URL.
 * @param token portal admin token, sent as a bearer token when given.
 */
export async function discoverHubDirectory(portal: string, token?: string): Promise<string> {
  try {
    const r = await fetch(`${portal}/.well-known/tela`, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS),
    });
    const text = await readCapped(r);
    if (!r.ok) return DEFAULT_HUB_DIRECTORY;
    const doc = JSON.parse(text);
    const versions = doc?.supportedVersions;
    if (Array.isArray(versions) && !versions.some((v) => typeof v === "string" && /^1\./.test(v))) {
      log.warn(
        `portal ${escapeForLog(portal)} supports protocol ${
          escapeForLog(versions.join(","))
        } only; this hub speaks 1.x`,
      );
    }
    const dir = doc?.hub_directory;
    return typeof dir === "string" && dir.startsWith("/") ? dir : DEFAULT_HUB_DIRECTORY;
  } catch {
    return DEFAULT_HUB_DIRECTORY;
  }
}

/**
 * Registers the hub with a portal (spec §11 steps 1–5).
 * @param reg what to send and where.
 * @returns the normalised URL, the sync token and the hub directory to store.
 * @throws {PortalRegistrationError} with the spec's texts: `could not reach <portal>: ...`,
 *   `unauthorized. Check your API token`, `portal returned HTTP <code>: <body>` (the first
 *   {@link ERROR_BODY_QUOTE} characters of the body, escaped),
 *   `decode portal response: ...`, `portal at <url> returned no syncToken; portal does not
 *   implement protocol 1.0`.
 */
export async function registerWithPortal(reg: PortalRegistration): Promise<PortalRegistered> {
  const url = normalizePortalUrl(reg.portalUrl);
  const hubDirectory = await discoverHubDirectory(url, reg.portalToken);
  const body: Record<string, string> = { name: reg.hubName, url: reg.hubUrl };
  if (reg.hubId) body.hubId = reg.hubId;
  if (reg.viewerToken) body.viewerToken = reg.viewerToken;
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (reg.portalToken) headers.Authorization = `Bearer ${reg.portalToken}`;
  let r: Response;
  let text: string;
  try {
    r = await fetch(`${url}${hubDirectory}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REGISTER_TIMEOUT_MS),
    });
    text = await readCapped(r);
  } catch (err) {
    const e = err as Error & { cause?: { message?: string } };
    const why = e.cause?.message ? `${e.message}: ${e.cause.message}` : e.message;
    throw new PortalRegistrationError(`could not reach ${url}: ${why}`);
  }
  if (r.status === 401) throw new PortalRegistrationError("unauthorized. Check your API token");
  if (r.status < 200 || r.status > 299) {
    // Quote the start of the body only, escaped (it is shown to the admin and logged).
    throw new PortalRegistrationError(
      `portal returned HTTP ${r.status}: ${escapeForLog(text.trim(), ERROR_BODY_QUOTE)}`,
    );
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
      throw new SyntaxError("not a JSON object");
    }
  } catch (err) {
    throw new PortalRegistrationError(`decode portal response: ${(err as Error).message}`);
  }
  const syncToken = doc.syncToken;
  if (typeof syncToken !== "string" || syncToken === "") {
    throw new PortalRegistrationError(
      `portal at ${url} returned no syncToken; portal does not implement protocol 1.0`,
    );
  }
  return { url, syncToken, hubDirectory, updated: doc.updated === true };
}

/** Timeout of one viewer-token sync request, ms (spec §11). */
export const SYNC_TIMEOUT_MS = 10_000;

/** The outcome of one portal's viewer-token sync. */
export interface PortalSyncResult {
  name: string;
  ok: boolean;
  /** HTTP status (0 when no answer came). */
  status: number;
  /** Why it failed, in words (absent on success). */
  error?: string;
}

/**
 * Pushes the console viewer token to every portal the hub holds a sync token for
 * (`PATCH {url}{hubDirectory}/sync`, bearer sync token, body `{"name","viewerToken"}`;
 * spec §11; Appendix D §3.3). When the entry has a `hubUrl` (or `hubUrl` is given), the body
 * also carries `"url"`: an optional field of ours (Appendix D §2 allows additive fields) that
 * lets the portal follow the hub to a new public URL; portals that do not know it ignore it.
 * @param portals the hub's portal registrations, by name.
 * @param hubName the hub's name.
 * @param viewerToken the current console viewer token.
 * @param hubUrl the hub's public URL to announce instead of each entry's `hubUrl`.
 * @returns one result per portal holding a sync token, in name order; never throws.
 */
export async function syncPortals(
  portals: Record<
    string,
    { url: string; syncToken?: string; hubDirectory?: string; hubUrl?: string }
  >,
  hubName: string,
  viewerToken: string,
  hubUrl?: string,
): Promise<PortalSyncResult[]> {
  const names = Object.keys(portals).filter((n) => portals[n].syncToken).sort();
  return await Promise.all(names.map(async (name): Promise<PortalSyncResult> => {
    const p = portals[name];
    const target = `${p.url}${p.hubDirectory || DEFAULT_HUB_DIRECTORY}/sync`;
    const body: Record<string, string> = { name: hubName, viewerToken };
    const url = hubUrl ?? p.hubUrl;
    if (url) body.url = url;
    try {
      const r = await fetch(target, {
        method: "PATCH",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${p.syncToken}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(SYNC_TIMEOUT_MS),
      });
      const text = await readCapped(r);
      if (r.status === 200) return { name, ok: true, status: 200 };
      let why = text.trim();
      try {
        const e = JSON.parse(why)?.error;
        if (typeof e === "string") why = e;
      } catch { /* not JSON: quote the text */ }
      return {
        name,
        ok: false,
        status: r.status,
        error: `${target} answered HTTP ${r.status}${
          why ? `: ${escapeForLog(why, ERROR_BODY_QUOTE)}` : ""
        }${
          r.status === 401 ? " (the sync token is not accepted: run telahubd portal add again)" : ""
        }`,
      };
    } catch (err) {
      const e = err as Error & { cause?: { message?: string } };
      const why = e.cause?.message ? `${e.message}: ${e.cause.message}` : e.message;
      return { name, ok: false, status: 0, error: `could not reach ${target}: ${why}` };
    }
  }));
}

/**
 * Pushes the console viewer token to every portal the hub holds a sync token for
 * ({@link syncPortals}). Skipped without a hub name or viewer token; failures are only
 * logged.
 * @param portals the hub's portal registrations, by name.
 * @param hubName the hub's name.
 * @param viewerToken the current console viewer token.
 * @param hubUrl the hub's public URL to announce instead of each entry's `hubUrl`
 *   (`TELAHUBD_PUBLIC_URL` of the running hub).
 * @returns the names of the portals that answered 200.
 */
export async function syncViewerToken(
  portals: Record<
    string,
    { url: string; syncToken?: string; hubDirectory?: string; hubUrl?: string }
  >,
  hubName: string,
  viewerToken: string | undefined,
  hubUrl?: string,
): Promise<string[]> {
  if (!hubName || !viewerToken) return [];
  const results = await syncPortals(portals, hubName, viewerToken, hubUrl);
  for (const r of results) {
    if (!r.ok) log.warn(`portal ${escapeForLog(r.name)}: viewer token sync failed: ${r.error}`);
  }
  return results.filter((r) => r.ok).map((r) => r.name);
}
