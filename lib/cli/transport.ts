/**
 * `-stun` and `-transport` as `tela connect` and `telad` read them (issue 11): the flags, else
 * `<PREFIX>_STUN_SERVERS` and `<PREFIX>_TRANSPORT`; a file's keys fill what these leave unset.
 * @module
 */
import {
  resolveTransportSettings,
  type TransportSettings,
  TransportUsageError,
} from "../session/mod.ts";
import { UsageError } from "./errors.ts";

/**
 * Resolves the transport flags and variables of one program.
 * @param stun the `-stun` value, if given.
 * @param transport the `-transport` value, if given.
 * @param prefix `TELA` (tela connect) or `TELAD` (telad): whose variables apply.
 * @throws {UsageError} naming the flag or variable, the value, the cause and the fix.
 */
export function transportFlags(
  stun: string | undefined,
  transport: string | undefined,
  prefix: "TELA" | "TELAD",
): TransportSettings {
  try {
    return resolveTransportSettings({
      stunFlag: stun,
      transportFlag: transport,
      env: { stun: `${prefix}_STUN_SERVERS`, transport: `${prefix}_TRANSPORT` },
    });
  } catch (e) {
    if (e instanceof TransportUsageError) throw new UsageError(e.message);
    throw e;
  }
}
