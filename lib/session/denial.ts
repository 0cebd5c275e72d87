/**
 * Reading the hub's access denials (issue 10, decisions 1-2): when access changes, the hub
 * sends `{"type":"error","message":"Access denied: <reason>"}` and closes with 1008. Client
 * and agent both need to tell a denial from other errors, pull out the reason for their log
 * line, and know whether the token itself is dead (revoked, rotated, expired, its identity
 * removed) or only one permission ended.
 * @module
 */
import { escapeForLog } from "../log/mod.ts";

/** What a denial is about: the whole token, one permission, or not said (plain text). */
export type DenialScope = "token" | "permission" | "unknown";

/** A hub denial, read from its `error` message or close reason. */
export interface HubDenial {
  /**
   * The hub's reason without the `Access denied: ` prefix, escaped for a log line
   * (e.g. `token of identity "bob" was revoked`); `access denied` for the plain text.
   */
  reason: string;
  /** `token`: no connection with this token can succeed on this hub any more. */
  scope: DenialScope;
}

const TOKEN_SCOPED = [
  /^token of identity ".*" was (revoked|rotated)/is,
  /^token of identity ".*" expired/is,
  /^identity ".*" was removed/is,
];

/**
 * Reads a hub message as an access denial. Matches `access denied` anywhere, case
 * insensitive, as Go peers do (spec session-and-relay.md §2.12).
 * @param message the `error` message text or the close reason; undefined or "" gives null.
 * @returns the denial, or null when the text is not a denial (`Machine not found`, ...).
 * @example
 * ```ts
 * import { readDenial } from "./denial.ts";
 * readDenial('Access denied: token of identity "bob" was revoked');
 * // { reason: 'token of identity "bob" was revoked', scope: "token" }
 * ```
 */
export function readDenial(message: string | undefined): HubDenial | null {
  if (!message) return null;
  const m = message.match(/access denied(?::\s*)?(.*)$/is);
  if (!m) return null;
  const rest = m[1].trim();
  if (!rest) return { reason: "access denied", scope: "unknown" };
  const scope: DenialScope = TOKEN_SCOPED.some((re) => re.test(rest)) ? "token" : "permission";
  return { reason: escapeForLog(rest), scope };
}
