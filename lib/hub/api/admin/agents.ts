/**
 * `/api/admin/agents/{machine}/{action}`: management requests to an agent, relayed over its
 * control WebSocket (spec hub-http-api.md §5.9, §8.1; session-and-relay.md §2.14–2.15; book,
 * *Hub administration*, "Agent"). The hub never interprets `action`; the agent's
 * `mgmt-response` comes back verbatim with 200, whatever its `ok` says.
 *
 * Order (spec §8.1): OPTIONS → 204; a path without `{machine}/{action}` → 400; the caller
 * must hold `manage` on the machine (owner and admin always do; open mode lets everyone
 * through, as Go does) → else 403 `{"error":"manage permission required for <m>"}`; unknown
 * machine → 404; agent not connected → 503; POST/PUT body (when not empty) becomes the
 * request's `payload`; no answer within 30 s → 504; a failed write → 502.
 *
 * Also `GET /api/admin/agents/{machine}` (no action): the presence probe of spec §14.2 —
 * 200 `{"id","agentConnected","lastSeen"?}` for callers who may see the machine, else 404.
 *
 * Departures from Go v0.14, on purpose:
 * - A missing, unknown, revoked or expired token gets 401 (issue 10, as every admin
 *   endpoint here); a valid token without `manage` gets the spec's 403.
 * - A body over {@link AGENT_BODY_LIMIT} (1 MiB) → 413; a body that is not JSON → 400
 *   `{"error":"request body is not valid JSON: ..."}` (Go cannot build the message and
 *   answers 504 after 30 s).
 * - Actions that change something (everything but `config-get`, `logs`, `update-status` and
 *   `channel-sources-list`) are recorded in the history as `admin-change` with the caller's
 *   identity.
 *
 * @module
 */
import { escapeForLog, logger } from "../../../log/mod.ts";
import { requestToken } from "../../auth.ts";
import type { HttpContext } from "../context.ts";
import { json } from "../context.ts";
import { adminCors, adminPreflight, pathRest, readBody, redirectToSlash } from "./common.ts";

const log = logger("hub");

/** Route prefix. */
export const AGENTS_PREFIX = "/api/admin/agents/";

/** Largest request body relayed to an agent, bytes (1 MiB). */
export const AGENT_BODY_LIMIT = 1024 * 1024;

/** Actions that only read: not recorded in the history. */
const READ_ACTIONS = new Set(["config-get", "logs", "update-status", "channel-sources-list"]);

/**
 * Answers `/api/admin/agents` (301 to the slash form) and everything below it.
 * @param ctx the hub's HTTP context (its hub's management, registry and auth).
 * @param req the request.
 * @param url its parsed URL.
 */
export async function agents(ctx: HttpContext, req: Request, url: URL): Promise<Response> {
  if (url.pathname === "/api/admin/agents") return redirectToSlash(url);
  const cors = adminCors(req);
  if (req.method === "OPTIONS") return adminPreflight(req);
  const rest = pathRest(url, AGENTS_PREFIX) ?? "";
  const slash = rest.indexOf("/");
  const machine = slash < 0 ? rest : rest.slice(0, slash);
  const action = slash < 0 ? "" : rest.slice(slash + 1);
  if (machine && slash < 0 && req.method === "GET") return presence(ctx, req, url, machine);
  if (!machine || !action) {
    return json(400, { error: "expected /api/admin/agents/{machine}/{action}" }, cors);
  }
  const auth = ctx.auth();
  const found = requestToken(req, url);
  const token = found?.token || undefined;
  let who = "open mode";
  if (auth.enabled) {
    const st = auth.tokenState(token);
    if (st.state !== "ok") {
      return json(401, { error: token ? "invalid token" : "authentication required" }, {
        ...cors,
        "WWW-Authenticate": 'Bearer realm="telahubd"',
      });
    }
    who = st.identity.id;
    if (!auth.canManage(token, machine)) {
      log.info(
        `agent management refused: ${escapeForLog(who)} has no manage permission on ` +
          `${escapeForLog(machine)} (${escapeForLog(action)})`,
      );
      return json(403, { error: `manage permission required for ${machine}` }, cors);
    }
  }
  let payload: unknown;
  if (req.method === "POST" || req.method === "PUT") {
    const body = await readBody(req, cors, AGENT_BODY_LIMIT);
    if (body instanceof Response) return body;
    if (body.trim() !== "") {
      try {
        payload = JSON.parse(body);
      } catch (err) {
        return json(400, {
          error: `request body is not valid JSON: ${(err as Error).message}`,
        }, cors);
      }
    }
  } else if (req.body) {
    await req.body.cancel();
  }
  const r = await ctx.hub.mgmtRequest(machine, action, payload);
  log.info(
    `agent management: ${escapeForLog(action)} on ${escapeForLog(machine)} by ` +
      `${escapeForLog(who)}: HTTP ${r.status}`,
  );
  if (r.status === 200 && !READ_ACTIONS.has(action)) {
    ctx.history.record(machine, "admin-change", `agent ${action}`, {
      identity: auth.enabled ? who : undefined,
    });
  }
  return new Response(r.body, {
    status: r.status,
    headers: { "Content-Type": "application/json", ...cors },
  });
}

/**
 * `GET /api/admin/agents/{machine}` (spec §14.2): 200 `{"id","agentConnected","lastSeen"?}`
 * when the caller may see the machine (any caller in open mode), else 404
 * `{"error":"machine not found"}`, as for an unknown machine.
 */
function presence(ctx: HttpContext, req: Request, url: URL, machine: string): Response {
  const cors = adminCors(req);
  const auth = ctx.auth();
  const token = requestToken(req, url)?.token || undefined;
  const entry = ctx.hub.registry.byName(machine);
  if (!entry || (auth.enabled && !auth.canView(token, machine))) {
    return json(404, { error: "machine not found" }, cors);
  }
  const out: Record<string, unknown> = { id: entry.name, agentConnected: !!entry.control };
  if (entry.lastSeen) out.lastSeen = entry.lastSeen.toISOString().replace(/\.\d{3}Z$/, "Z");
  return json(200, out, cors);
}
