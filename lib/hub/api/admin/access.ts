/**
 * The unified access resource `/api/admin/access` (spec hub-http-api.md §5.6 with §14.1
 * services, versions, `ETag`/`If-Match`, role PATCH, and §14.2 last-owner protection):
 *
 * | Method & path | Result |
 * |---|---|
 * | `GET /api/admin/access` | 200 `{"access":[entry...]}` |
 * | `GET /api/admin/access/{id}` | 200 entry + `ETag` |
 * | `PATCH /api/admin/access/{id}` | rename and/or role; 200 `{"id","status":"updated","version"}` |
 * | `DELETE /api/admin/access/{id}` | 200 `{"id","status":"removed"}`; 409 last owner |
 * | `PUT /api/admin/access/{id}/machines/{m}` | `{"permissions":[...],"services"?:[...]}` |
 * | `DELETE /api/admin/access/{id}/machines/{m}` | 200 `{"id","machineId","status":"revoked"}` |
 *
 * `{id}` is the decoded path up to the first `/machines/`; `{m}` is the rest (may hold `/`).
 * Auth is checked before the method (§1.4).
 *
 * @module
 */
import type { HttpContext } from "../context.ts";
import { json } from "../context.ts";
import {
  adminGate,
  adminPreflight,
  type Caller,
  etag,
  guarded,
  ifMatch,
  methodNotAllowed,
  parseObject,
  pathRest,
  readBody,
} from "./common.ts";

/** A JSON array of strings, or `undefined` for anything else. */
function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === "string") ? v as string[] : undefined;
}

/**
 * Answers `/api/admin/access` and everything below it.
 * @param ctx the hub's HTTP context.
 * @param req the request.
 * @param url its parsed URL.
 */
export async function access(ctx: HttpContext, req: Request, url: URL): Promise<Response> {
  if (req.method === "OPTIONS") return adminPreflight(req);
  const caller = adminGate(ctx, req, url);
  if (caller instanceof Response) return caller;
  const { cors, actor } = caller;
  const rest = url.pathname === "/api/admin/access" ? "" : pathRest(url, "/api/admin/access/");
  if (rest === undefined) return json(400, { error: "invalid path" }, cors);
  if (rest === "") {
    if (req.method !== "GET") return methodNotAllowed("GET, OPTIONS", cors);
    return json(200, { access: ctx.store.list() }, cors);
  }
  const at = rest.indexOf("/machines/");
  if (at < 0) return identity(ctx, req, rest, caller);
  const id = rest.slice(0, at);
  const machineId = rest.slice(at + "/machines/".length);
  if (machineId === "") return json(400, { error: "machineId required" }, cors);
  if (req.method === "PUT") {
    const text = await readBody(req, cors);
    if (text instanceof Response) return text;
    const body = parseObject(text);
    const permissions = body?.permissions === undefined || body.permissions === null
      ? null
      : stringList(body.permissions);
    const services = body?.services === undefined || body.services === null
      ? undefined
      : stringList(body.services);
    if (
      !body || permissions === undefined ||
      (body.services !== undefined && body.services !== null && services === undefined)
    ) {
      return json(400, { error: "invalid body" }, cors);
    }
    return guarded(cors, () => {
      const e = ctx.store.setMachine(
        id,
        machineId,
        permissions ?? [],
        services && services.length ? services : undefined,
        actor,
        ifMatch(req),
      );
      const out: Record<string, unknown> = { id, machineId, permissions };
      if (services && services.length) out.services = services;
      out.status = "updated";
      out.version = e.version;
      return json(200, out, { ...cors, ...etag(e.version) });
    }, ctx.store);
  }
  if (req.method === "DELETE") {
    return guarded(cors, () => {
      const e = ctx.store.revokeMachine(id, machineId, actor, ifMatch(req));
      return json(200, { id, machineId, status: "revoked", version: e.version }, {
        ...cors,
        ...etag(e.version),
      });
    }, ctx.store);
  }
  return methodNotAllowed("PUT, DELETE, OPTIONS", cors);
}

/** GET, PATCH, DELETE on one identity. */
async function identity(
  ctx: HttpContext,
  req: Request,
  id: string,
  { cors, actor }: Caller,
): Promise<Response> {
  switch (req.method) {
    case "GET":
      return guarded(cors, () => {
        const e = ctx.store.get(id);
        return json(200, e, { ...cors, ...etag(e.version) });
      }, ctx.store);
    case "DELETE":
      return guarded(cors, () => {
        ctx.store.remove(id, actor, ifMatch(req));
        return json(200, { id, status: "removed" }, cors);
      }, ctx.store);
    case "PATCH": {
      const text = await readBody(req, cors);
      if (text instanceof Response) return text;
      const body = parseObject(text);
      if (!body) return json(400, { error: "id field required" }, cors);
      const newId = body.id;
      const role = body.role;
      if (newId === undefined && role === undefined) {
        return json(400, { error: "specify at least one of id or role" }, cors);
      }
      if (newId !== undefined && typeof newId !== "string") {
        return json(400, { error: "id field required" }, cors);
      }
      if (newId === "") return json(400, { error: "id cannot be empty" }, cors);
      if (role !== undefined && typeof role !== "string") {
        return json(
          400,
          { error: "role must be one of owner, admin, viewer, or empty (user)" },
          cors,
        );
      }
      return guarded(cors, () => {
        const change: { id?: string; role?: string } = {};
        if (newId !== undefined) change.id = newId;
        if (role !== undefined) change.role = role;
        const e = ctx.store.update(id, change, actor, ifMatch(req));
        return json(200, { id: e.id, status: "updated", version: e.version }, {
          ...cors,
          ...etag(e.version),
        });
      }, ctx.store);
    }
    default:
      return methodNotAllowed("GET, PATCH, DELETE, OPTIONS", cors);
  }
}
