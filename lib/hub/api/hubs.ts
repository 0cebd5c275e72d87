/**
 * `GET /api/hubs` on the hub itself (book, Appendix A Admin API table: "Hub listing for
 * portal/CLI resolution", viewer+; the shape of Appendix D §3.1): a one-hub directory so a
 * client given the hub's URL as a "portal" resolves it. The Go v0.14 hub has no such route
 * (spec §1.2 doc drift); the book lists it, so we serve it.
 *
 * `{"hubs":[{"id":<hubId>,"name":<hubName>,"url":<public URL>,"canManage":<owner/admin>}]}`.
 * The public URL is rebuilt from the request: `X-Forwarded-Proto` (else `http`) and
 * `X-Forwarded-Host` (else `Host`). Read gate as `/api/status` (any valid token; 401
 * `{"error":"auth_required","hubs":[]}`), public CORS.
 *
 * @module
 */
import { type HttpContext, json, preflight, PUBLIC_CORS, readGate } from "./context.ts";

/** First value of a possibly comma-separated forwarding header. */
function first(v: string | null): string {
  return (v ?? "").split(",")[0].trim();
}

/**
 * The hub's public base URL as the client reached it.
 * @param req the request (`X-Forwarded-Proto`, `X-Forwarded-Host`, `Host`).
 * @param url its parsed URL (fallback host).
 */
export function publicUrl(req: Request, url: URL): string {
  const proto = first(req.headers.get("x-forwarded-proto")).toLowerCase();
  const scheme = proto === "https" || proto === "http" ? proto : "http";
  const host = first(req.headers.get("x-forwarded-host")) || req.headers.get("host") || url.host;
  return `${scheme}://${host}`;
}

/**
 * Answers `/api/hubs`: GET (and, like `/api/status`, any method but OPTIONS).
 * @param ctx the hub's HTTP context (hubId, hubName, auth).
 * @param req the request.
 * @param url its parsed URL.
 */
export function hubs(ctx: HttpContext, req: Request, url: URL): Response {
  if (req.method === "OPTIONS") return preflight();
  const r = readGate(ctx, req, url, "hubs");
  if (r instanceof Response) return r;
  return json(200, {
    hubs: [{
      id: ctx.hubId,
      name: ctx.hubName,
      url: publicUrl(req, url),
      canManage: r.auth.isOwnerOrAdmin(r.token),
    }],
  }, PUBLIC_CORS);
}
