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
 *   known token (Go quirk with security impact).
 *
 * Tokens are compared in constant time: every token is reduced to its SHA-256
 * digest and digests are compared with `timingSafeEqual`; identities are found
 * by digest, never by the raw value.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { AuthConfig, TokenEntry } from "./config.ts";

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

/** Immutable view of the `auth` block with the decisions of Appendix C. Rebuild after changes. */
export class HubAuth {
  /** Auth is enabled iff at least one token entry exists (spec §2.4). */
  readonly enabled: boolean;
  readonly #byDigest = new Map<string, Identity>();
  readonly #acl = new Map<
    string,
    { register?: Uint8Array; connect: Uint8Array[]; manage: Uint8Array[] }
  >();
  readonly #viewerToken?: string;

  /** @param auth the config's `auth` block (copied, so later edits need a new instance). */
  constructor(auth: AuthConfig) {
    this.enabled = auth.tokens.length > 0;
    for (const t of auth.tokens) {
      if (!t.token) continue;
      // Later entries with the same value win (spec §2.3).
      this.#byDigest.set(hex(digest(t.token)), { id: t.id, role: roleOf(t), token: t.token });
    }
    for (const [name, acl] of Object.entries(auth.machines)) {
      this.#acl.set(name, {
        register: acl.registerToken ? digest(acl.registerToken) : undefined,
        connect: (acl.connectTokens ?? []).filter((t) => t).map(digest),
        manage: (acl.manageTokens ?? []).filter((t) => t).map(digest),
      });
    }
    this.#viewerToken = auth.tokens.find((t) => t.hubRole === "viewer" && t.token)?.token;
  }

  /** The identity holding `token`, if any. */
  identity(token: string | undefined): Identity | undefined {
    if (!token) return undefined;
    return this.#byDigest.get(hex(digest(token)));
  }

  /** Token of the first viewer identity in config order (the console token). */
  get viewerToken(): string | undefined {
    return this.#viewerToken;
  }

  /** Admin gate: owner or admin, and auth enabled. */
  isOwnerOrAdmin(token: string | undefined): boolean {
    if (!this.enabled) return false;
    const r = this.identity(token)?.role;
    return r === "owner" || r === "admin";
  }

  /** May `token` register machine `name`? (WS `register`.) */
  canRegister(token: string | undefined, name: string): boolean {
    if (!this.enabled) return true;
    const id = this.identity(token);
    if (!id || id.role === "viewer") return false;
    if (id.role === "owner" || id.role === "admin") return true;
    const d = digest(token!);
    const own = this.#acl.get(name)?.register;
    if (own) return timingSafeEqual(own, d);
    const wild = this.#acl.get("*")?.register;
    return wild ? timingSafeEqual(wild, d) : false;
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
