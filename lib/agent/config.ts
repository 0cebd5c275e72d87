/**
 * `telad.yaml` and `telad.state` (book, *Run an agent*, Appendix A/B; spec
 * agent-and-client.md §8.1-8.2), and the agent's token lookup order.
 * @module
 */
import { dirname, join } from "node:path";
import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import { escapeForLog } from "../log/mod.ts";
import { suggest } from "../cli/suggest.ts";
import { ConfigError, describeValue, readYamlFile, writeYamlFile } from "../config/mod.ts";
import {
  fileTransportSettings,
  parseAgentPorts,
  type ServiceSpec,
  type TransportSettings,
} from "../session/mod.ts";
import type { GatewayConfig } from "../gateway/mod.ts";
import {
  LEGACY_SHARE_NAME,
  type ShareConfig,
  ShareConfigError,
  type ShareFields,
  shareFromFields,
} from "../fileshare/config.ts";
import { FILE_SHARE_PORT } from "../fileshare/protocol.ts";
import {
  lookupStoredToken,
  systemCredentialsPath,
  userConfigDir,
  userCredentialsPath,
} from "../host/mod.ts";

/** telad's flags do not make a configuration (e.g. no `-ports`). */
export class AgentFlagsError extends Error {
  override name = "AgentFlagsError";
}

// A machine's path gateway (`gateway:`, spec §5.1): one definition, in lib/gateway.
export type { GatewayConfig, GatewayRoute } from "../gateway/mod.ts";

/** One upstream (`upstreams:` entry, book *Upstreams*, spec §6). */
export interface UpstreamConfig {
  /** Port listened on on every interface of the agent host, 1-65535. */
  port: number;
  /** Where each accepted connection is forwarded: `host:port` (`[v6]:port` for IPv6). */
  target: string;
  /** Label for the log; default `port <port>`. */
  name?: string;
}

/** One machine the agent registers (a `machines:` entry, defaults applied). */
export interface MachineConfig {
  name: string;
  displayName?: string;
  hostname?: string;
  os?: string;
  tags?: string[];
  location?: string;
  owner?: string;
  /** Host every forwarded connection dials; default `127.0.0.1`. */
  target: string;
  token?: string;
  /** Ports served inside the tunnel (from `ports`, else from `services`). */
  ports: number[];
  services: ServiceSpec[];
  /**
   * The path gateway, when configured (spec §5). Its port and service descriptor are not in
   * {@link ports} and {@link services} (those are the ports forwarded to `target`); the
   * registration appends them (spec §5.2, see `advertisedServices`).
   */
  gateway?: GatewayConfig;
  /** Upstreams listened on by this agent host (spec §6); absent when none. */
  upstreams?: UpstreamConfig[];
  /**
   * This machine's `stun:` and `transport:` (issue 11), over the top-level ones; `-stun`,
   * `-transport` and their variables override both.
   */
  transport?: TransportSettings;
  /** File shares served on tunnel port 17377 (spec §2.9); absent when none. */
  shares?: ShareConfig[];
}

/** The whole agent configuration. */
export interface AgentConfig {
  hub: string;
  token?: string;
  machines: MachineConfig[];
  /**
   * Top-level `stun:` (a list of host:port, empty for no direct path) and `transport:`
   * (`auto`, `udp`, `websocket`) for every machine's sessions; a machine's own keys, then
   * `-stun`, `-transport`, `TELAD_STUN_SERVERS` and `TELAD_TRANSPORT` override them.
   */
  transport?: TransportSettings;
  /** The file it came from; absent in flag mode. */
  path?: string;
}

/** A step of the way to a value in the document: a mapping key or a list index. */
type Key = string | number;

/** Keys of `telad.yaml` at each level (book Appendix B, spec §8.1, §2.9, §5.1, §6). */
export const TELAD_YAML_KEYS = {
  /** `stun` and `transport` belong to the transports of issue 11. */
  top: ["hub", "token", "update", "machines", "stun", "transport"],
  update: ["channel", "sources"],
  machine: [
    "name",
    "displayName",
    "hostname",
    "os",
    "tags",
    "location",
    "owner",
    "target",
    "token",
    "ports",
    "services",
    "gateway",
    "upstreams",
    "shares",
    "fileShare",
    "stun",
    "transport",
  ],
  service: ["port", "proto", "name", "description"],
  gateway: ["port", "routes"],
  route: ["path", "target"],
  upstream: ["port", "target", "name"],
  share: [
    "name",
    "path",
    "writable",
    "maxFileSize",
    "maxTotalSize",
    "allowDelete",
    "allowedExtensions",
    "blockedExtensions",
  ],
  fileShare: [
    "enabled",
    "directory",
    "writable",
    "maxFileSize",
    "maxTotalSize",
    "allowDelete",
    "allowedExtensions",
    "blockedExtensions",
  ],
} as const;

/**
 * Where the values of a parsed YAML document are in its text: `line(["machines", 0, "name"])`
 * is the 1-based line of the key `name` of the first machine (of the value, for a list item),
 * or of the nearest enclosing node that exists; undefined when nothing is known (a document
 * that did not come from text).
 */
export type LineLocator = (keys: Key[]) => number | undefined;

