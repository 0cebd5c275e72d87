/**
 * The agent (`telad`): `telad.yaml`, `telad.state`, registration and per-session tunnels.
 * @module
 */
export * from "./config.ts";
export * from "./agent.ts";
export * from "./cli.ts";
export * from "./upstreams.ts";
