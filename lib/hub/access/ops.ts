/**
 * Pure operations on the `auth` block of `telahubd.yaml`: the one implementation of identity
 * and grant changes that the running hub's {@link AccessStore} (admin API, pairing) and the
 * offline `telahubd user ...` commands share (spec hub-http-api.md §5.1–5.6, §6.2, §10.6,
 * §14.1, §14.2; book, Appendix C; issue 10 decisions 6 and 7).
 *
 * Every function edits the {@link AuthConfig} it is given in place and throws
 * {@link AccessError} (the spec's status and JSON body) before touching anything when the
 * change is refused. Deliberate fixes over Go v0.14: rotate and remove cascade into all
 * three ACL lists (spec §2.9), the last owner cannot be removed, revoked or demoted (§14.2),
 * paired ids are unique, and register pairing keeps the machine's other grants.
 *
 * @module
 */
import {
  type AuthConfig,
  type MachineAcl,
  newToken,
  parseRfc3339,
  type TokenEntry,
} from "../config.ts";
import { rfc3339 } from "../history.ts";
import {
  type AccessEntry,
  AccessError,
  type MachineGrant,
  type Permission,
  PERMISSIONS,
  type TokenSummary,
} from "./types.ts";

/** RFC 3339 UTC with second precision (the hub's {@link rfc3339}, from epoch ms). */
export function isoSeconds(ms: number): string {
  return rfc3339(new Date(ms));
}

/** First 8 characters + `...` (spec §0). */
export function preview(token: string): string {
  return token.slice(0, 8) + "...";
}

/** The role as listed by the API: stored `""`/absent is `user` (spec §2.5). */
export function listedRole(t: TokenEntry): string {
  return t.hubRole ? t.hubRole : "user";
}

/** Index of the first identity named `id` (spec §5.6: find by id returns the first). */
export function findIndex(auth: AuthConfig, id: string): number {
  return auth.tokens.findIndex((t) => t.id === id);
}

/**
 * The identity named `id`.
 * @throws {AccessError} 404 `{"error":"identity not found"}`.
 */
export function mustFind(auth: AuthConfig, id: string): TokenEntry {
  const i = findIndex(auth, id);
  if (i < 0) throw new AccessError(404, { error: "identity not found" });
  return auth.tokens[i];
}

/** True when the entry is revoked or past its `expiresAt` at `now` (epoch ms). */
export function inactive(t: TokenEntry, now: number): boolean {
  if (t.revokedAt) return true;
  const exp = t.expiresAt ? parseRfc3339(t.expiresAt) : undefined;
  return exp !== undefined && now >= exp;
}

/**
 * True when `t` is an owner and no other owner is neither revoked nor expired: removing,
 * revoking or demoting it would leave the hub without an owner (spec §14.2).
 */
export function isLastOwner(auth: AuthConfig, t: TokenEntry, now: number): boolean {
  if (t.hubRole !== "owner" || t.revokedAt) return false;
  return !auth.tokens.some((o) => o !== t && o.hubRole === "owner" && !inactive(o, now));
}

function aclTokens(acl: MachineAcl, p: Permission): string[] {
  if (p === "register") return acl.registerToken ? [acl.registerToken] : [];
  return (p === "connect" ? acl.connectTokens : acl.manageTokens) ?? [];
}

/** The machine lines of a user/viewer identity: one per ACL key where its token appears. */
function grantsOf(auth: AuthConfig, t: TokenEntry): MachineGrant[] {
  if (t.hubRole === "owner" || t.hubRole === "admin") {
    return [{ machineId: "*", permissions: [...PERMISSIONS] }];
  }
  const out: MachineGrant[] = [];
  if (!t.token) return out;
  for (const name of Object.keys(auth.machines).sort()) {
    const acl = auth.machines[name];
    const permissions = PERMISSIONS.filter((p) => aclTokens(acl, p).includes(t.token));
    if (!permissions.length) continue;
    const g: MachineGrant = { machineId: name, permissions };
    const services = permissions.includes("connect") ? acl.connectServices?.[t.token] : undefined;
    if (services?.length) g.services = [...services];
    out.push(g);
  }
  return out;
}

/**
 * The access entry of `t` (spec §5.6 with §14.1/§14.2 fields).
 * @param version the store's per-identity version (1 when none is kept, e.g. offline).
 */
