/**
 * What every admin endpoint shares (spec hub-http-api.md §2.6 admin gate, §3 admin CORS with
 * the §14.1 additions, §1.4 method rules, §0 body limit): the gate, the CORS headers, body
 * reading, store errors as JSON, `ETag`s and the audit record.
 *
 * Departures from Go v0.14, on purpose:
 * - A missing, unknown, revoked or expired token gets **401** `{"error": ...}` with
 *   `WWW-Authenticate: Bearer` (issue 10; Go answers 403 for all of these, spec §2.6 and
 *   Open question 10). A valid token without the owner/admin role still gets 403
 *   `{"error":"forbidden"}`, and so does every caller in open mode (the admin API is off
 *   without auth, as in Go).
 * - Every error body is JSON, including the 405s Go sends empty (clients check the status).
 * - Every admin response carries the admin CORS headers when the request had an `Origin`
 *   (Go leaves them off many error paths, §3).
 * - Owner-only operations (book, Appendix C: owner "Can create/remove other owners"; admin
 *   "Full access ... except owner-only operations"; Go has none, spec §2.5): an admin caller
 *   gets 403 `{"error":"only an owner can <action>"}` for creating an owner token or an
 *   owner pairing code, promoting anyone to owner, and rotating, revoking, removing,
 *   demoting or renaming an owner ({@link ownerOnly}). Admins may create admins (admin
 *   tokens, admin pairing codes, promotion to admin): only owners are reserved.
 * - A body over {@link ADMIN_BODY_LIMIT} is refused with **413**
 *   `{"error":"request body too large (limit 4096 bytes)"}` (Go cuts the body and reports
 *   the JSON error of the truncated text, usually a misleading 400).
 *
 * @module
 */
import { escapeForLog, logger } from "../../../log/mod.ts";
import { AccessError, type AccessStore, type Actor, PersistError } from "../../access/types.ts";
import { type HubRole, requestToken } from "../../auth.ts";
import { type HttpContext, json } from "../context.ts";

const log = logger("hub");

/** Largest admin request body read, bytes (spec §0: tokens, portals, access PATCH/PUT). */
export const ADMIN_BODY_LIMIT = 4096;

/**
 * Admin CORS headers (spec §3 with §14.1): only when the request has an `Origin`, reflected.
 * @param req the request.
 */
export function adminCors(req: Request): Record<string, string> {
  const origin = req.headers.get("origin");
  if (origin === null) return {};
  return {
    "Access-Control-Allow-Origin": origin,
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, If-Match",
    "Access-Control-Expose-Headers": "ETag",
    "Vary": "Origin",
  };
}

/**
 * The 204 answer to a preflight of an admin endpoint (before any auth check, spec §3).
 * @param req the request (its `Origin`).
 */
export function adminPreflight(req: Request): Response {
  return new Response(null, { status: 204, headers: adminCors(req) });
}

/**
 * 405 `{"error":"method not allowed"}` with `Allow` (spec §1.4 statuses; JSON body always).
 * @param allow the methods the endpoint takes, e.g. `GET, POST`.
 * @param cors headers to add (admin CORS, or none for pair-code and `/api/pair`).
 */
export function methodNotAllowed(allow: string, cors: Record<string, string> = {}): Response {
  return json(405, { error: "method not allowed" }, { ...cors, Allow: allow });
}

/** An owner or admin that passed the gate. */
export interface Caller {
  /** Identity id. */
  id: string;
  role: HubRole;
  /** The actor every mutation passes to the store. */
  actor: Actor;
  /** Admin CORS headers for the responses to this request. */
  cors: Record<string, string>;
}

/**
 * The admin gate (spec §2.6 `isOwnerOrAdmin`, with issue 10's 401 for unauthenticated
 * callers): owner or admin passes; a valid token of another role gets 403
 * `{"error":"forbidden"}`; a missing, unknown, revoked or expired token gets 401; open mode
 * gets 403.
 * @param ctx the hub's HTTP context.
 * @param req the request (`Authorization: Bearer`, cookie `tela_viewer`, `?token=`).
 * @param url its parsed URL.
 * @returns the caller, or the refusal to send.
 */
export function adminGate(ctx: HttpContext, req: Request, url: URL): Caller | Response {
  const cors = adminCors(req);
  const auth = ctx.auth();
  if (!auth.enabled) return json(403, { error: "forbidden" }, cors);
  const found = requestToken(req, url);
  if (found?.source === "query") {
    log.warn(`?token= query authentication is deprecated (from ${escapeForLog(url.pathname)})`);
  }
  const unauthenticated = (error: string) =>
    json(401, { error }, { ...cors, "WWW-Authenticate": 'Bearer realm="telahubd"' });
  if (!found || found.token === "") return unauthenticated("authentication required");
  const id = auth.identity(found.token);
  if (!id || !id.id || !live(ctx, id.id)) return unauthenticated("invalid token");
  if (id.role !== "owner" && id.role !== "admin") {
    // `identity` beside the spec's `error`: the caller holds this token, so naming its own
    // identity tells it nothing new, and lets `tela admin` say whose token it is (Go clients
    // read only `error`).
    return json(403, { error: "forbidden", identity: id.id }, cors);
  }
  return { id: id.id, role: id.role, actor: { id: id.id, via: "api" }, cors };
}

/** False when the store lists the identity as revoked or expired (belt and braces). */
function live(ctx: HttpContext, id: string): boolean {
  let e;
  try {
    e = ctx.store.get(id);
  } catch {
    return true; // the auth view knows it; the store's view decides nothing more
  }
  if (e.revokedAt) return false;
  if (e.expiresAt && Date.parse(e.expiresAt) <= Date.now()) return false;
  return true;
}

