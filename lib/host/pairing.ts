/**
 * Redeeming a one-time pairing code for a hub token (book, *Credentials and pairing*; spec
 * hub-http-api.md §4.4, agent-and-client.md §8.5, §9.8), shared by `tela pair` and
 * `telad pair`: the code's format check, `POST /api/pair`, and its errors.
 * @module
 */

/** What a successful `POST /api/pair` gives (all strings, spec §4.4). */
export interface PairingResult {
  /** The new 64-hex token. */
  token: string;
  /** The identity the hub created (`paired-user-…`, `<machine>-agent`). */
  identity: string;
  /** `connect` (a user's code) or `register` (an agent's). */
  type: string;
}

/** The hub refused the code, or its answer was not what the API promises. Exit status 1. */
export class PairingError extends Error {
  override name = "PairingError";
  /**
   * @param status the HTTP status (0 when no usable answer came).
   * @param hubError the hub's `error` text, if any.
   * @param message the sentence to print.
   */
  constructor(readonly status: number, readonly hubError: string, message: string) {
    super(message);
  }
}

/**
 * A pairing code as the hub stores it (spec §6.1): 9 characters, `-` at index 4, the rest
 * hex; lower case is raised (hub codes are upper-case hex and the hub's lookup is exact).
 * @returns the code in upper case, or undefined when `code` does not have that shape.
 * @example normalizePairingCode(" a1b2-c3d4 ") === "A1B2-C3D4"
 */
export function normalizePairingCode(code: string): string | undefined {
  const c = code.trim().toUpperCase();
  return /^[0-9A-Z]{4}-[0-9A-Z]{4}$/.test(c) ? c : undefined;
}

/** Time allowed for `POST /api/pair`, in milliseconds. */
export const PAIR_TIMEOUT_MS = 10_000;

/** The kind of code a command redeems: `tela pair` connect codes, `telad pair` register codes. */
export type PairingCodeType = "connect" | "register";

/**
 * `POST <http base>/api/pair` with `{"code", "machineId"?, "type"}`: `type` is the kind of
 * code the caller expects, so our hub refuses a code of the other kind with 400 and keeps
 * it (issue 10); Go hubs ignore the key.
 * @param hubUrl the hub's WebSocket URL; the call goes to its `http(s)://` form.
 * @param code the code, already checked with {@link normalizePairingCode}.
 * @param type `connect` for `tela pair`, `register` for `telad pair`.
 * @param machineId the machine a register code is for (`telad pair -machine`).
 * @throws {PairingError} for a non-200 answer (the hub's `error` text in `hubError`), a body
 *   that is not a JSON object of strings, or one without a token.
 * @throws {TypeError} / `DOMException` from `fetch` when the hub cannot be reached.
 */
export async function redeemPairingCode(
  hubUrl: string,
  code: string,
  type: PairingCodeType,
  machineId?: string,
): Promise<PairingResult> {
  const base = hubUrl.replace(/^wss:\/\//i, "https://").replace(/^ws:\/\//i, "http://")
    .replace(/\/+$/, "");
  const body: Record<string, string> = { code };
  if (machineId) body.machineId = machineId;
  body.type = type;
  const res = await fetch(`${base}/api/pair`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(PAIR_TIMEOUT_MS),
  });
  const text = (await res.text()).slice(0, 64 * 1024);
  let doc: unknown;
  try {
    doc = text.trim() ? JSON.parse(text) : undefined;
  } catch {
    doc = undefined;
  }
  const fields = doc && typeof doc === "object" && !Array.isArray(doc)
    ? doc as Record<string, unknown>
    : undefined;
  if (res.status !== 200) {
    const hubError = typeof fields?.error === "string" ? fields.error : "";
    throw new PairingError(res.status, hubError, hubError || `HTTP ${res.status}`);
  }
  if (!fields || Object.values(fields).some((v) => typeof v !== "string")) {
    throw new PairingError(
      200,
      "",
      `invalid response from hub ${hubUrl}: not a JSON object of strings`,
    );
  }
  if (!fields.token) throw new PairingError(200, "", `hub ${hubUrl} returned no token`);
  return {
    token: fields.token as string,
    identity: (fields.identity as string) || "",
    type: (fields.type as string) || "",
  };
}

/**
 * What is wrong with `-code`, checked before any request (spec §6.1: 4 letters or digits,
 * `-`, 4 more), for a usage error (exit 2).
 * @param code the flag's value.
 * @param example a full command line to show when the flag is missing.
 * @returns the message, or undefined when {@link normalizePairingCode} accepts it.
 */
export function pairingCodeProblem(code: string | undefined, example: string): string | undefined {
  if (!code?.trim()) return `-code is required, e.g. ${example}`;
  if (normalizePairingCode(code)) return undefined;
  return `-code: a pairing code looks like ABCD-1234 (4 letters or digits, a dash, 4 more); ` +
    `got ${JSON.stringify(code)}; copy it as "tela admin pair-code" printed it`;
}

function registerCodeHint(hubUrl: string, code: string): string {
  return `it is an agent (register) code: redeem it on the agent's machine with ` +
    `"telad pair -hub ${hubUrl} -code ${code} -machine <machine>"`;
}

/**
 * The sentence for a refused code (spec §4.4 statuses): unknown, expired or already used
 * codes send the user back to the administrator; a code of the other kind (a register code
 * given to `tela pair`, a connect code to `telad pair`: Go's 400 `machineId is required`, or
 * our hub's 400 for a `type` mismatch) names the command that redeems it; the hub's own
 * text is kept.
 * @param forAgent wording for `telad pair` (a connect code belongs to `tela pair`).
 */
export function pairingFailure(
  err: PairingError,
  hubUrl: string,
  code: string,
  forAgent: boolean,
): string {
  const head = `${hubUrl} refused pairing code ${code}: ${err.hubError || `HTTP ${err.status}`}` +
    (err.status ? ` (HTTP ${err.status})` : "");
  if (/machineId is required/i.test(err.hubError)) {
    return forAgent
      ? `${head}; it is an agent (register) code: add -machine <the machine it was made for>`
      : `${head}; ${registerCodeHint(hubUrl, code)}`;
  }
  // Our hub refuses a code of the other kind than the request's `type` with 400 and keeps it.
  if (err.status === 400 && /\b(connect|register)\b|\btype\b/i.test(err.hubError)) {
    return forAgent
      ? `${head}; it is a user (connect) code, not an agent one: redeem it with ` +
        `"tela pair -hub ${hubUrl} -code ${code}" (the code still works), or ask for a register ` +
        `code ("tela admin pair-code <machine> -type register")`
      : `${head}; ${registerCodeHint(hubUrl, code)} (the code still works)`;
  }
  if (/does not match machine/i.test(err.hubError)) {
    return `${head}; the code was made for another machine: use -machine with that name`;
  }
  if (err.status === 401 || err.status === 404) {
    return `${head}; a code works once and expires: ask the hub's administrator for a new ` +
      `one ("tela admin pair-code")`;
  }
  if (err.status === 0 || err.status === 200) return err.message;
  return head;
}
