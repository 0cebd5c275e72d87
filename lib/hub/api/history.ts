/**
 * `GET /api/history` (alias `/api/admin/history`): the event history, filtered by what the
 * caller may view (spec hub-http-api.md §4.2, §7).
 * @module
 */
import { rfc3339 } from "../history.ts";
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
  const events = ctx.history.list(
    r.auth.enabled ? (e) => r.auth.canView(r.token, e.machineId) : undefined,
  );
  return json(200, { events, timestamp: rfc3339(new Date()) }, PUBLIC_CORS);
}
