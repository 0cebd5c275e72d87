/**
 * Hub authorisation: roles owner/admin/user/viewer and the per-machine
 * register/connect/manage ACLs with the `*` wildcard (book, Appendix C; spec
 * hub-http-api.md §2).
 *
 * Where the Go v0.14 code departs from the book we follow the book (spec README,
 * rule 2), pinned by tests in tests/hub/auth_test.ts:
 * - a token must belong to a known identity to be granted anything (Appendix C
 *   "Token valid? no → reject"; Go lets orphaned ACL values through);
 * - viewers read status/history only: they never register, connect or manage;
 * - `machines["*"].registerToken` is honoured when the machine has none (decision);
 * - an ACL entry without `registerToken` does not open registration to every
 *   known token (Go quirk with security impact), but it does to the identities that
 *   entry lists itself, in `connectTokens` or `manageTokens` (issue 10 fix round): the
 *   book's telad flow (`telahubd user add barn-agent`, `telahubd user grant barn-agent
 *   barn`, then telad registers barn with that token) works, and a stranger with some
 *   other valid token still cannot take the machine's name. Grants on `*` do not count.
 *   The first such registration makes that identity the machine's registrant
 *   ({@link HubAuth.registersByListing}; Appendix C: one registrant per machine), so a user
 *   given connect on the machine later cannot register under its name.
 *
 * Token lifecycle (spec §14.2): a revoked token, or one past its `expiresAt`, fails every
 * check (identity, admin gate, register, connect, manage, view). Expiry is evaluated at each
 * check against the clock, so a token expires on time without a rebuild; {@link
 * HubAuth.tokenState} says why a token fails, for the decision-1 texts of issue 10.
 *
 * Per-service connect filters (spec §14.1): {@link HubAuth.connectServices}.
 *
 * Tokens are compared in constant time: every token is reduced to its SHA-256
 * digest and digests are compared with `timingSafeEqual`; identities are found
 * by digest, never by the raw value.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { type AuthConfig, parseRfc3339, type TokenEntry } from "./config.ts";

function digest(token: string): Uint8Array {
  return createHash("sha256").update(token, "utf8").digest();
}

function hex(d: Uint8Array): string {
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Role names as listed by the API (`""` stored ⇒ `user`). */
export type HubRole = "owner" | "admin" | "viewer" | "user";

/** An identity resolved from a token. */
export interface Identity {
  id: string;
  role: HubRole;
  token: string;
}

/** Why a token does or does not resolve to an identity. */
export type TokenState =
  | { state: "ok"; identity: Identity }
  | { state: "revoked" | "expired"; id: string }
  | { state: "unknown" };

interface Held extends Identity {
  revoked: boolean;
  /** Epoch ms; undefined = never. */
  expiresAt?: number;
}

/** Immutable view of the `auth` block with the decisions of Appendix C. Rebuild after changes. */
export class HubAuth {
  /** Auth is enabled iff at least one token entry exists (spec §2.4). */
  readonly enabled: boolean;
  readonly #byDigest = new Map<string, Held>();
  readonly #acl = new Map<
    string,
    {
      register?: Uint8Array;
      connect: Uint8Array[];
      manage: Uint8Array[];
      /** Connect filters by token digest (hex). */
      services: Map<string, string[]>;
    }
  >();
  /** Viewer tokens in config order, with their expiry (epoch ms; undefined = never). */
  readonly #viewers: { token: string; expiresAt?: number }[] = [];
  readonly #expiries: number[] = [];
  readonly #ids = new Set<string>();