/**
 * Reads a request body up to `limit` bytes.
 * @param req the request.
 * @param cors headers for the refusal.
 * @param limit largest body accepted, bytes; `undefined` = what the front end allows.
 * @returns the text, or a 413 / 400 `{"error":"read request"}` response.
 */
export async function readBody(
  req: Request,
  cors: Record<string, string>,
  limit: number | undefined = ADMIN_BODY_LIMIT,
): Promise<string | Response> {
  let buf: Uint8Array;
  try {
    buf = new Uint8Array(await req.arrayBuffer());
  } catch {
    return json(400, { error: "read request" }, cors);
  }
  if (limit !== undefined && buf.length > limit) {
    return json(413, { error: `request body too large (limit ${limit} bytes)` }, cors);
  }
  return new TextDecoder().decode(buf);
}

/**
 * Parses a JSON object body.
 * @param text the body text.
 * @returns the object, or `undefined` when the text is not a JSON object.
 */
export function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs a store call and turns an {@link AccessError} into its JSON response; any other error
 * is logged and answered 500 `{"error":"internal error"}`. With `store`, a successful (2xx)
 * answer is sent only once the change is on disk; a failed write is answered 500
 * `{"error":"persist config: <detail>"}` (the change is live in memory; the store writes it
 * again with the next change).
 * @param cors headers for every response.
 * @param fn the call; returns the success response.
 * @param store the store whose write of the change is awaited.
 */
export async function guarded(
  cors: Record<string, string>,
  fn: () => Response | Promise<Response>,
  store?: Pick<AccessStore, "changeMark" | "persisted">,
): Promise<Response> {
  const mark = store?.changeMark();
  try {
    const res = await fn();
    if (store && res.status >= 200 && res.status < 300) await store.persisted(mark);
    return res;
  } catch (err) {
    if (err instanceof AccessError) return json(err.status, err.body, cors);
    if (err instanceof PersistError) return json(500, { error: err.message }, cors);
    log.error(`admin API: ${(err as Error).stack ?? err}`);
    return json(500, { error: "internal error" }, cors);
  }
}

/**
 * The `ETag` header of an access entry version (spec §14.1).
 * @param version the entry's version.
 */
export function etag(version: number): Record<string, string> {
  return { ETag: `"${version}"` };
}

/**
 * The `If-Match` header value, passed to the store as it came (the store parses it).
 * @param req the request.
 */
export function ifMatch(req: Request): string | undefined {
  return req.headers.get("if-match") ?? undefined;
}

/**
 * The path below `prefix`, percent-decoded as Go's handlers see it (spec §1.2: `%2F` is `/`).
 * @param url the request URL.
 * @param prefix the route prefix, e.g. `/api/admin/access/`.
 * @returns the decoded rest, or `undefined` when it is not valid percent-encoding.
 */
export function pathRest(url: URL, prefix: string): string | undefined {
  const raw = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : "";
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * Go `ServeMux`'s answer to a subtree root asked for without its slash (spec §1.2).
 * @param url the request URL.
 */
export function redirectToSlash(url: URL): Response {
  const to = url.pathname + "/" + url.search;
  return new Response(`<a href="${to}">Moved Permanently</a>.\n\n`, {
    status: 301,
    headers: { Location: to, "Content-Type": "text/html; charset=utf-8" },
  });
}

/**
 * Records an admin change in the history (decision 4: event `admin-change`, the actor's
 * identity id, never a token), for changes the store does not record itself.
 * @param ctx the hub's HTTP context.
 * @param machineId the machine concerned, or `""`.
 * @param detail what changed, e.g. `pair-code connect machines=*`.
 * @param actor who did it.
 */
export function audit(ctx: HttpContext, machineId: string, detail: string, actor: Actor): void {
  ctx.history.record(machineId, "admin-change", detail, { identity: actor.id });
}

/**
 * The refusal of an owner-only operation to a caller who is not an owner (book, Appendix C),
 * or `undefined` when the caller may go on.
 * @param caller the gate's caller.
 * @param action what was refused, completing "only an owner can ...", e.g. `remove an owner`.
 * @returns 403 `{"error":"only an owner can <action>"}`, or `undefined`.
 */
export function ownerOnly(caller: Caller, action: string): Response | undefined {
  if (caller.role === "owner") return undefined;
  log.info(
    `admin API: ${escapeForLog(caller.id)} (${caller.role}) refused: only an owner can ${action}`,
  );
  return json(403, { error: `only an owner can ${action}`, identity: caller.id }, caller.cors);
}

/**
 * True when an identity named `id` has the owner role (any entry of that name: a removal
 * takes them all).
 * @param ctx the hub's HTTP context (its store).
 * @param id the identity id.
 */
export function isOwner(ctx: HttpContext, id: string): boolean {
  return ctx.store.list().some((e) => e.id === id && e.role === "owner");
}

/**
 * {@link ownerOnly} when identity `id` is an owner, else `undefined`.
 * @param ctx the hub's HTTP context.
 * @param caller the gate's caller.
 * @param id the identity acted on.
 * @param action completes "only an owner can ...".
 */
export function ownerTarget(
  ctx: HttpContext,
  caller: Caller,
  id: string,
  action: string,
): Response | undefined {
  return caller.role !== "owner" && isOwner(ctx, id) ? ownerOnly(caller, action) : undefined;
}
