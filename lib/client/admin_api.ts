/**
 * The hub's admin API as `tela admin` calls it (book, *Hub administration*; spec
 * hub-http-api.md §5, §7, §14): which token to send, the requests with Go `tela admin`
 * v0.14's bytes on the wire, and an error per HTTP answer that names the thing, the cause
 * and the fix (book, *TDL for the command line*: actionable errors, never a token).
 * @module
 */
import { identityForToken, lookupStoredCredential, userCredentialsPath } from "../host/mod.ts";
import { HubDialError } from "../session/hub_error.ts";
import { HUB_API_TIMEOUT_MS, HubApiError } from "./hubapi.ts";
import { hubHttpBase } from "./hubs.ts";

/** Where the admin token came from (for error messages: the source, never the token). */
export type TokenSource = "flag" | "TELA_OWNER_TOKEN" | "TELA_TOKEN" | "store" | "none";

/** The token `tela admin` sends, and where it came from. */
export interface AdminToken {
  /** The token; undefined when no source had one. */
  token?: string;
  source: TokenSource;
  /** The credential store file, when `source` is `store`. */
  path?: string;
  /** The identity stored with the token (`tela login`, `tela pair`), if any. */
  identity?: string;
}

/**
 * The admin token per the book's order (*Hub administration*, Authentication): `-token`,
 * `TELA_OWNER_TOKEN`, `TELA_TOKEN`, then the credential store (user, then system) for the
 * hub URL. Empty values count as unset.
 * @param flagToken the `-token` value.
 * @param hubUrl the resolved hub URL (the store's key).
 * @throws {ConfigError} when a readable credential store is malformed (exit 3).
 * @example await resolveAdminToken(undefined, "wss://hub.example.com") // {source: "store", ...}
 */
export async function resolveAdminToken(
  flagToken: string | undefined,
  hubUrl: string,
): Promise<AdminToken> {
  if (flagToken) return { token: flagToken, source: "flag" };
  for (const name of ["TELA_OWNER_TOKEN", "TELA_TOKEN"] as const) {
    const v = Deno.env.get(name);
    if (v) return { token: v, source: name };
  }
  const found = await lookupStoredCredential(hubUrl);
  if (found?.credential.token) {
    return {
      token: found.credential.token,
      source: "store",
      path: found.path,
      identity: found.credential.identity,
    };
  }
  return { source: "none" };
}

/**
 * The token's source in words, e.g. `the token from TELA_OWNER_TOKEN` or `the token stored
 * for wss://h in /home/a/.tela/credentials.yaml`.
 */
export function describeTokenSource(t: AdminToken, hubUrl: string, withIdentity = true): string {
  switch (t.source) {
    case "flag":
      return "the token given with -token";
    case "TELA_OWNER_TOKEN":
    case "TELA_TOKEN":
      return `the token from ${t.source}`;
    case "store":
      return `the token stored for ${hubUrl} in ${t.path ?? userCredentialsPath()}` +
        (t.identity && withIdentity ? ` (identity "${t.identity}")` : "");
    default:
      return "no token";
  }
}

/** The hub refused an admin request; the message names the cause and the fix. Exit 1. */
export class AdminApiError extends HubApiError {
  override name = "AdminApiError";
  /**
   * @param status the HTTP status (0 when the answer was not what the API promises).
   * @param message the sentence printed after `Error: `.
   */
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** One admin request. */
export interface AdminRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path and query, already escaped: `/api/admin/access/bob`. */
  path: string;
  /** JSON body, sent as `Content-Type: application/json`. */
  body?: unknown;
  /**
   * The whole message for a 404 (what was not found, the command that lists them), given
   * the hub's error text; undefined keeps the generic wording.
   */
  notFound?: (hubError: string) => string | undefined;
  /**
   * The whole message for a 403 that is not about the token (e.g. `manage permission
   * required for barn` from `/api/admin/agents`), given the hub's error text; undefined
   * keeps the admin wording.
   */
  forbidden?: (hubError: string) => string | undefined;
}

/**
 * A connection to one hub's admin API with one token. Every call throws an
 * {@link AdminApiError} (or `HubDialError` when no HTTP answer came) whose message is ready
 * to print.
 */
export class AdminClient {
  /** The identity the hub named in its last error body (our hub's 403 carries it). */
  #hubIdentity?: string;

  /**
   * @param hubUrl the hub's WebSocket URL (`wss://…`, `ws://…`); calls go to its HTTP form.
   * @param auth the token and its source.
   * @param timeoutMs time allowed per call, in milliseconds.
   */
  constructor(
    readonly hubUrl: string,
    readonly auth: AdminToken,
    readonly timeoutMs = HUB_API_TIMEOUT_MS,
  ) {}

  /** `http(s)://host[:port]` of the hub. */
  get base(): string {
    return hubHttpBase(this.hubUrl);
  }

  /**
   * Sends `req` and returns the decoded JSON body of a 2xx answer (`{}` for an empty one).
   * @throws {HubDialError} when the hub could not be reached.
   * @throws {AdminApiError} for any other status, worded per status (see {@link describe}).
   */
  async call<T = Record<string, unknown>>(req: AdminRequest): Promise<T> {
    const res = await this.fetch(req.method, req.path, req.body);
    const text = await res.text();
    let doc: unknown = {};
    if (text.trim()) {
      try {
        doc = JSON.parse(text);
      } catch {
        if (res.ok) {
          throw new AdminApiError(
            res.status,
            `${req.method} ${req.path} on ${this.hubUrl} answered ${res.status} with a body ` +
              `that is not JSON; is ${this.base} a Tela hub?`,
          );
        }
      }
    }
    if (res.ok) return doc as T;
    const hubError = typeof (doc as { error?: unknown })?.error === "string"
      ? (doc as { error: string }).error
      : text.trim().slice(0, 200);
    const named = (doc as { identity?: unknown })?.identity;
    this.#hubIdentity = typeof named === "string" && named ? named : undefined;
    throw await this.describe(res.status, hubError, req);
  }

