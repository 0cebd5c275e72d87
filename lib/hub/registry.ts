/**
 * The hub's registry: machines, their sessions, and the indices that find them
 * (spec hub-http-api.md §12.1). It holds state and answers lookups; the signaling
 * layer decides what to change, and the status route reads {@link Registry.machineList}.
 *
 * Unlike Go's hub, offline machines are not kept forever: {@link Registry.prune} drops an
 * entry whose agent has been disconnected for longer than the retention time
 * ({@link OFFLINE_RETENTION_MS} by default), so a stream of short-lived registrations
 * cannot grow the registry without bound.
 *
 * @module
 */
import type { RegisterMessage } from "../protocol/mod.ts";
import { RegistryFullError } from "./errors.ts";
import { rfc3339 } from "./history.ts";
import { type Service, serviceAllowed } from "./services.ts";
import type { HubSocket } from "./socket.ts";
import type { UdpTokenEntry } from "./udp_relay.ts";
import { sessionTransportList, type SessionTransportState } from "./transports.ts";

/** Highest session index; the 255th concurrent session of a machine is refused. */
export const MAX_SESSIONS = 254;

/**
 * How long a machine whose agent disconnected stays listed, ms (24 h). Long enough for an
 * operator to see yesterday's outage in the console; short enough that entries left by
 * agents that lost their state file, or renamed machines, do not pile up.
 */
export const OFFLINE_RETENTION_MS = 24 * 60 * 60 * 1000;

/**
 * Default cap on machine entries (connected or not). When a new machine would pass it, the
 * entry offline the longest is forgotten first; a stream of registrations under new names
 * (open mode needs no token) then cannot grow the registry without bound within the
 * retention time.
 */
export const MAX_MACHINES = 10_000;

/** A registered machine entry. */
export interface Machine {
  /** `agentId + ":" + machineName` (§12.1). */
  key: string;
  /** `machineName` of the `register` message: the id clients connect to. */
  name: string;
  /** The agent's stable id (its `telad.state`), a v4 UUID from our agent. */
  agentId: string;
  /** Per-machine id the agent keeps across restarts. */
  machineRegistrationId: string;
  /** Optional human label from the agent's config. */
  displayName: string;
  /** The agent host's name, as the agent reports it. */
  hostname: string;
  /** Go `GOOS` of the agent (`linux`, `windows`, ...). */
  os: string;
  /** The agent's version string. */
  agentVersion: string;
  /** Free-text location from the agent's config. */
  location: string;
  /** Free-text owner from the agent's config. */
  owner: string;
  /** At most `MAX_TAGS` labels (registration.ts). */
  tags: string[];
  /** Advertised services (port, name, description), normalised from `ports`/`services`. */
  services: Service[];
  /** Feature flags the agent advertises; depth and size bounded at registration. */
  capabilities?: Record<string, unknown>;
  /** Signaling protocol version the agent speaks, when it says. */
  protocolVersion?: number;
  /** Token the agent registered with (open-mode per-machine rule, spec §2.8). */
  token: string;
  /** The agent's control WebSocket while it is connected. */
  control?: HubSocket;
  /** When the current registration happened. */
  registeredAt?: Date;
  /** Last sign of life from the agent; with `control` gone, the start of the offline time. */
  lastSeen?: Date;
  /** Open sessions by session id. */
  sessions: Map<string, Session>;
  /** usedIdx[n] = 1 while index n is taken (1..254). */
  usedIdx: Uint8Array;
}

/** A client session (one client WS, one agent per-session WS). */
export interface Session {
  /** 16 hex chars. */
  id: string;
  /** Session index 1..{@link MAX_SESSIONS} within its machine. */
  idx: number;
  /** The machine the client asked for. */
  machine: Machine;
  /** The client's WebSocket. */
  client: HubSocket;
  /** The agent's per-session WebSocket, once it joined. */
  agent?: HubSocket;
  /** The client's WireGuard public key (base64), passed to the agent. */
  clientKey: string;
  /** Ports the client asked for, if it named any. */
  ports?: number[];
  /** Ports a per-service grant allowed at connect (sent to the agent); undefined = all. */
  allowedPorts?: number[];
  /** History detail (`port 22 (SSH)` and the like). */
  detail: string;
  /** Ends the session when the agent has not joined within `JOIN_TIMEOUT_MS`. */
  joinTimer?: ReturnType<typeof setTimeout>;
  /** The agent side's UDP relay token, once offered. */
  agentUdp?: UdpTokenEntry;
  /** The client side's UDP relay token, once offered. */
  clientUdp?: UdpTokenEntry;
  /** Set once the session was torn down (teardown runs once). */
  ended: boolean;
  /** Each side's send path, reported or inferred (lib/hub/transports.ts). */
  transports: SessionTransportState;
}