  /**
   * @param auth the config's `auth` block (copied, so later edits need a new instance).
   * @param now the clock, epoch ms (tests inject one to expire tokens).
   */
  constructor(auth: AuthConfig, readonly now: () => number = Date.now) {
    this.enabled = auth.tokens.length > 0;
    for (const t of auth.tokens) {
      this.#ids.add(t.id);
      if (!t.token) continue;
      const expiresAt = t.expiresAt ? parseRfc3339(t.expiresAt) : undefined;
      if (expiresAt !== undefined) this.#expiries.push(expiresAt);
      // Later entries with the same value win (spec §2.3).
      this.#byDigest.set(hex(digest(t.token)), {
        id: t.id,
        role: roleOf(t),
        token: t.token,
        revoked: !!t.revokedAt,
        expiresAt,
      });
    }
    for (const [name, acl] of Object.entries(auth.machines)) {
      const services = new Map<string, string[]>();
      for (const [t, list] of Object.entries(acl.connectServices ?? {})) {
        if (list.length) services.set(hex(digest(t)), [...list]);
      }
      this.#acl.set(name, {
        register: acl.registerToken ? digest(acl.registerToken) : undefined,
        connect: (acl.connectTokens ?? []).filter((t) => t).map(digest),
        manage: (acl.manageTokens ?? []).filter((t) => t).map(digest),
        services,
      });
    }
    for (const t of auth.tokens) {
      if (t.hubRole !== "viewer" || !t.token || t.revokedAt) continue;
      this.#viewers.push({
        token: t.token,
        expiresAt: t.expiresAt ? parseRfc3339(t.expiresAt) : undefined,
      });
    }
  }

  /** True when some identity (valid or not) is named `id`. */
  hasId(id: string): boolean {
    return this.#ids.has(id);
  }

  /** The identity holding `token`, if any (revoked and expired tokens have none). */
  identity(token: string | undefined): Identity | undefined {
    const s = this.tokenState(token);
    return s.state === "ok" ? s.identity : undefined;
  }

  /**
   * What `token` is: a valid identity, a revoked or expired one (with its id, for the
   * "Access denied: token of identity ..." texts), or unknown.
   */
  tokenState(token: string | undefined): TokenState {
    if (!token) return { state: "unknown" };
    const h = this.#byDigest.get(hex(digest(token)));
    if (!h) return { state: "unknown" };
    if (h.revoked) return { state: "revoked", id: h.id };
    if (h.expiresAt !== undefined && this.now() >= h.expiresAt) {
      return { state: "expired", id: h.id };
    }
    return { state: "ok", identity: { id: h.id, role: h.role, token: h.token } };
  }

  /**
   * The soonest `expiresAt` still ahead of the clock, epoch ms (live enforcement arms a
   * timer for it), or undefined when no token will expire.
   */
  nextExpiry(): number | undefined {
    const now = this.now();
    let best: number | undefined;
    for (const t of this.#expiries) if (t > now && (best === undefined || t < best)) best = t;
    return best;
  }

  /**
   * The services `token` may reach on machine `name` (spec §14.1 connectServicesFilter):
   * `undefined` = all. Owner, admin and viewer are unfiltered; otherwise the filter of the
   * machine's own connect grant when there is one (a grant without a filter = all), else
   * the `*` grant's. Only meaningful when {@link canConnect} allows.
   * @returns service names (`port-<N>` for unnamed services), or `undefined`.
   */
  connectServices(token: string | undefined, name: string): string[] | undefined {
    if (!this.enabled) return undefined;
    const id = this.identity(token);
    if (!id || id.role !== "user") return undefined;
    const d = digest(token!);
    const h = hex(d);
    for (const key of [name, "*"]) {
      const acl = this.#acl.get(key);
      if (!acl) continue;
      let hit = false;
      for (const c of acl.connect) if (timingSafeEqual(c, d)) hit = true;
      if (hit) return acl.services.get(h);
    }
    return undefined;
  }

  /**
   * Token of the first viewer identity in config order that is neither revoked nor expired
   * at the time of the call (the console token).
   */
  get viewerToken(): string | undefined {
    const now = this.now();
    return this.#viewers.find((v) => v.expiresAt === undefined || now < v.expiresAt)?.token;
  }

  /** Admin gate: owner or admin, and auth enabled. */
  isOwnerOrAdmin(token: string | undefined): boolean {
    if (!this.enabled) return false;
    const r = this.identity(token)?.role;
    return r === "owner" || r === "admin";
  }

  /**
   * May `token` register machine `name`? (WS `register`.) Owner/admin: always. Others: the
   * machine's `registerToken` when it has one; else `*`'s `registerToken`, or a listing in
   * the machine's own `connectTokens`/`manageTokens` (book's `telahubd user grant` flow).
   */
  canRegister(token: string | undefined, name: string): boolean {
    if (!this.enabled) return true;
    const id = this.identity(token);
    if (!id || id.role === "viewer") return false;
    if (id.role === "owner" || id.role === "admin") return true;
    const d = digest(token!);
    const entry = this.#acl.get(name);
    if (entry?.register) return timingSafeEqual(entry.register, d);
    const wild = this.#acl.get("*")?.register;
    // No early exit between the candidates, to keep timing flat.
    let hit = wild ? timingSafeEqual(wild, d) : false;
    for (const c of [...entry?.connect ?? [], ...entry?.manage ?? []]) {
      if (timingSafeEqual(c, d)) hit = true;
    }
    return hit;
  }

  /**
   * True when {@link canRegister} lets `token` register `name` only because the machine's own
   * ACL entry has no registrant and lists the token (connect or manage): the hub then makes it
   * the registrant (first registration claims the machine; AccessStore.claimRegistrant).
   */
  registersByListing(token: string | undefined, name: string): boolean {
    if (!this.enabled || !this.canRegister(token, name)) return false;
    const id = this.identity(token);
    if (!id || id.role === "owner" || id.role === "admin") return false;
    const entry = this.#acl.get(name);
    if (!entry || entry.register) return false;
    const wild = this.#acl.get("*")?.register;
    return !(wild && timingSafeEqual(wild, digest(token!)));
  }

  /** May `token` open a client session to machine `name`? (WS `connect`.) */
  canConnect(token: string | undefined, name: string): boolean {
    return this.#listed(token, name, "connect");
  }

  /** May `token` manage machine `name` through the hub? */
  canManage(token: string | undefined, name: string): boolean {
    return this.#listed(token, name, "manage");
  }

  /** May `token` see machine `name` in status and history? (viewer, owner/admin, or connect.) */
  canView(token: string | undefined, name: string): boolean {
    if (!this.enabled) return true;
    const id = this.identity(token);
    if (!id) return false;
    if (id.role !== "user") return true;
    return this.canConnect(token, name);
  }

  #listed(token: string | undefined, name: string, list: "connect" | "manage"): boolean {
    if (!this.enabled) return true;
    const id = this.identity(token);
    if (!id || id.role === "viewer") return false;
    if (id.role === "owner" || id.role === "admin") return true;
    const d = digest(token!);
    // Check every candidate (no early exit on the first comparison) to keep timing flat.
    let hit = false;
    for (const key of [name, "*"]) {
      for (const c of this.#acl.get(key)?.[list] ?? []) if (timingSafeEqual(c, d)) hit = true;
    }
    return hit;
  }
}

