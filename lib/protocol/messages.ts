/**
 * Signaling messages: the JSON text frames hub, agent and client exchange on their
 * WebSockets (spec session-and-relay.md §2), with a validating decoder.
 *
 * Decoding follows what a Go v0.14 peer accepts, so that our peers and Go peers
 * agree on what is malformed (spec §1.3):
 * - unknown fields are ignored; field names match case-insensitively (Go's
 *   `encoding/json`), the exact name winning when both are present;
 * - a known field with the wrong JSON type (`"ports":["22"]`, `"sessionIdx":"3"`)
 *   is an error ({@link ProtocolError}); `null` counts as absent;
 * - an unknown `type` is not an error: it decodes to `{ type: "unknown" }`.
 *
 * Encoders emit compact JSON. Messages the Go hub builds from maps carry sorted
 * keys; the `make*` constructors below reproduce that order for fidelity (order
 * carries no meaning).
 *
 * @module
 */

/** Largest signaling text message the hub accepts before pairing, in bytes (Go has no limit; we do). */
export const MAX_SIGNAL_BYTES = 64 * 1024;

/** A message failed validation; the text names the field and what was expected. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** One service an agent advertises (§2.1). */
export interface ServiceDescriptor {
  port: number;
  proto?: string;
  name?: string;
  description?: string;
}

/** Agent → hub, control WS (§2.1). */
export interface RegisterMessage {
  type: "register";
  machineName: string;
  agentId: string;
  machineRegistrationId?: string;
  displayName?: string;
  hostname?: string;
  os?: string;
  agentVersion?: string;
  location?: string;
  owner?: string;
  tags?: string[];
  token?: string;
  ports?: number[];
  services?: ServiceDescriptor[];
  /** Opaque to the hub; passed through to /api/status. */
  capabilities?: Record<string, unknown>;
  protocolVersion?: number;
}

/** Hub → agent (§2.2). `defaultUpdate` keys are capitalised as Go emits them. */
export interface RegisteredMessage {
  type: "registered";
  machineId: string;
  defaultUpdate?: { Channel?: string; Sources?: Record<string, string> | null };
}

/** Client → hub (§2.3). */
export interface ConnectMessage {
  type: "connect";
  machineId: string;
  /** Client's per-session X25519 public key, 64 lowercase hex chars. */
  wgPubKey: string;
  ports?: number[];
  token?: string;
  protocolVersion?: number;
}

/** Hub → agent control WS (§2.4). */
export interface SessionRequestMessage {
  type: "session-request";
  sessionId: string;
  sessionIdx: number;
  wgPubKey: string;
  /**
   * The ports this client may reach in this session (issue 10, decision 3: a per-service
   * connect grant). Absent: every port the agent exposes. Our hub's addition; Go agents
   * ignore it, so for them the hub's refusal of the `connect` is the only enforcement.
   */
  ports?: number[];
}

/** Agent → hub, first message of a per-session WS (§2.5). */
export interface SessionJoinMessage {
  type: "session-join";
  machineId: string;
  sessionId: string;
}

/** Hub → agent per-session WS (§2.6). */
export interface SessionStartMessage {
  type: "session-start";
  wgPubKey?: string;
}

/** Hub → client (§2.7). */
export interface ReadyMessage {
  type: "ready";
  sessionIdx: number;
}

/** Hub → each side (§2.8). */
export interface UdpOfferMessage {
  type: "udp-offer";
  port: number;
  /** 16 lowercase hex chars, different per side. */
  token: string;
  host?: string;
}

/** Agent → client, relayed verbatim (§2.9). */
export interface WgPubKeyMessage {
  type: "wg-pubkey";
  wgPubKey: string;
  ports?: number[];
  capabilities?: Record<string, unknown>;
}

/** Agent ↔ client, relayed verbatim (§2.10). `message` is `"a.b.c.d:port"`. */
export interface PeerEndpointMessage {
  type: "peer-endpoint";
  message: string;
}

/** Hub → agent per-session WS when the client left (§2.11). */
export interface SessionEndMessage {
  type: "session-end";
}

/** Hub → any peer, followed by Close 1008 with the same text (§2.12). */
export interface ErrorMessage {
  type: "error";
  message: string;
}

