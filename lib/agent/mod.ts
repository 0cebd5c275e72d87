/**
 * The agent (`telad`): `telad.yaml`, `telad.state`, registration and per-session tunnels.
 * @module
 */
export * from "./config.ts";
export * from "./agent.ts";
export * from "./cli.ts";
export * from "./upstreams.ts";
export * from "./management.ts";
export * from "./management_agent.ts";
export * from "./management_config.ts";
export * from "./management_restart.ts";
export * from "./management_update.ts";
