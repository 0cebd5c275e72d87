/**
 * The client (`tela`): credentials, hub aliases, profiles, port specs, local listeners,
 * sessions through the hub. Also the pieces the agent shares (backoff, port specs,
 * credential lookup).
 * @module
 */
export * from "./paths.ts";
export * from "./credentials.ts";
export * from "./hubs.ts";
export * from "./profile.ts";
export * from "./ports.ts";
export * from "./backoff.ts";
export * from "./hubapi.ts";
export * from "./version.ts";
export * from "./signal.ts";
export * from "./pipe.ts";
export * from "./keys.ts";
export * from "./tunnel.ts";
export * from "./connection.ts";
export * from "./cli.ts";
