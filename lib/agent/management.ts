/**
 * The agent's side of hub-mediated management (spec agent-and-client.md §8.7, hub-http-api.md
 * §8.2–8.3, session-and-relay.md §2.14–2.15; book, *Hub administration*, "Agent"): a
 * `mgmt-request` that arrives on a machine's control WebSocket is answered with one
 * `mgmt-response` `{type, requestId, ok, message?, payload?}`.
 *
 * Actions are looked up in a {@link ManagementRegistry} that telad builds at start
 * (decisions21.md, contract 1): the built-in `config-get`, `config-set`, `logs` and `restart`
 * live here (config and restart in `management_config.ts` and `management_restart.ts`), the
 * release-channel actions (`update`, `update-status`, `update-channel`,
 * `channel-sources-list|set|remove`) come from {@link UPDATE_ACTIONS} in
 * `management_update.ts`, which lib/update plugs into.
 *
 * A handler resolves with a {@link ManagementReply} (the response's `message` and/or
 * `payload`; nothing for a bare `ok:true`) and fails by throwing: a {@link ManagementError}'s
 * message is the `ok:false` message as it is; any other error is reported as
 * `<action> failed: <message>` and logged.
 *
 * @module
 */
import { escapeForLog, type Logger } from "../log/mod.ts";
import type { LogRing } from "../hub/log_ring.ts";
import type { AgentConfig } from "./config.ts";
import { configGetAction, configSetAction } from "./management_config.ts";
import { UPDATE_ACTIONS } from "./management_update.ts";

/** What a handler resolves with: the `mgmt-response` fields besides `type`, `requestId`, `ok`. */
export interface ManagementReply {
  /** Human text, e.g. `restarting` or `already running v0.14.0`. */
  message?: string;
  /** The action's result (any JSON), e.g. `{"lines": [...]}` for `logs`. */
  payload?: unknown;
}

/**
 * A refusal the operator reads as it is (`ok:false`, `message` = this error's message), e.g.
 * `machine not found: barn` or `invalid fields: ...`. Name the thing, the cause and the fix.
 */
export class ManagementError extends Error {
  override name = "ManagementError";
}

/** What every handler gets besides the request's payload. */
export interface ManagementContext {
  /** The action asked for, e.g. `config-get`. */
  action: string;
  /** The machine whose control WebSocket carried the request (telad may run several). */
  machine: string;
  /** Absolute path of telad.yaml; undefined in flag mode (no file to read or write). */
  configPath?: string;
  /** The configuration telad runs with now (updated by `config-set`). */
  config(): AgentConfig;
  /**
   * Changes telad.yaml: `edit` gets the file's parsed YAML document (comments kept) and
   * changes it; the result is validated as at start (`parseAgentConfigText`) and written
   * atomically with mode 0600. A result that does not validate is not written.
   * @returns the new validated configuration (tokens not yet resolved).
   * @throws {ManagementError} `no config file to update` in flag mode.
   * @throws {ConfigError} when the edited file does not validate (the file is untouched).
   */
  editConfig(edit: (doc: import("yaml").Document) => void): Promise<AgentConfig>;
  /** telad's recent log lines (1000 kept). */
  logs: LogRing;
  /**
   * Restarts telad about 500 ms later (after the reply is out): it stops every machine,
   * starts itself again with the same command line and exits 0 (see management_restart.ts).
   */
  restart(): void;
  /** telad's logger for management lines. */
  log: Logger;
}

/**
 * One action: gets the request's `payload` (whatever JSON the caller sent, or undefined) and
 * the context.
 * @returns the reply; throw {@link ManagementError} for an `ok:false` answer.
 */
export type ManagementHandler = (
  payload: unknown,
  ctx: ManagementContext,
) => Promise<ManagementReply | void>;

/** A `mgmt-request` as the agent reads it (spec session-and-relay.md §2.14). */
export interface ManagementRequest {
  requestId: string;
  action: string;
  payload?: unknown;
}

