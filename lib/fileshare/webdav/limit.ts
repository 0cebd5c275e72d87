/**
 * Per-machine concurrency for the WebDAV server. An agent serves at most 4 file-share
 * connections per session and closes a 5th without a word (spec agent-and-client.md §2.1), and
 * every backend call is one connection (spec §13.4), so a WebDAV client that runs several
 * transfers at once (rclone: 4, davfs2, Explorer) would see refusals. Calls wait for a slot
 * instead; a read holds its slot until its body is read to the end or cancelled.
 * @module
 */
import type { ReadRange, ReadResult, ShareBackend } from "../backend.ts";

/** Default slots per machine: two, leaving the rest to `tela files` and event subscriptions. */
export const DEFAULT_PER_MACHINE = 2;

class Slots {
  #free: number;
  #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiting.push(r));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }
}

/** Holds `release` until `body` ends, errors or is cancelled. */
function releasing(
  body: ReadableStream<Uint8Array>,
  release: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          ctl.close();
        } else ctl.enqueue(value);
      } catch (e) {
        release();
        ctl.error(e);
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason).catch(() => {});
    },
  });
}

/**
 * Wraps `backend` so that at most `perMachine` calls per machine run at once (`machines()` is
 * not limited). The wrapper has the same methods and errors.
 * @param backend the file shares.
 * @param perMachine slots per machine (>= 1).
 */
export function limitPerMachine(
  backend: ShareBackend,
  perMachine = DEFAULT_PER_MACHINE,
): ShareBackend {
  const slots = new Map<string, Slots>();
  const slot = (m: string) => {
    let s = slots.get(m);
    if (!s) slots.set(m, s = new Slots(Math.max(1, perMachine)));
    return s.acquire();
  };
  const held = async <T>(m: string, f: () => Promise<T>): Promise<T> => {
    const release = await slot(m);
    try {
      return await f();
    } finally {
      release();
    }
  };
  return {
    machines: () => backend.machines(),
    shares: (m) => held(m, () => backend.shares(m)),
    list: (m, s, p) => held(m, () => backend.list(m, s, p)),
    async read(m: string, s: string, p: string, range?: ReadRange): Promise<ReadResult> {
      const release = await slot(m);
      try {
        const r = await backend.read(m, s, p, range);
        return { ...r, body: releasing(r.body, release) };
      } catch (e) {
        release();
        throw e;
      }
    },
    write: (m, s, p, size, body, checksum) =>
      held(m, () => backend.write(m, s, p, size, body, checksum)),
    delete: (m, s, p) => held(m, () => backend.delete(m, s, p)),
    mkdir: (m, s, p) => held(m, () => backend.mkdir(m, s, p)),
    rename: (m, s, p, n) => held(m, () => backend.rename(m, s, p, n)),
    move: (m, s, p, n) => held(m, () => backend.move(m, s, p, n)),
  };
}
