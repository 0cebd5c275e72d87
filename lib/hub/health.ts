/**
 * `telahubd health`: probes a hub's `/.well-known/tela` (spec hub-http-api.md
 * §4.6; used as the Docker `HEALTHCHECK`).
 * @module
 */
import { parseGoDuration } from "./config.ts";
import { HUB_VERSION } from "./http.ts";

/** Options of {@link checkHealth}. */
export interface HealthOptions {
  /** Full URL to probe; default `http://127.0.0.1:<port>/.well-known/tela`. */
  url?: string;
  /** Port when no URL is given. */
  port: number;
  /** Give up after this long, ms. */
  timeoutMs: number;
}

/**
 * GETs the discovery document.
 * @returns `{ ok: true, line }` when the answer is 2xx JSON with a non-blank
 *   `protocolVersion`, else `{ ok: false, line }` with the reason.
 */
export async function checkHealth(o: HealthOptions): Promise<{ ok: boolean; line: string }> {
  const url = o.url ?? `http://127.0.0.1:${o.port}/.well-known/tela`;
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(o.timeoutMs) });
    const text = await r.text();
    if (r.status < 200 || r.status > 299) return unhealthy(url, `it answered HTTP ${r.status}`);
    let doc: { protocolVersion?: unknown };
    try {
      doc = JSON.parse(text);
    } catch {
      return unhealthy(url, "its answer is not JSON (is a telahubd listening there?)");
    }
    const v = typeof doc.protocolVersion === "string" ? doc.protocolVersion.trim() : "";
    if (!v) return unhealthy(url, "its answer has no protocolVersion (is it a telahubd?)");
    return { ok: true, line: `ok: telahubd ${HUB_VERSION} listening at ${url} (protocol ${v})` };
  } catch (err) {
    // Deno's fetch says "fetch failed"; the cause says why (refused, timeout, ...).
    const e = err as Error & { cause?: Error };
    const why = e.name === "TimeoutError"
      ? `no answer within ${o.timeoutMs} ms`
      : /refused/i.test(e.cause?.message ?? "")
      ? "connection refused (no hub listens there; check -port or TELAHUBD_PORT)"
      : (e.cause?.message ?? e.message);
    return unhealthy(url, why);
  }
}

function unhealthy(url: string, why: string): { ok: false; line: string } {
  return { ok: false, line: `unhealthy: ${url}: ${why}` };
}

/** Parses `-timeout` (Go duration, default 3 s) into ms. */
export function healthTimeoutMs(flag: string | undefined): number {
  const ms = flag ? parseGoDuration(flag) : 3000;
  return ms && ms > 0 ? ms : 3000;
}