/** Finds lines in a document parsed with `parseDocument(text, { lineCounter })`. */
function documentLocator(doc: Document, lines: LineCounter): LineLocator {
  const lineAt = (node: unknown): number | undefined => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? lines.linePos(range[0]).line : undefined;
  };
  return (keys) => {
    let node: unknown = doc.contents;
    let line = lineAt(node);
    for (const k of keys) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === k);
        if (!pair) return line;
        line = lineAt(pair.key) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof k === "number") {
        node = node.items[k];
        line = lineAt(node) ?? line;
      } else {
        return line;
      }
    }
    return line;
  };
}

/**
 * An IPv4 address in any spelling `inet_aton(3)` accepts (`127.1`, `2130706433`,
 * `0x7f.0.0.1`, `0177.0.0.1`) as a 32-bit number, or undefined.
 */
function parseIPv4(h: string): number | undefined {
  const parts = h.split(".");
  if (parts.length < 1 || parts.length > 4) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/.test(p)) n = p.length > 2 ? parseInt(p.slice(2), 16) : 0;
    else if (/^0[0-7]*$/.test(p)) n = parseInt(p, 8);
    else if (/^[1-9][0-9]*$/.test(p)) n = Number(p);
    else return undefined;
    nums.push(n);
  }
  const last = nums.pop()!;
  if (nums.some((n) => n > 255) || last >= 2 ** (8 * (4 - nums.length))) return undefined;
  let v = 0;
  for (const [i, n] of nums.entries()) v += n * 2 ** (8 * (3 - i));
  return v + last;
}

/** An IPv6 address (no brackets, no zone) as 8 16-bit groups, or undefined. */
function parseIPv6(h: string): number[] | undefined {
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  let text = h;
  const tail: number[] = [];
  if (v4) {
    const n = parseIPv4(v4[2]);
    if (n === undefined || v4[2].split(".").length !== 4) return undefined;
    tail.push(Math.floor(n / 65536), n % 65536);
    text = v4[1] + "0:0"; // placeholder groups, replaced below
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (x: string) => x === "" ? [] : x.split(":");
  const head = groups(halves[0]), rest = halves.length === 2 ? groups(halves[1]) : [];
  if (![...head, ...rest].every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  let all = [...head.map((g) => parseInt(g, 16))];
  const back = rest.map((g) => parseInt(g, 16));
  if (halves.length === 2) all.push(...new Array(8 - head.length - back.length).fill(0));
  all.push(...back);
  if (tail.length) all = [...all.slice(0, -2), ...tail];
  return all.length === 8 ? all : undefined;
}

/**
 * A host written as an address in its one canonical form (`127.0.0.1`, `::1`, an IPv4-mapped
 * IPv6 address as IPv4), a name lower-cased without its trailing dot.
 */
function canonicalHost(host: string): string {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "").replace(/%.*$/, "").replace(/\.$/, "");
  const v4 = parseIPv4(h);
  if (v4 !== undefined) {
    return [v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255].join(".");
  }
  const v6 = parseIPv6(h);
  if (!v6) return h;
  if (v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff) {
    return [v6[6] >> 8, v6[6] & 255, v6[7] >> 8, v6[7] & 255].join(".");
  }
  if (v6.slice(0, 7).every((g) => g === 0)) return v6[7] === 1 ? "::1" : v6[7] === 0 ? "::" : h;
  return v6.map((g) => g.toString(16)).join(":");
}

let interfaceAddresses: Set<string> | undefined;

/** This host's interface addresses, canonical (empty without `--allow-sys`). */
function hostAddresses(): Set<string> {
  if (!interfaceAddresses) {
    interfaceAddresses = new Set();
    try {
      for (const i of Deno.networkInterfaces()) {
        interfaceAddresses.add(canonicalHost(i.address));
      }
    } catch { /* no permission: loopback spellings only */ }
  }
  return interfaceAddresses;
}

/**
 * Hosts that are this machine (a service there is on the agent host itself): `localhost`
 * and its variants, all of 127/8 and `0.0.0.0` in any IPv4 spelling, `::1`, `::`,
 * IPv4-mapped forms of those, and this host's own interface addresses. Other names are not
 * resolved here (validation stays offline); upstreams.ts catches a loop through them at run
 * time.
 */
function isLoopbackHost(host: string): boolean {
  const h = canonicalHost(host);
  return h === "localhost" || h === "ip6-localhost" || h === "ip6-loopback" ||
    h.endsWith(".localhost") || h === "::1" || h === "::" || h === "0.0.0.0" ||
    /^127\./.test(h) || hostAddresses().has(h);
}

/**
 * Splits an upstream target `host:port` (`[v6 address]:port` for IPv6).
 * @returns undefined when it is not of that form or the port is not 1-65535.
 */
export function splitHostPort(target: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(target) ?? /^([^:\s\[\]]+):(\d+)$/.exec(target);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: m[1], port };
}

/** Lines where config values came from, for the warnings given after validation. */
const sourceLines = new WeakMap<object, { path: string; line?: number }>();

/**
 * Where a service, gateway route or upstream of a loaded configuration is written in its
 * file: `"/etc/tela/telad.yaml:12"`, or the file alone when the line is unknown, or
 * undefined for a configuration that did not come from a file (flag mode).
 */
export function configSource(entry: object): string | undefined {
  const s = sourceLines.get(entry);
  if (!s) return undefined;
  return s.line ? `${s.path}:${s.line}` : s.path;
}

/** Options of {@link validateAgentConfig} and {@link loadAgentConfig}. */
export interface AgentConfigOptions {
  /**
   * Receives each warning: `<file>:<line>: <what> (<fix>)`, e.g. `ports` beside `services`
   * (shown ahead of the run). Default: none are shown.
   */
  warn?: (message: string) => void;
  /** Lines of the document's values; given by {@link loadAgentConfig}. */
  line?: LineLocator;
}

