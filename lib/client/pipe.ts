/**
 * Copying a byte stream both ways between two connections with backpressure (streams'
 * `pipeTo` waits for the slower side) and half-close passed on: when one side stops
 * sending, the other side's write half is closed, and both are closed when both
 * directions are done or either fails.
 * @module
 */

/** What both a `Deno.TcpConn` and a netstack `TcpConn` offer. */
export interface DuplexConn {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  closeWrite(): Promise<void>;
  close(): void | Promise<void>;
}

async function safeClose(c: DuplexConn): Promise<void> {
  try {
    await c.close();
  } catch { /* already closed */ }
}

/**
 * Copies `a`→`b` and `b`→`a` until both directions end.
 * @returns once both connections are closed. Never throws.
 */
export async function pipeBoth(a: DuplexConn, b: DuplexConn): Promise<void> {
  let failed = false;
  const one = async (from: DuplexConn, to: DuplexConn) => {
    try {
      await from.readable.pipeTo(to.writable, { preventClose: true });
      await to.closeWrite().catch(() => {});
    } catch {
      if (!failed) {
        failed = true;
        await Promise.all([safeClose(a), safeClose(b)]);
      }
    }
  };
  await Promise.all([one(a, b), one(b, a)]);
  await Promise.all([safeClose(a), safeClose(b)]);
}
