/**
 * Token identities: `GET`/`POST /api/admin/tokens` (spec hub-http-api.md §5.1, §5.2 with the
 * §14.2 lifecycle fields), the book's `DELETE /api/admin/tokens/{id}` (Appendix A, Admin API;
 * the same as `DELETE /api/admin/access/{id}`), `POST /api/admin/tokens/{id}/revoke` (§14.2)
 * and `POST /api/admin/rotate/{id}` (§5.3).
 *
 * @module
 */
import type { HttpContext } from "../context.ts";
import { json } from "../context.ts";
import {
  adminCors,
  adminGate,
  adminPreflight,
  etag,
  guarded,
  ifMatch,
  methodNotAllowed,
  ownerOnly,
  ownerTarget,
  parseObject,
  pathRest,
  readBody,
  redirectToSlash,
} from "./common.ts";

const ROLE_ERROR = "role must be 'owner', 'admin', or omitted";
const EXPIRES_ERROR = "expiresAt must be RFC3339 (e.g. 2027-01-01T00:00:00Z)";

/** RFC 3339 date-time (`2027-01-01T00:00:00Z`, `...+08:00`, fractions allowed). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * `/api/admin/tokens`: GET lists identities (config order), POST creates one and answers 201
 * with the full token, the only time it is shown. Auth before the method check (§1.4).
 * @param ctx the hub's HTTP context.
 * @param req the request.
 * @param url its parsed URL.
 */
export async function tokens(ctx: HttpContext, req: Request, url: URL): Promise<Response> {
  if (req.method === "OPTIONS") return adminPreflight(req);
  const caller = adminGate(ctx, req, url);
  if (caller instanceof Response) return caller;
  const { cors } = caller;
  if (req.method === "GET") return json(200, { tokens: ctx.store.tokens() }, cors);
  if (req.method !== "POST") return methodNotAllowed("GET, POST, OPTIONS", cors);
  const text = await readBody(req, cors);
  if (text instanceof Response) return text;
  const body = parseObject(text);
  const id = body?.id;
  if (typeof id !== "string" || id === "") return json(400, { error: "id is required" }, cors);
  const role = body!.role ?? "";
  if (typeof role !== "string") return json(400, { error: ROLE_ERROR }, cors);
  const expiresAt = body!.expiresAt;
  if (
    expiresAt !== undefined && expiresAt !== null && expiresAt !== "" &&
    (typeof expiresAt !== "string" || !RFC3339.test(expiresAt) || isNaN(Date.parse(expiresAt)))
  ) {
    return json(400, { error: EXPIRES_ERROR }, cors);
  }
  if (role === "owner") {
    const refused = ownerOnly(caller, "create an owner token");
    if (refused) return refused;
  }
  return guarded(cors, () => {
    const { entry, token } = ctx.store.create(
      { id, role, expiresAt: typeof expiresAt === "string" && expiresAt ? expiresAt : undefined },
      caller.actor,
    );
    const out: Record<string, unknown> = { id: entry.id, role, token, version: entry.version };
    if (entry.issuedAt) out.issuedAt = entry.issuedAt;
    if (entry.expiresAt) out.expiresAt = entry.expiresAt;
    return json(201, out, { ...cors, ...etag(entry.version) });
  }, ctx.store);
}

/**
 * `/api/admin/tokens/{id}` (DELETE removes the identity, as the book's Admin API table
 * lists) and `/api/admin/tokens/{id}/revoke` (POST; §14.2). `{id}` may contain `/` (decoded
 * `%2F`): DELETE takes the whole rest as the id, POST splits off the last segment as the
 * action.
 * @param ctx the hub's HTTP context.
 * @param req the request.
 * @param url its parsed URL.
 */
export function tokenItem(ctx: HttpContext, req: Request, url: URL): Promise<Response> | Response {
  if (req.method === "OPTIONS") return adminPreflight(req);
  const caller = adminGate(ctx, req, url);
  if (caller instanceof Response) return caller;
  const { cors, actor } = caller;
  const rest = pathRest(url, "/api/admin/tokens/");
  if (rest === undefined) return json(400, { error: "invalid path" }, cors);
  if (rest === "") {
    return req.method === "GET"
      ? json(200, { tokens: ctx.store.tokens() }, cors)
      : methodNotAllowed("GET, OPTIONS", cors);
  }
  if (req.method === "DELETE") {
    const refused = ownerTarget(ctx, caller, rest, "remove an owner");
    if (refused) return refused;
    return guarded(cors, () => {
      ctx.store.remove(rest, actor, ifMatch(req));
      return json(200, { id: rest, status: "removed" }, cors);
    }, ctx.store);
  }
  const slash = rest.lastIndexOf("/");
  if (req.method !== "POST" || slash < 0) return methodNotAllowed("POST, DELETE, OPTIONS", cors);
  const id = rest.slice(0, slash);
  const action = rest.slice(slash + 1);
  if (action !== "revoke") return json(404, { error: `unknown action: ${action}` }, cors);
  if (id === "") return json(400, { error: "id is required in URL path" }, cors);
  const refused = ownerTarget(ctx, caller, id, "revoke an owner's token");
  if (refused) return refused;
  return guarded(cors, () => {
    const r = ctx.store.revoke(id, actor, ifMatch(req));
    const out: Record<string, unknown> = { status: r.status, id, revokedAt: r.entry.revokedAt };
    if (r.status === "revoked") out.version = r.entry.version;
    return json(200, out, { ...cors, ...etag(r.entry.version) });
  }, ctx.store);
}

/**
 * `POST /api/admin/rotate/{id}` (§5.3, §14.2): a new token for the identity, cascaded into
 * every ACL list including `manageTokens` (decision 6); clears `revokedAt`. The method is
 * checked before auth (§1.4). A new console viewer token is pushed to the registered portals
 * by the hub's change listener (server.ts, spec §11 viewer-token sync).
 * @param ctx the hub's HTTP context.
 * @param req the request.
 * @param url its parsed URL.
 */
export function rotate(ctx: HttpContext, req: Request, url: URL): Promise<Response> | Response {
  if (url.pathname === "/api/admin/rotate") return redirectToSlash(url);
  if (req.method === "OPTIONS") return adminPreflight(req);
  if (req.method !== "POST") return methodNotAllowed("POST, OPTIONS", adminCors(req));
  const caller = adminGate(ctx, req, url);
  if (caller instanceof Response) return caller;
  const { cors } = caller;
  const id = pathRest(url, "/api/admin/rotate/");
  if (id === undefined) return json(400, { error: "invalid path" }, cors);
  if (id === "") return json(400, { error: "id is required in URL path" }, cors);
  const refused = ownerTarget(ctx, caller, id, "rotate an owner's token");
  if (refused) return refused;
  return guarded(cors, () => {
    // A new console viewer token reaches the portals through the server's change listener
    // (spec §5.3, §11), like one changed by a `telahubd user` edit.
    const { entry, token } = ctx.store.rotate(id, caller.actor, ifMatch(req));
    return json(
      200,
      { id: entry.id, status: "rotated", token, version: entry.version },
      { ...cors, ...etag(entry.version) },
    );
  }, ctx.store);
}
