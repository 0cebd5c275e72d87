/**
 * `GET /api/status` (aliases `/status`, `/api/admin/status`): the hub and its machines
 * (spec hub-http-api.md §4.1).
 *
 * Cost is bounded (issue 9): building the body sorts and serialises every machine, so a
 * client polling in a tight loop (the public console viewer token is enough) used to take the
 * event loop from the relay. The body is built at most once per caller view per
 * {@link HttpContext.statusMaxAgeMs} unless the registry changed (a machine registered,
 * disconnected, pruned, a session opened or closed), and carries an `ETag`; a request whose
 * `If-None-Match` names it gets `304 Not Modified` with no body.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import type { HubAuth } from "../auth.ts";
import { rfc3339 } from "../history.ts";
import { goPlatform, HUB_VERSION } from "../version.ts";
import {
  goJson,
  type HttpContext,
  preflight,
  PUBLIC_CORS,
  type Reader,
  readGate,
  STATUS_MAX_AGE_MS,
} from "./context.ts";

interface Cached {
  body: string;
  etag: string;
  /** `performance.now()` when built, ms. */
  builtAt: number;
  /** Registry version it was built from. */
  version: number;
}

/** Cached bodies of one hub: per auth snapshot, per caller view. */
class StatusCache {
  auth?: HubAuth;
  readonly views = new Map<string, Cached>();
}

const caches = new WeakMap<HttpContext, StatusCache>();

function build(ctx: HttpContext, r: Reader, version: number, now: number): Cached {
  const date = new Date();
  const { os, arch } = goPlatform();
  const body: Record<string, unknown> = {
    hub: {
      arch,
      goVersion: `deno ${Deno.version.deno}`,
      hostname: hostname(),
      os,
      uptime: Math.floor((now - ctx.startedAt) / 1000),
      version: HUB_VERSION,
    },
  };
  if (ctx.hubId) body.hubId = ctx.hubId;
  if (ctx.hubName) body.hubName = ctx.hubName;
  body.machines = ctx.hub.machineList(
    (name) => r.auth.canView(r.token, name),
    date,
    (name) => r.auth.connectServices(r.token, name),
  );
  body.timestamp = rfc3339(date);
  const text = goJson(body, 2);
  const etag = `"${createHash("sha1").update(text).digest("hex").slice(0, 20)}"`;
  return { body: text, etag, builtAt: now, version };
}

/** True when an `If-None-Match` list names `etag` (weak comparison, RFC 9110 §13.1.2). */
function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(",").some((t) => {
    const v = t.trim();
    return v === "*" || v === etag || v === `W/${etag}`;
  });
}

/**
 * Answers `/api/status`; every method but OPTIONS behaves like GET (§1.4).
 * @param ctx the hub's HTTP context.
 * @param req the request (`If-None-Match` gets 304 when the ETag matches, RFC 9110 §13.1.2).
 * @param url its parsed URL.
 */
export function status(ctx: HttpContext, req: Request, url: URL): Response {
  if (req.method === "OPTIONS") return preflight();
  const r = readGate(ctx, req, url, "machines");
  if (r instanceof Response) return r;
  let cache = caches.get(ctx);
  if (!cache) caches.set(ctx, cache = new StatusCache());
  if (cache.auth !== r.auth) {
    cache.auth = r.auth; // tokens or ACLs changed: every view may differ
    cache.views.clear();
  }
  const now = performance.now();
  const maxAge = ctx.statusMaxAgeMs ?? STATUS_MAX_AGE_MS;
  let c = cache.views.get(r.key);
  if (!c || c.version !== ctx.hub.registry.version || now - c.builtAt >= maxAge) {
    ctx.hub.pruneOffline(); // before reading the version, so a prune is part of this build
    c = build(ctx, r, ctx.hub.registry.version, now);
    cache.views.set(r.key, c);
  }
  const headers = { ...PUBLIC_CORS, ETag: c.etag };
  if (matches(req.headers.get("if-none-match"), c.etag)) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(c.body, {
    status: 200,
    headers: { "Content-Type": "application/json", ...headers },
  });
}