/** Client / agent per-session → hub, absorbed by the hub (§2.13). */
export interface KeepaliveMessage {
  type: "keepalive";
}

/** Hub → agent control WS (§2.14). */
export interface MgmtRequestMessage {
  type: "mgmt-request";
  requestId: string;
  action: string;
  payload?: unknown;
}

/** Agent → hub control WS (§2.15). The hub passes the raw text through. */
export interface MgmtResponseMessage {
  type: "mgmt-response";
  requestId: string;
  ok?: boolean;
  message?: string;
  payload?: unknown;
}

/**
 * The three paths a session's WireGuard datagrams can take (spec §7.1, in preference order),
 * also the wire values of the `transport` report.
 */
export const TRANSPORT_NAMES = ["direct", "udp-relay", "websocket"] as const;

/** One of {@link TRANSPORT_NAMES}. */
export type TransportName = typeof TRANSPORT_NAMES[number];

/**
 * Agent or client → hub on the session WebSocket, our extension (issue 11): the path this side
 * sends its datagrams on now, sent at every change. A hub relays it to the peer like any
 * paired text (spec §1.6; a Go hub does that too, and a Go peer ignores the unknown type);
 * our hub also records it for `/api/status`. A `transport` value outside
 * {@link TRANSPORT_NAMES} (a newer peer's path) makes the whole message decode as unknown.
 */
export interface TransportMessage {
  type: "transport";
  transport: TransportName;
}

/** A message whose `type` is not in the v0.14 catalogue (ignored by receivers). */
export interface UnknownMessage {
  type: "unknown";
  /** The `type` the sender wrote ("" when absent). */
  rawType: string;
}

/** Every signaling message of the v0.14 catalogue. */
export type SignalMessage =
  | RegisterMessage
  | RegisteredMessage
  | ConnectMessage
  | SessionRequestMessage
  | SessionJoinMessage
  | SessionStartMessage
  | ReadyMessage
  | UdpOfferMessage
  | WgPubKeyMessage
  | PeerEndpointMessage
  | SessionEndMessage
  | ErrorMessage
  | KeepaliveMessage
  | MgmtRequestMessage
  | MgmtResponseMessage
  | TransportMessage;

type Kind = "string" | "int" | "bool" | "string[]" | "int[]" | "services" | "object" | "any";

/**
 * Field kinds of the union of all message structs, like the single struct a Go
 * hub decodes every message into: a wrong type on any of these fails, whatever
 * the message type.
 */
const FIELDS: Record<string, Kind> = {
  type: "string",
  machineName: "string",
  agentId: "string",
  machineRegistrationId: "string",
  displayName: "string",
  hostname: "string",
  os: "string",
  agentVersion: "string",
  location: "string",
  owner: "string",
  tags: "string[]",
  token: "string",
  ports: "int[]",
  services: "services",
  capabilities: "object",
  protocolVersion: "int",
  machineId: "string",
  wgPubKey: "string",
  sessionId: "string",
  sessionIdx: "int",
  requestId: "string",
  action: "string",
  ok: "bool",
  message: "string",
  payload: "any",
  port: "int",
  host: "string",
  defaultUpdate: "object",
};
const FIELDS_LOWER = new Map(Object.keys(FIELDS).map((k) => [k.toLowerCase(), k]));

const KNOWN_TYPES = new Set([
  "register",
  "registered",
  "connect",
  "session-request",
  "session-join",
  "session-start",
  "ready",
  "udp-offer",
  "wg-pubkey",
  "peer-endpoint",
  "session-end",
  "error",
  "keepalive",
  "mgmt-request",
  "mgmt-response",
  "transport",
]);

/** Required-in-practice string fields that decode to "" when absent, per type. */
const STRING_DEFAULTS: Record<string, string[]> = {
  register: ["machineName", "agentId"],
  registered: ["machineId"],
  connect: ["machineId", "wgPubKey"],
  "session-request": ["sessionId", "wgPubKey"],
  "session-join": ["machineId", "sessionId"],
  "udp-offer": ["token"],
  "wg-pubkey": ["wgPubKey"],
  "peer-endpoint": ["message"],
  error: ["message"],
  "mgmt-request": ["requestId", "action"],
  "mgmt-response": ["requestId"],
};
const INT_DEFAULTS: Record<string, string[]> = {
  "session-request": ["sessionIdx"],
  ready: ["sessionIdx"],
  "udp-offer": ["port"],
};

