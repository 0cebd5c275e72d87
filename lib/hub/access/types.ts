/**
 * The hub's access model as the admin API, the pairing flow, `telahubd user` and live
 * enforcement see it (book, *Hub administration* and Appendix C; spec hub-http-api.md §2,
 * §5.1–5.6, §6, §14.1–14.2). This file holds the shared types and the store's contract;
 * `store.ts` implements it.
 *
 * Identities, roles and ACLs live in `telahubd.yaml` (`auth.tokens`, `auth.machines`); the
 * running hub's {@link AccessStore} is the one writer while it runs, and picks up edits that
 * `telahubd user ...` makes to the file.
 *
 * @module
 */

import type { HubAuth } from "../auth.ts";
import type { PortalEntry } from "../config.ts";

/** A permission on a machine (Appendix C), in the API's fixed order. */
export type Permission = "register" | "connect" | "manage";

/** The order permissions are listed in (spec §5.6). */
export const PERMISSIONS: readonly Permission[] = ["register", "connect", "manage"];

/** Role as listed by the API: stored `""`/absent is `user`. */
export type ListedRole = "owner" | "admin" | "user" | "viewer" | string;

/** One machine line of an access entry. */
export interface MachineGrant {
  /** Machine name or `*`. */
  machineId: string;
  permissions: Permission[];
  /** Per-service connect filter (service names; `port-<N>` for unnamed ones); absent = all. */
  services?: string[];
}

/**
 * An access entry as `GET /api/admin/access` returns it (spec §5.6 with the §14.1/§14.2
 * additions). Timestamps are RFC 3339 UTC.
 */
export interface AccessEntry {
  id: string;
  role: ListedRole;
  /** First 8 characters + `...` (spec §0). */
  tokenPreview: string;
  machines: MachineGrant[];
  /** Per-identity version for `ETag` / `If-Match` (starts at 1; +1 per change). */
  version: number;
  issuedAt?: string;
  expiresAt?: string;
  revokedAt?: string;
}

/** A row of `GET /api/admin/tokens` (spec §5.1 + lifecycle fields). */
export interface TokenSummary {
  id: string;
  role: ListedRole;
  tokenPreview: string;
  issuedAt?: string;
  expiresAt?: string;
  revokedAt?: string;
}

/** Who made a change: recorded in the audit history (identity id, never the token). */
export interface Actor {
  /** Identity id of the caller; `telahubd user` on the hub's machine uses `local:telahubd`. */
  id: string;
  /** Where the change came from: `api`, `pair`, `cli` (telahubd user), `file` (hand edit). */
  via: "api" | "pair" | "cli" | "file" | "register";
}

/**
 * A refused change, with the HTTP status and the exact JSON body of the spec (e.g. 404
 * `{"error":"identity not found"}`, 409 last-owner, 412 stale `If-Match`).
 */
export class AccessError extends Error {
  override name = "AccessError";
  /**
   * @param status the HTTP status the admin API answers with.
   * @param body the JSON body (always has `error`; 412 adds `id`, `version`, `current`).
   */
  constructor(readonly status: number, readonly body: { error: string } & Record<string, unknown>) {
    super(body.error);
  }
}

/**
 * A change that is live in memory but could not be written to the config file (a full disk,
 * a read-only folder). The admin API answers 500 `{"error":"persist config: <detail>"}`
 * (spec §5.10/§5.11 wording; `/api/pair` answers `{"error":"persist config"}`, §4.4). The
 * store keeps the change and writes it again with the next one.
 */
export class PersistError extends Error {
  override name = "PersistError";
  /**
   * @param path the config file.
   * @param detail why the write failed (the I/O error's message).
   */
  constructor(readonly path: string, readonly detail: string) {
    super(`persist config: ${detail}`);
  }
}

/** Why an identity's live connections were cut; the text is sent in the `error` message. */
export type CutReason = "removed" | "revoked" | "rotated" | "expired" | "permission";

/**
 * What changed, for listeners (live enforcement, status cache, console token, portal sync).
 * `identities` lists the ids whose token or rights changed (empty = only non-auth data).
 */
export interface AccessChange {
  identities: string[];
  actor: Actor;
  /** Short audit text, e.g. `tokens add tech-bob role=user`. */
  summary: string;
}

