/**
 * `GET /api/history` (alias `/api/admin/history`): the event history, filtered by what the
 * caller may view (spec hub-http-api.md §4.2, §7). Audit events of access changes
 * (`admin-change`, issue 10 decision 4) are shown to owner and admin callers only; everyone
 * else sees the machine events (connections and denials) of the machines they may view,
 * without the `identity` field: who connected where is for owners and admins (issue 10 fix
 * round; the console's public viewer token must not reveal identity names).
 * @module
 */
import { ADMIN_EVENTS, rfc3339 } from "../history.ts";
import { type HttpContext, json, preflight, PUBLIC_CORS, readGate } from "./context.ts";

/**
 * Answers `/api/history`; every method but OPTIONS behaves like GET (§1.4).
 * @param ctx the hub's HTTP context.
 * @param req the request.
 * @param url its parsed URL.
 */
export function history(ctx: HttpContext, req: Request, url: URL): Response {
  if (req.method === "OPTIONS") return preflight();
  const r = readGate(ctx, req, url, "events");
  if (r instanceof Response) return r;
  const admin = r.auth.isOwnerOrAdmin(r.token);
  let events = ctx.history.list((e) =>
    ADMIN_EVENTS.has(e.event) ? admin : !r.auth.enabled || r.auth.canView(r.token, e.machineId)
  );
  if (!admin) {
    events = events.map((e) => {
      if (e.identity === undefined) return e;
      const { identity: _, ...rest } = e;
      return rest;
    });
  }
  return json(200, { events, timestamp: rfc3339(new Date()) }, PUBLIC_CORS);
}
