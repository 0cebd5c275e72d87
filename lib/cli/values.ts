/**
 * Whole-number settings that come from a flag or, when the flag is absent, from an
 * environment variable standing in for it (book, Appendix A: `-mtu` / `TELA_MTU`). Both are
 * checked before a program dials anything; a bad value is a usage error (exit 2) naming the
 * flag or the variable, since the variable is the flag's stand-in, not a configuration file.
 * @module
 */
import { UsageError } from "./errors.ts";

/** How {@link intSetting} reads and checks one setting. */
export interface IntSetting {
  /** The flag's name without the dash (`mtu`). */
  flag: string;
  /** The flag's value; undefined or 0 means "not given" (Go's zero value, spec §8.6). */
  flagValue: number | undefined;
  /** The environment variable read when the flag is not given (`TELA_MTU`). */
  env: string;
  /** Smallest accepted value. */
  min: number;
  /** Largest accepted value. */
  max: number;
  /** What the value is, for the message (`tunnel MTU`). */
  what: string;
  /** Used when neither the flag nor the variable is set. */
  fallback: number;
}

/**
 * The setting's value: the flag when given (non-zero), else the environment variable when
 * set and non-empty, else `fallback`.
 * @throws {UsageError} when the flag or the variable is not a whole number in `min..max`;
 *   the message names which one, the value, the range and the fix.
 * @example intSetting({ flag: "mtu", flagValue: undefined, env: "TELA_MTU", min: 576,
 *   max: 65475, what: "tunnel MTU", fallback: 1100 }) // 1100 when TELA_MTU is unset
 */
export function intSetting(s: IntSetting): number {
  const range = `a whole number ${s.min}-${s.max}`;
  if (s.flagValue !== undefined && s.flagValue !== 0) {
    if (!Number.isInteger(s.flagValue) || s.flagValue < s.min || s.flagValue > s.max) {
      throw new UsageError(
        `-${s.flag} ${s.flagValue} is not a valid ${s.what}: it must be ${range}` +
          ` (default ${s.fallback})`,
      );
    }
    return s.flagValue;
  }
  const raw = Deno.env.get(s.env);
  if (raw === undefined || raw.trim() === "") return s.fallback;
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < s.min || n > s.max) {
    throw new UsageError(
      `environment variable ${s.env}=${JSON.stringify(raw)} is not a valid ${s.what}: ` +
        `it must be ${range}; fix it, or unset it for the default ${s.fallback}`,
    );
  }
  return n;
}
