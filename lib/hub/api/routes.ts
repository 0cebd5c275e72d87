/**
 * The hub's HTTP route table (spec hub-http-api.md §1.2), one entry per path pattern and
 * one file per area. Patterns follow Go's `ServeMux`: a pattern ending in `/` matches the
 * whole subtree, any other only itself; the longest pattern wins. The WebSocket endpoint and
 * the console catch-all stay outside the table (`http.ts`).
 *
 * Admin endpoints live one file per area under `admin/`; `/api/pair` and `/api/hubs` beside
 * this file. Self-update (spec §5.10–5.12) is a later issue.
 *
 * @module
 */
import type { HttpContext } from "./context.ts";
import { access } from "./admin/access.ts";
import { agents } from "./admin/agents.ts";
import { logs } from "./admin/logs.ts";
import { pairCode } from "./admin/pair_code.ts";
import { portals } from "./admin/portals.ts";
import { restart } from "./admin/restart.ts";
import { rotate, tokenItem, tokens } from "./admin/tokens.ts";
import { history } from "./history.ts";
import { hubs } from "./hubs.ts";
import { pair } from "./pair.ts";
import { status } from "./status.ts";
import { wellKnown } from "./well_known.ts";

/** The areas of the API; each has its own file under `lib/hub/api/`. */
export type RouteArea = "well-known" | "status" | "history" | "admin" | "pair" | "hubs";

/** A route handler: the hub's parts, the request and its parsed URL. */
export type RouteHandler = (
  ctx: HttpContext,
  req: Request,
  url: URL,
  info?: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;

/** One row of the table. */
export interface Route {
  /** An exact path, or a subtree when it ends in `/`. */
  pattern: string;
  area: RouteArea;
  handle: RouteHandler;
}

/** The routes of this version (§1.2; the book's `DELETE /api/admin/tokens/{id}`, `/api/hubs`). */
export const ROUTES: readonly Route[] = [
  { pattern: "/.well-known/tela", area: "well-known", handle: wellKnown },
  { pattern: "/api/status", area: "status", handle: status },
  { pattern: "/status", area: "status", handle: status },
  { pattern: "/api/admin/status", area: "status", handle: status },
  { pattern: "/api/history", area: "history", handle: history },
  { pattern: "/api/admin/history", area: "history", handle: history },
  { pattern: "/api/admin/tokens", area: "admin", handle: tokens },
  { pattern: "/api/admin/tokens/", area: "admin", handle: tokenItem },
  { pattern: "/api/admin/rotate", area: "admin", handle: rotate }, // 301 to the slash form
  { pattern: "/api/admin/rotate/", area: "admin", handle: rotate },
  { pattern: "/api/admin/access", area: "admin", handle: access },
  { pattern: "/api/admin/access/", area: "admin", handle: access },
  { pattern: "/api/admin/portals", area: "admin", handle: portals },
  { pattern: "/api/admin/portals/", area: "admin", handle: portals },
  { pattern: "/api/admin/pair-code", area: "admin", handle: pairCode },
  { pattern: "/api/admin/logs", area: "admin", handle: logs },
  { pattern: "/api/admin/restart", area: "admin", handle: restart },
  { pattern: "/api/admin/agents", area: "admin", handle: agents }, // 301 to the slash form
  { pattern: "/api/admin/agents/", area: "admin", handle: agents },
  { pattern: "/api/pair", area: "pair", handle: pair },
  { pattern: "/api/hubs", area: "hubs", handle: hubs },
];

/** Looks a path up in a route table. */
export class Router {
  readonly #exact = new Map<string, Route>();
  /** Subtree routes, longest pattern first. */
  readonly #subtrees: Route[];

  /** @param routes the table; a later row with the same pattern replaces an earlier one. */
  constructor(routes: readonly Route[] = ROUTES) {
    const subtrees = new Map<string, Route>();
    for (const r of routes) (r.pattern.endsWith("/") ? subtrees : this.#exact).set(r.pattern, r);
    this.#subtrees = [...subtrees.values()].sort((a, b) => b.pattern.length - a.pattern.length);
  }

  /** The route for `path`, or `undefined` when none matches (the catch-all then applies). */
  match(path: string): Route | undefined {
    const exact = this.#exact.get(path);
    if (exact) return exact;
    return this.#subtrees.find((r) => path.startsWith(r.pattern));
  }
}
