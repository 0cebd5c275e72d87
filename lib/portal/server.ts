/**
 * Our portal: a single-user, file-backed hub directory that implements the book's Appendix D
 * (portal protocol 1.1) — `/.well-known/tela` (§2), the hub directory `GET|POST|PATCH|DELETE
 * /api/hubs` and `PATCH /api/hubs/sync` (§3), the admin proxy `/api/hub-admin/{hub}/{op}`
 * (§4), `GET /api/fleet/agents` (§5), bearer user auth (§6.2), the error shape (§7), SHA-256
 * sync tokens (§8) and the CORS policy (§9). The device code flow (§6.3) is a SHOULD that
 * single-user portals MAY skip: this one does (the operator sets the bearer token).
 *
 * Our additions, both additive (§2 *Version semantics*):
 * - `PATCH /api/hubs/sync` also accepts an optional `url`: the hub announces its new public
 *   URL with its sync token (`telahubd portal sync -hub-url`), and the directory follows.
 * - A request carrying `Tela-Portal-Protocol: <version>` whose major version is not 1 is
 *   refused with 400 (§2 *Negotiation rule*; the spec names no request header, so clients
 *   that send none are served).
 * @module
 */
import { escapeForLog, logger } from "../log/mod.ts";
import {
  type HubRecord,
  newSyncToken,
  type PortalStore,
  sha256Hex,
  tokenMatches,
} from "./store.ts";

const log = logger("portal");

/** The protocol this portal speaks (Appendix D §2). */
export const PORTAL_PROTOCOL_VERSION = "1.1";
/** Largest JSON body read by the directory endpoints, bytes. */
export const MAX_JSON_BODY = 64 * 1024;
/** Largest body the admin proxy forwards, bytes. */
export const MAX_PROXY_BODY = 8 * 1024 * 1024;
/** Time allowed for a call to a hub (discovery, status, admin proxy), ms. */
export const HUB_CALL_TIMEOUT_MS = 15_000;
/** Longest hub name and URL accepted (Awan Saya's limits, Appendix D §3.2). */
export const MAX_NAME = 255;
export const MAX_URL = 2048;

/** How the portal is set up. */
export interface PortalOptions {
  store: PortalStore;
  /** Serve the user endpoints without a token (an open directory; sync still needs its token). */
  open?: boolean;
  /** Origins allowed to make state-changing cross-origin requests (§9). */
  allowOrigins?: string[];
}

type Json = Record<string, unknown>;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", ...headers },
  });
}

function err(status: number, message: string, headers: Record<string, string> = {}): Response {
  return json(status, { error: message }, headers);
}

const PUBLIC_CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, OPTIONS",
  "Access-Control-Allow-Headers": "Authorization, Content-Type",
};

/** The bearer token of a request, if any. */
function bearer(req: Request): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "");
  return m?.[1];
}

/** Reads a JSON object body of at most `max` bytes; a Response when it cannot. */
async function readJson(req: Request, max = MAX_JSON_BODY): Promise<Json | Response> {
  const buf = await readCapped(req, max);
  if (buf === undefined) return err(413, `request body larger than ${max} bytes`);
  if (buf.length === 0) return err(400, "request body must be a JSON object");
  try {
    const v = JSON.parse(new TextDecoder().decode(buf));
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
    return v as Json;
  } catch {
    return err(400, "request body must be a JSON object");
  }
}

