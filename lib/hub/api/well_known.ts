/**
 * `GET /.well-known/tela`: the hub discovery document (spec hub-http-api.md §4.3, with the
 * §14.1 `capabilities`).
 * @module
 */
import { type HttpContext, json, preflight, PUBLIC_CORS, text } from "./context.ts";

/**
 * Answers `/.well-known/tela`: GET and OPTIONS only (HEAD included in the 405s, §1.4).
 * @param ctx the hub's HTTP context (its hubId).
 * @param req the request.
 */
export function wellKnown(ctx: HttpContext, req: Request): Response {
  if (req.method === "OPTIONS") return preflight();
  if (req.method !== "GET") return text(405, "method not allowed\n", PUBLIC_CORS);
  const body: Record<string, unknown> = {};
  if (ctx.hubId) body.hubId = ctx.hubId;
  // Service filters on connect grants are enforced (spec §14.1); `tela admin access grant
  // -services` sends a filter only to hubs that say so.
  body.capabilities = ["per-service-access-control"];
  body.protocolVersion = "1.1";
  body.supportedVersions = ["1.1"];
  return json(200, body, PUBLIC_CORS, 2);
}