/** Machines, sessions, open sockets and the indices over them. */
export class Registry {
  /** Entries by key (`agentId:machineName`). */
  readonly machines = new Map<string, Machine>();
  /** Live sessions by id. */
  readonly sessions = new Map<string, Session>();
  /** Every open WebSocket. */
  readonly sockets = new Set<HubSocket>();
  readonly #byName = new Map<string, string>();
  readonly #byRegId = new Map<string, string>();
  #version = 0;

  /** @param maxMachines most machine entries held (default {@link MAX_MACHINES}). */
  constructor(readonly maxMachines: number = MAX_MACHINES) {}

  /**
   * Bumped whenever what `/api/status` shows changes structurally (a machine registered,
   * connected, disconnected or pruned; a session added or removed). `lastSeen` ticks do
   * not bump it; the status cache ages those out.
   */
  get version(): number {
    return this.#version;
  }

  /** Records a change visible in `/api/status`. */
  changed(): void {
    this.#version++;
  }

  /** The most recent registration with this machine name (§12.1). */
  byName(name: string): Machine | undefined {
    const key = this.#byName.get(name);
    return key ? this.machines.get(key) : undefined;
  }

  /**
   * Finds or creates the entry for a registration, moving a renamed machine (a known
   * `machineRegistrationId` under a new key, spec session-and-relay.md §3.1 step 4), and
   * points the name index at it. Fields other than the identity are left to the caller.
   * @throws {RegistryFullError} when a new entry is needed, {@link maxMachines} are held and
   *   every one is connected (otherwise the entry offline the longest is forgotten).
   */
  upsert(m: RegisterMessage): Machine {
    const key = `${m.agentId}:${m.machineName}`;
    let entry = this.machines.get(key);
    if (m.machineRegistrationId) {
      const oldKey = this.#byRegId.get(m.machineRegistrationId);
      if (oldKey && oldKey !== key && this.machines.has(oldKey) && !entry) {
        // Renamed machine: move the entry, with its sessions and state.
        entry = this.machines.get(oldKey)!;
        this.machines.delete(oldKey);
        if (this.#byName.get(entry.name) === oldKey) this.#byName.delete(entry.name);
        entry.key = key;
        entry.name = m.machineName;
        entry.agentId = m.agentId;
        this.machines.set(key, entry);
      }
    }
    if (!entry) {
      if (this.machines.size >= this.maxMachines) this.#forgetLongestOffline();
      entry = {
        key,
        name: m.machineName,
        agentId: m.agentId,
        machineRegistrationId: m.machineRegistrationId || crypto.randomUUID(),
        displayName: "",
        hostname: "",
        os: "",
        agentVersion: "",
        location: "",
        owner: "",
        tags: [],
        services: [],
        token: "",
        sessions: new Map(),
        usedIdx: new Uint8Array(MAX_SESSIONS + 1),
      };
      this.machines.set(key, entry);
    }
    this.#byRegId.set(entry.machineRegistrationId, key);
    this.#byName.set(m.machineName, key);
    this.changed();
    return entry;
  }

  /**
   * The entries named `name` other than the one keyed `key` (registrations of the same
   * machine name by another `agentId`, spec session-and-relay.md §3.1.1).
   */
  othersNamed(name: string, key: string): Machine[] {
    return [...this.machines.values()].filter((e) => e.name === name && e.key !== key);
  }

  /**
   * Drops an entry that has no control socket and no session left (the caller ended them).
   * A no-op for an entry not held.
   */
  forget(e: Machine): void {
    if (this.machines.get(e.key) !== e) return;
    this.#forget(e);
    this.changed();
  }

  /** Makes room for one entry by forgetting the one offline the longest. */
  #forgetLongestOffline(): void {
    let oldest: Machine | undefined;
    let oldestSeen = Infinity;
    for (const e of this.machines.values()) {
      if (e.control || e.sessions.size > 0) continue;
      const seen = (e.lastSeen ?? e.registeredAt)?.getTime() ?? 0;
      if (seen < oldestSeen) oldest = e, oldestSeen = seen;
    }
    if (!oldest) throw new RegistryFullError(this.maxMachines);
    this.#forget(oldest);
    this.changed();
  }

