/**
 * The one logger: timestamped lines on stderr, a component tag, and a verbose switch.
 * Tokens must never be logged whole; use {@link tokenPreview}.
 * @module
 */

export { escapeForLog, LOG_FIELD_MAX } from "./escape.ts";

/** Log levels in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
let threshold: LogLevel = "info";
const sinks = new Set<(line: string) => void>();

/**
 * Also hands every printed log line (without its newline) to `sink`, e.g. the hub's log ring
 * behind `GET /api/admin/logs` (spec hub-http-api.md §5.7). A sink that throws is ignored.
 * @param sink called synchronously after the line is written to stderr.
 * @returns a function that removes the sink again.
 */
export function addLogSink(sink: (line: string) => void): () => void {
  sinks.add(sink);
  return () => sinks.delete(sink);
}

/** Sets the lowest level printed; `-v` maps to `"debug"`. */
export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

/** A logger bound to one component, e.g. `hub` or `agent`. */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/**
 * Returns a logger whose lines read `2026-04-11T03:22:01Z [tag] message` on stderr: ISO 8601
 * UTC to the second and a bracketed component tag (book, *TDL for the command line*, stream
 * discipline); warnings and errors carry `WARN: ` / `ERROR: ` before the message.
 * @param tag component name shown in brackets.
 */
export function logger(tag: string): Logger {
  const emit = (level: LogLevel, msg: string) => {
    if (ORDER[level] < ORDER[threshold]) return;
    const ts = new Date().toISOString().slice(0, 19) + "Z";
    const line = `${ts} [${tag}] ${level === "info" ? "" : level.toUpperCase() + ": "}${msg}`;
    console.error(line);
    for (const sink of sinks) {
      try {
        sink(line);
      } catch { /* a broken sink must not break logging */ }
    }
  };
  return {
    debug: (m) => emit("debug", m),
    info: (m) => emit("info", m),
    warn: (m) => emit("warn", m),
    error: (m) => emit("error", m),
  };
}

/**
 * A token's first characters followed by `...`, safe to log: at most 8 characters and at
 * most half of the token, so a short token is never shown whole (book, *TDL for the
 * command line*: tokens are never printed whole).
 * @param token the secret; undefined or empty gives `(none)`.
 * @example tokenPreview("0123456789abcdef") // "01234567..."; tokenPreview("wrong") // "wr..."
 */
export function tokenPreview(token: string | undefined): string {
  if (!token) return "(none)";
  return `${token.slice(0, Math.min(8, Math.floor(token.length / 2)))}...`;
}