export function accessEntry(auth: AuthConfig, t: TokenEntry, version = 1): AccessEntry {
  const e: AccessEntry = {
    id: t.id,
    role: listedRole(t),
    tokenPreview: preview(t.token),
    machines: grantsOf(auth, t),
    version,
  };
  if (t.issuedAt) e.issuedAt = t.issuedAt;
  if (t.expiresAt) e.expiresAt = t.expiresAt;
  if (t.revokedAt) e.revokedAt = t.revokedAt;
  return e;
}

/** A row of the token list (spec §5.1 + lifecycle fields). */
export function tokenSummary(t: TokenEntry): TokenSummary {
  const r: TokenSummary = { id: t.id, role: listedRole(t), tokenPreview: preview(t.token) };
  if (t.issuedAt) r.issuedAt = t.issuedAt;
  if (t.expiresAt) r.expiresAt = t.expiresAt;
  if (t.revokedAt) r.revokedAt = t.revokedAt;
  return r;
}

/**
 * What a new identity id must look like (issue 10 fix round): 1–64 characters, letters,
 * digits, `.`, `_`, `-`, `@`, starting with a letter or digit. Checked when an id is made
 * (create, rename, pairing), never on load: files with other ids keep working.
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** The 400 of an id that does not match {@link ID_PATTERN}. */
export const ID_FORMAT_ERROR =
  "id must be 1-64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit";

/**
 * Checks a new identity id.
 * @throws {AccessError} 400 {@link ID_FORMAT_ERROR}.
 */
export function checkId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new AccessError(400, { error: ID_FORMAT_ERROR });
}

/** The 400 of an `expiresAt` that is not RFC 3339 (spec §14.2). */
export const EXPIRES_FORMAT_ERROR = "expiresAt must be RFC3339 (e.g. 2027-01-01T00:00:00Z)";

/**
 * Adds an identity with a new token (spec §5.2, §14.2; decision 6).
 * @param req.id the new id (non-empty).
 * @param req.role `owner`, `admin`, `user` or `""`/undefined (stored without `hubRole`).
 * @param req.expiresAt RFC 3339, in the future; optional.
 * @param now epoch ms (sets `issuedAt`).
 * @param token the value to use (default a new 64-hex token).
 * @returns the new entry (already appended).
 * @throws {AccessError} 400 `id is required`, 400 {@link ID_FORMAT_ERROR}, 400 role, 400
 *   expiresAt, 409 `identity already exists`.
 */
export function createIdentity(
  auth: AuthConfig,
  req: { id: string; role?: string; expiresAt?: string },
  now: number,
  token = newToken(),
): TokenEntry {
  if (!req.id) throw new AccessError(400, { error: "id is required" });
  checkId(req.id);
  const role = req.role ?? "";
  if (!["", "owner", "admin", "user"].includes(role)) {
    throw new AccessError(400, { error: "role must be 'owner', 'admin', or omitted" });
  }
  let expiresAt: string | undefined;
  if (req.expiresAt !== undefined && req.expiresAt !== "") {
    const t = parseRfc3339(req.expiresAt);
    if (t === undefined) throw new AccessError(400, { error: EXPIRES_FORMAT_ERROR });
    if (t <= now) throw new AccessError(400, { error: "expiresAt must be in the future" });
    expiresAt = req.expiresAt;
  }
  if (findIndex(auth, req.id) >= 0) {
    throw new AccessError(409, { error: "identity already exists" });
  }
  const entry: TokenEntry = { id: req.id, token };
  if (role === "owner" || role === "admin") entry.hubRole = role;
  entry.issuedAt = isoSeconds(now);
  if (expiresAt) entry.expiresAt = expiresAt;
  auth.tokens.push(entry);
  return entry;
}

/** Replaces every occurrence of `from` in the three ACL lists (and filters) with `to`. */
function replaceToken(auth: AuthConfig, from: string, to: string | undefined): void {
  if (!from) return;
  for (const acl of Object.values(auth.machines)) {
    if (acl.registerToken === from) {
      if (to === undefined) delete acl.registerToken;
      else acl.registerToken = to;
    }
    for (const k of ["connectTokens", "manageTokens"] as const) {
      const list = acl[k];
      if (!list) continue;
      acl[k] = to === undefined
        ? list.filter((x) => x !== from)
        : list.map((x) => x === from ? to : x);
    }
    if (acl.connectServices && from in acl.connectServices) {
      const f = acl.connectServices[from];
      delete acl.connectServices[from];
      if (to !== undefined) acl.connectServices[to] = f;
      if (!Object.keys(acl.connectServices).length) delete acl.connectServices;
    }
  }
}