/** The validation of one document: every error and warning names the file and the line. */
class Checker {
  constructor(
    readonly path: string,
    readonly line: LineLocator,
    readonly onWarn: (message: string) => void,
  ) {}

  /** @throws {ConfigError} `<path>:<line>: <message>`. */
  fail(keys: Key[], message: string): never {
    throw new ConfigError(this.path, message, this.line(keys));
  }

  warn(keys: Key[], message: string): void {
    const line = this.line(keys);
    this.onWarn(`${this.path}${line ? `:${line}` : ""}: ${message}`);
  }

  /** Remembers the file line of `entry` for {@link configSource}. */
  mark<T extends object>(entry: T, keys: Key[]): T {
    sourceLines.set(entry, { path: this.path, line: this.line(keys) });
    return entry;
  }

  /** A mapping, or a failure naming what it should have been. */
  mapping(keys: Key[], v: unknown, what: string, fix: string): Record<string, unknown> {
    if (!v || typeof v !== "object" || Array.isArray(v)) this.fail(keys, `${what} (${fix})`);
    return v as Record<string, unknown>;
  }

  /**
   * Fails on the first key of `o` not in `known`, naming the nearest known key (README:
   * a bad key exits 3; a typo such as `writeable:` or `route:` must not be ignored, or the
   * first error shown is a misleading consequence of it).
   * @throws {ConfigError} `<path>:<line>: unknown key "k" <where> (did you mean "x"?)`.
   */
  unknownKeys(keys: Key[], o: Record<string, unknown>, known: readonly string[], where: string) {
    for (const k of Object.keys(o)) {
      if (known.includes(k)) continue;
      const near = suggest(k, known);
      this.fail(
        [...keys, k],
        `unknown key "${k}" ${where} (${
          near ? `did you mean "${near}"?` : `remove it; known keys here: ${known.join(", ")}`
        })`,
      );
    }
  }

  optString(keys: Key[], v: unknown): string | undefined {
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v === "object") {
      this.fail(keys, `${keys.join(".")} must be a string (write it as key: text)`);
    }
    return String(v);
  }

  port(keys: Key[], where: string, v: unknown, example: number): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) {
      // A list element (ports[1]) is fixed in its list: "ports: [22, 80]", not "1: 22".
      const last = keys.at(-1);
      const fix = typeof last === "number"
        ? `${keys.at(-2)}: [${example}, ${example === 80 ? 443 : 80}]`
        : `${last}: ${example}`;
      this.fail(
        keys,
        `${where} must be a port number 1-65535 (got ${describeValue(v)}) (write e.g. ${fix})`,
      );
    }
    return v;
  }

  list(keys: Key[], v: unknown, where: string, example: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(keys, `${where} must be a list (write e.g. ${example})`);
    return v;
  }
}

/**
 * Validates a parsed `telad.yaml` document and applies the defaults (spec §8.1):
 * `target` 127.0.0.1, `ports` from `services`, `services` from `ports`. Also validates the
 * `gateway` (spec §5.1) and `upstreams` (spec §6) of each machine and the ports they share:
 * a gateway port that is also a service port of its machine, a gateway route path given
 * twice, two upstreams on one port of this host, an upstream on the port of a service this
 * host runs (a machine whose `target` is this host) and an upstream that forwards to itself
 * are errors, and so is an unknown key at any level (with a did-you-mean; README: exit 3).
 * `ports` beside `services` and the deprecated `fileShare` are warnings. `shares` (spec §2.9) are parsed with their rules: an invalid size, a system
 * directory, `allowDelete` without `writable`, a duplicate name are errors.
 * Tokens are not resolved here (see {@link resolveAgentTokens}).
 * @param path the file, named in every error and warning.
 * @param doc the parsed YAML.
 * @param options.line where values are in the file (errors then read `<path>:<line>: ...`).
 * @param options.warn receives the warnings.
 * @throws {ConfigError} naming the file, the line, the machine, the key and the fix.
 */
export function validateAgentConfig(
  path: string,
  doc: unknown,
  options: AgentConfigOptions = {},
): AgentConfig {
  const c: Checker = new Checker(
    path,
    options.line ?? (() => undefined),
    options.warn ?? (() => {}),
  );
  const d = c.mapping(
    [],
    doc,
    "expected a YAML mapping with 'hub' and 'machines'",
    "start the file with hub: wss://hub.example.com",
  );
  c.unknownKeys([], d, TELAD_YAML_KEYS.top, "at the top level");
  const hub = c.optString(["hub"], d.hub);
  if (!hub) c.fail([], "'hub' is required (e.g. hub: wss://hub.example.com)");
  if (!/^wss?:\/\//i.test(hub)) {
    c.fail(["hub"], `'hub' must be a ws:// or wss:// URL (got ${hub}) (e.g. wss://${hub})`);
  }
  if (d.update !== undefined && d.update !== null) {
    const u = c.mapping(["update"], d.update, "'update' must be a mapping", "e.g. channel: dev");
    c.unknownKeys(["update"], u, TELAD_YAML_KEYS.update, "in update");
  }
  if (!Array.isArray(d.machines) || d.machines.length === 0) {
    c.fail(
      d.machines === undefined ? [] : ["machines"],
      "'machines' list is empty; add at least one machine with a name and ports",
    );
  }
  const machines = (d.machines as unknown[]).map((m, i) => machineEntry(c, m, i));
  checkNames(c, machines);
  checkHostPorts(c, machines);
  const transport = fileTransportSettings(path, d.stun, d.transport, (k) => c.line([k]));
  return {
    hub,
    token: c.optString(["token"], d.token),
    machines,
    ...(transport ? { transport } : {}),
    path,
  };
}

