/**
 * Hub bridges, the "relay gateway" (spec session-and-relay.md §3.7; hub-http-api.md
 * `bridges[]`, §4.1 `reachableThrough`, §7 history): a client that connects to a machine not
 * registered here but listed in a `bridges:` entry is carried to the remote hub named there.
 * This hub dials that hub with the entry's own token, sends it an ordinary `connect` (to the
 * remote hub this hub is just a client), and once the remote hub answers `ready` it pairs the
 * client's WebSocket with the bridge WebSocket. From then on it relays frames blind, as it
 * does for local sessions: only the 7-byte relay header is read (hop byte, §4.3), never the
 * payload.
 *
 * Exact sequence (§3.7): connect permission checked on this hub (signaling.ts) → dial (15 s
 * handshake, one new WebSocket per session, no reuse, no reconnect) → `connect` with the
 * bridge token and the client's `wgPubKey`/`ports` → read up to 30 s, discarding binary and
 * `udp-offer`, until `ready` (its `sessionIdx` is passed on) or `error` (its text goes to the
 * client with 1008) → pair → `ready` then `udp-offer` with one client-leg UDP token that has
 * no peer token (UDP frames from the client go to the bridge WebSocket, §5.4 step 6) → a
 * reader on the bridge WebSocket forwards binary frames (hop processing with the entry's
 * `maxHops`) and every text but `udp-offer` (dropped) and `session-end` (ends the session).
 * Teardown: bridge gone → the client gets 1001 `bridge session ended`; client gone → the
 * bridge WebSocket is closed (no `session-end`; the remote hub tells its agent).
 *
 * Limits on what the remote hub sends (it is trusted no more than a client): a binary frame
 * over `MAX_FRAME_BYTES` (relay.ts, the limit the hub puts on its own peers) ends the bridged
 * session, the bridge WebSocket closed with 1009 — such a frame is no relay frame, and a
 * remote hub that sends one is broken or hostile, so dropping it and carrying on would only
 * hide that; the bridge socket refuses any message over the hub's message limit from its
 * header, before buffering it. Text for a client whose send buffer holds more than the
 * relay's limit (`Relay.sendBufferLimit`, 4 MiB) ends the session too: relay frames are
 * dropped under that pressure (WireGuard recovers), but text is signaling and cannot be.
 *
 * Loop protection. Frames whose hop budget runs out are dropped (§4.3), which bounds a data
 * path but not session setup: with hub A bridging `m` to hub B and B bridging `m` back to A
 * (and `m` registered on neither), every `connect` would make the next hub dial again, for
 * ever. Each bridged `connect` carries the client's `wgPubKey` unchanged through every hop
 * (Go hubs forward it verbatim too), and a client makes a fresh key pair per session. So a
 * hub that receives a `connect` for machine `m` with key `K` while its own bridge setup for
 * `(m, K)` is still waiting for `ready` has seen its own request come back: it refuses it with
 * an `error` naming the loop. That error travels back through every hub of the cycle (each
 * forwards the remote hub's `error` text, §3.7 step 4) and reaches the client, which sees the
 * cause instead of a hang. Nothing is added to the wire, so this works when Go hubs are part
 * of the cycle, as long as one of our hubs is. A `connect` without `wgPubKey` could not be
 * recognised and is therefore not bridged (no session can work without that key anyway).
 * The other candidates were rejected: a hop count in a new `connect` field or header is lost
 * as soon as a Go hub is in the chain; refusing every `connect` that came from a bridge
 * would also refuse legitimate chains (A → B → C, the multi-hop relay gateway of the book).
 *
 * The bridge WebSocket is the project's own client socket (lib/transport/ws_client.ts), not
 * the runtime's `WebSocket`: a Close that the remote hub does not answer within
 * {@link BRIDGE_CLOSE_TIMEOUT_MS} drops the TCP connection, so a silent remote hub cannot
 * keep this hub's descriptors. At most {@link MAX_BRIDGED_SESSIONS} sessions go through one
 * `bridges:` entry at a time (like the 254 sessions of a local machine); more are refused
 * with the hub's `Too many sessions` text.
 *
 * Not carried over from Go HEAD (§14): the TLS SPKI `pin` of an entry is refused with a
 * config error (never accepted unchecked), and the bridge WebSocket is not pinged by this
 * hub (the remote hub's TCP errors and the close timeout end a dead bridge).
 *
 * @module
 */
