/**
 * Portal registrations `/api/admin/portals` (spec hub-http-api.md §5.4, §11): GET lists them,
 * POST registers the hub with a portal (outbound, {@link registerWithPortal}) and stores the
 * sync token, DELETE forgets one locally (`/api/admin/portals/{name}` or `?name=`; the path
 * form wins). Auth before the method check (§1.4).
 *
 * @module
 */
import { escapeForLog, logger } from "../../../log/mod.ts";
import { PortalRegistrationError, registerWithPortal } from "../../portal_client.ts";
import type { HttpContext } from "../context.ts";
import { json } from "../context.ts";
import {
  adminGate,
  adminPreflight,
  guarded,
  methodNotAllowed,
  parseObject,
  pathRest,
  readBody,
} from "./common.ts";

const log = logger("hub");

/**
 * Answers `/api/admin/portals` and `/api/admin/portals/...`.
 * @param ctx the hub's HTTP context (its name, id, store).
 * @param req the request.
 * @param url its parsed URL.
 */
export async function portals(ctx: HttpContext, req: Request, url: URL): Promise<Response> {
  if (req.method === "OPTIONS") return adminPreflight(req);
  const caller = adminGate(ctx, req, url);
  if (caller instanceof Response) return caller;
  const { cors, actor } = caller;
  switch (req.method) {
    case "GET": {
      const list = Object.entries(ctx.store.portals())
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, p]) => ({
          name,
          url: p.url,
          hubDirectory: p.hubDirectory ?? "",
          hasSyncToken: !!p.syncToken,
        }));
      return json(200, { portals: list }, cors);
    }
    case "POST": {
      const text = await readBody(req, cors);
      if (text instanceof Response) return text;
      const body = parseObject(text);
      const str = (k: string) => (typeof body?.[k] === "string" ? body[k] as string : "");
      const name = str("name");
      const portalUrl = str("portalUrl");
      const hubUrl = str("hubUrl");
      if (!name || !portalUrl || !hubUrl) {
        return json(400, { error: "name, portalUrl, and hubUrl are required" }, cors);
      }
      if (!ctx.hubName) {
        // Go says "(set HUB_NAME or name in config)" (spec §5.4): HUB_NAME is not read by
        // our hub, so the text names the settings that do set the name.
        return json(400, {
          error:
            "hub name not configured: set name: in telahubd.yaml or TELAHUBD_NAME, then restart the hub",
        }, cors);
      }
      let reg;
      try {
        reg = await registerWithPortal({
          portalUrl,
          portalToken: str("portalToken") || undefined,
          hubName: ctx.hubName,
          hubUrl,
          hubId: ctx.hubId || undefined,
          viewerToken: ctx.auth().viewerToken,
        });
      } catch (err) {
        const msg = err instanceof PortalRegistrationError
          ? err.message
          : `registration failed: ${(err as Error).message}`;
        log.warn(`portal ${escapeForLog(name)}: ${escapeForLog(msg)}`);
        return json(502, { error: msg }, cors);
      }
      return guarded(cors, () => {
        const status = ctx.store.setPortal(
          name,
          { url: reg.url, syncToken: reg.syncToken, hubDirectory: reg.hubDirectory, hubUrl },
          actor,
        );
        log.info(`registered with portal ${escapeForLog(name)} at ${escapeForLog(reg.url)}`);
        // Go writes these keys from a map: sorted.
        return json(201, {
          hasSyncToken: true,
          hubDirectory: reg.hubDirectory,
          name,
          status,
          url: reg.url,
        }, cors);
      }, ctx.store);
    }
    case "DELETE": {
      const fromPath = url.pathname.startsWith("/api/admin/portals/")
        ? pathRest(url, "/api/admin/portals/")
        : "";
      if (fromPath === undefined) return json(400, { error: "invalid path" }, cors);
      const name = fromPath || url.searchParams.get("name") || "";
      if (!name) return json(400, { error: "name query param is required" }, cors);
      return guarded(cors, () => {
        ctx.store.removePortal(name, actor);
        return json(200, { name, status: "removed" }, cors);
      }, ctx.store);
    }
    default:
      return methodNotAllowed("GET, POST, DELETE, OPTIONS", cors);
  }
}