/** The body's bytes, or undefined when it is longer than `max`. */
async function readCapped(req: Request, max: number): Promise<Uint8Array | undefined> {
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A hub URL as the directory stores it: `https://…`/`http://…` (ws(s) accepted and
 * converted), trailing `/` trimmed; undefined when it is not a usable URL.
 */
export function directoryHubUrl(u: unknown): string | undefined {
  if (typeof u !== "string" || !u.trim() || u.length > MAX_URL) return undefined;
  let s = u.trim().replace(/\/+$/, "");
  s = s.replace(/^wss:\/\//i, "https://").replace(/^ws:\/\//i, "http://");
  try {
    const p = new URL(s);
    if (p.protocol !== "https:" && p.protocol !== "http:") return undefined;
    if (!p.host) return undefined;
  } catch {
    return undefined;
  }
  return s;
}

function validName(n: unknown): n is string {
  return typeof n === "string" && n.trim() !== "" && n.length <= MAX_NAME && !/[\s/]/.test(n);
}

/** A directory entry (§3.1): the hub's id, name, URL, canManage and orgName. */
function entry(h: HubRecord): Json {
  return { id: h.hubId, name: h.name, url: h.url, canManage: true, orgName: null };
}

/** Fetch with a timeout and the cause in the message. */
async function hubFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return await fetch(url, { ...init, signal: AbortSignal.timeout(HUB_CALL_TIMEOUT_MS) });
}

/**
 * The `hubId` a hub announces on its `/.well-known/tela` (§3.2 context 2).
 * @throws {Error} naming the failure (unreachable, status, JSON, no hubId).
 */
async function discoverHubId(hubUrl: string): Promise<string> {
  let r: Response;
  try {
    r = await hubFetch(`${hubUrl}/.well-known/tela`);
  } catch (e) {
    throw new Error(`hub at ${hubUrl} is unreachable: ${(e as Error).message}`);
  }
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${hubUrl}/.well-known/tela answered HTTP ${r.status}`);
  let doc: Json;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${hubUrl}/.well-known/tela is not JSON`);
  }
  if (typeof doc?.hubId !== "string" || !doc.hubId) {
    throw new Error(`${hubUrl}/.well-known/tela has no hubId (a protocol 1.0 hub?)`);
  }
  return doc.hubId;
}

/**
 * The portal's request handler.
 * @param opts the store and the auth settings.
 * @returns a `Deno.serve` handler; it never throws (a failure is a 500 JSON error).
 */