import { ConfigError, describeKind, describeValue } from "../config/mod.ts";
import { escapeForLog, logger } from "../log/mod.ts";
import {
  applyHop,
  type ConnectMessage,
  DEFAULT_MAX_HOPS,
  HubClose,
  HubErrors,
  isKeepaliveText,
  makeError,
  makeReady,
  makeUdpOffer,
  randomHex,
} from "../protocol/mod.ts";
import { classifyHubError, diagnoseDialFailure } from "../session/hub_error.ts";
import { closeReason } from "./access/enforce.ts";
import type { History } from "./history.ts";
import { MAX_FRAME_BYTES, type Relay } from "./relay.ts";
import { type BridgeLink, closeSocket, type HubSocket, sendJson } from "./socket.ts";
import { MAX_MESSAGE_BYTES } from "./front_end.ts";
import type { HubWebSocket } from "./websocket.ts";
import { dialWebSocket } from "../transport/ws_client.ts";
import type { UdpRelay, UdpTokenEntry } from "./udp_relay.ts";

const log = logger("hub");

/** WebSocket handshake timeout of the bridge dial, ms (spec §3.7 step 2, §12). */
export const BRIDGE_DIAL_TIMEOUT_MS = 15_000;
/** Time the remote hub has to answer `ready` or `error`, ms (spec §3.7 step 4). */
export const BRIDGE_SETUP_TIMEOUT_MS = 30_000;

/** Time the remote hub has to answer this hub's Close before the TCP connection is dropped, ms. */
export const BRIDGE_CLOSE_TIMEOUT_MS = 5_000;
/** Most bridged sessions (set up or established) through one `bridges:` entry at a time. */
export const MAX_BRIDGED_SESSIONS = 254;

/** Error texts sent to the client (spec §2.12); details follow after `: ` where useful. */
export const BridgeErrors = {
  connectFailed: "Bridge connect failed",
  setupFailed: "Bridge session setup failed",
  loop: "Bridge loop",
} as const;

/** Close reason of a client whose bridge WebSocket ended (spec §1.6). */
export const BRIDGE_SESSION_ENDED = "bridge session ended";

/** One validated `bridges:` entry (hub-http-api.md §10.1). */
export interface BridgeRoute {
  /** The remote hub's id (history `via=`, `/api/status` `reachableThrough.hubId`); may be empty. */
  hubId: string;
  /** `ws://` or `wss://` URL of the remote hub, dialled as written. */
  url: string;
  /** Token this hub presents on the remote hub (`connect.token`); never logged. */
  token: string;
  /** Hop budget of frames read from the bridge WebSocket (§4.3); 0 in the file means 8. */
  maxHops: number;
  /** Machine names reached through this bridge. */
  machines: string[];
}

const ENTRY_KEYS = ["hubId", "url", "token", "maxHops", "machines", "pin"];

/**
 * @throws {ConfigError} `key "<key>": expected <what>, got <value>; <fix>`; the value is
 *   shown by {@link describeValue} (cycle-safe, length-capped), or only by its kind when
 *   `secret` (a token is never printed).
 */
function bad(
  path: string,
  key: string,
  what: string,
  got: unknown,
  fix: string,
  secret = false,
): never {
  const shown = secret ? describeKind(got) : describeValue(got);
  throw new ConfigError(path, `key "${key}": expected ${what}, got ${shown}; ${fix}`);
}