/** Actions by name; telad builds one at start ({@link defaultManagementRegistry}). */
export class ManagementRegistry {
  readonly #handlers = new Map<string, ManagementHandler>();

  /**
   * Adds or replaces the handler of `action`.
   * @param action the action name of the spec's catalogue, e.g. `update-status`.
   */
  register(action: string, handler: ManagementHandler): this {
    this.#handlers.set(action, handler);
    return this;
  }

  /** True when `action` has a handler. */
  has(action: string): boolean {
    return this.#handlers.has(action);
  }

  /** The actions known, sorted. */
  actions(): string[] {
    return [...this.#handlers.keys()].sort();
  }

  /**
   * Runs the request's action and builds the response (spec §2.15): `{"type":
   * "mgmt-response","requestId","ok",...}`; an unknown action answers `ok:false`,
   * `unknown action: <a>` (spec §8.3). Never throws.
   * @param req the request.
   * @param ctx the context (its `action` is set from the request).
   */
  async dispatch(
    req: ManagementRequest,
    ctx: Omit<ManagementContext, "action">,
  ): Promise<Record<string, unknown>> {
    const base = { type: "mgmt-response", requestId: req.requestId };
    const handler = this.#handlers.get(req.action);
    if (!handler) {
      return {
        ...base,
        ok: false,
        message: `unknown action: ${req.action} (this telad knows: ${this.actions().join(", ")})`,
      };
    }
    try {
      const r = await handler(req.payload, { ...ctx, action: req.action });
      const out: Record<string, unknown> = { ...base, ok: true };
      if (r?.message) out.message = r.message;
      if (r?.payload !== undefined) out.payload = r.payload;
      return out;
    } catch (err) {
      if (err instanceof ManagementError) return { ...base, ok: false, message: err.message };
      const msg = (err as Error)?.message ?? String(err);
      ctx.log.warn(`management ${escapeForLog(req.action)} failed: ${escapeForLog(msg)}`);
      return { ...base, ok: false, message: `${req.action} failed: ${msg}` };
    }
  }
}

/** Default and fallback of `logs`' `lines` (spec §8.3: ≤0 or absent → 100). */
export const AGENT_LOG_DEFAULT_LINES = 100;

/**
 * `logs` (spec §8.3): `{"lines": N}` (N ≤ 0, absent or not a number → 100) → payload
 * `{"lines": [...]}`, the newest N lines of telad's log ring, oldest first (never null).
 */
export const logsAction: ManagementHandler = (payload, ctx) => {
  const raw = (payload as { lines?: unknown } | null | undefined)?.lines;
  const n = typeof raw === "number" && Number.isFinite(raw) && raw >= 1
    ? Math.floor(raw)
    : AGENT_LOG_DEFAULT_LINES;
  return Promise.resolve({ payload: { lines: ctx.logs.tail(n) } });
};

/**
 * `restart` (spec §8.3, §8.7): answers `ok:true`, `message: "restarting"`, then restarts
 * telad about 500 ms later (control WebSockets drop; the new process registers again).
 */
export const restartAction: ManagementHandler = (_payload, ctx) => {
  ctx.log.info(`restart requested through the hub (machine ${ctx.machine})`);
  ctx.restart();
  return Promise.resolve({ message: "restarting" });
};

/**
 * The registry telad starts with: `config-get`, `config-set`, `logs`, `restart`, and the
 * release-channel actions of {@link UPDATE_ACTIONS} (spec §8.3's whole catalogue).
 */
export function defaultManagementRegistry(): ManagementRegistry {
  const r = new ManagementRegistry()
    .register("config-get", configGetAction)
    .register("config-set", configSetAction)
    .register("logs", logsAction)
    .register("restart", restartAction);
  for (const [name, handler] of Object.entries(UPDATE_ACTIONS)) r.register(name, handler);
  return r;
}