function roleOf(t: TokenEntry): HubRole {
  switch (t.hubRole) {
    case "owner":
    case "admin":
    case "viewer":
      return t.hubRole;
    default:
      return "user";
  }
}

/**
 * Constant-time equality of two token strings (open-mode per-machine token, spec §2.8).
 */
export function tokensEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * The caller token of an HTTP request (spec §2.1): `Authorization: Bearer <t>`
 * (exact prefix), else cookie `tela_viewer`, else `?token=` (deprecated).
 * @returns the token and where it came from, or `undefined`.
 */
export function requestToken(
  req: Request,
  url: URL,
): { token: string; source: "bearer" | "cookie" | "query" } | undefined {
  const authz = req.headers.get("authorization");
  if (authz !== null && authz.startsWith("Bearer ")) {
    return { token: authz.slice(7), source: "bearer" };
  }
  const cookie = req.headers.get("cookie");
  if (cookie) {
    for (const part of cookie.split(";")) {
      const eq = part.indexOf("=");
      if (eq < 0) continue;
      if (part.slice(0, eq).trim() === "tela_viewer") {
        return { token: part.slice(eq + 1).trim(), source: "cookie" };
      }
    }
  }
  const q = url.searchParams.get("token");
  if (q) return { token: q, source: "query" };
  return undefined;
}
