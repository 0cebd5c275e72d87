/**
 * The hub's HTTP API: the route table and one module per area.
 * @module
 */
export * from "./context.ts";
export { history } from "./history.ts";
export { type Route, type RouteArea, type RouteHandler, Router, ROUTES } from "./routes.ts";
export { status } from "./status.ts";
export { wellKnown } from "./well_known.ts";
