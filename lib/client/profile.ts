/**
 * Connection profiles `<user config dir>/profiles/<name>.yaml` (book, *Connection
 * profiles*; Appendix A *Connection profile schema*; spec agent-and-client.md §9.1-9.2).
 * @module
 */
import { basename, extname, join, sep } from "node:path";
import { parse as parseYaml, parseDocument } from "yaml";
import { ConfigError, writeFileAtomic } from "../config/mod.ts";
import { userConfigDir } from "../host/paths.ts";
import {
  DEFAULT_MTU,
  fileTransportSettings,
  MAX_MTU,
  MIN_MTU,
  type TransportSettings,
} from "../session/mod.ts";

/** A profile that cannot be shown, created or deleted (unknown, exists already, bad name). */
export class ProfileError extends Error {
  override name = "ProfileError";
}

/** One `services:` entry of a connection: by remote port or by name, optional local port. */
export interface ProfileService {
  remote?: number;
  local?: number;
  name?: string;
}

/** One entry of `connections:`. */
export interface ProfileConnection {
  hub: string;
  hubId?: string;
  machine: string;
  agentId?: string;
  token?: string;
  address?: string;
  /** Absent: forward every port the agent advertises. */
  services?: ProfileService[];
  /** This connection's `stun:` and `transport:`, over the profile's top-level ones. */
  transport?: TransportSettings;
}

/** A whole profile. */
export interface Profile {
  id?: string;
  name?: string;
  mtu?: number;
  mount?: { mount?: string; port?: number; auto?: boolean };
  dns?: { loopback_prefix?: string };
  /**
   * `stun:` and `transport:` (issue 11), for every connection of the profile; `-stun`,
   * `-transport` and their variables override them.
   */
  transport?: TransportSettings;
  connections: ProfileConnection[];
}

/** `<user config dir>/profiles`. */
export function profilesDir(): string {
  return join(userConfigDir(), "profiles");
}

/**
 * Expands `$VAR` and `${VAR}` like Go's `os.ExpandEnv` (spec §9.1): unset variables
 * become empty, `${}` and an unterminated `${` vanish, `$` before anything else stays.
 * @param text the input.
 * @param lookup variable lookup, default `Deno.env.get`.
 */
export function expandEnv(
  text: string,
  lookup: (name: string) => string | undefined = (n) => Deno.env.get(n),
): string {
  const special = "*#$@!?-0123456789";
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== "$" || i === text.length - 1) {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === "{") {
      if (i + 3 < text.length + 1 && special.includes(text[i + 2] ?? "") && text[i + 3] === "}") {
        out += lookup(text[i + 2]) ?? "";
        i += 4;
        continue;
      }
      const end = text.indexOf("}", i + 2);
      if (end < 0) {
        i += 2; // unterminated "${" vanishes
        continue;
      }
      const name = text.slice(i + 2, end);
      out += name === "" ? "" : lookup(name) ?? "";
      i = end + 1;
      continue;
    }
    if (special.includes(next)) {
      out += lookup(next) ?? "";
      i += 2;
      continue;
    }
    const m = /^[A-Za-z0-9_]+/.exec(text.slice(i + 1));
    if (m) {
      out += lookup(m[0]) ?? "";
      i += 1 + m[0].length;
      continue;
    }
    out += "$";
    i++;
  }
  return out;
}

/**
 * Where a `-profile` argument points: a path if it contains a path separator or ends
 * in `.yaml`/`.yml`, else `<profiles dir>/<arg>.yaml`.
 */
export function profilePath(arg: string): string {
  if (arg.includes(sep) || arg.includes("/") || /\.ya?ml$/i.test(arg)) return arg;
  return join(profilesDir(), `${arg}.yaml`);
}

function port(path: string, where: string, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new ConfigError(
      path,
      `${where} must be a port number 1-65535 (got ${JSON.stringify(v)})`,
    );
  }
  return v;
}

/** True for a dotted-quad IPv4 address in 127.0.0.0/8 (RFC 1122 §3.2.1.3 loopback). */
export function isLoopbackIpv4(address: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address.trim());
  return !!m && Number(m[1]) === 127 && m.slice(2).every((o) => Number(o) <= 255);
}