function machineEntry(c: Checker, m: unknown, i: number): MachineConfig {
  const at = ["machines", i];
  const e = c.mapping(at, m, `machines[${i}] must be a mapping`, "e.g. - name: barn");
  const named = typeof e.name === "string" && e.name ? ` (${e.name})` : "";
  c.unknownKeys(at, e, TELAD_YAML_KEYS.machine, `in machines[${i}]${named}`);
  const name = c.optString([...at, "name"], e.name);
  if (!name) c.fail(at, `machines[${i}]: 'name' is required (e.g. - name: barn)`);
  const where = `machines[${i}] (${name})`;
  let services = c.list([...at, "services"], e.services, `${where}: 'services'`, "- port: 22")
    .map((s, j) => {
      const sk = [...at, "services", j];
      const o = c.mapping(sk, s, `${where}: services[${j}] must be a mapping`, "- port: 22");
      c.unknownKeys(sk, o, TELAD_YAML_KEYS.service, `in ${where} services[${j}]`);
      const svc: ServiceSpec = {
        port: c.port([...sk, "port"], `${where}: services[${j}].port`, o.port, 22),
        proto: (c.optString([...sk, "proto"], o.proto) ?? "tcp").toLowerCase(),
      };
      const n = c.optString([...sk, "name"], o.name);
      if (n) svc.name = n;
      const desc = c.optString([...sk, "description"], o.description);
      if (desc) svc.description = desc;
      return c.mark(svc, sk);
    });
  let ports = c.list([...at, "ports"], e.ports, `${where}: 'ports'`, "ports: [22, 3389]")
    .map((p, j) => c.port([...at, "ports", j], `${where}: ports[${j}]`, p, 22));
  // A machine exposing only its gateway is complete (book, *Private web application*).
  const hasGateway = e.gateway !== undefined && e.gateway !== null;
  if (ports.length === 0 && services.length === 0 && !hasGateway) {
    c.fail(at, `${where}: either 'ports' or 'services' is required (e.g. ports: [22])`);
  }
  const firstAt = new Map<number, number>();
  const items = services.length > 0 ? services.map((s) => s.port) : ports;
  items.forEach((p, j) => {
    const k = services.length > 0 ? [...at, "services", j, "port"] : [...at, "ports", j];
    const prev = firstAt.get(p);
    if (prev !== undefined) {
      c.fail(
        k,
        `${where}: port ${p} is listed twice, first at line ${
          c.line(services.length > 0 ? [...at, "services", prev, "port"] : [...at, "ports", prev])
        } (keep one entry per port)`,
      );
    }
    firstAt.set(p, j);
  });
  // Book: if both are present, services takes precedence.
  if (services.length > 0) {
    const ignored = ports.filter((p) => !firstAt.has(p));
    if (ignored.length > 0) {
      c.warn(
        [...at, "ports"],
        `${where}: 'ports' is ignored because 'services' is present, so port(s) ${
          ignored.join(", ")
        } are not served (add them to 'services', or remove 'ports')`,
      );
    }
    ports = services.map((s) => s.port);
  } else {
    services = ports.map((port, j) => c.mark({ port, proto: "tcp" }, [...at, "ports", j]));
  }
  const tags = e.tags === undefined || e.tags === null
    ? undefined
    : c.list([...at, "tags"], e.tags, `${where}: 'tags'`, "tags: [lab]").map(String);
  const shares = sharesOf(c, e, at, where);
  // `[::1]` (the URL/host:port spelling of an IPv6 address) is the address ::1 here.
  const target = (c.optString([...at, "target"], e.target) ?? "127.0.0.1").replace(
    /^\[([^\]]*)\]$/,
    "$1",
  );
  const mc: MachineConfig = {
    name,
    displayName: c.optString([...at, "displayName"], e.displayName),
    hostname: c.optString([...at, "hostname"], e.hostname),
    os: c.optString([...at, "os"], e.os),
    tags,
    location: c.optString([...at, "location"], e.location),
    owner: c.optString([...at, "owner"], e.owner),
    target,
    token: c.optString([...at, "token"], e.token),
    ports,
    services,
  };
  if (shares.length > 0) mc.shares = shares;
  if (e.gateway !== undefined && e.gateway !== null) {
    mc.gateway = gatewayEntry(c, e.gateway, at, where, services);
  }
  if (e.upstreams !== undefined && e.upstreams !== null) {
    const list = c.list([...at, "upstreams"], e.upstreams, `${where}: 'upstreams'`, "- port: 5432")
      .map((u, j) => upstreamEntry(c, u, [...at, "upstreams", j], `${where}: upstreams[${j}]`));
    if (list.length > 0) mc.upstreams = list;
  }
  const transport = fileTransportSettings(
    c.path,
    e.stun,
    e.transport,
    (k) => c.line([...at, k]),
    where,
  );
  if (transport) mc.transport = transport;
  if (shares.length > 0) {
    // Tunnel port 17377 is the file share's (spec §2.1): a service there would never be reached.
    const j = services.findIndex((s) => s.port === FILE_SHARE_PORT);
    const clash = j >= 0
      ? [...at, "services", j, "port"]
      : mc.gateway?.port === FILE_SHARE_PORT
      ? [...at, "gateway", "port"]
      : null;
    if (clash) {
      c.fail(
        clash,
        `${where}: port ${FILE_SHARE_PORT} is the file-share port inside the tunnel, and this ` +
          `machine has shares (serve the service on another port, or remove shares:)`,
      );
    }
  }
  return mc;
}