/**
 * Validates the `bridges:` list of a hub config.
 * @param path the config file, named in errors.
 * @param raw the parsed YAML value (`undefined`/`null` = no bridges).
 * @returns the entries, `maxHops` 0/absent turned into 8.
 * @throws {ConfigError} naming the file, the key (`bridges[1].url`), what was expected and
 *   the fix: `url` must be `ws://` or `wss://`, `machines` a non-empty list of names,
 *   `maxHops` an integer 0-255, `hubId` and `token` strings.
 */
export function validateBridges(path: string, raw: unknown): BridgeRoute[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    bad(
      path,
      "bridges",
      "a list of {hubId, url, token, maxHops, machines}",
      raw,
      "fix or remove it",
    );
  }
  return raw.map((item, i) => {
    const k = `bridges[${i}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      bad(
        path,
        k,
        "a mapping with hubId, url, token and machines",
        item,
        "fix or remove the entry",
      );
    }
    const o = item as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!ENTRY_KEYS.includes(key)) {
        bad(
          path,
          `${k}.${key}`,
          `one of ${ENTRY_KEYS.join(", ")}`,
          key,
          "remove or rename the key",
        );
      }
    }
    const text = (key: string, v: unknown): string => {
      if (v === undefined || v === null) return "";
      if (typeof v === "number") return String(v);
      if (typeof v !== "string") {
        bad(path, `${k}.${key}`, "a string", v, "fix the value", key === "token");
      }
      return v;
    };
    // A pin this hub does not check would be a silent downgrade: refuse it (issue 15 adds
    // certificate pinning).
    if (o.pin !== undefined && o.pin !== null && o.pin !== "") {
      bad(
        path,
        `${k}.pin`,
        "no pin (this hub cannot check a bridge's TLS certificate pin yet)",
        o.pin,
        "remove the pin to bridge without it, or leave this bridge out until pinning is supported",
      );
    }
    const hubId = text("hubId", o.hubId);
    const token = text("token", o.token);
    const url = text("url", o.url);
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch { /* reported below */ }
    if (!parsed || (parsed.protocol !== "ws:" && parsed.protocol !== "wss:")) {
      bad(
        path,
        `${k}.url`,
        "a ws:// or wss:// URL of the remote hub",
        o.url,
        "write it as the remote hub's agents and clients would (e.g. wss://hub-b.example.com)",
      );
    }
    let maxHops = DEFAULT_MAX_HOPS;
    if (o.maxHops !== undefined && o.maxHops !== null) {
      const v = o.maxHops;
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 255) {
        bad(path, `${k}.maxHops`, "an integer 0-255 (0 means 8)", v, "fix it or remove the key");
      }
      if (v > 0) maxHops = v;
    }
    const m = o.machines;
    if (!Array.isArray(m) || m.length === 0) {
      bad(
        path,
        `${k}.machines`,
        "a non-empty list of machine names",
        m,
        "list the machines reached through this bridge, e.g. machines: [web01, db01]",
      );
    }
    const machines = m.map((x, j) => {
      if (typeof x !== "string" || x === "") {
        bad(path, `${k}.machines[${j}]`, "a machine name", x, "fix the name or remove it");
      }
      return x;
    });
    return { hubId, url, token, maxHops, machines };
  });
}

/** What bridging needs from the hub around it. */
export interface BridgeContext {
  /** This hub's id (entries naming it are skipped). */
  hubId: string;
  relay: Relay;
  history: History;
  /** UDP relay port advertised in `udp-offer` (even if binding failed, like Go). */
  udpPort: number;
  /** `udpHost`, advertised when set. */
  udpHost?: string;
  udp?: UdpRelay;
  /** Handshake timeout of the dial, ms (default {@link BRIDGE_DIAL_TIMEOUT_MS}). */
  dialTimeoutMs?: number;
  /** Time the remote hub has for `ready`/`error`, ms (default {@link BRIDGE_SETUP_TIMEOUT_MS}). */
  setupTimeoutMs?: number;
  /** Time the remote hub has to answer a Close, ms (default {@link BRIDGE_CLOSE_TIMEOUT_MS}). */
  closeTimeoutMs?: number;
  /** Most sessions per `bridges:` entry (default {@link MAX_BRIDGED_SESSIONS}). */
  maxSessionsPerRoute?: number;
}

/** Counters (tests, status): sessions set up, refusals, and frames the bridge reader dropped. */
export interface BridgeStats {
  established: number;
  loopsRefused: number;
  framesDropped: number;
}

/** The bridge directory and every bridged session of one hub. */
export class Bridges {
  readonly #byMachine = new Map<string, BridgeRoute>();
  readonly #routes: BridgeRoute[] = [];
  /** `machine \n wgPubKey` of bridge setups waiting for the remote hub's answer. */
  readonly #setups = new Set<string>();
  readonly #sessions = new Set<BridgedSession>();
  /** Live sessions per route (the cap of {@link MAX_BRIDGED_SESSIONS}). */
  readonly #perRoute = new Map<BridgeRoute, number>();
  readonly stats: BridgeStats = { established: 0, loopsRefused: 0, framesDropped: 0 };

  /**
   * @param routes the validated `bridges:` entries (spec hub-http-api.md §10.4 step 2: the
   *   directory is built once at start). An entry naming this hub's own `hubId` is skipped
   *   with a log line; a machine listed twice goes through the first entry naming it.
   */
  constructor(routes: BridgeRoute[], readonly ctx: BridgeContext) {
    for (const r of routes) {
      if (r.hubId && r.hubId === ctx.hubId) {
        log.info(
          `bridge to ${escapeForLog(r.url)} skipped: its hubId ${
            escapeForLog(r.hubId)
          } is this hub's own id`,
        );
        continue;
      }
      this.#routes.push(r);
      for (const m of r.machines) {
        const first = this.#byMachine.get(m);
        if (first) {
          log.warn(
            `bridge: machine ${escapeForLog(m)} is listed for ${escapeForLog(first.url)} and ${
              escapeForLog(r.url)
            }; using ${escapeForLog(first.url)}`,
          );
          continue;
        }
        this.#byMachine.set(m, r);
      }
    }
  }

  /** The bridge that reaches `machine`, if any. */
  route(machine: string): BridgeRoute | undefined {
    return this.#byMachine.get(machine);
  }

  /** Number of bridged sessions being set up or established, and not yet ended. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * The bridged machines of `/api/status` (hub-http-api.md §4.1), in config order: all
   * nullable fields null, `agentConnected:false`, `sessionCount:0`, and `reachableThrough`.
   * @param visible the caller may see this machine (auth `canView`).
   */
  statusList(visible: (name: string) => boolean): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const [name, r] of this.#byMachine) {
      if (!visible(name)) continue;
      const through: Record<string, string> = {};
      if (r.hubId) through.hubId = r.hubId;
      through.hubUrl = r.url;
      out.push({
        id: name,
        displayName: null,
        hostname: null,
        os: null,
        agentVersion: null,
        tags: [],
        location: null,
        owner: null,
        agentConnected: false,
        sessionCount: 0,
        registeredAt: null,
        lastSeen: null,
        services: [],
        reachableThrough: through,
      });
    }
    return out;
  }

  /**
   * Carries a client's `connect` to the remote hub (spec §3.7 steps 2-7). The caller has
   * checked the client's connect permission on this hub. Failures reach the client as
   * `error` + 1008: the remote hub's own error text, {@link BridgeErrors}.connectFailed (dial
   * failed), .setupFailed (no answer in time, bridge closed), or .loop (see the module doc).
   * @param client the client's socket (role `client`, unpaired).
   * @param m its `connect`.
   * @param route from {@link route}.
   */
  open(client: HubSocket, m: ConnectMessage, route: BridgeRoute): void {
    const name = m.machineId;
    if (!m.wgPubKey) {
      reject(client, `${BridgeErrors.setupFailed}: connect carries no wgPubKey`);
      return;
    }
    const setupKey = `${name}\n${m.wgPubKey}`;
    if (this.#setups.has(setupKey)) {
      this.stats.loopsRefused++;
      log.warn(
        `bridge loop: connect for ${escapeForLog(name)} from ${client.remote} came back to this` +
          ` hub while its own bridge setup for that client waits; check the bridges: entries`,
      );
      reject(
        client,
        `${BridgeErrors.loop}: machine ${name} is bridged back to hub ${
          this.ctx.hubId || "(unnamed)"
        }; fix the bridges: entries so the chain ends at the hub where ${name} registers`,
      );
      return;
    }
    const max = this.ctx.maxSessionsPerRoute ?? MAX_BRIDGED_SESSIONS;
    if ((this.#perRoute.get(route) ?? 0) >= max) {
      log.warn(
        `bridge to ${escapeForLog(route.url)}: ${max} sessions already; refusing ` +
          `${escapeForLog(name)} for ${client.remote}`,
      );
      reject(client, HubErrors.tooManySessions);
      return;
    }
    const s = new BridgedSession(this, client, m, route, setupKey);
    this.#setups.add(setupKey);
    this.track(s, true);
    client.bridged = s;
    s.start().catch((err) => {
      log.error(`bridge ${s.id.slice(0, 8)}: ${escapeForLog(String(err))}`);
      s.end("bridge");
    });
  }

  /** Bookkeeping of {@link BridgedSession}: its setup is over (either way). */
  setupDone(key: string): void {
    this.#setups.delete(key);
  }

  /** Bookkeeping of {@link BridgedSession}: opened, or ended. */
  track(s: BridgedSession, live: boolean): void {
    const had = this.#sessions.has(s);
    if (live === had) return;
    if (live) this.#sessions.add(s);
    else this.#sessions.delete(s);
    const n = (this.#perRoute.get(s.route) ?? 0) + (live ? 1 : -1);
    if (n > 0) this.#perRoute.set(s.route, n);
    else this.#perRoute.delete(s.route);
  }

  /** Ends every bridged session and pending setup (hub shutdown). */
  closeAll(): void {
    for (const s of [...this.#sessions]) s.end("shutdown");
  }
}

/** Sends the client `error` + 1008 with `text` (spec §2.12). */
function reject(client: HubSocket, text: string): void {
  sendJson(client, makeError(text));
  closeSocket(client, HubClose.policy, closeReason(text));
}

/** A `type` field peeked from a text message; undefined when it is not a JSON object. */
function typeOf(text: string): string | undefined {
  try {
    const o = JSON.parse(text);
    return o && typeof o === "object" && typeof o.type === "string" ? o.type : undefined;
  } catch {
    return undefined;
  }
}

/** One bridged session: the client's socket here and one outbound WebSocket to the remote hub. */
class BridgedSession implements BridgeLink {
  /** This hub's session id (16 hex), as in history `session=<8 hex>`. */
  readonly id = randomHex(8);
  #ws?: HubWebSocket;
  /** The bridge WebSocket as a hub socket, so the relay can send to it. */
  #remote?: HubSocket;
  #phase: "dial" | "setup" | "paired" | "ended" = "dial";
  #timer?: ReturnType<typeof setTimeout>;
  #udp?: UdpTokenEntry;

  constructor(
    readonly bridges: Bridges,
    readonly client: HubSocket,
    readonly connect: ConnectMessage,
    readonly route: BridgeRoute,
    readonly setupKey: string,
  ) {}

  get #ctx(): BridgeContext {
    return this.bridges.ctx;
  }

  /** The machine name the client asked for (BridgeLink). */
  get machine(): string {
    return this.connect.machineId;
  }

  /** Dials, sends `connect`, and waits for the remote hub's answer (§3.7 steps 2-4). */
  async start(): Promise<void> {
    const ctx = this.#ctx;
    const url = this.route.url;
    let ws: HubWebSocket;
    try {
      ws = await dialWebSocket(url, {
        timeoutMs: ctx.dialTimeoutMs ?? BRIDGE_DIAL_TIMEOUT_MS,
        maxMessageBytes: MAX_MESSAGE_BYTES,
        closeTimeoutMs: ctx.closeTimeoutMs ?? BRIDGE_CLOSE_TIMEOUT_MS,
      });
    } catch (err) {
      const cause = await diagnoseDialFailure(url, err).catch(() => err);
      const kind = classifyHubError(cause);
      log.warn(
        `bridge to ${escapeForLog(url)} for ${escapeForLog(this.machine)}: dial failed (${kind}): ${
          escapeForLog((cause as Error)?.message ?? String(cause))
        }`,
      );
      this.#fail(
        `${BridgeErrors.connectFailed}: hub ${this.route.hubId || url} ${
          kind === "refused"
            ? "refused the connection"
            : kind === "timeout"
            ? "did not answer in time"
            : `is unreachable (${kind})`
        }`,
      );
      return;
    }
    if (this.#phase === "ended") {
      ws.close();
      return;
    }
    this.#ws = ws;
    this.#phase = "setup";
    const remote: HubSocket = {
      id: 0,
      ws,
      remote: url,
      role: "bridge",
      closed: false,
      sendFrame: (frame: Uint8Array) => ctx.relay.sendFrame(remote, frame),
    };
    this.#remote = remote;
    ws.onmessage = (ev) => {
      try {
        if (typeof ev.data === "string") this.#onText(ev.data);
        else this.#onBinary(new Uint8Array(ev.data as ArrayBuffer));
      } catch (err) {
        log.error(`bridge ${this.id.slice(0, 8)}: ${escapeForLog(String(err))}`);
        this.end("bridge");
      }
    };
    ws.onclose = () => {
      remote.closed = true;
      if (this.#phase === "setup") this.#fail(BridgeErrors.setupFailed);
      else this.end("bridge");
    };
    ws.onerror = () => {/* onclose follows */};
    const c = this.connect;
    const msg: Record<string, unknown> = { machineId: c.machineId };
    if (c.ports?.length) msg.ports = c.ports;
    msg.token = this.route.token;
    msg.type = "connect";
    msg.wgPubKey = c.wgPubKey;
    ws.send(JSON.stringify(msg) + "\n"); // Go's WriteJSON adds the newline (§1.3)
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#phase !== "setup") return;
      log.warn(
        `bridge to ${escapeForLog(url)} for ${escapeForLog(this.machine)}: no ready or error ` +
          `within ${(ctx.setupTimeoutMs ?? BRIDGE_SETUP_TIMEOUT_MS) / 1000} s`,
      );
      this.#fail(BridgeErrors.setupFailed);
    }, ctx.setupTimeoutMs ?? BRIDGE_SETUP_TIMEOUT_MS);
  }

  #onText(text: string): void {
    const type = typeOf(text);
    if (this.#phase === "setup") {
      if (type === "ready") {
        const idx = Number(JSON.parse(text).sessionIdx);
        this.#pair(Number.isInteger(idx) ? idx : 0);
      } else if (type === "error") {
        const m = JSON.parse(text).message;
        const why = typeof m === "string" && m ? m : BridgeErrors.setupFailed;
        log.info(
          `bridge to ${escapeForLog(this.route.url)} for ${
            escapeForLog(this.machine)
          }: remote hub ` +
            `refused: ${escapeForLog(why)}`,
        );
        this.#fail(why);
      }
      return; // udp-offer and anything else before ready: discarded (§3.7 step 4)
    }
    if (this.#phase !== "paired") return;
    if (type === "udp-offer") return; // the bridge leg stays on WebSocket (§3.7 step 9)
    if (type === "session-end") return this.end("bridge");
    if (isKeepaliveText(text)) return;
    const to = this.client;
    if (to.closed || to.ws.readyState !== WebSocket.OPEN) return;
    if (to.ws.bufferedAmount > this.#ctx.relay.sendBufferLimit) {
      log.warn(
        `bridge ${
          this.id.slice(0, 8)
        }: client ${to.remote} does not read (over ${this.#ctx.relay.sendBufferLimit} bytes queued); ending the session`,
      );
      return this.end("bridge");
    }
    to.ws.send(text);
  }

  #onBinary(frame: Uint8Array): void {
    if (this.#phase !== "paired") return; // discarded before ready (§3.7 step 4)
    if (frame.length > MAX_FRAME_BYTES) {
      log.warn(
        `bridge ${this.id.slice(0, 8)}: hub ${
          escapeForLog(this.route.hubId || this.route.url)
        } sent a ${frame.length}-byte frame (max ${MAX_FRAME_BYTES}); ending the session`,
      );
      this.#closeRemote(HubClose.tooBig);
      return this.end("bridge");
    }
    const verdict = applyHop(frame, this.route.maxHops);
    if (verdict !== "forward") {
      this.bridges.stats.framesDropped++;
      if (verdict === "invalid") {
        log.debug(`bridge ${this.id.slice(0, 8)}: dropped a malformed relay frame`);
      }
      return;
    }
    this.#ctx.relay.sendFrame(this.client, frame);
  }

  /** §3.7 steps 5-6: pair, `ready` with the remote index, `udp-offer` for the client leg. */
  #pair(idx: number): void {
    const ctx = this.#ctx;
    const client = this.client;
    this.#clearSetup();
    if (client.closed || client.ws.readyState !== WebSocket.OPEN) return this.end("client");
    this.#phase = "paired";
    this.bridges.stats.established++;
    client.paired = this.#remote;
    sendJson(client, makeReady(idx));
    let token = randomHex(8);
    if (ctx.udp) {
      this.#udp = ctx.udp.createBridgeLeg(client, this.#remote!);
      token = this.#udp.hex;
    }
    sendJson(client, makeUdpOffer(ctx.udpPort, token, ctx.udpHost || undefined));
    ctx.history.record(
      this.machine,
      "client-connect-bridge",
      `via=${this.route.hubId} session=${this.id.slice(0, 8)}`,
      { identity: client.identityId },
    );
    log.info(
      `bridged session ${this.id.slice(0, 8)} up: ${escapeForLog(this.machine)} via ${
        escapeForLog(this.route.hubId || this.route.url)
      } #${idx}`,
    );
  }

  #clearSetup(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.bridges.setupDone(this.setupKey);
  }

  /** Setup failed: the client gets `error` + 1008 with `text`; the bridge WebSocket closes. */
  #fail(text: string): void {
    if (this.#phase === "ended") return;
    this.#phase = "ended";
    this.#clearSetup();
    this.bridges.track(this, false);
    this.client.bridged = undefined;
    reject(this.client, text);
    this.#closeRemote(1000);
  }

  #closeRemote(code: number): void {
    const ws = this.#ws;
    if (!ws || ws.readyState >= WebSocket.CLOSING) return; // closing: its own timeout runs
    try {
      ws.close(code);
    } catch { /* closing */ }
  }

  /**
   * Ends the session once (§3.7 step 8): `client` closes the bridge WebSocket; `bridge`
   * (closed, or `session-end`) closes the client with 1001 `bridge session ended`;
   * `shutdown` closes both.
   */
  end(cause: "client" | "bridge" | "shutdown"): void {
    const was = this.#phase;
    if (was === "ended") return;
    this.#phase = "ended";
    this.#clearSetup();
    this.bridges.track(this, false);
    this.client.bridged = undefined;
    if (this.client.paired === this.#remote) this.client.paired = undefined;
    this.#ctx.udp?.deletePair(this.#udp);
    if (cause !== "client") {
      closeSocket(
        this.client,
        HubClose.goingAway,
        cause === "bridge" ? BRIDGE_SESSION_ENDED : "hub shutting down",
      );
    }
    this.#closeRemote(1000);
    if (was === "paired") {
      this.#ctx.history.record(
        this.machine,
        "client-disconnect-bridge",
        `session=${this.id.slice(0, 8)}`,
        {
          identity: this.client.identityId,
        },
      );
      log.info(`bridged session ${this.id.slice(0, 8)} ended (${cause})`);
    }
  }
}