/**
 * Validates a parsed profile document.
 * @throws {ConfigError} naming the file and the bad key.
 */
export function validateProfile(path: string, doc: unknown): Profile {
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(path, "expected a YAML mapping with a 'connections' list");
  }
  const d = doc as Record<string, unknown>;
  const profileLabel = d.name ? String(d.name) : basename(path, extname(path));
  const conns = d.connections;
  if (!Array.isArray(conns) || conns.length === 0) {
    throw new ConfigError(path, `profile has no connections defined; add a 'connections:' list`);
  }
  const connections: ProfileConnection[] = conns.map((c, i) => {
    const where = `connections[${i}]`;
    if (!c || typeof c !== "object") throw new ConfigError(path, `${where} must be a mapping`);
    const e = c as Record<string, unknown>;
    if (typeof e.hub !== "string" || !e.hub) {
      throw new ConfigError(path, `${where}: 'hub' is required (URL or short name)`);
    }
    if (typeof e.machine !== "string" || !e.machine) {
      throw new ConfigError(path, `${where}: 'machine' is required`);
    }
    let services: ProfileService[] | undefined;
    if (e.services !== undefined && e.services !== null) {
      if (!Array.isArray(e.services)) {
        throw new ConfigError(path, `${where}.services must be a list`);
      }
      services = [];
      e.services.forEach((s, j) => {
        const w = `${where}.services[${j}]`;
        if (!s || typeof s !== "object" || Array.isArray(s)) {
          throw new ConfigError(path, `${w} must be a mapping such as {remote: 22} or {name: ssh}`);
        }
        const o = s as Record<string, unknown>;
        const svc: ProfileService = {
          remote: port(path, `${w}.remote`, o.remote),
          local: port(path, `${w}.local`, o.local),
          name: o.name === undefined || o.name === null ? undefined : String(o.name),
        };
        if (svc.remote === undefined && !svc.name) return; // neither: ignored, as Go does
        services!.push(svc);
      });
    }
    const str = (k: string) =>
      e[k] === undefined || e[k] === null || e[k] === "" ? undefined : String(e[k]);
    const address = str("address");
    if (address && !isLoopbackIpv4(address)) {
      throw new ConfigError(
        path,
        `profile "${profileLabel}": ${where}.address ${JSON.stringify(address)} is not a ` +
          `loopback address; use one in 127.0.0.0/8 (e.g. 127.88.1.1), or remove 'address:' ` +
          `to bind 127.0.0.1`,
      );
    }
    const transport = fileTransportSettings(path, e.stun, e.transport, undefined, where);
    return {
      ...(transport ? { transport } : {}),
      hub: e.hub,
      machine: e.machine,
      hubId: str("hubId"),
      agentId: str("agentId"),
      token: str("token"),
      address,
      services,
    };
  });
  const mtu = d.mtu;
  // 0 means "not set" (spec §8.6: only a positive profile mtu overrides -mtu / TELA_MTU).
  if (
    mtu !== undefined && mtu !== null &&
    (typeof mtu !== "number" || (mtu !== 0 && !(Number.isInteger(mtu) && mtu >= MIN_MTU &&
      mtu <= MAX_MTU)))
  ) {
    throw new ConfigError(
      path,
      `'mtu' must be a whole number ${MIN_MTU}-${MAX_MTU} (got ${JSON.stringify(mtu)}); ` +
        `remove it for the default ${DEFAULT_MTU}`,
    );
  }
  const transport = fileTransportSettings(path, d.stun, d.transport);
  return {
    id: d.id ? String(d.id) : undefined,
    name: d.name ? String(d.name) : undefined,
    mtu: typeof mtu === "number" && mtu > 0 ? mtu : undefined,
    ...(transport ? { transport } : {}),
    mount: d.mount as Profile["mount"],
    dns: d.dns as Profile["dns"],
    connections,
  };
}