/**
 * The machine's `shares:` and deprecated `fileShare:` (spec §2.9; book Appendix B): each
 * share parsed and defaulted by lib/fileshare's rules, errors with the file and line of the
 * key at fault. `fileShare` with `enabled: true` becomes the share `legacy`, first, with a
 * deprecation warning; a `shares` entry named `legacy` beside it is an error.
 */
function sharesOf(c: Checker, e: Record<string, unknown>, at: Key[], where: string) {
  const out: ShareConfig[] = [];
  const one = (keys: Key[], v: unknown, label: string, legacy: boolean): ShareConfig | null => {
    const o = c.mapping(keys, v, `${where}: ${label} must be a mapping`, "- name: docs");
    c.unknownKeys(
      keys,
      o,
      legacy ? TELAD_YAML_KEYS.fileShare : TELAD_YAML_KEYS.share,
      `in ${where} ${label}`,
    );
    if (legacy && o.enabled !== true) {
      if (o.enabled !== undefined && typeof o.enabled !== "boolean") {
        c.fail([...keys, "enabled"], `${where}: fileShare.enabled must be true or false`);
      }
      return null;
    }
    const bool = (k: string) => {
      if (o[k] === undefined || o[k] === null) return undefined;
      if (typeof o[k] !== "boolean") {
        c.fail([...keys, k], `${where}: ${label}.${k} must be true or false (got ${o[k]})`);
      }
      return o[k] as boolean;
    };
    const strings = (k: string) => {
      if (o[k] === undefined || o[k] === null) return undefined;
      const list = c.list([...keys, k], o[k], `${where}: ${label}.${k}`, `${k}: [".txt"]`);
      return list.map((x, j) => {
        if (typeof x !== "string" || !x.trim()) {
          c.fail([...keys, k, j], `${where}: ${label}.${k}[${j}] must be an extension like ".txt"`);
        }
        return x as string;
      });
    };
    const size = (k: string) => {
      const x = o[k];
      if (x === undefined || x === null) return undefined;
      if (typeof x !== "string" && typeof x !== "number") {
        c.fail([...keys, k], `${where}: ${label}.${k} must be a size such as 50MB`);
      }
      return x as string | number;
    };
    const name = legacy ? LEGACY_SHARE_NAME : c.optString([...keys, "name"], o.name);
    const fields: ShareFields = {
      name,
      path: c.optString([...keys, legacy ? "directory" : "path"], legacy ? o.directory : o.path),
      writable: bool("writable"),
      allowDelete: bool("allowDelete"),
      maxFileSize: size("maxFileSize"),
      maxTotalSize: size("maxTotalSize"),
      allowedExtensions: strings("allowedExtensions"),
      blockedExtensions: strings("blockedExtensions"),
    };
    try {
      return shareFromFields(fields);
    } catch (err) {
      if (!(err instanceof ShareConfigError)) throw err;
      const field = legacy && err.field === "path" ? "directory" : err.field;
      const msg = legacy
        ? `fileShare: ${err.message.replace("shares[legacy].path", "fileShare.directory")}`
        : err.message;
      c.fail(field ? [...keys, field] : keys, `${where}: ${msg}`);
    }
  };
  if (e.fileShare !== undefined && e.fileShare !== null) {
    const legacy = one([...at, "fileShare"], e.fileShare, "fileShare", true);
    if (legacy) {
      c.warn(
        [...at, "fileShare"],
        `${where}: WARNING: fileShare is deprecated; use shares instead. Support will be ` +
          `removed in 1.0. (it is served as the share "legacy"; move it to shares: with a name)`,
      );
      out.push(legacy);
    }
  }
  const list = c.list([...at, "shares"], e.shares, `${where}: 'shares'`, "- name: docs");
  const seen = new Map<string, number>();
  list.forEach((v, j) => {
    const keys = [...at, "shares", j];
    const s = one(keys, v, `shares[${j}]`, false)!;
    if (s.name === LEGACY_SHARE_NAME && out.length > 0 && out[0].name === LEGACY_SHARE_NAME) {
      c.fail(
        [...keys, "name"],
        `${where}: share name 'legacy' is reserved for deprecated fileShare compatibility; ` +
          `rename the share or remove fileShare`,
      );
    }
    const prev = seen.get(s.name);
    if (prev !== undefined) {
      c.fail(
        [...keys, "name"],
        `${where}: share name "${s.name}" is given twice, first at line ${
          c.line([...at, "shares", prev, "name"])
        } (clients address shares by name: give each its own)`,
      );
    }
    seen.set(s.name, j);
    out.push(s);
  });
  return out;
}

