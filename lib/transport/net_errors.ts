/**
 * Errors a socket read or write reports when the connection is gone (reset or closed by the
 * peer, or closed by us: a deadline, the cap on unauthenticated connections, shutdown). The
 * front end expects them and ends that connection quietly; anything else is a bug and is
 * logged.
 *
 * @module
 */

/** True when `err` says the connection is gone, which needs no log line. */
export function isConnectionGone(err: unknown): boolean {
  return err instanceof Deno.errors.BadResource ||
    err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.NotConnected ||
    err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.TimedOut ||
    err instanceof Deno.errors.UnexpectedEof;
}