export function portalHandler(opts: PortalOptions): (req: Request) => Promise<Response> {
  const { store } = opts;
  const allow = new Set(opts.allowOrigins ?? []);

  /** Undefined when the caller is the portal's user, else the 401. */
  const userGate = (req: Request): Response | undefined => {
    if (opts.open) return undefined;
    const t = bearer(req);
    if (t && tokenMatches(t, store.state.userTokenHash)) return undefined;
    return err(
      401,
      t ? "invalid token" : "authentication required: send Authorization: Bearer <token>",
      {
        "WWW-Authenticate": 'Bearer realm="tela-portal"',
      },
    );
  };

  /** A cross-origin state-changing request from an origin not allowed (§9). */
  const originRefused = (req: Request, url: URL): Response | undefined => {
    const origin = req.headers.get("origin");
    if (!origin || origin === url.origin || allow.has(origin)) return undefined;
    return err(403, `cross-origin ${req.method} from ${origin} is not allowed`);
  };

  const list = () =>
    store.state.hubs.slice().sort((a, b) => a.name.localeCompare(b.name)).map(
      entry,
    );

  async function directory(req: Request, url: URL): Promise<Response> {
    switch (req.method) {
      case "OPTIONS":
        return new Response(null, { status: 204, headers: PUBLIC_CORS });
      case "GET": {
        const g = userGate(req);
        if (g) return withCors(g);
        return json(200, { hubs: list() }, PUBLIC_CORS);
      }
      case "POST":
        return await register(req);
      case "PATCH":
        return await patchHub(req);
      case "DELETE":
        return await deleteHub(req, url);
      default:
        return err(405, `method ${req.method} not allowed`, {
          Allow: "GET, POST, PATCH, DELETE, OPTIONS",
        });
    }
  }

  async function register(req: Request): Promise<Response> {
    const g = userGate(req);
    if (g) return g;
    const body = await readJson(req);
    if (body instanceof Response) return body;
    if (!validName(body.name)) {
      return err(400, `name is required: a short hub name (no spaces or "/", at most ${MAX_NAME})`);
    }
    const hubUrl = directoryHubUrl(body.url);
    if (!hubUrl) return err(400, "url is required: the hub's public https:// or http:// URL");
    for (const k of ["hubId", "viewerToken", "adminToken"] as const) {
      if (body[k] !== undefined && typeof body[k] !== "string") {
        return err(400, `${k} must be a string`);
      }
    }
    const bootstrap = typeof body.hubId === "string" && body.hubId !== "";
    let hubId: string;
    if (bootstrap) hubId = body.hubId as string;
    else {
      try {
        hubId = await discoverHubId(hubUrl);
      } catch (e) {
        return err(502, `cannot learn the hub's hubId: ${(e as Error).message}`);
      }
    }
    const name = body.name as string;
    const clash = store.byName(name);
    if (clash && clash.hubId !== hubId) {
      return err(409, `a different hub is already registered as "${clash.name}"`);
    }
    const syncToken = bootstrap ? newSyncToken() : undefined;
    const now = new Date().toISOString();
    const updated = await store.update((s) => {
      const old = s.hubs.find((h) => h.hubId === hubId);
      const rec: HubRecord = old ?? { hubId, name, url: hubUrl, createdAt: now, updatedAt: now };
      rec.name = name;
      rec.url = hubUrl;
      rec.updatedAt = now;
      if (typeof body.viewerToken === "string" && body.viewerToken) {
        rec.viewerToken = body.viewerToken;
      }
      if (typeof body.adminToken === "string" && body.adminToken) rec.adminToken = body.adminToken;
      if (syncToken) rec.syncTokenHash = sha256Hex(syncToken);
      if (!old) s.hubs.push(rec);
      return !!old;
    });
    log.info(
      `hub ${escapeForLog(name)} ${updated ? "updated" : "registered"} at ${escapeForLog(hubUrl)}`,
    );
    return json(updated ? 200 : 201, {
      hubs: list(),
      ...(syncToken ? { syncToken } : {}),
      updated,
    });
  }

  async function sync(req: Request): Promise<Response> {
    if (req.method !== "PATCH") {
      return err(405, `method ${req.method} not allowed`, { Allow: "PATCH" });
    }
    // Sync auth only: the hub's sync token, never the user's (§3.3).
    const token = bearer(req);
    if (!token) return err(401, "sync token required: Authorization: Bearer hubsync_...");
    const body = await readJson(req);
    if (body instanceof Response) return body;
    if (typeof body.name !== "string" || typeof body.viewerToken !== "string") {
      return err(400, "name and viewerToken are required");
    }
    const hub = store.byName(body.name);
    if (!hub) return err(404, `hub "${body.name}" not found`);
    if (!tokenMatches(token, hub.syncTokenHash)) return err(401, "invalid sync token");
    let newUrl: string | undefined;
    if (body.url !== undefined) {
      newUrl = directoryHubUrl(body.url);
      if (!newUrl) return err(400, "url must be the hub's https:// or http:// URL");
    }
    await store.update(() => {
      hub.viewerToken = body.viewerToken as string;
      if (newUrl) hub.url = newUrl;
      hub.updatedAt = new Date().toISOString();
    });
    log.info(
      `hub ${escapeForLog(hub.name)} synced its viewer token${
        newUrl ? `, URL ${escapeForLog(newUrl)}` : ""
      }`,
    );
    return json(200, { ok: true });
  }

  async function patchHub(req: Request): Promise<Response> {
    const g = userGate(req);
    if (g) return g;
    const body = await readJson(req);
    if (body instanceof Response) return body;
    if (body.hubId !== undefined) return err(400, "hubId cannot be changed");
    if (typeof body.currentName !== "string" || !body.currentName) {
      return err(400, "currentName is required");
    }
    const hub = store.byName(body.currentName);
    if (!hub) return err(404, `hub "${body.currentName}" not found`);
    if (body.name !== undefined) {
      if (!validName(body.name)) return err(400, "name must be a short hub name");
      const clash = store.byName(body.name);
      if (clash && clash !== hub) return err(409, `a hub named "${clash.name}" already exists`);
    }
    let url: string | undefined;
    if (body.url !== undefined) {
      url = directoryHubUrl(body.url);
      if (!url) return err(400, "url must be the hub's https:// or http:// URL");
    }
    for (const k of ["viewerToken", "adminToken"] as const) {
      if (body[k] !== undefined && typeof body[k] !== "string") {
        return err(400, `${k} must be a string`);
      }
    }
    await store.update(() => {
      if (body.name !== undefined) hub.name = body.name as string;
      if (url) hub.url = url;
      if (body.viewerToken !== undefined) hub.viewerToken = body.viewerToken as string;
      if (body.adminToken !== undefined) hub.adminToken = body.adminToken as string;
      hub.updatedAt = new Date().toISOString();
    });
    return json(200, { hubs: list() });
  }

  async function deleteHub(req: Request, url: URL): Promise<Response> {
    const g = userGate(req);
    if (g) return g;
    let name = url.searchParams.get("name") ?? "";
    if (!name && req.body) {
      const body = await readJson(req);
      if (!(body instanceof Response) && typeof body.name === "string") name = body.name;
    }
    if (!name) return err(400, "name query parameter is required: DELETE /api/hubs?name=<hub>");
    const hub = store.byName(name);
    if (!hub) return err(404, `hub "${name}" not found`);
    await store.update((s) => {
      s.hubs = s.hubs.filter((h) => h !== hub);
    });
    log.info(`hub ${escapeForLog(hub.name)} removed`);
    return json(200, { hubs: list() });
  }

  async function adminProxy(req: Request, url: URL): Promise<Response> {
    const g = userGate(req);
    if (g) return g;
    const rest = url.pathname.slice("/api/hub-admin/".length);
    const slash = rest.indexOf("/");
    const op = slash < 0 ? "" : rest.slice(slash + 1);
    let hubName: string;
    let opSegments: string[];
    try {
      hubName = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
      opSegments = decodeURIComponent(op).split("/");
    } catch {
      return err(400, "malformed percent-encoding in the path");
    }
    if (opSegments.some((x) => x === ".." || x === ".")) {
      return err(400, "the operation must not contain . or .. segments");
    }
    const hub = store.byName(hubName);
    if (!hub) return err(404, `hub "${hubName}" not found`);
    if (!op) return err(404, "no operation: use /api/hub-admin/{hub}/{operation}");
    if (op === "api/admin" || op.startsWith("api/admin/")) {
      return err(
        400,
        `the double-prefix form is not supported: use /api/hub-admin/${hubName}/${
          op.replace(/^api\/admin\/?/, "")
        }`,
      );
    }
    if (!hub.adminToken) return err(400, "no admin token stored for this hub");
    let body: Uint8Array | undefined;
    if (req.method !== "GET" && req.method !== "HEAD") {
      body = await readCapped(req, MAX_PROXY_BODY);
      if (body === undefined) return err(413, `request body larger than ${MAX_PROXY_BODY} bytes`);
    }
    const headers: Record<string, string> = { Authorization: `Bearer ${hub.adminToken}` };
    const ct = req.headers.get("content-type");
    if (ct) headers["Content-Type"] = ct;
    let r: Response;
    try {
      r = await hubFetch(`${hub.url}/api/admin/${op}${url.search}`, {
        method: req.method,
        headers,
        body: body as BodyInit | undefined,
      });
    } catch (e) {
      log.warn(`admin proxy to ${escapeForLog(hub.name)}: ${escapeForLog((e as Error).message)}`);
      return err(502, "hub unreachable");
    }
    const out = new Uint8Array(await r.arrayBuffer());
    return new Response(req.method === "HEAD" ? null : out, {
      status: r.status,
      headers: { "Content-Type": "application/json", "Cache-Control": "no-cache" },
    });
  }

  async function fleet(req: Request): Promise<Response> {
    if (req.method !== "GET") return err(405, `method ${req.method} not allowed`, { Allow: "GET" });
    const g = userGate(req);
    if (g) return g;
    const hubs = store.state.hubs.slice().sort((a, b) => a.name.localeCompare(b.name));
    const per = await Promise.all(hubs.map(async (h) => {
      try {
        const r = await hubFetch(`${h.url}/api/status`, {
          headers: h.viewerToken ? { Authorization: `Bearer ${h.viewerToken}` } : {},
        });
        if (r.status !== 200) {
          await r.body?.cancel();
          log.warn(`fleet: ${escapeForLog(h.name)} /api/status answered HTTP ${r.status}`);
          return [];
        }
        const doc = await r.json() as { machines?: Json[] };
        return (Array.isArray(doc?.machines) ? doc.machines : []).map((m) => agent(h, m));
      } catch (e) {
        log.warn(`fleet: ${escapeForLog(h.name)} skipped: ${escapeForLog((e as Error).message)}`);
        return [];
      }
    }));
    return json(200, { agents: per.flat() });
  }

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    try {
      const v = req.headers.get("tela-portal-protocol");
      if (v && !/^1(\.|$)/.test(v.trim())) {
        return err(
          400,
          `portal protocol ${v} is not supported: this portal speaks ${PORTAL_PROTOCOL_VERSION}`,
        );
      }
      if (url.pathname === "/.well-known/tela") {
        if (req.method === "OPTIONS") {
          return new Response(null, { status: 204, headers: PUBLIC_CORS });
        }
        if (req.method !== "GET") return err(405, "method not allowed", { Allow: "GET, OPTIONS" });
        return json(200, {
          hub_directory: "/api/hubs",
          protocolVersion: PORTAL_PROTOCOL_VERSION,
          supportedVersions: [PORTAL_PROTOCOL_VERSION],
          portalId: store.state.portalId,
        }, { ...PUBLIC_CORS, "Cache-Control": "public, max-age=3600" });
      }
      const origin = req.headers.get("origin");
      if (origin && allow.has(origin)) {
        // An allowed browser origin: its preflight and its answers carry its CORS headers.
        const cors = {
          "Access-Control-Allow-Origin": origin,
          "Access-Control-Allow-Methods": "GET, POST, PATCH, PUT, DELETE, OPTIONS",
          "Access-Control-Allow-Headers": "Authorization, Content-Type",
          "Vary": "Origin",
        };
        if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
        const r = await route(req, url);
        for (const [k, v] of Object.entries(cors)) r.headers.set(k, v);
        return r;
      }
      if (!["GET", "HEAD", "OPTIONS"].includes(req.method)) {
        const refused = originRefused(req, url);
        if (refused) return refused;
      }
      return await route(req, url);
    } catch (e) {
      log.error(`${req.method} ${escapeForLog(url.pathname)}: ${(e as Error).message}`);
      return err(500, "internal error");
    }
  };

  /** The protocol's endpoints (§3–§5); anything else is a 404 in the error shape (§7). */
  async function route(req: Request, url: URL): Promise<Response> {
    if (url.pathname === "/api/hubs") return await directory(req, url);
    if (url.pathname === "/api/hubs/sync") return await sync(req);
    if (url.pathname.startsWith("/api/hub-admin/")) return await adminProxy(req, url);
    if (url.pathname === "/api/fleet/agents") return await fleet(req);
    return err(404, `not found: ${url.pathname}`);
  }
}

function withCors(r: Response): Response {
  for (const [k, v] of Object.entries(PUBLIC_CORS)) r.headers.set(k, v);
  return r;
}

/** One fleet record (Appendix D §5) from a hub's `/api/status` machine; identity fields are
 * passed through, never made up. */
function agent(h: HubRecord, m: Json): Json {
  const out: Json = { id: m.id };
  if (typeof m.agentId === "string") out.agentId = m.agentId;
  if (typeof m.machineRegistrationId === "string") {
    out.machineRegistrationId = m.machineRegistrationId;
  }
  out.hub = h.name;
  out.hubId = h.hubId;
  out.hubUrl = h.url;
  out.online = m.agentConnected === true;
  if (m.agentVersion !== undefined) out.version = m.agentVersion;
  for (
    const k of [
      "hostname",
      "os",
      "displayName",
      "tags",
      "location",
      "owner",
      "lastSeen",
      "sessionCount",
      "services",
      "capabilities",
    ]
  ) {
    if (m[k] !== undefined) out[k] = m[k];
  }
  return out;
}
