/**
 * Why a hub could not be reached, in words a user can act on (issue 9, "What a new user
 * trips over"): the URL, the cause (DNS, refused, timeout, TLS, ...) and the fix. Used by
 * every place that opens the signaling WebSocket or calls the hub's HTTP API, and by the
 * reconnect loop for its one line per attempt.
 *
 * Deno 2.9.6 reports these failures in three shapes, all handled here:
 * - `fetch`: `TypeError("fetch failed")` whose `cause` reads `error sending request for url
 *   (...): client error (Connect): <reason>`; a timeout is a `DOMException` named
 *   `TimeoutError`;
 * - `WebSocket`: an `ErrorEvent` whose message reads `NetworkError: failed to connect to
 *   WebSocket: <reason>`, where a refused TCP connection is only `tcp connect error`
 *   ({@link diagnoseDialFailure} then asks the OS with a plain TCP connect);
 * - `Deno.connect`: `Deno.errors.ConnectionRefused`, `TimedOut`, ... with an OS message.
 * @module
 */

/** The kinds of failure {@link classifyHubError} tells apart. */
export type HubFailureKind =
  | "dns"
  | "refused"
  | "timeout"
  | "tls-plain"
  | "tls-expected"
  | "http-status"
  | "tls-untrusted"
  | "tls-name"
  | "tls-expired"
  | "tls"
  | "unreachable"
  | "reset"
  | "blocked-port"
  | "other";

/** No answer within the time allowed; `timeoutMs` is that time, in milliseconds. */
export class HubTimeoutError extends Error {
  override name = "HubTimeoutError";
  /**
   * @param timeoutMs the time allowed, in milliseconds.
   * @param what what did not happen in time, e.g. `WebSocket handshake`.
   */
  constructor(readonly timeoutMs: number, what: string) {
    super(`${what}: no answer within ${formatWait(timeoutMs)}`);
  }
}

/**
 * The hub could not be reached (its WebSocket did not open, or an API call failed before an
 * HTTP answer): the message is {@link describeHubError}'s sentence, `cause` the original error.
 */
export class HubDialError extends Error {
  override name = "HubDialError";
  /**
   * @param url the hub URL as dialled.
   * @param cause what was thrown (see {@link classifyHubError}).
   */
  constructor(readonly url: string, override readonly cause: unknown) {
    super(describeHubError(url, cause));
  }
}