  private async fetch(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.auth.token) headers.Authorization = `Bearer ${this.auth.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      return await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new HubDialError(this.hubUrl, err);
    }
  }

  /**
   * The error for a non-2xx answer. 401, and 403 from a token the hub does not know
   * (the admin gate answers 403 for both, spec §2.6: a `GET /api/status` probe tells them
   * apart), say the token is unknown, revoked or expired and which source it came from;
   * 403 `only an owner can …` (an admin token, an owner's action) says so;
   * 403 from a known token says it belongs to an identity (named when the stores or the
   * hub's text know it) that is not an owner or admin; 404 names what was not found and the
   * command that lists them; a last-owner 409 names `tela admin access set`; 409, 412 and
   * others carry the hub's text.
   */
  private async describe(status: number, hubError: string, req: AdminRequest) {
    const src = describeTokenSource(this.auth, this.hubUrl);
    if (status === 403) {
      const message = req.forbidden?.(hubError);
      if (message) return new AdminApiError(403, message);
    }
    const fix = `pass an owner or admin token with -token, set TELA_OWNER_TOKEN, or run ` +
      `"tela login ${this.hubUrl}" with one`;
    if (status === 403 && /^only an owner can /i.test(hubError)) {
      // Past the admin gate: the token is an admin's, the action is an owner's (Appendix C).
      const id = await this.identityName(hubError);
      return new AdminApiError(
        403,
        `${this.hubUrl} refused the request: ${hubError} (HTTP 403); ` +
          `${describeTokenSource(this.auth, this.hubUrl, false)} belongs to ` +
          `${id ? `identity "${id}"` : "an identity"}, an admin: ask an owner, or use an ` +
          `owner's token`,
      );
    }
    if (status === 401 || status === 403) {
      if (this.auth.source === "none") {
        return new AdminApiError(
          status,
          `${this.hubUrl} needs an owner or admin token and none was given; ${fix}`,
        );
      }
      const known = status === 403 ? await this.tokenIsKnown() : false;
      if (!known) {
        const why = hubError && !/^(forbidden|unauthorized|auth_required)$/i.test(hubError)
          ? `: ${hubError}`
          : "";
        return new AdminApiError(
          status,
          `${this.hubUrl} does not accept ${src}: the token is unknown, revoked or ` +
            `expired (HTTP ${status}${why}); ${fix}`,
        );
      }
      const id = await this.identityName(hubError);
      const who = id ? `identity "${id}"` : "an identity";
      return new AdminApiError(
        status,
        `${describeTokenSource(this.auth, this.hubUrl, false)} belongs to ${who} that is not ` +
          `an owner or admin on ${this.hubUrl} (HTTP 403); tela admin needs such a token: ` +
          fix.replace(/^pass an owner or admin token/, "pass one"),
      );
    }
    if (status === 404) {
      const message = req.notFound?.(hubError);
      if (message) return new AdminApiError(404, message);
      return new AdminApiError(
        404,
        `${req.method} ${req.path} on ${this.hubUrl}: ${hubError || "not found"} (HTTP 404)` +
          (hubError ? "" : `; this hub may not support the admin API (tela admin needs ` +
            `telahubd v0.14 or later)`),
      );
    }
    if (status === 409 && /promote another identity/i.test(hubError)) {
      return new AdminApiError(
        409,
        `${this.hubUrl} refused the request: ${hubError} (HTTP 409); make another identity an ` +
          `owner first: "tela admin access set <id> -role owner -hub ${this.hubUrl}"`,
      );
    }
    if (status === 405 && !hubError) {
      return new AdminApiError(
        405,
        `${req.method} ${req.path} on ${this.hubUrl}: the hub does not support this request ` +
          `(HTTP 405); it may be older than this tela`,
      );
    }
    return new AdminApiError(
      status,
      `${this.hubUrl} refused the request: ${hubError || `HTTP ${status}`} (HTTP ${status})`,
    );
  }

  /**
   * The identity the token belongs to, for a 403: the one stored with it by `tela login` or
   * `tela pair` (in the entry it came from, or any entry of the stores holding the same
   * token, so `-token` and `TELA_TOKEN` find it too), else one the hub's text names
   * (`identity "alice" ...`); undefined when neither knows.
   */
  private async identityName(hubError: string): Promise<string | undefined> {
    if (this.#hubIdentity) return this.#hubIdentity; // our hub names it in its 403 body
    if (this.auth.identity) return this.auth.identity;
    const stored = await identityForToken(this.auth.token ?? "");
    if (stored) return stored;
    return hubError.match(/identity "([^"]+)"/)?.[1];
  }

  /** True when `GET /api/status` accepts the token (so it is known, but not admin). */
  private async tokenIsKnown(): Promise<boolean> {
    try {
      const res = await this.fetch("GET", "/api/status");
      await res.body?.cancel();
      return res.status === 200;
    } catch {
      return false;
    }
  }
}

/**
 * One path segment escaped as Go's `url.PathEscape` does it (what Go `tela admin` sends):
 * letters, digits, `-_.~` and `$&+:=@` stay; every other byte of the UTF-8 form becomes
 * `%XX` (uppercase hex), so `*` is `%2A` and `/` is `%2F`.
 * @example pathEscape("*") === "%2A"; pathEscape("a b/c") === "a%20b%2Fc"
 */
export function pathEscape(segment: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(segment)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.~$&+:=@]/.test(c)
      ? c
      : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