/**
 * The running hub's access state: one authoritative copy in memory, persisted atomically to
 * `telahubd.yaml` (0600) after each change, reloaded when another process (`telahubd user`)
 * rewrites the file. Every mutating method applies at once (the new {@link HubAuth}-style
 * view is live before it returns), persists, records an audit event and notifies listeners;
 * an optional `ifMatch` (the `If-Match` header value) is checked first (412 when stale).
 *
 * Methods throw {@link AccessError} with the spec's status and body.
 */
export interface AccessStore {
  /** The current decision view (rebuilt after every change; cheap to call per request). */
  auth(): HubAuth;
  /** Identities with their grants, in config order. */
  list(): AccessEntry[];
  /** One identity. @throws {AccessError} 404 `identity not found`. */
  get(id: string): AccessEntry;
  /** Token rows, in config order. */
  tokens(): TokenSummary[];
  /**
   * Creates an identity with a new 64-hex token (spec §5.2, §14.2).
   * @param role `owner`, `admin`, `user` or `""`/undefined (user); `viewer` is refused
   *   (book: reserved for the console token).
   * @param expiresAt RFC 3339, optional.
   * @returns the entry and the full token (shown once).
   */
  create(
    req: { id: string; role?: string; expiresAt?: string },
    actor: Actor,
  ): { entry: AccessEntry; token: string };
  /** New token value; clears `revokedAt`; cascades into every ACL list (incl. manage). */
  rotate(id: string, actor: Actor, ifMatch?: string): { entry: AccessEntry; token: string };
  /** Marks revoked (kept for the audit trail); 409 for the last owner. */
  revoke(
    id: string,
    actor: Actor,
    ifMatch?: string,
  ): { status: "revoked" | "already-revoked"; entry: AccessEntry };
  /** Deletes the identity and scrubs its token from every ACL; 409 for the last owner. */
  remove(id: string, actor: Actor, ifMatch?: string): void;
  /** Rename and/or role change (spec §5.6 PATCH, §14.1); 409 when demoting the last owner. */
  update(
    id: string,
    change: { id?: string; role?: string },
    actor: Actor,
    ifMatch?: string,
  ): AccessEntry;
  /** Replaces the identity's permissions on one ACL key (spec §5.6 PUT). */
  setMachine(
    id: string,
    machineId: string,
    permissions: string[],
    services: string[] | undefined,
    actor: Actor,
    ifMatch?: string,
  ): AccessEntry;
  /** Removes every permission of the identity on one ACL key (spec §5.6 DELETE). */
  revokeMachine(id: string, machineId: string, actor: Actor, ifMatch?: string): AccessEntry;
  /**
   * Adds a paired identity (spec §6.2): register → `<machine>-agent` with the machine's
   * registerToken; connect → `paired-user-<unix s>` with connect on each machine. Ids are
   * made unique with a `-2`, `-3`… suffix (Go duplicates them).
   */
  addPaired(
    req: { type: "connect" | "register"; machineId: string; role: string; machines: string[] },
    actor: Actor,
  ): { id: string; token: string };
  /**
   * Makes `id` the registrant of `machineId` when the machine's own ACL entry has none (the
   * hub calls it on a machine's first registration by an identity listed in that entry).
   */
  claimRegistrant(machineId: string, id: string): void;
  /** Portal registrations (`portals:` of the config), by name. */
  portals(): Record<string, PortalEntry>;
  /** Adds or replaces a portal registration. @returns `created` or `updated`. */
  setPortal(name: string, entry: PortalEntry, actor: Actor): "created" | "updated";
  /** Removes a portal registration. @throws {AccessError} 404 `portal not found`. */
  removePortal(name: string, actor: Actor): void;
  /** Calls `fn` after every change (API, pairing, or a reload of the file). */
  onChange(fn: (change: AccessChange) => void): void;
  /**
   * A mark of the changes made so far, for {@link AccessStore.persisted}: take it before a
   * change, pass it after.
   */
  changeMark(): number;
  /**
   * Waits until the changes made so far are written to the config file. With `mark`, a call
   * made when nothing changed since the mark resolves at once (a request that changed
   * nothing does not fail for an older failed write).
   * @param mark from {@link AccessStore.changeMark} before the change.
   * @throws {PersistError} when the write failed (the change stays live in memory and is
   *   written again with the next change).
   */
  persisted(mark?: number): Promise<void>;
}
