/**
 * `GET /api/admin/logs?lines=N`: the newest N lines of the hub's log ring, oldest first
 * (spec hub-http-api.md §5.7): `{"lines":[...]}`, never null; N defaults to 100 and a value
 * that is not a positive integer means the default. Auth first, then the method (405 JSON).
 *
 * @module
 */
import { parseLines } from "../../log_ring.ts";
import type { HttpContext } from "../context.ts";
import { json } from "../context.ts";
import { adminGate, adminPreflight, methodNotAllowed } from "./common.ts";

/**
 * Answers `/api/admin/logs`.
 * @param ctx the hub's HTTP context (its log ring).
 * @param req the request.
 * @param url its parsed URL (`?lines=`).
 */
export function logs(ctx: HttpContext, req: Request, url: URL): Response {
  if (req.method === "OPTIONS") return adminPreflight(req);
  const caller = adminGate(ctx, req, url);
  if (caller instanceof Response) return caller;
  if (req.method !== "GET") return methodNotAllowed("GET, OPTIONS", caller.cors);
  return json(
    200,
    { lines: ctx.logs.tail(parseLines(url.searchParams.get("lines"))) },
    caller.cors,
  );
}