/**
 * Gives identity `id` a new token value: clears `revokedAt`, resets `issuedAt`, keeps role
 * and expiry, and rewrites the old value in `registerToken`, `connectTokens` and
 * `manageTokens` (spec §5.3, §14.2; decision 6 fixes Go's missing manage cascade).
 * @returns the entry and the new token.
 * @throws {AccessError} 404 `identity not found`.
 */
export function rotateIdentity(
  auth: AuthConfig,
  id: string,
  now: number,
  token = newToken(),
): TokenEntry {
  const t = mustFind(auth, id);
  const old = t.token;
  // Other entries sharing the value (hand edits) keep it; the ACLs follow this identity.
  t.token = token;
  delete t.revokedAt;
  t.issuedAt = isoSeconds(now);
  replaceToken(auth, old, token);
  return t;
}

/**
 * Marks identity `id` revoked (kept in the file for the audit trail; spec §14.2).
 * @returns `already-revoked` when it was (nothing changes), else `revoked`.
 * @throws {AccessError} 404; 409 for the last owner.
 */
export function revokeIdentity(
  auth: AuthConfig,
  id: string,
  now: number,
): "revoked" | "already-revoked" {
  const t = mustFind(auth, id);
  if (t.revokedAt) return "already-revoked";
  if (isLastOwner(auth, t, now)) throw new AccessError(409, { error: LAST_OWNER_REVOKE });
  t.revokedAt = isoSeconds(now);
  return "revoked";
}

/** The 409 of revoking the last owner (spec §14.2). */
export const LAST_OWNER_REVOKE =
  "cannot revoke the last remaining owner; promote another identity to owner first";

/** The 409 of removing the last owner (spec §14.2). */
export const LAST_OWNER_DELETE =
  "cannot delete the last remaining owner; promote another identity to owner first";

/**
 * Deletes every entry named `id` and scrubs their tokens from all three ACL lists (ACL keys
 * stay, even empty; spec §5.6).
 * @returns the removed entries.
 * @throws {AccessError} 404; 409 for the last owner.
 */
export function removeIdentity(auth: AuthConfig, id: string, now: number): TokenEntry[] {
  mustFind(auth, id);
  const gone = auth.tokens.filter((x) => x.id === id);
  if (gone.some((x) => x.hubRole === "owner" && !x.revokedAt)) {
    const others = auth.tokens.some((o) =>
      o.id !== id && o.hubRole === "owner" && !inactive(o, now)
    );
    if (!others) throw new AccessError(409, { error: LAST_OWNER_DELETE });
  }
  auth.tokens = auth.tokens.filter((x) => x.id !== id);
  for (const g of gone) {
    // A value still held by another identity (hand edit) stays in the lists.
    if (!auth.tokens.some((o) => o.token === g.token)) replaceToken(auth, g.token, undefined);
  }
  return gone;
}

/** Roles PATCH accepts (spec §14.1; `user` is taken as `""`). */
const PATCH_ROLES = ["owner", "admin", "viewer", "", "user"];

/**
 * Renames and/or changes the role of identity `id` (spec §5.6 PATCH, §14.1).
 * @param change.id the new id (non-empty; same id = no-op).
 * @param change.role `owner`, `admin`, `viewer`, `""`/`user`.
 * @returns the entry.
 * @throws {AccessError} 400 (`specify at least one of id or role`, `id cannot be empty`,
 *   {@link ID_FORMAT_ERROR} for a new id, role),
 *   404, 409 `identity already exists: <id>`, 409 demoting the sole owner.
 */
export function updateIdentity(
  auth: AuthConfig,
  id: string,
  change: { id?: string; role?: string },
  now: number,
): TokenEntry {
  if (change.id === undefined && change.role === undefined) {
    throw new AccessError(400, { error: "specify at least one of id or role" });
  }
  if (change.id !== undefined && change.id === "") {
    throw new AccessError(400, { error: "id cannot be empty" });
  }
  if (change.id !== undefined && change.id !== id) checkId(change.id);
  if (change.role !== undefined && !PATCH_ROLES.includes(change.role)) {
    throw new AccessError(400, {
      error: "role must be one of owner, admin, viewer, or empty (user)",
    });
  }
  const t = mustFind(auth, id);
  if (change.id !== undefined && change.id !== id && findIndex(auth, change.id) >= 0) {
    throw new AccessError(409, { error: `identity already exists: ${change.id}` });
  }
  const role = change.role === "user" ? "" : change.role;
  if (role !== undefined && role !== "owner" && isLastOwner(auth, t, now)) {
    throw new AccessError(409, {
      error: "cannot demote the sole owner; promote another identity first",
    });
  }
  if (change.id !== undefined) t.id = change.id;
  if (role !== undefined) {
    if (role) t.hubRole = role;
    else delete t.hubRole;
  }
  return t;
}

