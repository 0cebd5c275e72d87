/**
 * The hub's HTTP route table (spec hub-http-api.md §1.2), one entry per path pattern and
 * one file per area. Patterns follow Go's `ServeMux`: a pattern ending in `/` matches the
 * whole subtree, any other only itself; the longest pattern wins. The WebSocket endpoint and
 * the console catch-all stay outside the table (`http.ts`).
 *
 * Areas still to come (admin, pair) add rows here and a file beside this one.
 *
 * @module
 */
import type { HttpContext } from "./context.ts";
import { history } from "./history.ts";
import { status } from "./status.ts";
import { wellKnown } from "./well_known.ts";

/** The areas of the API; each has its own file under `lib/hub/api/`. */
export type RouteArea = "well-known" | "status" | "history" | "admin" | "pair";

/** A route handler: the hub's parts, the request and its parsed URL. */
export type RouteHandler = (
  ctx: HttpContext,
  req: Request,
  url: URL,
) => Response | Promise<Response>;

/** One row of the table. */
export interface Route {
  /** An exact path, or a subtree when it ends in `/`. */
  pattern: string;
  area: RouteArea;
  handle: RouteHandler;
}

/** The routes of this version (§1.2; admin and pair are later issues). */
export const ROUTES: readonly Route[] = [
  { pattern: "/.well-known/tela", area: "well-known", handle: wellKnown },
  { pattern: "/api/status", area: "status", handle: status },
  { pattern: "/status", area: "status", handle: status },
  { pattern: "/api/admin/status", area: "status", handle: status },
  { pattern: "/api/history", area: "history", handle: history },
  { pattern: "/api/admin/history", area: "history", handle: history },
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
