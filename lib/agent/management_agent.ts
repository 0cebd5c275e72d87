/**
 * The management state of one telad process (spec agent-and-client.md §8.7): the
 * configuration it runs with, its log ring, its action registry and the restart request.
 * Each machine's control loop hands its `mgmt-request`s to {@link AgentManagement.handle}.
 *
 * @module
 */
import type { Logger } from "../log/mod.ts";
import type { LogRing } from "../hub/log_ring.ts";
import { type AgentConfig, type MachineConfig, resolveAgentTokens } from "./config.ts";
import {
  defaultManagementRegistry,
  ManagementError,
  type ManagementRegistry,
  type ManagementRequest,
} from "./management.ts";
import { editConfigFile } from "./management_config.ts";
import { AGENT_RESTART_DELAY_MS } from "./management_restart.ts";

/** A running machine whose configuration management can change. */
export interface ManagedMachine {
  readonly machine: MachineConfig;
  /**
   * Runs on with `m` from now on (new sessions use it) and sends a fresh `register` with its
   * metadata on the open control WebSocket, if any.
   */
  reconfigure(m: MachineConfig): void;
}

/** Options of {@link AgentManagement}. */
export interface AgentManagementOptions {
  /** The configuration telad started with (tokens resolved). */
  config: AgentConfig;
  /** Absolute telad.yaml path; undefined in flag mode. */
  configPath?: string;
  /** telad's log ring (attached to the logger). */
  logs: LogRing;
  log: Logger;
  /** The actions; default {@link defaultManagementRegistry}. */
  registry?: ManagementRegistry;
  /** `-token` given to telad, for the token lookup after a configuration change. */
  flagToken?: string;
  /** Called once, {@link AGENT_RESTART_DELAY_MS} after a `restart` was answered. */
  onRestart: () => void;
  /** Delay before {@link onRestart}, ms (tests); default {@link AGENT_RESTART_DELAY_MS}. */
  restartDelayMs?: number;
}

/** One telad's management: answers the requests of all its machines. */
export class AgentManagement {
  #config: AgentConfig;
  readonly registry: ManagementRegistry;
  readonly #machines = new Map<string, ManagedMachine>();
  #editing: Promise<unknown> = Promise.resolve();
  #restarting = false;

  constructor(readonly opts: AgentManagementOptions) {
    this.#config = opts.config;
    this.registry = opts.registry ?? defaultManagementRegistry();
  }

  /** The configuration telad runs with now. */
  get config(): AgentConfig {
    return this.#config;
  }

  /** Makes `m` reachable for configuration changes of its machine. */
  addMachine(m: ManagedMachine): void {
    this.#machines.set(m.machine.name, m);
  }

  /** True once a restart was asked for. */
  get restarting(): boolean {
    return this.#restarting;
  }

  /**
   * Answers one `mgmt-request` that came for `machine` (never throws).
   * @returns the `mgmt-response` object to send.
   */
  handle(req: ManagementRequest, machine: string): Promise<Record<string, unknown>> {
    return this.registry.dispatch(req, {
      machine,
      configPath: this.opts.configPath,
      config: () => this.#config,
      editConfig: (edit) => this.#edit(edit),
      logs: this.opts.logs,
      restart: () => this.#restart(),
      log: this.opts.log,
    });
  }

  /** One edit at a time: read, change, validate, write, then run with the result. */
  #edit(edit: (doc: import("yaml").Document) => void): Promise<AgentConfig> {
    const path = this.opts.configPath;
    if (!path) {
      return Promise.reject(
        new ManagementError(
          "no config file to update: telad runs from flags, not from a telad.yaml " +
            "(start it with -config <telad.yaml>)",
        ),
      );
    }
    const run = this.#editing.then(async () => {
      const cfg = await editConfigFile(path, edit);
      await resolveAgentTokens(cfg, this.opts.flagToken);
      this.#apply(cfg);
      return cfg;
    });
    this.#editing = run.catch(() => {});
    return run;
  }

  /** Runs with `cfg`: machines whose entry changed are reconfigured (and re-register). */
  #apply(cfg: AgentConfig): void {
    const before = new Map(this.#config.machines.map((m) => [m.name, JSON.stringify(m)]));
    // Settings read only at start (transport) stay as they were until a restart.
    this.#config = { ...cfg, transport: this.#config.transport };
    for (const m of cfg.machines) {
      const running = this.#machines.get(m.name);
      if (!running || before.get(m.name) === JSON.stringify(m)) continue;
      running.reconfigure({ ...m, transport: running.machine.transport });
    }
  }

  #restart(): void {
    if (this.#restarting) return;
    this.#restarting = true;
    setTimeout(() => this.opts.onRestart(), this.opts.restartDelayMs ?? AGENT_RESTART_DELAY_MS);
  }
}
