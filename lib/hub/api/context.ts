/**
 * What every HTTP route of the hub receives, and the response helpers they share
 * (spec hub-http-api.md §1.3 response conventions, §3 CORS, §2.6 read gate).
 *
 * @module
 */
import { escapeForLog, logger } from "../../log/mod.ts";
import { type HubAuth, requestToken } from "../auth.ts";
import type { History } from "../history.ts";
import type { AccessStore } from "../access/types.ts";
import type { Hub } from "../hub.ts";
import type { WebSocketUpgrader } from "../front_end.ts";
import type { LogRing } from "../log_ring.ts";
import type { PairingCodes } from "../pairing.ts";

const log = logger("hub");

/** What the routes need from the running hub. */
export interface HttpContext {
  hub: Hub;
  /** The current decision view (`store.auth()`). */
  auth: () => HubAuth;
  /** Identities, grants, pairing and portals (issue 10). */
  store: AccessStore;
  history: History;
  hubId: string;
  hubName: string;
  /** `performance.now()` at start, ms. */
  startedAt: number;
  /** Console files for GET/HEAD paths no API route takes; `null` = not a console path. */
  console: (req: Request) => Response | Promise<Response> | null;
  /** The front end's WebSocket upgrade (size limits, mask check, idle pings). */
  upgradeWebSocket: WebSocketUpgrader;
  /**
   * Longest time a cached `/api/status` body is served while nothing changed, ms
   * (default {@link STATUS_MAX_AGE_MS}).
   */
  statusMaxAgeMs?: number;
  /** How long an agent management request waits for the agent, ms (default 30 000, spec §8.1). */
  mgmtTimeoutMs?: number;
  /** Live pairing codes (`/api/admin/pair-code`, `/api/pair`). */
  pairing: PairingCodes;
  /** The hub's log ring (`/api/admin/logs`). */
  logs: LogRing;
  /**
   * Stops the hub and starts it again with the same arguments (`/api/admin/restart`); only
   * the `telahubd` command sets it, so an in-process hub answers 501 instead of ending its
   * host process.
   */
  restart?: () => void;
}

/** Default for {@link HttpContext.statusMaxAgeMs}: one second, the resolution of `uptime`. */
export const STATUS_MAX_AGE_MS = 1000;

/** CORS headers of the public endpoints (§3). */
export const PUBLIC_CORS: Readonly<Record<string, string>> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
  "Access-Control-Allow-Headers": "Content-Type, Authorization",
};

/**
 * JSON as Go's encoder writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped,
 * newline-terminated; `indent` 2 for status and well-known (spec §1.3).
 * @param value any JSON-serialisable value.
 * @param indent spaces per level; undefined for one line.
 */
export function goJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[<>&\u2028\u2029]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  ) + "\n";
}

/**
 * A JSON response (`Content-Type: application/json`, no charset, §1.3).
 * @param status the HTTP status code.
 * @param body any JSON-serialisable value, written by {@link goJson}.
 * @param headers extra response headers (CORS for public endpoints).
 * @param indent spaces per level; undefined for one line.
 */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  indent?: number,
): Response {
  return new Response(goJson(body, indent), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/**
 * A plain-text response (`text/plain; charset=utf-8`).
 * @param status the HTTP status code.
 * @param body the text, sent as it is.
 * @param headers extra response headers.
 */
export function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", ...headers },
  });
}

/** The 204 answer to a CORS preflight of a public endpoint. */
export function preflight(): Response {
  return new Response(null, { status: 204, headers: PUBLIC_CORS });
}

/** The caller of a read endpoint, once the read gate let it through. */
export interface Reader {
  auth: HubAuth;
  token: string | undefined;
  /** The caller's token, `""` in open mode: callers with the same key see the same machines. */
  key: string;
}

/**
 * The read gate of `/api/status` and `/api/history` (§2.6): with auth enabled, any valid
 * token passes; otherwise 401 `{"error":"auth_required", <emptyKey>: []}`.
 * @returns the reader, or the 401 response.
 * @param ctx the hub's HTTP context (its auth).
 * @param req the request (`Authorization: Bearer`).
 * @param url its URL (the deprecated `?token=`, logged when used).
 * @param emptyKey the list key of the endpoint's 401 body.
 */
export function readGate(
  ctx: HttpContext,
  req: Request,
  url: URL,
  emptyKey: "machines" | "events" | "hubs",
): Reader | Response {
  const auth = ctx.auth();
  const found = requestToken(req, url);
  if (found?.source === "query") {
    log.warn(`?token= query authentication is deprecated (from ${escapeForLog(url.pathname)})`);
  }
  let key = "";
  if (auth.enabled) {
    const id = auth.identity(found?.token);
    if (!id || !id.id) {
      return json(401, { error: "auth_required", [emptyKey]: [] }, PUBLIC_CORS);
    }
    key = found!.token;
  }
  return { auth, token: found?.token, key };
}