function formatWait(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Every message along an error's `cause` / `error` chain, lower-cased, joined by ` | `. */
function errorText(err: unknown, depth = 0): string {
  if (err === null || err === undefined || depth > 5) return "";
  if (typeof err !== "object") return String(err).toLowerCase();
  const e = err as { name?: unknown; message?: unknown; cause?: unknown; error?: unknown };
  const parts = [String(e.name ?? ""), String(e.message ?? "")];
  if (e.cause !== undefined) parts.push(errorText(e.cause, depth + 1));
  if (e.error !== undefined && e.error !== err) parts.push(errorText(e.error, depth + 1));
  return parts.filter(Boolean).join(" | ").toLowerCase();
}

function isTimeout(err: unknown, text: string): boolean {
  if (err instanceof HubTimeoutError || err instanceof Deno.errors.TimedOut) return true;
  if ((err as { name?: string })?.name === "TimeoutError") return true;
  return /timed out|timeout|os error 110\b/.test(text);
}

/**
 * Classifies a failure to reach a hub.
 * @param err whatever `fetch`, `new WebSocket` (its `ErrorEvent`), `Deno.connect` or our
 *   own dial threw; `cause` chains are followed.
 * @returns the kind of failure; `"other"` when nothing known matched.
 */
export function classifyHubError(err: unknown): HubFailureKind {
  if (err instanceof HubDialError) err = err.cause;
  const text = errorText(err);
  if (isTimeout(err, text)) return "timeout";
  // Deno's fetch refuses the Fetch standard's "bad ports" (1, 22, 25, ...) without dialling.
  if (/requests to port \d+ are blocked/.test(text)) return "blocked-port";
  if (
    /dns error|failed to lookup address|name or service not known|no address associated|nodename nor servname|name resolution|no such host/
      .test(text)
  ) return "dns";
  if (
    err instanceof Deno.errors.ConnectionRefused || /connection refused|os error 111\b/.test(text)
  ) {
    return "refused";
  }
  // rustls: a plain-text HTTP answer to a ClientHello is a record of the wrong type.
  if (/invalidcontenttype|corrupt message|wrong version number|http request/.test(text)) {
    return "tls-plain";
  }
  // An HTTP server that is not a hub (or a wrong path) refuses the WebSocket upgrade.
  // (The runtime's WebSocket words it one way, lib/transport/ws_client.ts the other.)
  if (/invalid status code: \d+|websocket upgrade with status \d+/.test(text)) {
    return "http-status";
  }
  // A TLS server's alert read as an HTTP status line.
  if (/invalid http version parsed|answer to the websocket upgrade is not http/.test(text)) {
    return "tls-expected";
  }
  if (/notvalidforname|not valid for name|certificate is not valid for/.test(text)) {
    return "tls-name";
  }
  if (/expired|notvalidyet|not valid yet/.test(text)) return "tls-expired";
  if (/unknownissuer|self[- ]signed|caused as end entity|causedasendentity|unknown ca/.test(text)) {
    return "tls-untrusted";
  }
  if (/invalid peer certificate|certificate|\btls\b|handshake failure|fatal alert/.test(text)) {
    return "tls";
  }
  if (
    err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.BrokenPipe ||
    /connection reset|os error 104\b|broken pipe/.test(text)
  ) return "reset";
  if (
    /no route to host|network is unreachable|host is unreachable|os error 11[13]\b|os error 101\b/
      .test(text)
  ) return "unreachable";
  return "other";
}

/** Host and port a hub URL dials (default 80 for ws/http, 443 for wss/https). */
export function hubHostPort(url: string): { host: string; port: number; secure: boolean } {
  try {
    const u = new URL(url);
    const secure = u.protocol === "wss:" || u.protocol === "https:";
    const host = u.hostname.replace(/^\[|\]$/g, "");
    return { host, port: u.port ? Number(u.port) : secure ? 443 : 80, secure };
  } catch {
    return { host: url, port: 0, secure: /^(wss|https):/i.test(url) };
  }
}

/** The last, most specific part of a Deno error message (`... client error (Connect): x`). */
function reason(err: unknown): string {
  const raw = (() => {
    const e = err as { message?: unknown; cause?: unknown; error?: unknown };
    if (e?.cause) return reason(e.cause);
    if (e?.error && e.error !== err) return reason(e.error);
    return String(e?.message ?? err);
  })();
  return raw.replace(/^.*client error \(\w+\): /, "").replace(
    /^(NetworkError: )?failed to connect to WebSocket: /,
    "",
  )
    .replace(/[\r\n\t]+/g, " ").trim();
}

/**
 * One sentence saying which hub could not be reached, why, and what to do about it.
 *
 * @example
 * ```ts
 * describeHubError("ws://127.0.0.1:9", new Deno.errors.ConnectionRefused("Connection refused"));
 * // => 'could not reach hub ws://127.0.0.1:9: connection refused by 127.0.0.1:9 (no hub listens
 * //     there; check that telahubd is running and the port is right)'
 * ```
 * For an untrusted certificate it says how Deno 2.9.6 trusts another CA: `DENO_CERT=<PEM file>`
 * (the CA's certificate, or the hub's own self-signed one), or the CA installed in the
 * operating system's store together with `DENO_TLS_CA_STORE=mozilla,system` (Deno's own
 * hint; `system` alone would drop the public roots).
 * @param url the hub URL as dialled (`ws://`, `wss://`, or the `http(s)://` base of an API call).
 * @param err what was thrown (see {@link classifyHubError}).
 * @returns text without a trailing period, e.g. for `Error: <text>` or a log line.
 */
export function describeHubError(url: string, err: unknown): string {
  if (err instanceof HubDialError) err = err.cause;
  const { host, port, secure } = hubHostPort(url);
  const at = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const head = `could not reach hub ${url}`;
  switch (classifyHubError(err)) {
    case "dns":
      return `${head}: DNS lookup of "${host}" failed (${reason(err)}); check the host name ` +
        `and this machine's DNS settings, or use the hub's IP address`;
    case "refused":
      return `${head}: connection refused by ${at} (no hub listens there); check that ` +
        `telahubd is running and the port is right`;
    case "timeout": {
      const wait = err instanceof HubTimeoutError ? ` within ${formatWait(err.timeoutMs)}` : "";
      return `${head}: timeout, no answer from ${at}${wait}; check the address, and that ` +
        `no firewall or proxy drops the traffic`;
    }
    case "tls-plain": {
      const plain = url.replace(/^wss:/i, "ws:").replace(/^https:/i, "http:");
      return secure
        ? `${head}: TLS handshake failed, ${at} answered in plain text (no TLS there); ` +
          `for a hub without TLS use ${plain}`
        : `${head}: the server at ${at} sent something that is not HTTP (${reason(err)})`;
    }
    case "tls-expected": {
      const tls = url.replace(/^ws:/i, "wss:").replace(/^http:/i, "https:");
      return `${head}: ${at} answered with TLS, not plain HTTP; for a hub with TLS use ${tls}`;
    }
    case "http-status": {
      const code = /invalid status code: (\d+)/i.exec(errorText(err))?.[1] ?? "?";
      return Number(code) >= 500
        ? `${head}: ${at} answered HTTP ${code} (the hub is busy or failing; check its log)`
        : `${head}: ${at} answered HTTP ${code} instead of a WebSocket upgrade; is it a ` +
          `Tela hub, and is the URL (path included) right?`;
    }
    case "tls-untrusted":
      return `${head}: the TLS certificate of ${at} is not trusted (${reason(err)}: ` +
        `signed by an unknown CA, or self-signed); to trust that CA set ` +
        `DENO_CERT=/path/to/ca.pem (the CA's PEM certificate, or the hub's self-signed one), ` +
        `or install the CA in the system's trust store and set DENO_TLS_CA_STORE=mozilla,system`;
    case "tls-name":
      return `${head}: the TLS certificate of ${at} is not valid for "${host}" ` +
        `(${reason(err)}); use the host name the certificate was issued for`;
    case "tls-expired":
      return `${head}: the TLS certificate of ${at} has expired or is not valid yet ` +
        `(${reason(err)}); renew it on the hub, or check this machine's clock`;
    case "tls":
      return `${head}: TLS handshake with ${at} failed (${reason(err)})`;
    case "unreachable":
      return `${head}: no route to ${at} (${reason(err)}); check the network connection`;
    case "reset":
      return `${head}: ${at} closed the connection during the handshake (${reason(err)}); ` +
        `is it a Tela hub, and is the URL's path right?`;
    case "blocked-port":
      return `${head}: port ${port} is on the Fetch standard's list of blocked ports, so the ` +
        `hub's HTTP API cannot be called there; run the hub on another port (e.g. 8080)`;
    default:
      return `${head}: ${reason(err)}`;
  }
}

/**
 * The line a reconnect loop prints for each failed attempt: the cause from
 * {@link describeHubError} and the wait before the next one.
 * @example
 * ```ts
 * describeHubRetry("ws://127.0.0.1:9", err, 6000, 2);
 * // => 'could not reach hub ws://127.0.0.1:9: connection refused by ...; retrying in 6s (attempt 2)'
 * ```
 * @param delayMs the wait before the next attempt, in milliseconds (Go duration text, §1.5).
 * @param attempt how many attempts have failed in a row (1 = the first).
 */
export function describeHubRetry(
  url: string,
  err: unknown,
  delayMs: number,
  attempt: number,
): string {
  return `${describeHubError(url, err)}; retrying in ${goSeconds(delayMs)} (attempt ${attempt})`;
}

/** Go's duration text rounded to seconds (`6s`, `1m36s`), spec agent-and-client.md §1.5. */
function goSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${s % 60}s` : `${Math.floor(m / 60)}h${m % 60}m${s % 60}s`;
}

/**
 * A WebSocket that failed with only `tcp connect error` does not say why; this asks the OS
 * with one plain TCP connect to the same host and port and returns that error (refused,
 * unreachable, ...), or `err` itself when the probe does not fail or the URL has no port.
 * @param timeoutMs how long the probe may take, in milliseconds.
 */
export async function diagnoseDialFailure(
  url: string,
  err: unknown,
  timeoutMs = 3_000,
): Promise<unknown> {
  if (!/tcp connect error/.test(errorText(err))) return err;
  const { host, port } = hubHostPort(url);
  if (!port) return err;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const conn = await Deno.connect({ hostname: host, port, signal } as Deno.ConnectOptions);
    conn.close();
    return err;
  } catch (probe) {
    return signal.aborted ? new HubTimeoutError(timeoutMs, "TCP connect") : probe;
  }
}
