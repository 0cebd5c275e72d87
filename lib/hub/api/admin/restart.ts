/**
 * `POST /api/admin/restart` (spec hub-http-api.md §5.8): answers 200
 * `{"message":"restarting","ok":true}`, then about {@link RESTART_DELAY_MS} later the hub
 * stops and starts again with the same arguments (see `lib/hub/restart.ts`). Auth first, then
 * the method (405 JSON). A hub running inside another program (tests) has no restart hook and
 * answers 501 `{"error":"restart is not available in this process"}`.
 *
 * @module
 */
import { escapeForLog, logger } from "../../../log/mod.ts";
import type { HttpContext } from "../context.ts";
import { json } from "../context.ts";
import { adminGate, adminPreflight, methodNotAllowed } from "./common.ts";

const log = logger("hub");

/** Delay between the answer and the restart, ms (Go: ~500 ms, so the answer gets out). */
export const RESTART_DELAY_MS = 500;

/**
 * Answers `/api/admin/restart`.
 * @param ctx the hub's HTTP context (its restart hook).
 * @param req the request.
 * @param url its parsed URL.
 */
export function restart(ctx: HttpContext, req: Request, url: URL): Response {
  if (req.method === "OPTIONS") return adminPreflight(req);
  const caller = adminGate(ctx, req, url);
  if (caller instanceof Response) return caller;
  if (req.method !== "POST") return methodNotAllowed("POST, OPTIONS", caller.cors);
  const hook = ctx.restart;
  if (!hook) return json(501, { error: "restart is not available in this process" }, caller.cors);
  log.info(`restart requested by ${escapeForLog(caller.id)}`);
  setTimeout(hook, RESTART_DELAY_MS);
  return json(200, { message: "restarting", ok: true }, caller.cors);
}