/** Validates a machine key of the access API. @throws {AccessError} 400 `machineId required`. */
function needMachine(machineId: string): void {
  if (!machineId) throw new AccessError(400, { error: "machineId required" });
}

/**
 * Replaces identity `id`'s permissions on ACL key `machineId` (spec §5.6 PUT, §14.1): removes
 * it from the key's register/connect/manage, then applies each listed permission (`register`
 * displaces any other holder; unknown strings ignored; duplicates collapse). Creates the key
 * if missing.
 * @param services connect filter (service names or `port-<N>`); empty/undefined = all.
 * @returns the identity's entry.
 * @throws {AccessError} 400 `machineId required`, 404 `identity not found`.
 */
export function setMachine(
  auth: AuthConfig,
  id: string,
  machineId: string,
  permissions: string[],
  services?: string[],
): TokenEntry {
  needMachine(machineId);
  const t = mustFind(auth, id);
  const acl = auth.machines[machineId] ??= {};
  stripFrom(acl, t.token);
  const set = new Set(permissions);
  if (!t.token) return t;
  if (set.has("register")) acl.registerToken = t.token;
  if (set.has("connect")) {
    (acl.connectTokens ??= []).push(t.token);
    const list = (services ?? []).filter((s) => s !== "");
    if (list.length) (acl.connectServices ??= {})[t.token] = [...new Set(list)];
  }
  if (set.has("manage")) (acl.manageTokens ??= []).push(t.token);
  return t;
}

/**
 * Makes identity `id` the registrant of machine `machineId` when that machine's own ACL entry
 * has none yet (Appendix C: "Only one token can hold the register permission per machine").
 * The hub calls it on the first registration it lets through because the identity is listed
 * in the entry (connect or manage): from then on only that identity registers the machine, so
 * a user given connect later cannot take the machine's name.
 * @returns the identity's entry, or `undefined` when nothing changed (no entry, a registrant
 *   already, or an identity without a token).
 * @throws {AccessError} 404 `identity not found`.
 */
export function claimRegistrant(
  auth: AuthConfig,
  id: string,
  machineId: string,
): TokenEntry | undefined {
  const t = mustFind(auth, id);
  const acl = auth.machines[machineId];
  if (!acl || acl.registerToken || !t.token) return undefined;
  acl.registerToken = t.token;
  return t;
}

/** Removes `token` from the three lists of one key. @returns whether anything changed. */
function stripFrom(acl: MachineAcl, token: string): boolean {
  let changed = false;
  if (acl.registerToken === token) {
    delete acl.registerToken;
    changed = true;
  }
  for (const k of ["connectTokens", "manageTokens"] as const) {
    const list = acl[k];
    if (list && list.includes(token)) {
      acl[k] = list.filter((x) => x !== token);
      changed = true;
    }
  }
  if (acl.connectServices && token in acl.connectServices) {
    delete acl.connectServices[token];
    if (!Object.keys(acl.connectServices).length) delete acl.connectServices;
  }
  return changed;
}

/**
 * Removes every permission of identity `id` on ACL key `machineId` (key kept; spec §5.6).
 * @throws {AccessError} 400 `machineId required`, 404 `identity not found`, 404 `no ACL for
 *   machine`.
 */
export function revokeMachine(auth: AuthConfig, id: string, machineId: string): TokenEntry {
  needMachine(machineId);
  const t = mustFind(auth, id);
  const acl = auth.machines[machineId];
  if (!acl) throw new AccessError(404, { error: "no ACL for machine" });
  stripFrom(acl, t.token);
  return t;
}

/**
 * Gives identity `id` connect on `machineId` (`telahubd user grant`; idempotent). With
 * `perms`, adds each of `register`, `connect`, `manage` instead (our extension).
 * @returns whether the file changed.
 * @throws {AccessError} 404 `identity not found`, 400 for an unknown permission.
 */