  #forget(e: Machine): void {
    this.machines.delete(e.key);
    if (this.#byName.get(e.name) === e.key) this.#byName.delete(e.name);
    if (this.#byRegId.get(e.machineRegistrationId) === e.key) {
      this.#byRegId.delete(e.machineRegistrationId);
    }
  }

  /**
   * Takes the lowest free session index of `entry`.
   * @returns 1..{@link MAX_SESSIONS}, or 0 when all are taken.
   */
  takeIndex(entry: Machine): number {
    for (let n = 1; n <= MAX_SESSIONS; n++) {
      if (!entry.usedIdx[n]) {
        entry.usedIdx[n] = 1;
        return n;
      }
    }
    return 0;
  }

  /** A session id (16 hex chars) not in use. */
  freshSessionId(random: () => string): string {
    let id = random();
    while (this.sessions.has(id)) id = random();
    return id;
  }

  /** Adds a session to its machine and the global index. */
  addSession(s: Session): void {
    s.machine.sessions.set(s.id, s);
    this.sessions.set(s.id, s);
    this.changed();
  }

  /** Removes a session and frees its index. */
  removeSession(s: Session): void {
    s.machine.sessions.delete(s.id);
    s.machine.usedIdx[s.idx] = 0;
    this.sessions.delete(s.id);
    this.changed();
  }

  /**
   * Drops machines whose agent has been disconnected for longer than `retentionMs`
   * (no control socket, no session, `lastSeen` older than `now - retentionMs`).
   * @param now epoch ms.
   * @returns the names of the machines removed.
   */
  prune(now: number, retentionMs: number): string[] {
    const removed: string[] = [];
    for (const e of this.machines.values()) {
      if (e.control || e.sessions.size > 0) continue;
      const seen = (e.lastSeen ?? e.registeredAt)?.getTime() ?? 0;
      if (now - seen <= retentionMs) continue;
      this.#forget(e);
      removed.push(e.name);
    }
    if (removed.length) this.changed();
    return removed;
  }

  /**
   * The `machines` array of `/api/status` (spec hub-http-api.md §4.1), sorted by id, filtered
   * by `visible`, each with our `sessions` array (`{index, client, agent, since}`: the
   * transport of each side, issue 11). `lastSeen` of a connected agent is at least
   * `now - idleTimeoutS`: the WebSocket layer closes a socket whose pong is that late, so an
   * open control socket proves it.
   * @param idleTimeoutS the WebSocket idle timeout, seconds.
   */
  machineList(
    visible: (name: string) => boolean,
    now: Date,
    idleTimeoutS: number,
    services?: (name: string) => string[] | undefined,
  ): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    const entries = [...this.machines.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : a.key < b.key ? -1 : 1
    );
    const nul = (s: string) => s === "" ? null : s;
    for (const e of entries) {
      if (!visible(e.name)) continue;
      let lastSeen = e.lastSeen;
      if (e.control) {
        const floor = new Date(now.getTime() - idleTimeoutS * 1000);
        if (!lastSeen || lastSeen < floor) lastSeen = floor;
      }
      const o: Record<string, unknown> = { id: e.name };
      if (e.agentId) o.agentId = e.agentId;
      if (e.machineRegistrationId) o.machineRegistrationId = e.machineRegistrationId;
      o.displayName = nul(e.displayName);
      o.hostname = nul(e.hostname);
      o.os = nul(e.os);
      o.agentVersion = nul(e.agentVersion);
      o.tags = e.tags;
      o.location = nul(e.location);
      o.owner = nul(e.owner);
      o.agentConnected = !!e.control;
      o.sessionCount = e.sessions.size;
      // Our addition (issue 11): each session's transport per side; Go consumers ignore it.
      o.sessions = sessionTransportList(e.sessions.values());
      o.registeredAt = e.registeredAt ? rfc3339(e.registeredAt) : null;
      o.lastSeen = lastSeen ? rfc3339(lastSeen) : null;
      const filter = services?.(e.name);
      o.services = filter ? e.services.filter((x) => serviceAllowed(x, filter)) : e.services;
      if (e.capabilities) o.capabilities = e.capabilities;
      if (e.protocolVersion !== undefined) o.protocolVersion = e.protocolVersion;
      out.push(o);
    }
    return out;
  }
}
