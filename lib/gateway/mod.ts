/**
 * The path gateway inside telad's tunnel (spec agent-and-client.md §5): an HTTP/1.1 reverse
 * proxy routing by path prefix, and the minimal HTTP/1.1 reading it needs.
 * @module
 */
export * from "./gateway.ts";
export * from "./http.ts";
