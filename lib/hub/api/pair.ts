/**
 * `POST /api/pair`: trade a pairing code for a token (spec hub-http-api.md §4.4, §6.2; issue
 * 10 decision 5). No auth (the code is the credential), no CORS; anything but POST, OPTIONS
 * included, is 405. The success body has string values only (`telad` decodes it into a
 * string map): `{"token","identity","type"}`.
 *
 * Failed redemptions are limited per client address and hub-wide ({@link PairingCodes}); the
 * client address is the TCP peer, or, when the peer is a loopback address (a reverse proxy
 * on the same machine) and the request carries `X-Forwarded-For`, that header's last entry
 * (the address the proxy saw). A header from anywhere else is not trusted, so it cannot be
 * used to spread guesses over made-up addresses; the hub-wide limit holds in every case.
 *
 * The answer waits until the new identity is in `telahubd.yaml` and the used code is gone
 * from `telahubd.pairing.json`; when the config cannot be written the identity is live in
 * memory and the answer is 500 `{"error":"persist config"}` (spec §4.4, exactly).
 *
 * @module
 */
import { escapeForLog, logger } from "../../log/mod.ts";
import { AccessError, PersistError } from "../access/types.ts";
import { PairingError } from "../pairing.ts";
import type { HttpContext } from "./context.ts";
import { json } from "./context.ts";
import { methodNotAllowed, parseObject } from "./admin/common.ts";

const log = logger("hub");

/**
 * The address failed redemptions are counted against.
 * @param req the request (`X-Forwarded-For`).
 * @param info the connection (its peer address).
 */
export function clientAddress(req: Request, info?: Deno.ServeHandlerInfo): string {
  const peer = (info?.remoteAddr as Deno.NetAddr | undefined)?.hostname ?? "";
  const loopback = peer === "::1" || peer.startsWith("127.") || peer === "::ffff:127.0.0.1";
  const xff = req.headers.get("x-forwarded-for");
  if (loopback && xff) {
    const last = xff.split(",").map((s) => s.trim()).filter((s) => s).pop();
    if (last) return last;
  }
  return peer;
}

/**
 * Answers `POST /api/pair`.
 * @param ctx the hub's HTTP context (pairing codes, store).
 * @param req the request.
 * @param _url its parsed URL.
 * @param info the connection, for the client address.
 */
export async function pair(
  ctx: HttpContext,
  req: Request,
  _url: URL,
  info?: Deno.ServeHandlerInfo,
): Promise<Response> {
  if (req.method !== "POST") return methodNotAllowed("POST");
  let text: string;
  try {
    text = await req.text();
  } catch {
    return json(400, { error: "read request" });
  }
  const body = parseObject(text);
  if (!body) return json(400, { error: "invalid request" });
  const code = typeof body.code === "string" ? body.code : "";
  if (!code) return json(400, { error: "code is required" });
  const machineId = typeof body.machineId === "string" ? body.machineId : "";
  const client = clientAddress(req, info);
  const mark = ctx.store.changeMark();
  try {
    const r = ctx.pairing.redeem(code, machineId, client, ctx.store);
    // The identity is live; answer once it (and the code's consumption) is on disk.
    await ctx.pairing.flush();
    await ctx.store.persisted(mark);
    log.info(
      `pairing code redeemed from ${escapeForLog(client)}: ${r.type} identity ${
        escapeForLog(r.identity)
      }`,
    );
    return json(200, { token: r.token, identity: r.identity, type: r.type });
  } catch (err) {
    if (err instanceof PairingError) {
      if (err.status === 401 || err.status === 429) {
        log.warn(`pairing from ${escapeForLog(client)} refused: ${err.body.error}`);
      }
      return json(
        err.status,
        err.body,
        err.retryAfterS ? { "Retry-After": String(err.retryAfterS) } : {},
      );
    }
    if (err instanceof AccessError) return json(err.status, err.body);
    if (err instanceof PersistError) {
      // Spec §4.4: exactly this body (the in-memory change is already live).
      log.error(`pairing: the new identity is live but not saved: ${err.message}`);
      return json(500, { error: "persist config" });
    }
    log.error(`pairing: ${(err as Error).stack ?? err}`);
    return json(500, { error: "internal error" });
  }
}
