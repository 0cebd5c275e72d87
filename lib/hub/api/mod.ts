/**
 * The hub's HTTP API: the route table and one module per area.
 * @module
 */
export * from "./context.ts";
export { history } from "./history.ts";
export { type Route, type RouteArea, type RouteHandler, Router, ROUTES } from "./routes.ts";
export { status } from "./status.ts";
export { wellKnown } from "./well_known.ts";
export { access } from "./admin/access.ts";
export { ADMIN_BODY_LIMIT, adminCors, adminGate } from "./admin/common.ts";
export { logs } from "./admin/logs.ts";
export { pairCode } from "./admin/pair_code.ts";
export { portals } from "./admin/portals.ts";
export { restart } from "./admin/restart.ts";
export { rotate, tokenItem, tokens } from "./admin/tokens.ts";
export { hubs, publicUrl } from "./hubs.ts";
export { clientAddress, pair } from "./pair.ts";
