/**
 * The transport settings of `tela connect` and `telad` (issue 11): which STUN servers the
 * direct path asks (spec §6.1, RFC 5389) and the highest tier a session may use (spec §7.1).
 * Both programs read them the same way: flag, else environment variable, else configuration
 * file (a profile, telad.yaml), else the default; this module parses the values and applies
 * that precedence, the programs turn its errors into usage or configuration errors.
 * @module
 */
import { ConfigError } from "../config/mod.ts";
import { DEFAULT_STUN_SERVER } from "../transport/stun.ts";
import type { TransportKind } from "./tunnel.ts";

/** The STUN server asked when none is configured (spec §6.1), defined beside the STUN client. */
export { DEFAULT_STUN_SERVER };

/**
 * `-transport` values and the highest tier each allows: `auto` every tier (direct, then the
 * UDP relay, then the WebSocket relay), `udp` no direct path, `websocket` the hub's
 * WebSocket relay only. The wire names (`direct`, `udp-relay`) are accepted too.
 */
export const TRANSPORT_MODES: Readonly<Record<string, TransportKind>> = {
  auto: "direct",
  udp: "udp-relay",
  websocket: "websocket",
  direct: "direct",
  "udp-relay": "udp-relay",
};

/** A transport setting that cannot be used; the message says what is wrong and the fix. */
export class TransportSettingError extends Error {
  override name = "TransportSettingError";
}

/** The settings handed to every session's bind (lib/session `BindContext`). */
export interface TransportSettings {
  /** STUN servers `host:port`; undefined: the default; empty: no direct path. */
  stunServers?: string[];
  /** Highest tier; undefined: every tier (`auto`). */
  maxTransport?: TransportKind;
}

/**
 * The highest tier a `-transport` value allows.
 * @param text `auto`, `udp` or `websocket` (case and surrounding spaces ignored).
 * @throws {TransportSettingError} for any other value, listing the three.
 */
export function parseTransportMode(text: string): TransportKind {
  const kind = TRANSPORT_MODES[text.trim().toLowerCase()];
  if (kind) return kind;
  throw new TransportSettingError(
    `${JSON.stringify(text)} is not a transport: use auto (direct, then UDP relay, then ` +
      `WebSocket), udp (UDP relay, then WebSocket: no direct path) or websocket (the hub's ` +
      `WebSocket relay only)`,
  );
}

/**
 * One STUN server `host:port` (IPv4 address or host name; spec §6.1: the direct path is
 * IPv4), checked and returned without surrounding spaces.
 * @throws {TransportSettingError} naming the value and the expected form.
 */
export function parseStunServer(text: string): string {
  const v = text.trim();
  const example = `e.g. ${DEFAULT_STUN_SERVER}`;
  if (v.startsWith("[")) {
    throw new TransportSettingError(
      `${JSON.stringify(v)} is an IPv6 STUN server; the direct path is IPv4 only: ` +
        `give an IPv4 address or a host name with a port, ${example}`,
    );
  }
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) {
    const cause = !v.includes(":")
      ? "the port is missing"
      : m
      ? "the port must be 1-65535"
      : "expected host:port";
    throw new TransportSettingError(
      `${JSON.stringify(v)} is not a STUN server: ${cause}; give host:port, ${example} ` +
        `(3478 is the standard STUN port), or none for no direct path`,
    );
  }
  return v;
}

/**
 * A STUN server list: a comma-separated string (`-stun`, the environment) or a list (a
 * configuration file), `none` (alone) or an empty list for no direct path. Duplicates are
 * dropped, the order kept (servers are asked in order).
 * @returns the servers; empty for `none`.
 * @throws {TransportSettingError} for an empty string, `none` beside servers, or a bad entry.
 */
