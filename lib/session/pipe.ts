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

/** Largest chunk read from a Deno socket at once, in octets. */
const SOCKET_READ_CHUNK = 64 * 1024;
/** Reads shorter than this (octets) are copied out of the connection's read buffer. */
const SMALL_READ = 16 * 1024;

/**
 * A {@link DuplexConn} over a Deno socket that keeps half-close working. `Deno.Conn.readable`
 * closes the whole resource when it reads EOF (denoland/deno#22258, #27510), which would
 * cut the other direction short the moment one peer half-closes; this reads with
 * `conn.read()` and writes with `conn.write()` instead.
 */
export function socketDuplex(conn: Deno.Conn): DuplexConn {
  let readDone = false, writeDone = false;
  const closeIfDone = () => {
    if (readDone && writeDone) closeSocket(conn);
  };
  // One read buffer per connection: a short read is copied out of it (a request, an
  // interactive keystroke), a long one is handed over whole and the buffer replaced. A fresh
  // 64 KiB buffer per read made every small message cost 64 KiB of garbage.
  let buf = new Uint8Array(SOCKET_READ_CHUNK);
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (err) {
        readDone = true;
        controller.error(err);
        return;
      }
      if (n === null) {
        readDone = true;
        controller.close();
        closeIfDone();
        return;
      }
      if (n < SMALL_READ) {
        controller.enqueue(buf.slice(0, n));
      } else {
        controller.enqueue(buf.subarray(0, n));
        buf = new Uint8Array(SOCKET_READ_CHUNK);
      }
    },
    cancel() {
      readDone = true;
      closeIfDone();
    },
  }, { highWaterMark: 0 });
  const closeWrite = async () => {
    if (writeDone) return;
    writeDone = true;
    try {
      await conn.closeWrite();
    } catch { /* already closed or reset */ }
    closeIfDone();
  };
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      let off = 0;
      while (off < chunk.length) off += await conn.write(chunk.subarray(off));
    },
    close: closeWrite,
    abort() {
      writeDone = readDone = true;
      closeSocket(conn);
    },
  });
  return {
    readable,
    writable,
    closeWrite: async () => {
      if (!writable.locked) await writable.close().catch(() => {});
      else await closeWrite();
    },
    close() {
      readDone = writeDone = true;
      closeSocket(conn);
    },
  };
}

function closeSocket(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

async function safeClose(c: DuplexConn): Promise<void> {
  try {
    await c.close();
  } catch { /* already closed */ }
}

/**
 * Copies `a`→`b` and `b`→`a` until both directions end.
 * @returns once both connections are closed. Never throws.
 * @param a one side, e.g. an accepted local TCP connection.
 * @param b the other side, e.g. a tunnel connection.
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
