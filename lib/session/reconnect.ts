/**
 * The one reconnect loop of agent and client (spec session-and-relay.md §10.1, §10.2):
 * run an attempt, wait 3 s × 2^k (capped at 300 s, ±25 %, at least 1 s), run the next.
 * The attempt says whether k starts over (the agent got `registered`; the client's
 * attempt ended cleanly) or grows; a hub that cannot be reached at all grows it too and
 * gets one visible line naming the URL, the cause and the delay.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { backoffDelay, formatSeconds, sleep } from "./backoff.ts";
import { describeHubRetry, HubDialError } from "./hub_error.ts";

/** How an attempt ended: `reset` starts the backoff over at 3 s, `grow` doubles it. */
export type AttemptResult = "reset" | "grow";

/** Settings of one {@link reconnectLoop}. */
export interface ReconnectOptions {
  /** The hub URL, as configured; named in the retry line. */
  hubUrl: string;
  log: Logger;
  /** Ends the loop (also cuts a wait short). */
  signal: AbortSignal;
  /** A uniform number in [0, 1) for the jitter; injectable for tests. */
  random?: () => number;
  /**
   * What the info line says is retried, or a function asked after each attempt (the
   * client's first attempts resolve service names); default `reconnecting to hub <url>`.
   */
  label?: string | (() => string);
  /** Waits `ms` milliseconds or until `signal` aborts; injectable for tests. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Runs `attempt` until `opts.signal` aborts, waiting the spec's backoff between attempts.
 * A {@link HubDialError} from an attempt counts as `grow` and is logged (warn) in
 * {@link describeHubRetry}'s words: `could not reach hub <url>: <cause and fix>; retrying
 * in 6s (attempt 2)`, where the attempt number counts the failures in a row; after any other attempt the line is
 * `reconnecting to hub <url> in 3s...` (info; `opts.label` replaces the words before "in").
 * @param attempt one connection attempt; it handles its own errors except fatal ones.
 * @throws whatever `attempt` throws other than {@link HubDialError} (a hub refusal for
 *   good, e.g. the agent's `AgentAuthError`, the client's `FatalConnectError`); the loop
 *   ends there.
 * @example
 * ```ts ignore
 * await reconnectLoop(() => connectOnce(), { hubUrl, log, signal: stop.signal });
 * ```
 */
export async function reconnectLoop(
  attempt: () => Promise<AttemptResult>,
  opts: ReconnectOptions,
): Promise<void> {
  const { hubUrl, log, signal } = opts;
  const wait = opts.sleep ?? sleep;
  let k = 0;
  while (!signal.aborted) {
    let result: AttemptResult;
    let unreachable: Error | null = null;
    try {
      result = await attempt();
    } catch (err) {
      if (!(err instanceof HubDialError)) throw err;
      unreachable = err;
      result = "grow";
    }
    if (signal.aborted) break;
    if (result === "reset") k = 0;
    const delay = backoffDelay(k, opts.random);
    if (result === "grow") k++;
    if (unreachable) {
      log.warn(describeHubRetry(hubUrl, unreachable, delay, k));
    } else {
      const label = (typeof opts.label === "function" ? opts.label() : opts.label) ??
        `reconnecting to hub ${hubUrl}`;
      log.info(`${label} in ${formatSeconds(delay)}...`);
    }
    await wait(delay, signal);
  }
}