export function parseStunServers(value: string | readonly string[]): string[] {
  const parts = typeof value === "string" ? value.split(",") : [...value];
  const trimmed = parts.map((p) => p.trim());
  if (typeof value === "string" && trimmed.every((p) => p === "")) {
    throw new TransportSettingError(
      `${JSON.stringify(value)} names no STUN server: list host:port servers separated by ` +
        `commas, e.g. ` +
        `${DEFAULT_STUN_SERVER}, or none for no direct path`,
    );
  }
  if (trimmed.some((p) => p.toLowerCase() === "none")) {
    if (trimmed.filter((p) => p !== "").length > 1) {
      throw new TransportSettingError(
        `${JSON.stringify(parts.join(","))} mixes none with servers: give either none ` +
          `(no direct path) or host:port servers`,
      );
    }
    return [];
  }
  const out: string[] = [];
  for (const p of trimmed) {
    if (p === "") continue;
    const s = parseStunServer(p);
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/** Where a setting came from, for the error message. */
export type SettingSource = "flag" | "env";

/** A flag or environment value that cannot be used (a usage error, exit 2). */
export class TransportUsageError extends TransportSettingError {
  override name = "TransportUsageError";
  constructor(readonly source: SettingSource, message: string) {
    super(message);
  }
}

/**
 * The transport settings by precedence: flag, else environment variable (unset or empty:
 * absent), else the configuration file's (already checked when it was loaded), else the
 * defaults (undefined).
 * @param opts.stunFlag `-stun` as given; `opts.transportFlag` `-transport` as given.
 * @param opts.env names of the variables, e.g. `{ stun: "TELA_STUN_SERVERS", transport:
 *   "TELA_TRANSPORT" }`.
 * @param opts.file the profile's or telad.yaml's settings.
 * @param opts.getEnv variable lookup (default `Deno.env.get`).
 * @throws {TransportUsageError} naming the flag or the variable, the value, the cause and the
 *   fix, e.g. `-transport "fast" is not a transport: use auto (...), udp (...) or websocket
 *   (...)`.
 */
export function resolveTransportSettings(opts: {
  stunFlag?: string;
  transportFlag?: string;
  env: { stun: string; transport: string };
  file?: TransportSettings;
  getEnv?: (name: string) => string | undefined;
}): TransportSettings {
  const getEnv = opts.getEnv ?? ((n: string) => Deno.env.get(n));
  const pick = <T>(
    flag: string,
    flagValue: string | undefined,
    envName: string,
    parse: (v: string) => T,
    fileValue: T | undefined,
  ): T | undefined => {
    if (flagValue !== undefined) {
      try {
        return parse(flagValue);
      } catch (e) {
        throw new TransportUsageError("flag", `-${flag} ${(e as Error).message}`);
      }
    }
    const raw = getEnv(envName);
    if (raw !== undefined && raw.trim() !== "") {
      try {
        return parse(raw);
      } catch (e) {
        throw new TransportUsageError(
          "env",
          `environment variable ${envName}: ${(e as Error).message}; or unset it`,
        );
      }
    }
    return fileValue;
  };
  const stunServers = pick(
    "stun",
    opts.stunFlag,
    opts.env.stun,
    parseStunServers,
    opts.file?.stunServers,
  );
  const maxTransport = pick(
    "transport",
    opts.transportFlag,
    opts.env.transport,
    parseTransportMode,
    opts.file?.maxTransport,
  );
  return {
    ...(stunServers !== undefined ? { stunServers } : {}),
    ...(maxTransport !== undefined ? { maxTransport } : {}),
  };
}

/**
 * One log line for settings that are not the defaults, e.g. `transport settings: up to
 * udp-relay (no direct path)`, `transport settings: every tier, STUN servers
 * 127.0.0.1:3478` or (`-stun none`) `transport settings: direct disabled (no STUN), UDP relay,
 * WebSocket`; undefined for the defaults (nothing worth a line).
 */
export function describeTransportSettings(s: TransportSettings): string | undefined {
  if (s.stunServers === undefined && (s.maxTransport ?? "direct") === "direct") return undefined;
  if ((s.maxTransport ?? "direct") === "direct" && s.stunServers?.length === 0) {
    // -stun none: the direct tier cannot be reached, so "every tier" would mislead.
    return "transport settings: direct disabled (no STUN), UDP relay, WebSocket";
  }
  const tier = s.maxTransport === "websocket"
    ? "WebSocket relay only"
    : s.maxTransport === "udp-relay"
    ? "up to udp-relay (no direct path)"
    : "every tier";
  const stun = s.maxTransport === "websocket" || s.maxTransport === "udp-relay" ||
      s.stunServers === undefined
    ? ""
    : s.stunServers.length
    ? `, STUN servers ${s.stunServers.join(" ")}`
    : ", no STUN (no direct path)";
  return `transport settings: ${tier}${stun}`;
}

/**
 * The `stun:` and `transport:` keys of a configuration file (a profile, telad.yaml): `stun:`
 * a list of `host:port` (empty: no direct path), or one string (`none`, or servers separated
 * by commas); `transport:` `auto`, `udp` or `websocket`. Absent or null keys are not set.
 * @param path the file, for the error.
 * @param line the 1-based line of a key in the file, when known (errors then read
 *   `<path>:<line>: ...`).
 * @param where what holds the keys, for the error (e.g. `machines[0] (barn)`); default the
 *   file's top level.
 * @returns the settings, or undefined when neither key is set.
 * @throws {ConfigError} naming the file, the key, the value and the fix.
 */
export function fileTransportSettings(
  path: string,
  stun: unknown,
  transport: unknown,
  line: (key: "stun" | "transport") => number | undefined = () => undefined,
  where?: string,
): TransportSettings | undefined {
  const out: TransportSettings = {};
  const fail = (key: "stun" | "transport", message: string): never => {
    throw new ConfigError(path, `${where ? `${where}: ` : ""}'${key}'${message}`, line(key));
  };
  if (stun !== undefined && stun !== null) {
    const ok = typeof stun === "string" ||
      (Array.isArray(stun) && stun.every((x) => typeof x === "string"));
    if (!ok) {
      fail(
        "stun",
        ` must be a list of host:port STUN servers (e.g. [stun.l.google.com:19302]), or none ` +
          `(got ${JSON.stringify(stun)})`,
      );
    }
    try {
      out.stunServers = parseStunServers(stun as string | string[]);
    } catch (e) {
      if (!(e instanceof TransportSettingError)) throw e;
      fail("stun", `: ${e.message}`);
    }
  }
  if (transport !== undefined && transport !== null) {
    if (typeof transport !== "string") {
      fail(
        "transport",
        `: ${JSON.stringify(transport)} is not a transport: use auto, udp or websocket`,
      );
    }
    try {
      out.maxTransport = parseTransportMode(transport as string);
    } catch (e) {
      if (!(e instanceof TransportSettingError)) throw e;
      fail("transport", `: ${e.message}`);
    }
  }
  return Object.keys(out).length ? out : undefined;
}
