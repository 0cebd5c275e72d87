/**
 * What `tela admin agent ...` and `tela admin hub update|channel` send and print (book, *Hub
 * administration*, "Agent" and "Hub"; *Self-update and release channels*; spec
 * hub-http-api.md §5.10, §8): agent requests through the hub's `/api/admin/agents/{m}/{a}`,
 * with the agent's `mgmt-response` envelope read at its `ok`, `message` and `payload` (spec
 * §8.2; Go's CLI reads top-level fields and prints nothing for `logs`, a bug we do not copy),
 * and the channel block both print.
 *
 * @module
 */
import { stringify as toYaml } from "yaml";
import { AdminApiError, type AdminClient, pathEscape } from "./admin_api.ts";

/** Time allowed for an agent request, ms: longer than the hub's 30 s so its 504 arrives. */
export const AGENT_CALL_TIMEOUT_MS = 35_000;

/** Channel names (spec §9.1): lowercase letters, digits and hyphens. */
export const CHANNEL_NAME = /^[a-z0-9-]+$/;

/** The agent's answer, unwrapped (spec §8.2). */
export interface AgentReply {
  message?: string;
  payload?: unknown;
}

/** The agent answered `ok:false` (it refused or failed the action). Exit status 1. */
export class AgentActionError extends AdminApiError {
  override name = "AgentActionError";
}

/**
 * Sends one management action to `machine`'s agent through the hub and unwraps the
 * envelope.
 * @param c the admin client (its token needs owner/admin, or `manage` on the machine).
 * @param machine the machine name.
 * @param action the spec §8.3 action, e.g. `config-get`.
 * @param body the payload (sent with POST); undefined sends a GET without one, except for
 *   actions that change something, which are POSTed (as Go's CLI does).
 * @returns the agent's `message` and `payload`.
 * @throws {AgentActionError} when the agent answered `ok:false` (its message, quoted).
 * @throws {AdminApiError} for the hub's refusals: 403 (no manage permission), 404 (unknown
 *   machine), 503 (agent offline), 504 (no answer in 30 s), each naming the fix.
 * @throws {HubDialError} when the hub could not be reached.
 */
export async function agentAction(
  c: AdminClient,
  machine: string,
  action: string,
  body?: unknown,
  method: "GET" | "POST" = body === undefined && action === "config-get" ? "GET" : "POST",
): Promise<AgentReply> {
  const hub = c.hubUrl;
  const list = `"tela admin agent list -hub ${hub}" lists them`;
  let env: Record<string, unknown>;
  try {
    env = await c.call<Record<string, unknown>>({
      method,
      path: `/api/admin/agents/${pathEscape(machine)}/${pathEscape(action)}`,
      body,
      notFound: (e) =>
        /machine not found/i.test(e)
          ? `machine "${machine}" is not registered on ${hub}; ${list}`
          : undefined,
      forbidden: (e) =>
        /manage permission required/i.test(e)
          ? `${hub} refused ${action} on "${machine}": ${e} (HTTP 403); use an owner or admin ` +
            `token, or ask one to run "tela admin access grant <id> ${machine} manage"`
          : undefined,
    });
  } catch (err) {
    if (!(err instanceof AdminApiError)) throw err;
    if (err.status === 503) {
      throw new AdminApiError(
        503,
        `the agent of "${machine}" is not connected to ${hub} (HTTP 503): it is offline or ` +
          `restarting; check telad on that machine, then try again (${list})`,
      );
    }
    if (err.status === 504) {
      throw new AdminApiError(
        504,
        `the agent of "${machine}" did not answer ${action} within 30 seconds (HTTP 504); ` +
          `it may be busy or its connection stalled: try again, or check telad's log on the machine`,
      );
    }
    if (err.status === 502) {
      throw new AdminApiError(
        502,
        `${hub} could not send ${action} to the agent of "${machine}" (HTTP 502); try again`,
      );
    }
    throw err;
  }
  if (env.ok !== true) {
    const msg = typeof env.message === "string" && env.message ? env.message : "no reason given";
    throw new AgentActionError(200, `the agent of "${machine}" refused ${action}: ${msg}`);
  }
  const out: AgentReply = {};
  if (typeof env.message === "string" && env.message) out.message = env.message;
  if (env.payload !== undefined) out.payload = env.payload;
  return out;
}

/**
 * Parses the `<json>` of `tela admin agent set`: a JSON object of machine keys.
 * @returns the object, or a problem sentence for a usage error.
 */
export function parseFieldsArg(text: string): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `<json> is not valid JSON (${(err as Error).message}); quote it for the shell, ` +
      `e.g. '{"displayName":"Barn"}'`;
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) {
    return `<json> must be a JSON object of machine keys, e.g. '{"displayName":"Barn"}'`;
  }
  if (Object.keys(v).length === 0) return `<json> names no keys, e.g. '{"displayName":"Barn"}'`;
  return v as Record<string, unknown>;
}

/** `tela admin agent config`: the agent's configuration as telad.yaml-style YAML. */
export function formatAgentConfig(payload: unknown): string {
  const p = (payload ?? {}) as Record<string, unknown>;
  const head = p.configPath
    ? `# ${String(p.configPath)}\n`
    : "# flag mode: telad runs without a telad.yaml\n";
  const { configPath: _drop, ...rest } = p;
  return (head + toYaml(rest)).trimEnd();
}

/** A channel status: `update-status` of an agent, `GET /api/admin/update` of a hub. */
export interface ChannelStatus {
  channel?: string;
  manifestUrl?: string;
  currentVersion?: string;
  latestVersion?: string;
  updateAvailable?: boolean;
  error?: string;
  sources?: Record<string, string>;
}

/**
 * The channel block of the book (*Self-update and release channels*):
 * ```
 * channel: dev
 * manifest: https://.../dev.json
 * current version: v0.6.0-dev.7
 * latest version: v0.6.0-dev.8 (update available)
 * ```
 * then `sources:` lines when there are any, and `error:` when the manifest could not be read.
 */
export function formatChannel(s: ChannelStatus): string {
  const lines = [
    `channel: ${s.channel || "-"}`,
    `manifest: ${s.manifestUrl || "-"}`,
    `current version: ${s.currentVersion || "-"}`,
    `latest version: ${s.latestVersion || "-"}${
      s.latestVersion ? (s.updateAvailable ? " (update available)" : " (up to date)") : ""
    }`,
  ];
  const sources = Object.entries(s.sources ?? {});
  if (sources.length) {
    lines.push("sources:");
    for (const [k, v] of sources.sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`  ${k}: ${v || "(built-in)"}`);
    }
  }
  if (s.error) lines.push(`error: ${s.error}`);
  return lines.join("\n");
}
