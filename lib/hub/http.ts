/**
 * The hub's HTTP front on its single port (spec hub-http-api.md §1.2): the API routes of
 * `api/` (looked up in their table), the WebSocket endpoints (`/ws`, and any other path
 * carrying upgrade headers), and the console catch-all.
 *
 * @module
 */
import { type HttpContext, Router, text } from "./api/mod.ts";

export { goJson } from "./api/mod.ts";
export type { HttpContext } from "./api/mod.ts";
export { HUB_VERSION } from "./version.ts";

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
 * @param router the API route table (default: this version's routes).
 */
export function makeHttpHandler(
  ctx: HttpContext,
  router: Router = new Router(),
): (req: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response> {
  return (req, info) => {
    const url = new URL(req.url);
    const path = url.pathname;
    const route = router.match(path);
    if (route) return route.handle(ctx, req, url, info);
    if (path === "/ws" || isUpgradeRequest(req)) return upgrade(ctx, req, info);
    if (req.method === "GET" || req.method === "HEAD") {
      const r = ctx.console(req);
      if (r) return r;
    }
    return text(404, "404 page not found\n");
  };
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
  const socket = ctx.hub.accept(pair.socket, remote);
  // Counted against the cap on unauthenticated connections until it registers, connects or joins.
  pair.socket.authenticated = () => socket.role !== "new" && socket.role !== "rejected";
  return pair.response;
}