function gatewayEntry(
  c: Checker,
  v: unknown,
  at: Key[],
  where: string,
  services: ServiceSpec[],
): GatewayConfig {
  const gk = [...at, "gateway"];
  const g = c.mapping(gk, v, `${where}: 'gateway' must be a mapping`, "port: 8080 and routes:");
  c.unknownKeys(gk, g, TELAD_YAML_KEYS.gateway, `in ${where} gateway`);
  const port = c.port([...gk, "port"], `${where}: gateway.port`, g.port, 8080);
  const clash = services.find((s) => s.port === port);
  if (clash) {
    const line = sourceLines.get(clash)?.line;
    c.fail(
      [...gk, "port"],
      `${where}: gateway.port ${port} is also a service port of this machine${
        line ? `, at line ${line}` : ""
      } (a tunnel port serves one thing: give the gateway a port no service uses)`,
    );
  }
  const seen = new Map<string, number>();
  const routes = c.list([...gk, "routes"], g.routes, `${where}: gateway.routes`, "- path: /")
    .map((r, j) => {
      const rk = [...gk, "routes", j];
      const o = c.mapping(rk, r, `${where}: gateway.routes[${j}] must be a mapping`, "- path: /");
      c.unknownKeys(rk, o, TELAD_YAML_KEYS.route, `in ${where} gateway.routes[${j}]`);
      const path = c.optString([...rk, "path"], o.path);
      if (!path) c.fail(rk, `${where}: gateway.routes[${j}] has no 'path' (e.g. path: /api/)`);
      if (!path.startsWith("/")) {
        c.fail(
          [...rk, "path"],
          `${where}: gateway route path "${path}" does not start with "/" (write "/${path}")`,
        );
      }
      const prev = seen.get(path);
      if (prev !== undefined) {
        c.fail(
          [...rk, "path"],
          `${where}: gateway route path "${path}" is given twice, first at line ${
            c.line([...gk, "routes", prev, "path"])
          } (keep one route per path: a request can go to one target only)`,
        );
      }
      seen.set(path, j);
      const target = c.port(
        [...rk, "target"],
        `${where}: gateway route "${path}" target`,
        o.target,
        3000,
      );
      return c.mark({ path, target }, rk);
    });
  if (routes.length === 0) {
    c.warn(
      gk,
      `${where}: the gateway on port ${port} has no routes, so it answers nothing (add ` +
        `routes, e.g. - path: / with target: 3000)`,
    );
  }
  return { port, routes };
}

function upstreamEntry(c: Checker, v: unknown, uk: Key[], where: string): UpstreamConfig {
  const u = c.mapping(uk, v, `${where} must be a mapping`, "- port: 5432 with target: db:5432");
  c.unknownKeys(uk, u, TELAD_YAML_KEYS.upstream, `in ${where}`);
  const port = c.port([...uk, "port"], `${where}.port`, u.port, 5432);
  const target = c.optString([...uk, "target"], u.target);
  if (!target) {
    c.fail(uk, `${where} has no 'target' (write where to forward, e.g. target: db.internal:5432)`);
  }
  if (!splitHostPort(target)) {
    c.fail(
      [...uk, "target"],
      `${where}.target "${target}" is not host:port with a port 1-65535 (e.g. ` +
        `db.internal:5432, or [::1]:5432 for an IPv6 address)`,
    );
  }
  const up: UpstreamConfig = { port, target };
  const name = c.optString([...uk, "name"], u.name);
  if (name) up.name = name;
  return c.mark(up, uk);
}

/**
 * The ports of this host: upstream listen ports (every machine's, on all interfaces of this
 * host) must differ from each other and from the service ports of machines whose `target` is
 * this host, and an upstream must not forward to itself (directly or via other upstreams).
 */
/**
 * Two machines with one name would both register it, and the hub would let each displace
 * the other for ever: the second `name` is an error naming the first one's line.
 */
function checkNames(c: Checker, machines: MachineConfig[]): void {
  const first = new Map<string, number>();
  machines.forEach((m, i) => {
    const j = first.get(m.name);
    if (j === undefined) {
      first.set(m.name, i);
      return;
    }
    const line = c.line(["machines", j, "name"]);
    c.fail(
      ["machines", i, "name"],
      `machines[${i}]: name ${JSON.stringify(m.name)} is already the name of machines[${j}]${
        line ? ` at line ${line}` : ""
      } (the hub knows a machine by its name: give each machine its own name)`,
    );
  });
}