function isInt(v: unknown): v is number {
  // Go decodes JSON numbers into int; fractions and out-of-range values fail.
  return typeof v === "number" && Number.isSafeInteger(v);
}

function checkKind(name: string, kind: Kind, v: unknown): void {
  const bad = (what: string) => {
    throw new ProtocolError(`field "${name}": expected ${what}`);
  };
  switch (kind) {
    case "string":
      if (typeof v !== "string") bad("a string");
      break;
    case "int":
      if (!isInt(v)) bad("an integer");
      break;
    case "bool":
      if (typeof v !== "boolean") bad("true or false");
      break;
    case "string[]":
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) bad("an array of strings");
      break;
    case "int[]":
      if (!Array.isArray(v) || !v.every(isInt)) bad("an array of integers");
      break;
    case "object":
      if (typeof v !== "object" || Array.isArray(v)) bad("an object");
      break;
    case "services":
      if (!Array.isArray(v)) bad("an array of service objects");
      for (const s of v as unknown[]) {
        if (s === null) continue;
        if (typeof s !== "object" || Array.isArray(s)) bad("an array of service objects");
        const o = s as Record<string, unknown>;
        for (const [k, val] of Object.entries(o)) {
          if (val === null) continue;
          const lk = k.toLowerCase();
          if (lk === "port" && !isInt(val)) bad("services[].port to be an integer");
          if (
            (lk === "proto" || lk === "name" || lk === "description") && typeof val !== "string"
          ) {
            bad(`services[].${lk} to be a string`);
          }
        }
      }
      break;
    case "any":
      break;
  }
}

function normaliseServices(v: unknown[]): ServiceDescriptor[] {
  const out: ServiceDescriptor[] = [];
  for (const s of v) {
    if (s === null || typeof s !== "object") continue;
    const o: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(s as Record<string, unknown>)) {
      if (val !== null) o[k.toLowerCase()] = val;
    }
    const d: ServiceDescriptor = { port: (o.port as number) ?? 0 };
    if (o.proto !== undefined) d.proto = o.proto as string;
    if (o.name !== undefined) d.name = o.name as string;
    if (o.description !== undefined) d.description = o.description as string;
    out.push(d);
  }
  return out;
}

/**
 * Parses and validates one signaling text message.
 *
 * @param text the WebSocket text payload (trailing whitespace/newline allowed).
 * @returns the typed message; `{ type: "unknown", rawType }` for a type outside the catalogue.
 * @throws {ProtocolError} when the text is not a JSON object or a known field has the wrong type.
 */
