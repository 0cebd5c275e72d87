/**
 * Making peer-supplied text safe to put in a log line (OWASP Logging Cheat Sheet, "log
 * injection"; CWE-117, Improper Output Neutralization for Logs). Issue 9: a machine name
 * with a newline forged log lines.
 * @module
 */

/** Default cap for {@link escapeForLog}, in UTF-16 code units of the input. */
export const LOG_FIELD_MAX = 200;

// C0 controls, DEL, C1 controls, the Unicode line and paragraph separators, the bidirectional
// embedding, override and isolate controls (they reorder how the rest of a terminal line reads,
// "Trojan Source"), and the backslash (escaped so an escaped "\n" cannot be confused with a
// literal backslash-n).
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\\]/g;

function escapeChar(c: string): string {
  switch (c) {
    case "\n":
      return "\\n";
    case "\r":
      return "\\r";
    case "\t":
      return "\\t";
    case "\\":
      return "\\\\";
  }
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * Escapes a string that came from a peer (machine name, close reason, user agent...) so it
 * stays on one log line and cannot forge another: `\n`, `\r`, `\t` and `\\` become their
 * backslash forms; other C0 controls, DEL and C1 controls become `\xHH`; U+2028/U+2029 and the
 * bidirectional controls (U+202A-U+202E, U+2066-U+2069) become `\uHHHH`. Text longer than `max`
 * is cut and marked with `...(N chars)`.
 *
 * @param s the untrusted text; `undefined` gives `""`.
 * @param max the most input characters kept, default {@link LOG_FIELD_MAX}.
 * @returns a single-line string.
 * @example
 * ```ts
 * import { escapeForLog } from "./escape.ts";
 * escapeForLog("web\n2026/01/01 forged"); // "web\\n2026/01/01 forged"
 * ```
 */
export function escapeForLog(s: string | undefined, max = LOG_FIELD_MAX): string {
  if (s === undefined) return "";
  const cut = s.length > max ? s.slice(0, max) : s;
  const out = cut.replace(UNSAFE, escapeChar);
  return s.length > max ? `${out}...(${s.length} chars)` : out;
}
