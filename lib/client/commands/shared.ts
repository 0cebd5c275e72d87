/**
 * What the commands of `tela` share: their dependencies, the flags several declare, and
 * small helpers (environment lookup, stdin lines, Ctrl-C).
 * @module
 */
import type { FlagSpec } from "../../cli/mod.ts";
import type { BindFactory, TunnelEngine } from "../../session/mod.ts";

/** What the CLI needs from outside: the transport, the tunnel engine and where text goes. */
export interface TelaDeps {
  /** Makes each session's WireGuard Bind (lib/transport). */
  bind: BindFactory;
  /** Builds WireGuard + netstack for a session. */
  engine: TunnelEngine;
  /** Data output (default stdout). */
  stdout?: (text: string) => void;
  /** Diagnostics output (default stderr). */
  stderr?: (text: string) => void;
  /** Reads one line of standard input (without the newline); null at end of input. */
  readLine?: () => Promise<string | null>;
  /** Resolves when the user asks to stop (Ctrl-C); default: SIGINT or SIGTERM. */
  interrupted?: Promise<void>;
}

/** `-hub`, as every command that talks to a hub declares it. */
export const HUB_FLAG = {
  type: "string",
  arg: "url|name",
  usage: "Hub URL (wss://...) or short name (env TELA_HUB)",
} as const satisfies FlagSpec;

/** `-token`, as every command that talks to a hub declares it. */
export const TOKEN_FLAG = {
  type: "string",
  arg: "hex",
  usage: "Hub auth token (env TELA_TOKEN; else the credential store)",
} as const satisfies FlagSpec;

/** `-machine`, the machine a command is about. */
export const MACHINE_FLAG = {
  type: "string",
  arg: "name",
  usage: "Machine name (env TELA_MACHINE)",
} as const satisfies FlagSpec;

/** `-json`, machine-readable output (book: "Structured output is opt-in via -json"). */
export const JSON_FLAG = { type: "boolean", usage: "Print JSON instead of a table" } as const;

/** `-v`, verbose diagnostics on stderr. */
export const VERBOSE_FLAG = { type: "boolean", usage: "Verbose logging" } as const;

/** The environment variable `name`, or undefined when unset or empty. */
export function env(name: string): string | undefined {
  return Deno.env.get(name) || undefined;
}

/** Resolves on the first SIGINT (or SIGTERM outside Windows). */
export function signalPromise(): Promise<void> {
  return new Promise((resolve) => {
    const on = () => resolve();
    Deno.addSignalListener("SIGINT", on);
    if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", on);
  });
}
