/**
 * `config-get` and `config-set`, the configuration actions of agent management (spec
 * hub-http-api.md §8.3, agent-and-client.md §8.7; book, *Hub administration*: `tela admin agent
 * config` and `tela admin agent set`), and the edit of telad.yaml they share with the
 * release-channel actions.
 *
 * Departures from Go telad v0.14, on purpose:
 * - `config-set` changes only the keys it is given, in the YAML document itself: comments,
 *   key order and the other machines stay as they were, and no token is written into the file
 *   (Go re-serialises its in-memory configuration, tokens from the credential store included:
 *   spec §8.1 quirk Q-AG-1).
 * - The changed file is validated as telad validates it at start; a change that does not
 *   validate is refused with that error and the file is not touched.
 * - `name` and `token` cannot be set remotely (the hub addresses the machine by its name;
 *   a token set by someone else could lock the agent out); `null` removes a key.
 * - `config-get` in flag mode answers the configuration made from the flags (no `configPath`)
 *   instead of `no active config`.
 * - `shares`, `gateway` and `upstreams` are shown with telad.yaml's key names (Go shows its
 *   struct field names, `Name`, `Path`, ...).
 *
 * @module
 */
import { parseDocument } from "yaml";
import { ConfigError, writeFileAtomic } from "../config/mod.ts";
import { suggest } from "../cli/suggest.ts";
import {
  type AgentConfig,
  type MachineConfig,
  parseAgentConfigText,
  TELAD_YAML_KEYS,
} from "./config.ts";
import { ManagementError, type ManagementHandler } from "./management.ts";

/** A machine as `config-get` shows it: no token (spec §8.3). */
export function redactedMachine(m: MachineConfig): Record<string, unknown> {
  const o: Record<string, unknown> = { name: m.name };
  if (m.displayName) o.displayName = m.displayName;
  if (m.hostname) o.hostname = m.hostname;
  if (m.os) o.os = m.os;
  if (m.tags?.length) o.tags = m.tags;
  if (m.location) o.location = m.location;
  if (m.owner) o.owner = m.owner;
  if (m.ports.length) o.ports = m.ports;
  if (m.services.length) {
    o.services = m.services.map((s) => {
      const r: Record<string, unknown> = { port: s.port };
      if (s.proto) r.proto = s.proto;
      if (s.name) r.name = s.name;
      if (s.description) r.description = s.description;
      return r;
    });
  }
  if (m.target) o.target = m.target;
  if (m.shares?.length) o.shares = m.shares.map((s) => ({ ...s }));
  if (m.gateway) {
    o.gateway = { port: m.gateway.port, routes: m.gateway.routes.map((r) => ({ ...r })) };
  }
  if (m.upstreams?.length) o.upstreams = m.upstreams.map((u) => ({ ...u }));
  return o;
}

/**
 * `config-get`: payload `{"hub", "configPath", "machines": [...]}` with every machine
 * redacted ({@link redactedMachine}); `configPath` is absent in flag mode.
 */
export const configGetAction: ManagementHandler = (_payload, ctx) => {
  const cfg = ctx.config();
  const payload: Record<string, unknown> = { hub: cfg.hub };
  if (ctx.configPath) payload.configPath = ctx.configPath;
  payload.machines = cfg.machines.map(redactedMachine);
  return Promise.resolve({ payload });
};

/** Machine keys `config-set` refuses, with why (see the module notes). */
const FIXED_KEYS: Record<string, string> = {
  name: "the hub addresses the machine by its name; rename it in telad.yaml on the machine",
  token: "tokens are set on the agent machine (telad login, telad pair or telad.yaml)",
};

/**
 * The fields of a `config-set`, keyed by telad.yaml's spelling (matched case-insensitively,
 * spec §8.3).
 * @throws {ManagementError} `invalid fields: ...` for an unknown or fixed key, or no fields.
 */
export function configSetFields(fields: Record<string, unknown>): Map<string, unknown> {
  const known = TELAD_YAML_KEYS.machine as readonly string[];
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(fields)) {
    const key = known.find((x) => x.toLowerCase() === k.toLowerCase());
    if (!key) {
      const near = suggest(k, known);
      throw new ManagementError(
        `invalid fields: unknown machine key "${k}" (${
          near ? `did you mean "${near}"?` : `known keys: ${known.join(", ")}`
        })`,
      );
    }
    if (FIXED_KEYS[key]) {
      throw new ManagementError(
        `invalid fields: "${key}" cannot be set remotely: ${FIXED_KEYS[key]}`,
      );
    }
    out.set(key, v);
  }
  if (out.size === 0) {
    throw new ManagementError(
      'invalid fields: no fields given (send {"machine":"<name>","fields":{"displayName":"Barn"}})',
    );
  }
  return out;
}