function checkHostPorts(c: Checker, machines: MachineConfig[]): void {
  const taken = new Map<number, { what: string; line?: number; fix?: string }>();
  machines.forEach((m, i) => {
    if (!isLoopbackHost(m.target)) return;
    for (const s of m.services) {
      if (taken.has(s.port)) continue;
      taken.set(s.port, {
        what: `service port ${s.port} of machines[${i}] (${m.name}), whose target ` +
          `${m.target} is this host,`,
        line: sourceLines.get(s)?.line,
      });
    }
    for (const r of m.gateway?.routes ?? []) {
      if (taken.has(r.target)) continue;
      taken.set(r.target, {
        what: `target of gateway route "${r.path}" of machines[${i}] (${m.name}), whose ` +
          `target ${m.target} is this host,`,
        line: sourceLines.get(r)?.line,
        fix: "the gateway's requests for that route would reach this upstream instead of the " +
          "web server: give the upstream another port, or set that machine's 'target'",
      });
    }
  });
  const servicePorts = new Set(taken.keys());
  const upstreamAt = new Map<number, UpstreamConfig>();
  machines.forEach((m, i) => {
    (m.upstreams ?? []).forEach((u, j) => {
      const uk = ["machines", i, "upstreams", j];
      const where = `machines[${i}] (${m.name}): upstreams[${j}]`;
      const prev = taken.get(u.port);
      if (prev) {
        const fix = prev.fix ??
          (servicePorts.has(u.port)
            ? "the service's tunnel connections would reach this upstream instead of the " +
              "service: give the upstream another port, or set that machine's 'target'"
            : "each upstream needs its own port on this host: change one");
        c.fail(
          [...uk, "port"],
          `${where}: port ${u.port} is already the ${prev.what}${
            prev.line ? ` at line ${prev.line}` : ""
          } (${fix})`,
        );
      }
      taken.set(u.port, {
        what: `listen port of ${u.name ? `upstream "${u.name}"` : "an upstream"} of ` +
          `machines[${i}] (${m.name})`,
        line: c.line([...uk, "port"]),
      });
      upstreamAt.set(u.port, u);
    });
  });
  // An upstream whose target is one of this host's upstream ports forwards to that one.
  const next = (u: UpstreamConfig): UpstreamConfig | undefined => {
    const hp = splitHostPort(u.target);
    return hp && isLoopbackHost(hp.host) ? upstreamAt.get(hp.port) : undefined;
  };
  machines.forEach((m, i) => {
    (m.upstreams ?? []).forEach((u, j) => {
      const chain = [u.port];
      for (let n = next(u); n; n = next(n)) {
        if (n === u) {
          c.fail(
            ["machines", i, "upstreams", j, "target"],
            `machines[${i}] (${m.name}): upstreams[${j}] (port ${u.port}) forwards to ` +
              `itself (${[...chain, u.port].join(" -> ")}) (point 'target' at the real ` +
              `service, not at an upstream port of this host)`,
          );
        }
        if (chain.includes(n.port)) break;
        chain.push(n.port);
      }
    });
  });
}

/**
 * Reads and validates `telad.yaml` (see {@link validateAgentConfig}); errors and warnings
 * carry the line from the YAML parser.
 * @param options.warn receives warnings such as `ports` beside `services`.
 * @throws {ConfigError} for a missing file, bad YAML or an invalid entry, e.g.
 *   `/etc/tela/telad.yaml:12: machines[0] (barn): gateway route path "/api/" is given twice,
 *   first at line 10 (keep one route per path: ...)`.
 */
export async function loadAgentConfig(
  path: string,
  options: { warn?: (message: string) => void } = {},
): Promise<AgentConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError(path, `cannot read config: ${(err as Error).message}`);
  }
  return parseAgentConfigText(path, text, options);
}

/**
 * Parses and validates the text of a `telad.yaml` (see {@link loadAgentConfig}, which reads the
 * file first): the same errors, with the line from the YAML parser. Used by the remote
 * `config-set` (lib/agent/management.ts) to check a changed file before it is written.
 * @param path the file the text is (or will be), named in every error.
 * @param text the YAML text.
 * @param options.warn receives warnings such as `ports` beside `services`.
 * @throws {ConfigError} for bad YAML or an invalid entry.
 */
