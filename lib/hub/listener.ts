/**
 * A TCP accept loop that survives descriptor exhaustion. `Deno.serve`'s loop ends
 * the process on EMFILE ("Too many open files"); this one keeps one descriptor in
 * reserve (as libuv and nginx do): when `accept` fails for want of descriptors it
 * frees the reserve, accepts the waiting connection and closes it at once (shed),
 * then takes the reserve back, and goes on with the next waiting connection. It logs once
 * per episode, not per connection, and backs off while nothing can be shed.
 *
 * @module
 */
import { logger } from "../log/mod.ts";

const log = logger("hub");

/** Options of {@link acceptLoop}. */
export interface AcceptLoopOptions {
  /** Called with every accepted connection that is kept. */
  onConnection: (conn: Deno.TcpConn) => void;
  /** Longest pause between accept attempts while descriptors are exhausted, ms (default 1000). */
  maxBackoffMs?: number;
}

/** True for the errors `accept` reports when the process or system is out of descriptors. */
export function isDescriptorExhaustion(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === "EMFILE" || e?.code === "ENFILE" ||
    /too many open files/i.test(e?.message ?? "");
}

function openReserve(): Deno.FsFile | undefined {
  try {
    return Deno.openSync("/dev/null", { read: true });
  } catch {
    return undefined;
  }
}

/**
 * Accepts connections from `listener` until it is closed.
 * @returns a promise that settles when the listener is closed.
 * @param listener the hub's TCP listener.
 * @param opts what to do with each connection, and how to shed when descriptors run out.
 */
export async function acceptLoop(
  listener: Deno.TcpListener,
  opts: AcceptLoopOptions,
): Promise<void> {
  let reserve = openReserve();
  let exhausted = false;
  let warnedAt = -Infinity;
  let otherWarnedAt = -Infinity;
  let shed = 0;
  let backoff = 10;
  const maxBackoff = opts.maxBackoffMs ?? 1000;
  try {
    await loop();
  } finally {
    reserve?.close(); // the listener is closed: give the reserve descriptor back
  }

  async function loop(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
          return;
        }
        if (!isDescriptorExhaustion(err)) {
          // ECONNABORTED and the like: one peer's trouble; logged at most once a minute.
          if (performance.now() - otherWarnedAt > 60_000) {
            otherWarnedAt = performance.now();
            log.warn(`accept failed: ${(err as Error).message}; retrying`);
          }
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        if (!exhausted) {
          exhausted = true;
        }
        if (performance.now() - warnedAt > 60_000) {
          // Once per minute at most, however often descriptors run out and come back.
          warnedAt = performance.now();
          log.warn(
            "descriptor limit reached (Too many open files): shedding new connections until " +
              "descriptors free up; raise the limit (ulimit -n / LimitNOFILE) if this recurs",
          );
        }
        if (reserve) {
          // Free one descriptor, take the waiting connection, close it: the client sees
          // a reset instead of hanging in the backlog.
          reserve.close();
          reserve = undefined;
          let didShed = false;
          try {
            const c = await listener.accept();
            reserve = openReserve();
            if (reserve) {
              // Descriptors came back while this accept waited: a healthy client, keep it.
              exhausted = false;
              backoff = 10;
              opts.onConnection(c);
              continue;
            }
            c.close();
            shed++;
            didShed = true;
          } catch (err) {
            // The listener was closed while waiting: done. Else still out of descriptors.
            if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
              return;
            }
          }
          reserve ??= openReserve();
          // More may be waiting in the backlog: shed them now rather than after a pause, so
          // their clients see the end at once instead of hanging.
          if (didShed && reserve) continue;
        }
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, maxBackoff);
        continue;
      }
      if (exhausted) {
        exhausted = false;
        log.debug(`descriptors available again; ${shed} connection(s) were shed`);
        shed = 0;
      }
      backoff = 10;
      reserve ??= openReserve();
      opts.onConnection(conn);
    }
  }
}