/**
 * `config-set` (spec §8.3): payload `{"machine": "<name>", "fields": {...}}` (`machine`
 * defaults to the machine the request came for). Each field replaces that key of the
 * machine's entry in telad.yaml (`null` removes it); the file is validated as at start and
 * written atomically (0600); telad then runs with it and re-registers the machine with its
 * new metadata. Answers `message` naming the keys that take effect only after a restart.
 * Failures: `no config file to update ...`, `invalid payload: ...`, `machine not found: <n>`,
 * `invalid fields: ...` (with the validation error; the file is untouched), `write failed: ...`.
 */
export const configSetAction: ManagementHandler = async (payload, ctx) => {
  if (!ctx.configPath) {
    throw new ManagementError(
      "no config file to update: telad runs from flags (-hub, -machine, -ports), not from a " +
        "telad.yaml; start it with -config <telad.yaml> to manage its configuration remotely",
    );
  }
  const p = payload as { machine?: unknown; fields?: unknown } | null | undefined;
  if (
    !p || typeof p !== "object" || Array.isArray(p) ||
    (p.machine !== undefined && typeof p.machine !== "string") ||
    !p.fields || typeof p.fields !== "object" || Array.isArray(p.fields)
  ) {
    throw new ManagementError(
      'invalid payload: expected {"machine": "<name>", "fields": {<machine keys>}}, e.g. ' +
        '{"machine":"barn","fields":{"displayName":"Barn"}}',
    );
  }
  const machine = (p.machine as string | undefined) || ctx.machine;
  const fields = configSetFields(p.fields as Record<string, unknown>);
  const names = ctx.config().machines.map((m) => m.name);
  if (!names.includes(machine)) {
    throw new ManagementError(
      `machine not found: ${machine} (this telad runs ${names.map((n) => `"${n}"`).join(", ")})`,
    );
  }
  try {
    await ctx.editConfig((doc) => {
      const list = doc.get("machines") as { items?: unknown[] } | undefined;
      const i = (list?.items ?? []).findIndex((_, j) =>
        String(doc.getIn(["machines", j, "name"])) === machine
      );
      if (i < 0) {
        throw new ManagementError(
          `machine not found: ${machine} (not in ${ctx.configPath}; was telad.yaml edited ` +
            `since telad started? restart telad to load it)`,
        );
      }
      for (const [k, v] of fields) {
        if (v === null) doc.deleteIn(["machines", i, k]);
        else doc.setIn(["machines", i, k], doc.createNode(v));
      }
    });
  } catch (err) {
    if (err instanceof ManagementError) throw err;
    if (err instanceof ConfigError) throw new ManagementError(`invalid fields: ${err.message}`);
    throw new ManagementError(`write failed: ${(err as Error).message}`);
  }
  const later = [...fields.keys()].filter((k) => RESTART_KEYS.includes(k));
  ctx.log.info(
    `config-set: machine ${machine}: ${[...fields.keys()].join(", ")} saved to ${ctx.configPath}`,
  );
  return later.length
    ? { message: `saved; restart telad for ${later.join(", ")} to take effect` }
    : undefined;
};

/** Machine keys read only at start: a change is saved but waits for a restart. */
const RESTART_KEYS = ["shares", "fileShare", "gateway", "upstreams", "stun", "transport"];

/**
 * Edits telad.yaml in place (see `ManagementContext.editConfig`): reads the file, lets `edit`
 * change its YAML document (comments kept), validates the text as telad does at start and
 * writes it atomically with mode 0600. Nothing is written when `edit` throws or the result
 * does not validate.
 * @param path telad.yaml.
 * @param edit changes the document; may throw to abort.
 * @returns the new validated configuration (tokens as written in the file).
 * @throws {ConfigError} when the file cannot be read or parsed, or the result is invalid.
 * @throws the errors of `edit` and of the write (the old file then stays).
 */
export async function editConfigFile(
  path: string,
  edit: (doc: import("yaml").Document) => void,
): Promise<AgentConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError(path, `cannot read config: ${(err as Error).message}`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length) {
    throw new ConfigError(path, `invalid YAML in the file on disk: ${doc.errors[0].message}`);
  }
  edit(doc);
  const out = doc.toString({ flowCollectionPadding: false });
  const cfg = parseAgentConfigText(path, out);
  await writeFileAtomic(path, out, { mode: 0o600 });
  return cfg;
}