/**
 * Loads a profile by name or path: read, expand `${VAR}` over the whole text, parse,
 * validate. On first load it adds an `id` (v4 UUID), inserting only that key into the
 * original (unexpanded) text so comments and `${VAR}` references stay (spec Q-CL-3, fixed).
 * `name:` is the user's label (Appendix A: "human-readable label") and is never written:
 * Go forces it to the file's base name on load; we only default to the base name in memory.
 * @throws {ConfigError} when the file cannot be read, is not YAML or is invalid.
 */
export async function loadProfile(arg: string): Promise<{ path: string; profile: Profile }> {
  const path = profilePath(arg);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new ConfigError(
        path,
        `profile not found; "tela profile list" shows the profiles, ` +
          `"tela profile create ${arg}" makes one`,
      );
    }
    throw new ConfigError(path, `cannot read profile: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(expandEnv(text));
  } catch (err) {
    throw new ConfigError(
      path,
      `invalid profile: ${String((err as Error).message).split("\n")[0]}`,
    );
  }
  const profile = validateProfile(path, doc);
  profile.name ||= basename(path, extname(path));
  if (!profile.id) {
    profile.id = crypto.randomUUID();
    try {
      const original = parseDocument(text);
      original.set("id", profile.id);
      await writeFileAtomic(path, original.toString(), { mode: 0o600 });
    } catch {
      // best effort, like Go: a read-only profile still connects
    }
  }
  return { path, profile };
}

/** Profile names in the profiles folder (`*.yaml`/`*.yml`, sorted, extension removed). */
export async function listProfiles(): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(profilesDir())) {
      if (e.isFile && /\.ya?ml$/.test(e.name)) names.push(e.name.replace(/\.ya?ml$/, ""));
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return [...new Set(names)].sort();
}

async function existingProfileFile(name: string): Promise<string | undefined> {
  for (const ext of [".yaml", ".yml"]) {
    const p = join(profilesDir(), name + ext);
    try {
      await Deno.stat(p);
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

/**
 * The text of profile `name` (`.yaml`, else `.yml`).
 * @throws {ProfileError} `profile "<name>" not found; "tela profile list" shows the profiles`.
 */
export async function showProfile(name: string): Promise<string> {
  const p = await existingProfileFile(name);
  if (!p) throw new ProfileError(`profile "${name}" not found${LIST_HINT}`);
  return await Deno.readTextFile(p);
}

const LIST_HINT = `; "tela profile list" shows the profiles`;

const PROFILE_TEMPLATE =
  `# Tela connection profile. Open every connection with: tela connect -profile NAME
#
# connections:
#   - hub: wss://hub.example.com     # hub URL or short name from hubs.yaml
#     machine: web01
#     token: \${WEB_TOKEN}           # optional; \${VAR} is expanded, else the credential store
#     address: 127.88.1.1            # optional; the loopback address (127.0.0.0/8) to listen on
#     services:                      # optional; omit to forward every advertised port
#       - remote: 22
#         local: 2222                # optional local port
#       - name: postgres             # resolved through the hub's /api/status
#
# transport: auto                    # optional; auto, udp (no direct path) or websocket
# stun: [stun.l.google.com:19302]    # optional; STUN servers for the direct path, or none
connections: []
`;

/**
 * Creates `<profiles dir>/<name>.yaml` (0600, folder 0700) with a commented example.
 * @returns the path.
 * @throws {ProfileError} `profile "<name>" already exists`.
 */
export async function createProfile(name: string): Promise<string> {
  if (!name || /[\\/]/.test(name)) throw new ProfileError(`invalid profile name "${name}"`);
  if (await existingProfileFile(name)) throw new ProfileError(`profile "${name}" already exists`);
  const path = join(profilesDir(), `${name}.yaml`);
  await writeFileAtomic(path, PROFILE_TEMPLATE.replaceAll("NAME", name), { mode: 0o600 });
  return path;
}

/**
 * Deletes profile `name`.
 * @throws {ProfileError} `profile "<name>" not found; "tela profile list" shows the profiles`.
 */
export async function deleteProfile(name: string): Promise<void> {
  const p = await existingProfileFile(name);
  if (!p) throw new ProfileError(`profile "${name}" not found${LIST_HINT}`);
  await Deno.remove(p);
}