export function decodeSignal(text: string): SignalMessage | UnknownMessage {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(`not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ProtocolError("expected a JSON object");
  }
  const src = doc as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  // Exact names first, then case-insensitive matches for names not yet set (Go semantics).
  for (const [k, v] of Object.entries(src)) {
    if (k in FIELDS && v !== null) out[k] = v;
  }
  for (const [k, v] of Object.entries(src)) {
    if (k in FIELDS || v === null) continue;
    const canon = FIELDS_LOWER.get(k.toLowerCase());
    if (canon && !(canon in out)) out[canon] = v;
  }
  for (const [k, v] of Object.entries(out)) checkKind(k, FIELDS[k], v);
  const type = (out.type as string | undefined) ?? "";
  if (!KNOWN_TYPES.has(type)) return { type: "unknown", rawType: type };
  if (type === "transport") return transportMessage(src);
  if (out.services) out.services = normaliseServices(out.services as unknown[]);
  for (const f of STRING_DEFAULTS[type] ?? []) if (out[f] === undefined) out[f] = "";
  for (const f of INT_DEFAULTS[type] ?? []) if (out[f] === undefined) out[f] = 0;
  return out as unknown as SignalMessage;
}

/**
 * The `transport` report of a decoded object, or an unknown message when its `transport` is
 * not one of {@link TRANSPORT_NAMES}. The field is not in the hub's struct (`FIELDS`): Go
 * ignores it on every other type, so a wrong JSON type here is not an error either.
 */
function transportMessage(src: Record<string, unknown>): TransportMessage | UnknownMessage {
  let v = src.transport;
  if (v === undefined || v === null) {
    const k = Object.keys(src).find((k) => k.toLowerCase() === "transport" && src[k] !== null);
    v = k === undefined ? undefined : src[k];
  }
  if (typeof v === "string" && (TRANSPORT_NAMES as readonly string[]).includes(v)) {
    return { type: "transport", transport: v as TransportName };
  }
  return { type: "unknown", rawType: "transport" };
}

/**
 * The `transport` report (our extension, see {@link TransportMessage}), e.g.
 * `{"type":"transport","transport":"udp-relay"}` once encoded: 44 octets, no `"keepalive"`,
 * so every hub relays it (spec §1.6).
 */
export function makeTransport(transport: TransportName): TransportMessage {
  return { type: "transport", transport };
}

/** Serialises a message as compact JSON (fields set to `undefined` are omitted). */
export function encodeSignal(msg: SignalMessage): string {
  return JSON.stringify(msg);
}

/** `{"machineId","type"}`-shaped `registered` in Go's struct order. */
export function makeRegistered(
  machineId: string,
  defaultUpdate?: RegisteredMessage["defaultUpdate"],
): RegisteredMessage {
  return defaultUpdate
    ? { type: "registered", machineId, defaultUpdate }
    : { type: "registered", machineId };
}

/**
 * `session-request` with Go's (sorted) key order.
 * @param ports the ports the session may reach (a per-service grant); omitted when undefined.
 */
export function makeSessionRequest(
  sessionId: string,
  sessionIdx: number,
  wgPubKey: string,
  ports?: number[],
): SessionRequestMessage {
  return (ports
    ? { ports, sessionId, sessionIdx, type: "session-request", wgPubKey }
    : { sessionId, sessionIdx, type: "session-request", wgPubKey }) as SessionRequestMessage;
}

/** `session-start`; `wgPubKey` omitted when empty (§2.6). */
export function makeSessionStart(wgPubKey: string): SessionStartMessage {
  return wgPubKey ? { type: "session-start", wgPubKey } : { type: "session-start" };
}

/** `ready` with Go's key order. */
export function makeReady(sessionIdx: number): ReadyMessage {
  return { sessionIdx, type: "ready" } as ReadyMessage;
}

/** `udp-offer` with Go's key order; `host` only when configured (§2.8). */
export function makeUdpOffer(port: number, token: string, host?: string): UdpOfferMessage {
  return (host
    ? { host, port, token, type: "udp-offer" }
    : { port, token, type: "udp-offer" }) as UdpOfferMessage;
}

/** `error` with Go's key order. */
export function makeError(message: string): ErrorMessage {
  return { message, type: "error" } as ErrorMessage;
}

/** The exact in-band JSON keepalive text (20 bytes, §2.13). */
export const KEEPALIVE_TEXT = '{"type":"keepalive"}';

/**
 * The hub's paired-state filter (§1.6): a text message shorter than 64 bytes that
 * contains `"keepalive"` (with the quotes) is absorbed, never relayed.
 */
export function isKeepaliveText(text: string): boolean {
  return text.length < 64 && text.includes('"keepalive"');
}

/** Error strings the hub sends (§2.12); peers match some of them by substring. */
export const HubErrors = {
  agentIdRequired: "register: agentId is required",
  accessDenied: "Access denied",
  invalidToken: "Invalid token",
  machineNotFound: "Machine not found",
  tooManySessions: "Too many sessions for this machine (max 254)",
  sessionNotFound: "Session not found",
  clientGone: "Client gone",
} as const;

/** WebSocket close codes and reasons the hub uses (§1.6). */
export const HubClose = {
  policy: 1008,
  protocol: 1002,
  goingAway: 1001,
  tooBig: 1009,
  expectedJson: "Expected JSON for first message",
  badFrame: "relay frame: unsupported version",
  agentDidNotJoin: "agent did not join session",
  agentDisconnected: "agent disconnected",
  agentSessionEnded: "agent session ended",
} as const;
