/**
 * Live enforcement of access changes (issue 10 decisions 1 and 3): after every change of the
 * access store (admin API, pairing, an edit of `telahubd.yaml`) and when a token's
 * `expiresAt` passes, every live client session and agent control socket is checked again
 * against the current {@link HubAuth}; those that lost their right get
 * `{"type":"error","message":"<text>"}` and a 1008 close with the same text.
 *
 * Go's hub never re-checks a live connection (spec hub-http-api.md §2.9); this is our
 * deliberate addition, with texts that start with `Access denied: ` so Go peers (which match
 * "access denied") treat them as denials.
 *
 * @module
 */
import { escapeForLog, logger } from "../../log/mod.ts";
import { HubErrors } from "../../protocol/mod.ts";
import type { HubAuth } from "../auth.ts";
import type { Machine } from "../registry.ts";
import { allowedPorts } from "../services.ts";
import type { HubSocket } from "../socket.ts";
import type { CutReason } from "./types.ts";

const log = logger("hub");

/**
 * The decision-1 text of a cut or refusal.
 * @param reason why.
 * @param subject the identity id (removed, revoked, rotated, expired) or the machine name
 *   (permission).
 * @param permission `connect` or `register` (permission only).
 */
export function deniedText(
  reason: CutReason,
  subject: string,
  permission: "connect" | "register" = "connect",
): string {
  const q = JSON.stringify(subject);
  switch (reason) {
    case "removed":
      return `Access denied: identity ${q} was removed by an administrator`;
    case "revoked":
      return `Access denied: token of identity ${q} was revoked`;
    case "rotated":
      return `Access denied: token of identity ${q} was rotated; use the new token`;
    case "expired":
      return `Access denied: token of identity ${q} expired`;
    case "permission":
      return `Access denied: ${permission} permission on ${q} was revoked`;
  }
}

/**
 * A service-limited connect grant on a bridged machine (spec §3.7): this hub cannot know the
 * remote machine's services, so it cannot apply the filter and refuses instead.
 */
export const BRIDGE_SERVICE_GRANT_TEXT =
  "Access denied: a service-limited grant cannot be used through a bridge";

/** Decision 3(b): a `connect` naming a port outside the caller's service grant. */
export function servicePortText(port: number, machine: string): string {
  return `Access denied: service port ${port} on ${JSON.stringify(machine)} is not granted`;
}

/**
 * The refusal text of a new `register`/`connect` whose token fails: the revoked/expired
 * texts for such tokens, else the plain `Access denied` (decision 1).
 */
export function refusalText(auth: HubAuth, token: string | undefined): string {
  const st = auth.tokenState(token);
  if (st.state === "revoked") return deniedText("revoked", st.id);
  if (st.state === "expired") return deniedText("expired", st.id);
  return HubErrors.accessDenied;
}

/**
 * The ports a client may reach on `machine` (decision 3), or `undefined` for all.
 * @param auth the current view; `token` the client's token.
 */
export function grantedPorts(
  auth: HubAuth,
  token: string | undefined,
  machine: Machine,
): number[] | undefined {
  const filter = auth.connectServices(token, machine.name);
  return filter ? allowedPorts(machine.services, filter) : undefined;
}

/**
 * Why `s` (a control socket, or a client with a session or a bridged session) may no longer
 * stay, or `undefined`.
 * @param auth the current view.
 */
export function cutText(auth: HubAuth, s: HubSocket): string | undefined {
  if (!auth.enabled) return undefined; // open mode: nothing to enforce
  const machine = s.machine;
  // A bridged client (spec §3.7) has no local machine entry, only the name it reached.
  const name = machine?.name ?? (s.role === "client" ? s.bridged?.machine : undefined);
  if (name === undefined) return undefined;
  const register = s.role === "control";
  const token = s.authToken;
  const st = auth.tokenState(token);
  if (st.state !== "ok") {
    if (st.state !== "unknown") return deniedText(st.state, st.id);
    const id = s.identityId;
    if (id === undefined) return HubErrors.accessDenied;
    return deniedText(auth.hasId(id) ? "rotated" : "removed", id);
  }
  s.identityId = st.identity.id; // follows a rename
  if (register) {
    return auth.canRegister(token, name) ? undefined : deniedText("permission", name, "register");
  }
  if (!auth.canConnect(token, name)) {
    return deniedText("permission", name, "connect");
  }
  if (!machine) {
    // Bridged: this hub cannot map a service filter to the remote machine's ports, so a grant
    // that is (or became) service-limited cannot carry the session.
    return auth.connectServices(token, name) ? BRIDGE_SERVICE_GRANT_TEXT : undefined;
  }
  const now = grantedPorts(auth, token, machine);
  if (!now) return undefined;
  const session = s.session;
  const had = session?.allowedPorts ?? session?.ports ?? machine.services.map((x) => x.port);
  const lost = had.find((p) => !now.includes(p));
  return lost === undefined ? undefined : servicePortText(lost, machine.name);
}

/** What the enforcer drives: the live sockets and how to cut one. */
export interface EnforceTarget {
  /** Every open hub socket. */
  sockets(): Iterable<HubSocket>;
  /** Sends the error, closes 1008 with `text`, and ends what the socket carried. */
  cut(s: HubSocket, text: string): void;
}

/**
 * Re-checks live connections on demand ({@link AccessEnforcer.check}) and when the soonest
 * token expiry passes (a timer re-armed after each check).
 */
export class AccessEnforcer {
  #timer?: ReturnType<typeof setTimeout>;
  #stopped = false;

  /**
   * @param auth the current view (read at each check).
   * @param target the hub's sockets and its cut operation.
   */
  constructor(readonly auth: () => HubAuth, readonly target: EnforceTarget) {}

  /** Checks every control socket and client session now; re-arms the expiry timer. */
  check(): number {
    const auth = this.auth();
    let cut = 0;
    for (const s of [...this.target.sockets()]) {
      if (s.closed || s.cut) continue;
      const client = s.role === "client" && (s.bridged || (s.session && !s.session.ended));
      if (s.role !== "control" && !client) continue;
      const text = cutText(auth, s);
      if (text === undefined) continue;
      log.info(
        `access: cutting ${s.role === "control" ? "agent" : "client"} ${s.remote} (machine ${
          escapeForLog(s.machine?.name ?? s.bridged?.machine ?? "")
        }, identity ${escapeForLog(s.identityId ?? "?")}): ${escapeForLog(text)}`,
      );
      this.target.cut(s, text);
      cut++;
    }
    this.#arm(auth);
    return cut;
  }

  #arm(auth: HubAuth): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return;
    const next = auth.nextExpiry();
    if (next === undefined) return;
    const wait = Math.min(Math.max(0, next - auth.now()) + 5, 2 ** 31 - 1);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.check();
    }, wait);
    Deno.unrefTimer(this.#timer);
  }

  /** Stops the expiry timer (shutdown). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Truncates a close reason to at most 123 UTF-8 bytes (RFC 6455 §5.5) without splitting a
 * character.
 */
export function closeReason(text: string): string {
  const enc = new TextEncoder();
  if (enc.encode(text).length <= 123) return text;
  let out = "";
  for (const ch of text) {
    if (enc.encode(out + ch).length > 123) break;
    out += ch;
  }
  return out;
}
