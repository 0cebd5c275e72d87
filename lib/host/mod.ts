/**
 * What a Tela program needs from the machine it runs on, shared by `tela` and `telad`:
 * platform paths, the credential store, the version string, terminal line input.
 * @module
 */
export * from "./paths.ts";
export * from "./credentials.ts";
export * from "./version.ts";
export * from "./stdin.ts";
export * from "./pairing.ts";