export function parseAgentConfigText(
  path: string,
  text: string,
  options: { warn?: (message: string) => void } = {},
): AgentConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const bad = doc.errors[0];
  if (bad) {
    const pos = bad.linePos?.[0];
    let what = String(bad.message).split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    if (bad.code === "DUPLICATE_KEY" && pos) {
      const key = /^\s*(?:-\s+)?([^:#]+?)\s*:/.exec(text.split("\n")[pos.line - 1] ?? "")?.[1];
      what = `key ${key ? `"${key}" ` : ""}is given twice in one mapping`;
      throw new ConfigError(path, `${what} (keep one of them)`, pos.line);
    }
    throw new ConfigError(
      path,
      `invalid YAML: ${what} (fix the YAML${pos ? ` at line ${pos.line}, column ${pos.col}` : ""})`,
      pos?.line,
    );
  }
  let value: unknown;
  try {
    // yaml refuses alias bombs ("Excessive alias count ...") here; report it like bad YAML.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    let line: number | undefined;
    visit(doc, {
      Alias(_, node) {
        if (node.range) line = lines.linePos(node.range[0]).line;
        return visit.BREAK;
      },
    });
    throw new ConfigError(
      path,
      `invalid YAML: ${
        escapeForLog(String((err as Error)?.message ?? err).split("\n")[0], 200)
      } (remove the aliases (*name) that expand into very large or endless values${
        line ? `; the first is at line ${line}` : ""
      })`,
      line ?? 1,
    );
  }
  return validateAgentConfig(path, value, {
    warn: options.warn,
    line: documentLocator(doc, lines),
  });
}

/**
 * One line per service, gateway route and upstream target of `cfg` that does not accept a
 * TCP connection within `timeoutMs` (issue 13: an unreachable target at start is a warning,
 * not an error): `<file>:<line>: service "SSH" (port 22) of machine "barn" is not reachable
 * at 127.0.0.1:22: Connection refused (os error 111) (telad starts anyway ...)`.
 * All targets are tried at once; each connection is closed right away.
 * @param timeoutMs per target, in milliseconds.
 * @returns the warnings, in configuration order.
 */
export async function unreachableTargets(cfg: AgentConfig, timeoutMs = 1000): Promise<string[]> {
  const probes: Promise<string | undefined>[] = [];
  const probe = (entry: object, what: string, host: string, port: number, fix: string) => {
    probes.push(
      canConnect(host, port, timeoutMs).then((err) => {
        if (err === undefined) return undefined;
        const src = configSource(entry);
        const shown = host.includes(":") ? `[${host}]` : host;
        return `${src ? `${src}: ` : ""}${what} is not reachable at ${shown}:${port}: ${err} ` +
          `(telad starts anyway; ${fix})`;
      }),
    );
  };
  for (const m of cfg.machines) {
    for (const s of m.services) {
      probe(
        s,
        `service ${s.name ? `"${s.name}" (port ${s.port})` : `port ${s.port}`} of machine ` +
          `"${m.name}"`,
        m.target,
        s.port,
        "start the service, or fix the machine's 'target' or the port",
      );
    }
    for (const r of m.gateway?.routes ?? []) {
      probe(
        r,
        `gateway route "${r.path}" of machine "${m.name}"`,
        m.target,
        r.target,
        "start the service, or fix the route's 'target'",
      );
    }
    for (const u of m.upstreams ?? []) {
      const hp = splitHostPort(u.target)!;
      probe(
        u,
        `upstream ${u.name ? `"${u.name}"` : `port ${u.port}`} of machine "${m.name}"`,
        hp.host,
        hp.port,
        "each connection dials it again; start it, or fix the upstream's 'target'",
      );
    }
  }
  return (await Promise.all(probes)).filter((w): w is string => w !== undefined);
}

/** undefined when `host:port` accepts a TCP connection within `timeoutMs`, else why not. */
async function canConnect(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<string | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const dial = Deno.connect({ hostname: host, port, transport: "tcp" });
  try {
    const conn = await Promise.race([
      dial,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    conn.close();
    return undefined;
  } catch (err) {
    dial.then((c) => c.close(), () => {});
    return (err as Error).message;
  } finally {
    clearTimeout(timer);
  }
}

/** Flag-mode inputs (`-hub -machine -ports -target-host`). */
export interface AgentFlags {
  hub: string;
  machine: string;
  ports: string;
  targetHost?: string;
  token?: string;
}

/**
 * Builds the configuration of flag mode (one machine).
 * @throws {AgentFlagsError} `-ports is required (e.g. -ports 22:SSH,3389:RDP)`.
 * @throws {PortSpecError} `no valid ports in: …`.
 */
export function agentConfigFromFlags(
  f: AgentFlags,
  onInvalidPort: (part: string) => void = () => {},
): AgentConfig {
  if (!f.ports.trim()) {
    throw new AgentFlagsError("-ports is required (e.g. -ports 22:SSH,3389:RDP)");
  }
  const services = parseAgentPorts(f.ports, onInvalidPort);
  return {
    hub: f.hub,
    token: f.token,
    machines: [{
      name: f.machine,
      target: f.targetHost || "127.0.0.1",
      ports: [...new Set(services.map((s) => s.port))],
      services,
    }],
  };
}

/**
 * Fills each machine's token per the book's lookup order (*Run an agent*): `-token` flag,
 * `TELA_TOKEN`, per-machine token, top-level token, credential store by hub URL (system
 * store, then user store, Appendix A).
 */
export async function resolveAgentTokens(
  cfg: AgentConfig,
  flagToken?: string,
  stores: string[] = [systemCredentialsPath(), userCredentialsPath()],
): Promise<void> {
  const explicit = flagToken || Deno.env.get("TELA_TOKEN") || undefined;
  let stored: string | undefined | null = null;
  for (const m of cfg.machines) {
    if (explicit) m.token = explicit;
    else if (!m.token && cfg.token) m.token = cfg.token;
    if (!m.token) {
      if (stored === null) stored = await lookupStoredToken(cfg.hub, stores);
      m.token = stored || undefined;
    }
  }
}

/** The persisted identity of an agent installation. */
export interface AgentState {
  agentId: string;
  machines: Record<string, { machineRegistrationId: string }>;
}

/** `telad.state` beside the config file, else `<user config dir>/telad.state`. */
export function agentStatePath(configPath?: string): string {
  return configPath
    ? join(dirname(configPath), "telad.state")
    : join(userConfigDir(), "telad.state");
}

/**
 * Loads `telad.state`, generating a v4 `agentId` and a `machineRegistrationId` per
 * machine name that lacks one, and writes it back (0600) if anything was added. A
 * malformed file is treated as empty (as Go does). Entries of machines no longer
 * configured are kept.
 */
export async function loadAgentState(path: string, machineNames: string[]): Promise<AgentState> {
  let doc: Record<string, unknown> | undefined;
  try {
    doc = await readYamlFile<Record<string, unknown>>(path);
  } catch {
    doc = undefined;
  }
  const state: AgentState = {
    agentId: typeof doc?.agentId === "string" ? doc.agentId : "",
    machines: {},
  };
  const ms = doc?.machines;
  if (ms && typeof ms === "object" && !Array.isArray(ms)) {
    for (const [k, v] of Object.entries(ms as Record<string, unknown>)) {
      const id = (v as { machineRegistrationId?: unknown } | null)?.machineRegistrationId;
      if (typeof id === "string" && id) state.machines[k] = { machineRegistrationId: id };
    }
  }
  let changed = false;
  if (!state.agentId) {
    state.agentId = crypto.randomUUID();
    changed = true;
  }
  for (const name of machineNames) {
    if (!state.machines[name]) {
      state.machines[name] = { machineRegistrationId: crypto.randomUUID() };
      changed = true;
    }
  }
  if (changed) await writeYamlFile(path, state, { mode: 0o600 });
  return state;
}
