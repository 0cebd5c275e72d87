/**
 * The client (`tela`): hub aliases, profiles, port mappings, local listeners, hub queries,
 * and connections to machines built on lib/session.
 * @module
 */
export * from "./hubs.ts";
export * from "./profile.ts";
export * from "./ports.ts";
export * from "./hubapi.ts";
export * from "./connection.ts";
export * from "./cli.ts";