export function grant(
  auth: AuthConfig,
  id: string,
  machineId: string,
  perms: string[] = ["connect"],
): boolean {
  needMachine(machineId);
  checkPerms(perms);
  const t = mustFind(auth, id);
  const acl = auth.machines[machineId] ??= {};
  let changed = false;
  for (const p of perms) {
    if (p === "register") {
      if (acl.registerToken !== t.token) changed = true;
      acl.registerToken = t.token;
    } else {
      const k = p === "connect" ? "connectTokens" : "manageTokens";
      const list = acl[k] ??= [];
      if (!list.includes(t.token)) {
        list.push(t.token);
        changed = true;
      }
    }
  }
  return changed;
}

/**
 * Takes permissions on `machineId` from identity `id` (`telahubd user revoke`, spec §10.6:
 * connect by default; `perms` is our extension).
 * @throws {AccessError} 404 identity, 404 `no ACL for machine "<m>"`, 404 `identity "<id>" has
 *   no <perms> grant on "<m>"` when it held none of them; 400 unknown permission.
 */
export function revokePermissions(
  auth: AuthConfig,
  id: string,
  machineId: string,
  perms: string[] = ["connect"],
): void {
  checkPerms(perms);
  const t = mustFind(auth, id);
  const acl = auth.machines[machineId];
  if (!acl) throw new AccessError(404, { error: `no ACL for machine "${machineId}"` });
  let held = false;
  for (const p of perms) {
    if (p === "register" && acl.registerToken === t.token) {
      delete acl.registerToken;
      held = true;
    } else if (p !== "register") {
      const k = p === "connect" ? "connectTokens" : "manageTokens";
      if (acl[k]?.includes(t.token)) {
        acl[k] = acl[k]!.filter((x) => x !== t.token);
        held = true;
      }
    }
  }
  if (perms.includes("connect") && acl.connectServices && t.token in acl.connectServices) {
    delete acl.connectServices[t.token];
    if (!Object.keys(acl.connectServices).length) delete acl.connectServices;
  }
  if (!held) {
    throw new AccessError(404, {
      error: `identity "${id}" has no ${perms.join(",")} grant on "${machineId}"`,
    });
  }
}

function checkPerms(perms: string[]): void {
  for (const p of perms) {
    if (!PERMISSIONS.includes(p as Permission)) {
      throw new AccessError(400, {
        error: `unknown permission "${p}": use register, connect or manage`,
      });
    }
  }
}

/** The id a register pairing code for `machineId` gives its agent: `<machineId>-agent`. */
export function pairedAgentId(machineId: string): string {
  return `${machineId}-agent`;
}

/** `base`, else `base-2`, `base-3`… whichever is free (decision 5). */
export function uniqueId(auth: AuthConfig, base: string): string {
  if (findIndex(auth, base) < 0) return base;
  for (let n = 2;; n++) if (findIndex(auth, `${base}-${n}`) < 0) return `${base}-${n}`;
}

/**
 * The identity a redeemed pairing code creates (spec §6.2; decision 5): `register` →
 * `<machine>-agent` holding the machine's `registerToken` (its other grants are kept, a fix
 * over Go which replaces the key wholesale); `connect` → `paired-user-<unix s>` with connect
 * on each machine (default `*`). Ids get `-2`, `-3` suffixes when taken. Role `user`/`""` is
 * stored without `hubRole`.
 * @returns the new entry.
 * @throws {AccessError} 400 {@link ID_FORMAT_ERROR} when the id made from the machine name
 *   is not a valid id (see {@link pairedAgentId}).
 */
export function addPaired(
  auth: AuthConfig,
  req: { type: "connect" | "register"; machineId: string; role: string; machines: string[] },
  now: number,
  token = newToken(),
): TokenEntry {
  const base = req.type === "register"
    ? pairedAgentId(req.machineId)
    : `paired-user-${Math.floor(now / 1000)}`;
  const entry: TokenEntry = { id: uniqueId(auth, base), token };
  checkId(entry.id);
  if (req.role && req.role !== "user") entry.hubRole = req.role;
  entry.issuedAt = isoSeconds(now);
  auth.tokens.push(entry);
  if (req.type === "register") {
    (auth.machines[req.machineId] ??= {}).registerToken = token;
  } else {
    const machines = req.machines.filter((m) => m) ?? [];
    for (const m of machines.length ? machines : ["*"]) {
      const acl = auth.machines[m] ??= {};
      (acl.connectTokens ??= []).push(token);
    }
  }
  return entry;
}
