/**
 * The hub's HTTP routes on its single port (spec hub-http-api.md §1.2, §3, §4):
 * `/api/status` (and `/status`, `/api/admin/status`), `/api/history` (and
 * `/api/admin/history`), `/.well-known/tela`, the WebSocket endpoints (`/ws`,
 * and any other path carrying upgrade headers), and the console catch-all.
 *
 * @module
 */
import { hostname } from "node:os";
import { logger } from "../log/mod.ts";
import { type HubAuth, requestToken } from "./auth.ts";
import type { History } from "./history.ts";
import { rfc3339 } from "./history.ts";
import type { Hub } from "./hub.ts";
import type { WebSocketUpgrader } from "./front_end.ts";

const log = logger("hub");

/** Version string reported in `/api/status` and the console. */
export const HUB_VERSION = "dev";

/** What the routes need from the running hub. */
export interface HttpContext {
  hub: Hub;
  auth: () => HubAuth;
  history: History;
  hubId: string;
  hubName: string;
  /** `performance.now()` at start, ms. */
  startedAt: number;
  /** Console files for GET/HEAD paths no API route takes; `null` = not a console path. */
  console: (req: Request) => Response | Promise<Response> | null;
  /** The front end's WebSocket upgrade (size limits, mask check, idle pings). */
  upgradeWebSocket: WebSocketUpgrader;
}

const PUBLIC_CORS: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
  "Access-Control-Allow-Headers": "Content-Type, Authorization",
};

/**
 * JSON as Go's encoder writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped,
 * newline-terminated; `indent` 2 for status and well-known (spec §1.3).
 */
export function goJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[<>&\u2028\u2029]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  ) + "\n";
}

function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  indent?: number,
) {
  return new Response(goJson(body, indent), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

function text(status: number, body: string, headers: Record<string, string> = {}) {
  return new Response(body, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", ...headers },
  });
}

/** `linux`/`darwin`/`windows` and `amd64`/`arm64`, as Go reports them. */
function goPlatform(): { os: string; arch: string } {
  const arch = Deno.build.arch === "x86_64"
    ? "amd64"
    : Deno.build.arch === "aarch64"
    ? "arm64"
    : Deno.build.arch;
  return { os: Deno.build.os, arch };
}

/** True when the request carries WebSocket upgrade headers (Connection: upgrade + Upgrade: websocket). */
export function isUpgradeRequest(req: Request): boolean {
  const upgrade = req.headers.get("upgrade");
  if (!upgrade || upgrade.toLowerCase() !== "websocket") return false;
  const conn = req.headers.get("connection") ?? "";
  return conn.split(",").some((t) => t.trim().toLowerCase() === "upgrade");
}

/**
 * Builds the fetch-style request handler the front end serves.
 * @param ctx the running hub's parts.
 */
export function makeHttpHandler(
  ctx: HttpContext,
): (req: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response> {
  return (req, info) => {
    const url = new URL(req.url);
    const path = url.pathname;
    switch (path) {
      case "/.well-known/tela":
        return wellKnown(ctx, req);
      case "/api/status":
      case "/status":
      case "/api/admin/status":
        return readEndpoint(ctx, req, url, "machines", (auth, token) => status(ctx, auth, token));
      case "/api/history":
      case "/api/admin/history":
        return readEndpoint(ctx, req, url, "events", (auth, token) => history(ctx, auth, token));
      case "/ws":
        return upgrade(ctx, req, info);
    }
    if (isUpgradeRequest(req)) return upgrade(ctx, req, info);
    if (req.method === "GET" || req.method === "HEAD") {
      const r = ctx.console(req);
      if (r) return r;
    }
    return text(404, "404 page not found\n");
  };
}

function wellKnown(ctx: HttpContext, req: Request): Response {
  if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: PUBLIC_CORS });
  if (req.method !== "GET") return text(405, "method not allowed\n", PUBLIC_CORS);
  const body: Record<string, unknown> = {};
  if (ctx.hubId) body.hubId = ctx.hubId;
  body.protocolVersion = "1.1";
  body.supportedVersions = ["1.1"];
  return json(200, body, PUBLIC_CORS, 2);
}

function readEndpoint(
  ctx: HttpContext,
  req: Request,
  url: URL,
  emptyKey: "machines" | "events",
  respond: (auth: HubAuth, token: string | undefined) => Response,
): Response {
  if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: PUBLIC_CORS });
  const auth = ctx.auth();
  const found = requestToken(req, url);
  if (found?.source === "query") {
    log.warn(`?token= query authentication is deprecated (from ${url.pathname})`);
  }
  if (auth.enabled) {
    const id = auth.identity(found?.token);
    if (!id || !id.id) {
      return json(401, { error: "auth_required", [emptyKey]: [] }, PUBLIC_CORS);
    }
  }
  return respond(auth, found?.token);
}

function status(ctx: HttpContext, auth: HubAuth, token: string | undefined): Response {
  const now = new Date();
  const { os, arch } = goPlatform();
  const body: Record<string, unknown> = {
    hub: {
      arch,
      goVersion: `deno ${Deno.version.deno}`,
      hostname: hostname(),
      os,
      uptime: Math.floor((performance.now() - ctx.startedAt) / 1000),
      version: HUB_VERSION,
    },
  };
  if (ctx.hubId) body.hubId = ctx.hubId;
  if (ctx.hubName) body.hubName = ctx.hubName;
  body.machines = ctx.hub.machineList((name) => auth.canView(token, name), now);
  body.timestamp = rfc3339(now);
  return json(200, body, PUBLIC_CORS, 2);
}

function history(ctx: HttpContext, auth: HubAuth, token: string | undefined): Response {
  const events = ctx.history.list(
    auth.enabled ? (e) => auth.canView(token, e.machineId) : undefined,
  );
  return json(200, { events, timestamp: rfc3339(new Date()) }, PUBLIC_CORS);
}

function upgrade(ctx: HttpContext, req: Request, info: Deno.ServeHandlerInfo): Response {
  if (!isUpgradeRequest(req) || req.method !== "GET") {
    return text(400, "Bad Request\n");
  }
  if (ctx.hub.draining) return text(503, "hub shutting down\n");
  // Browser-origin check (spec §1.2): only when auth is on and an Origin is sent.
  const origin = req.headers.get("origin");
  if (origin && ctx.auth().enabled) {
    const host = req.headers.get("host") ?? "";
    if (!origin.endsWith("://" + host)) return text(403, "Forbidden\n");
  }
  // Read the peer address first: Deno forgets it once the request is upgraded.
  const addr = info.remoteAddr as Deno.NetAddr;
  const remote = `${addr.hostname}:${addr.port}`;
  let pair;
  try {
    pair = ctx.upgradeWebSocket(req, { idleTimeout: ctx.hub.wsIdleTimeoutS });
  } catch (err) {
    return text(400, `Bad Request: ${(err as Error).message}\n`);
  }
  const peer = ctx.hub.accept(pair.socket, remote);
  // Counted against the cap on unauthenticated connections until it registers, connects or joins.
  pair.socket.authenticated = () => peer.role !== "new" && peer.role !== "rejected";
  return pair.response;
}
