/**
 * The agent's file-share server (spec agent-and-client.md §2; book, *File sharing*): one per
 * session, on tunnel port 17377, serving the machine's shares. Every rule of a share
 * (`writable`, `allowDelete`, sizes, extensions) and the sandbox (§2.7, lib/fileshare/
 * sandbox.ts) is enforced here, never trusted to the client.
 *
 * Differences from the Go agent, all wire-compatible (spec §2.13 allows each):
 * - Q-FS-1: every path component is checked for symlinks (sandbox.ts).
 * - Q-FS-2: the share root itself cannot be deleted, renamed or moved.
 * - Q-FS-4: the 60 s deadline covers reading a request and answering small requests; a
 *   `read` stream gets 30 s per chunk batch instead, so long downloads are not truncated.
 * - Extension rules also hold for `rename` (the new name) and `move` (the destination name)
 *   of files (issue 12: every write path), not only for `write`.
 * - A `write` refused before its data (read-only, size, extension, ...) is answered at once,
 *   then its chunk stream is read and dropped, so a client that sends everything first (Go)
 *   and one that stops at the early answer (ours) both keep a usable connection; a write
 *   that fails mid-stream closes the connection (its leftover bytes cannot be parsed).
 * - Uploads are synced to disk before the rename, and concurrent uploads reserve their
 *   declared size against `maxTotalSize` (two uploads cannot both squeeze under the limit).
 * - `.tela-upload-*` files are not listed and cannot be addressed.
 * - Q-FS-6: `subscribe` connections do not count against the 4-connection limit; at most
 *   {@link MAX_SUBSCRIPTIONS} (4) per session instead, one new one per second per session
 *   (each recursive watcher walks the whole share when it starts).
 * - `mkdir failed:`/`rename failed:`/`move failed:` name the share-relative path, never the
 *   host path (Q-FS-7).
 * @module
 */
import { createHash } from "node:crypto";
import type { DuplexConn, TunnelListener } from "../session/mod.ts";
import { escapeForLog } from "../log/mod.ts";
import { concatBytes } from "../protocol/bytes.ts";
import { extensionAllowed, type ShareConfig } from "./config.ts";
import {
  ByteReader,
  CHUNK_END,
  CHUNK_SIZE,
  encodeResponse,
  type Entry,
  FILE_SHARE_PORT,
  frameChunks,
  MAX_CONNECTIONS,
  MAX_REQUEST_LINE,
  parseChunkHeader,
  parseRequest,
  ProtocolError,
  REQUEST_DEADLINE_MS,
  rfc3339,
  type ShareRequest,
  type ShareResponse,
  STALL_DEADLINE_MS,
  UPLOAD_TEMP_PREFIX,
} from "./protocol.ts";
import { checkNewName, checkNewPathText, resolveInShare, SandboxError } from "./sandbox.ts";
import { encodeEvent, mapEvent } from "./watch.ts";

/** Where the server logs (lines start with the spec's words, §2.11). */
export interface ShareLog {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

/** A connection the server can also reset. */
export type ShareConn = DuplexConn & { abort?(): void };

/** A request refused with one of the agent's error strings (spec §2.8). */
class Refusal extends Error {}

/** Ends request handling: the connection becomes a subscription of `root`. */
class Subscribe extends Error {
  constructor(readonly root: string) {
    super("subscribe");
  }
}

/**
 * Subscriptions one session may hold (they do not count against the 4 connections). Each
 * one is a recursive file watcher whose start walks the share's whole tree: kept low.
 */
export const MAX_SUBSCRIPTIONS = 4;
/** Shortest time between two subscriptions one session starts, in ms (default). */
export const SUBSCRIBE_INTERVAL_MS = 1_000;
/** Time allowed for writing one change event, in ms (spec §2.6 `subscribe`). */
export const EVENT_WRITE_DEADLINE_MS = 5_000;

/**
 * One session's counters (one per {@link ShareServer.serve} call): the connection and
 * subscription limits hold per session, while share roots and upload reservations are the
 * machine's (one server for all its sessions).
 */
export class SessionLimits {
  /** Connections being served that are not subscriptions. */
  active = 0;
  /** Subscriptions open. */
  subscriptions = 0;
  /** When the session's last subscription started (`Date.now()` ms). */
  lastSubscribe = -Infinity;
}

/**
 * Upload pacing: an upload must end within `uploadGraceMs` plus its declared size at
 * `minUploadBytesPerSecond`, so a client trickling bytes cannot hold a connection and a
 * `maxTotalSize` reservation for ever (each chunk also has its stall deadline).
 */
export interface ShareServerOptions {
  /** ms allowed on top of the size-based time; default 60 000. */
  uploadGraceMs?: number;
  /** Slowest average upload rate accepted, bytes per second; default 4096. */
  minUploadBytesPerSecond?: number;
  /** Age of the `.tela-upload-*` files removed at creation, ms; default 5 minutes. */
  uploadLeftoverAgeMs?: number;
  /** Shortest time between two subscriptions of one session, ms; default 1000. */
  subscribeIntervalMs?: number;
}

/** Age (last modification) past which a `.tela-upload-*` file is a crash's leftover, in ms. */
export const UPLOAD_LEFTOVER_AGE_MS = 5 * 60_000;

/**
 * Removes the `.tela-upload-*` files under `root` (symlinks not followed) last modified more
 * than `olderThanMs` ago: uploads cut by a crash or a kill. A live upload writes at least every
 * 256 KiB and stalls out after 30 s, so its file is never that old, even when another agent
 * process shares the directory.
 * @returns the number of files removed.
 */
export async function removeUploadLeftovers(
  root: string,
  olderThanMs = UPLOAD_LEFTOVER_AGE_MS,
): Promise<number> {
  let removed = 0;
  try {
    for await (const e of Deno.readDir(root)) {
      const path = `${root}/${e.name}`;
      if (e.isDirectory) removed += await removeUploadLeftovers(path, olderThanMs);
      else if (e.isFile && e.name.startsWith(UPLOAD_TEMP_PREFIX)) {
        try {
          const st = await Deno.lstat(path);
          if (Date.now() - (st.mtime?.getTime() ?? 0) >= olderThanMs) {
            await Deno.remove(path);
            removed++;
          }
        } catch { /* gone or not ours to remove */ }
      }
    }
  } catch { /* unreadable */ }
  return removed;
}

/** The connection cannot carry another request (mid-stream failure, timeout). */
class ConnectionBroken extends Error {}

/** Bytes reserved by uploads in flight, per share (across sessions). */
const reserved = new WeakMap<ShareConfig, number>();

/** Bytes per file read and framed at once in a download. */
const READ_BLOCK = 16 * CHUNK_SIZE;
/** Bytes of upload data buffered before one file write. */
const WRITE_BLOCK = 256 * 1024;

/** Resolves after `ms`, rejecting with `err`; `cancel()` stops it. */
function timer(ms: number): { promise: Promise<never>; cancel(): void } {
  let t: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new ConnectionBroken("timeout")), ms);
  });
  promise.catch(() => {});
  return { promise, cancel: () => clearTimeout(t) };
}

/** `p`, or a {@link ConnectionBroken} after `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  const t = timer(ms);
  try {
    return await Promise.race([p, t.promise]);
  } finally {
    t.cancel();
  }
}

/** Byte-wise comparison of two names as UTF-8 (Go's sort order, spec §2.6 `list`). */
function compareNames(a: string, b: string): number {
  const ca = [...a], cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i].codePointAt(0)! - cb[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
}

/** An OS error as Go words it, without host paths: `no such file or directory`. */
function osText(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file or directory";
  if (err instanceof Deno.errors.AlreadyExists) return "file exists";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.NotADirectory) return "not a directory";
  if (err instanceof Deno.errors.IsADirectory) return "is a directory";
  const m = /^(.*?) \(os error \d+\)/.exec((err as Error).message);
  return (m ? m[1] : "operation failed").toLowerCase();
}

/**
 * Serves the file-share protocol for one machine's shares. Share roots are resolved to real
 * paths once ({@link ShareServer.create}); paths are validated on every request.
 */
export class ShareServer {
  #conns = new Set<ShareConn>();
  #handlers = new Set<Promise<void>>();
  #closed = false;

  private constructor(
    readonly shares: readonly ShareConfig[],
    /** Real path (symlinks resolved) of each share's root, by share. */
    readonly roots: ReadonlyMap<ShareConfig, string>,
    readonly log: ShareLog,
    readonly options: ShareServerOptions = {},
  ) {}

  /**
   * @param shares the machine's shares (their directories exist: `ensureShareDirectories`).
   * @param log receives `list "<path>": ...` and the other lines of spec §2.11.
   * @param options upload pacing ({@link ShareServerOptions}).
   * @throws {Deno.errors.NotFound} when a share directory is missing.
   */
  static async create(
    shares: readonly ShareConfig[],
    log: ShareLog,
    options: ShareServerOptions = {},
  ): Promise<ShareServer> {
    const roots = new Map<ShareConfig, string>();
    for (const s of shares) roots.set(s, await Deno.realPath(s.path));
    for (const root of new Set(roots.values())) {
      const n = await removeUploadLeftovers(root, options.uploadLeftoverAgeMs);
      if (n) log.info(`[fileshare] removed ${n} interrupted upload files`);
    }
    return new ShareServer(shares, roots, log, options);
  }

  /**
   * Accepts connections until the listener closes: at most {@link MAX_CONNECTIONS} at once,
   * a further one is closed at once without a byte (spec §2.1). The limits count this
   * listener's connections only: call once per session.
   * @param listener e.g. a session's netstack listener on port 17377.
   */
  async serve(listener: TunnelListener, address = `:${FILE_SHARE_PORT}`): Promise<void> {
    this.log.info(
      `[fileshare] listening on ${address} (${this.shares.length} shares: [${
        this.shares.map((s) => s.name).join(" ")
      }])`,
    );
    const limits = new SessionLimits();
    while (!this.#closed) {
      let conn: ShareConn;
      try {
        conn = await listener.accept();
      } catch {
        break;
      }
      if (limits.active >= MAX_CONNECTIONS) {
        this.log.warn("[fileshare] connection limit reached, rejecting");
        Promise.resolve(conn.close()).catch(() => {});
        continue;
      }
      const h = this.handle(conn, limits);
      this.#handlers.add(h);
      h.finally(() => this.#handlers.delete(h));
    }
  }

  /**
   * Closes every connection being served.
   * @returns resolves when their handlers ended (an upload's temporary file removed).
   */
  close(): Promise<void> {
    this.#closed = true;
    for (const c of this.#conns) this.#drop(c);
    return Promise.all(this.#handlers).then(() => {});
  }

  #drop(conn: ShareConn): void {
    try {
      if (conn.abort) conn.abort();
      else Promise.resolve(conn.close()).catch(() => {});
    } catch { /* closed */ }
  }

  /**
   * Serves one connection: requests one after another until EOF, a timeout or a broken
   * transfer. Never throws.
   * @param limits the session's counters (a fresh set when the connection is on its own).
   */
  async handle(conn: ShareConn, limits = new SessionLimits()): Promise<void> {
    limits.active++;
    this.#conns.add(conn);
    const reader = new ByteReader(conn.readable);
    const writer = conn.writable.getWriter();
    const send = (bytes: Uint8Array | string) =>
      writer.write(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes);
    try {
      while (!this.#closed) {
        // One deadline for reading the request and answering it (spec §2.1); streams get
        // their own per-chunk deadlines instead (Q-FS-4).
        const deadline = timer(REQUEST_DEADLINE_MS);
        let line: string | null;
        try {
          line = await Promise.race([reader.readLine(MAX_REQUEST_LINE), deadline.promise]);
        } catch {
          deadline.cancel();
          break;
        }
        if (line === null) {
          deadline.cancel();
          break;
        }
        const req = parseRequest(line);
        try {
          if (!req) await send(encodeResponse({ ok: false, error: "invalid request" }));
          else await this.#dispatch(req, reader, send, deadline, limits);
        } catch (err) {
          if (!(err instanceof Subscribe)) throw err;
          // Q-FS-6 fixed: a subscription leaves the 4-connection limit (it has its own).
          limits.active--;
          limits.subscriptions++;
          try {
            await this.#subscribe(err.root, send, reader);
          } finally {
            limits.subscriptions--;
            limits.active++;
          }
          break;
        } finally {
          deadline.cancel();
        }
      }
    } catch (err) {
      if (!(err instanceof ConnectionBroken)) {
        this.log.debug(`[fileshare] connection ended: ${(err as Error).message}`);
      }
    } finally {
      limits.active--;
      this.#conns.delete(conn);
      try {
        writer.releaseLock();
      } catch { /* pending write */ }
      await reader.cancel();
      this.#drop(conn);
    }
  }

  async #dispatch(
    req: ShareRequest,
    reader: ByteReader,
    send: (b: Uint8Array | string) => Promise<void>,
    deadline: { promise: Promise<never>; cancel(): void },
    limits: SessionLimits,
  ): Promise<void> {
    const answer = (r: ShareResponse) => within(send(encodeResponse(r)), STALL_DEADLINE_MS);
    if (req.op === "list-shares") {
      this.log.info(`[fileshare] list-shares: ${this.shares.length} shares`);
      return void await answer({
        ok: true,
        shares: this.shares.map((s) => ({
          name: s.name,
          writable: s.writable,
          allowDelete: s.allowDelete,
        })),
      });
    }
    if (!req.share) return void await answer({ ok: false, error: "share name required" });
    const share = this.shares.find((s) => s.name === req.share);
    if (!share) return void await answer({ ok: false, error: `unknown share: ${req.share}` });
    const root = this.roots.get(share)!;
    try {
      switch (req.op) {
        case "list":
          return void await answer(await this.#list(share, root, req));
        case "read":
          deadline.cancel();
          return await this.#read(root, req, send);
        case "write":
          deadline.cancel();
          return await this.#write(share, root, req, reader, answer);
        case "delete":
          return void await answer(await this.#delete(share, root, req));
        case "mkdir":
          return void await answer(await this.#mkdir(share, root, req));
        case "rename":
          return void await answer(await this.#rename(share, root, req));
        case "move":
          return void await answer(await this.#move(share, root, req));
        case "subscribe":
          deadline.cancel();
          if (limits.subscriptions >= MAX_SUBSCRIPTIONS) {
            return void await answer({
              ok: false,
              error: `cannot create file watcher: ${MAX_SUBSCRIPTIONS} subscriptions already ` +
                `watch this session's shares`,
            });
          }
          {
            const interval = this.options.subscribeIntervalMs ?? SUBSCRIBE_INTERVAL_MS;
            if (Date.now() - limits.lastSubscribe < interval) {
              return void await answer({
                ok: false,
                error: `cannot create file watcher: at most one new subscription per ` +
                  `${interval} ms per session (try again shortly)`,
              });
            }
            limits.lastSubscribe = Date.now();
          }
          throw new Subscribe(root);
        default:
          return void await answer({ ok: false, error: `unknown operation: ${req.op}` });
      }
    } catch (err) {
      if (err instanceof Refusal || err instanceof SandboxError) {
        return void await answer({ ok: false, error: err.message });
      }
      throw err;
    }
  }

  async #list(_share: ShareConfig, root: string, req: ShareRequest): Promise<ShareResponse> {
    const path = req.path ?? "";
    const dir = path === "" ? root : (await resolveInShare(root, path)).abs;
    const entries: Entry[] = [];
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.isSymlink || e.name.startsWith(UPLOAD_TEMP_PREFIX)) continue;
        let st: Deno.FileInfo;
        try {
          st = await Deno.lstat(`${dir}/${e.name}`);
        } catch {
          continue;
        }
        if (st.isSymlink) continue;
        entries.push({
          name: e.name,
          size: st.size,
          modTime: rfc3339(st.mtime),
          isDir: st.isDirectory,
        });
      }
    } catch {
      throw new Refusal("cannot read directory");
    }
    entries.sort((a, b) => compareNames(a.name, b.name));
    const total = entries.length;
    let page = entries;
    const offset = req.offset ?? 0, limit = req.limit ?? 0;
    if (offset > 0) page = page.slice(offset);
    if (limit > 0) page = page.slice(0, limit);
    this.log.info(
      `[fileshare] list "${escapeForLog(path)}": ${page.length} entries (total ${total}, ` +
        `offset ${offset}, limit ${limit})`,
    );
    return { ok: true, entries: page, total };
  }

  async #read(
    root: string,
    req: ShareRequest,
    send: (b: Uint8Array | string) => Promise<void>,
  ): Promise<void> {
    const refuse = (error: string) => within(send(encodeResponse({ ok: false, error })), 30_000);
    if (!req.path) return await refuse("path required");
    let p;
    try {
      p = await resolveInShare(root, req.path);
    } catch (err) {
      if (err instanceof SandboxError) return await refuse(err.message);
      throw err;
    }
    let st: Deno.FileInfo;
    try {
      st = await Deno.lstat(p.abs);
    } catch {
      return await refuse("file not found");
    }
    if (st.isDirectory) return await refuse("cannot read a directory");
    if (!st.isFile) return await refuse("not a regular file");
    let file: Deno.FsFile;
    try {
      file = await Deno.open(p.abs, { read: true });
    } catch {
      return await refuse("cannot open file");
    }
    try {
      const fst = await file.stat();
      if (!fst.isFile) return await refuse("not a regular file");
      const size = fst.size;
      // The whole file is hashed first: the header carries the checksum (spec §2.6 `read`).
      const hash = createHash("sha256");
      const buf = new Uint8Array(READ_BLOCK);
      let left = size;
      try {
        while (left > 0) {
          const n = await file.read(buf.subarray(0, Math.min(buf.length, left)));
          if (n === null) break;
          hash.update(buf.subarray(0, n));
          left -= n;
        }
        await file.seek(0, Deno.SeekMode.Start);
      } catch {
        return await refuse("read error");
      }
      await within(
        send(encodeResponse({
          ok: true,
          size,
          modTime: rfc3339(fst.mtime),
          checksum: `sha256:${hash.digest("hex")}`,
        })),
        STALL_DEADLINE_MS,
      );
      this.log.info(`[fileshare] read "${escapeForLog(p.rel)}": ${size} bytes`);
      left = size;
      while (left > 0) {
        let n: number | null;
        try {
          n = await file.read(buf.subarray(0, Math.min(buf.length, left)));
        } catch {
          n = null; // spec: stop and still end the stream; the client sees the mismatch.
        }
        if (n === null) break;
        left -= n;
        await within(send(frameChunks(buf.subarray(0, n))), STALL_DEADLINE_MS);
      }
      await within(send(CHUNK_END), STALL_DEADLINE_MS);
    } finally {
      file.close();
    }
  }

  /**
   * The connection becomes a stream of change events (spec §2.6 `subscribe`) until the
   * client closes it or an event cannot be written within 5 s.
   */
  async #subscribe(
    root: string,
    send: (b: Uint8Array | string) => Promise<void>,
    reader: ByteReader,
  ): Promise<void> {
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(root, { recursive: true });
    } catch (err) {
      await within(
        send(encodeResponse({
          ok: false,
          error: `cannot create file watcher: ${(err as Error).message}`,
        })),
        STALL_DEADLINE_MS,
      );
      return;
    }
    this.log.info(`[fileshare] subscribe: client watching ${root}`);
    // The client sends nothing more; its EOF (or reset) ends the subscription.
    const gone = (async () => {
      try {
        while ((await reader.readSome()) !== null) { /* ignored */ }
      } catch { /* reset */ }
      try {
        watcher.close();
      } catch { /* closed */ }
    })();
    try {
      await within(send(encodeResponse({ ok: true })), STALL_DEADLINE_MS);
      for await (const ev of watcher) {
        for (const e of await mapEvent(root, ev)) {
          try {
            await within(send(encodeEvent(e)), EVENT_WRITE_DEADLINE_MS);
          } catch {
            this.log.info("[fileshare] subscribe: write failed, closing");
            return;
          }
        }
      }
    } finally {
      try {
        watcher.close();
      } catch { /* closed */ }
      await reader.cancel();
      await gone;
    }
  }

  /** Total bytes of the regular files under `dir` (no symlinks followed). */
  async #usage(dir: string): Promise<number> {
    let total = 0;
    try {
      for await (const e of Deno.readDir(dir)) {
        // In-flight uploads count through their reservations; a crash's leftover not at all.
        if (e.isSymlink || e.name.startsWith(UPLOAD_TEMP_PREFIX)) continue;
        const path = `${dir}/${e.name}`;
        if (e.isDirectory) total += await this.#usage(path);
        else if (e.isFile) {
          try {
            total += (await Deno.lstat(path)).size;
          } catch { /* gone */ }
        }
      }
    } catch { /* unreadable: ignored, as Go does */ }
    return total;
  }

  async #write(
    share: ShareConfig,
    root: string,
    req: ShareRequest,
    reader: ByteReader,
    answer: (r: ShareResponse) => Promise<void>,
  ): Promise<void> {
    const size = req.size ?? 0;
    /** Refused before its data: answer now, then read and drop the chunk stream. */
    const early = async (error: string) => {
      await answer({ ok: false, error });
      await this.#drain(reader);
    };
    if (!share.writable) return await early("file sharing is read-only");
    if (!req.path) return await early("path required");
    if (size <= 0) return await early("size required");
    let p;
    try {
      p = await resolveInShare(root, req.path);
      checkNewPathText(req.path);
    } catch (err) {
      if (err instanceof SandboxError) return await early(err.message);
      throw err;
    }
    if (p.rel === "") return await early("failed to finalize file");
    if (!extensionAllowed(share, p.rel)) return await early("file extension not allowed");
    if (size > share.maxFileSize) {
      return await early(`file too large (max ${share.maxFileSize} bytes)`);
    }
    if (share.maxTotalSize > 0) {
      const used = await this.#usage(root);
      // Read, check and reserve with no await in between: parallel uploads see each
      // other's reservations (a `held` read before the await would be stale).
      const held = reserved.get(share) ?? 0;
      if (used + held + size > share.maxTotalSize) {
        return await early("would exceed total size limit");
      }
    }
    reserved.set(share, (reserved.get(share) ?? 0) + size);
    const parent = p.abs.slice(0, p.abs.lastIndexOf("/"));
    let tmp = "";
    let file: Deno.FsFile | null = null;
    try {
      try {
        await Deno.mkdir(parent, { recursive: true, mode: 0o700 });
        // A directory made just now by someone else could be a link: look again.
        await resolveInShare(root, req.path);
      } catch (err) {
        if (err instanceof SandboxError) return await early(err.message);
        return await early("cannot create directory");
      }
      const rand = Array.from(crypto.getRandomValues(new Uint8Array(8)))
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      tmp = `${parent}/${UPLOAD_TEMP_PREFIX}${rand}`;
      try {
        file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
      } catch {
        tmp = "";
        return await early("cannot create temp file");
      }
      const hash = createHash("sha256");
      let received = 0;
      let pending: Uint8Array[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (pendingBytes === 0) return;
        const block = pending.length === 1 ? pending[0] : concatBytes(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        let off = 0;
        while (off < block.length) off += await file!.write(block.subarray(off));
      };
      /** A failure mid-stream: answered, then the connection is closed. */
      const broken = async (error: string): Promise<never> => {
        await answer({ ok: false, error }).catch(() => {});
        throw new ConnectionBroken(error);
      };
      const until = Date.now() + (this.options.uploadGraceMs ?? 60_000) +
        size / (this.options.minUploadBytesPerSecond ?? 4096) * 1000;
      /** The stall deadline, or less when the whole upload's time runs out first. */
      const wait = () => Math.max(0, Math.min(STALL_DEADLINE_MS, until - Date.now()));
      const slow = () => Date.now() >= until ? "transfer too slow" : "transfer stalled";
      while (true) {
        let header: string | null;
        try {
          header = await within(reader.readLine(64), wait());
        } catch (err) {
          if (err instanceof ProtocolError) return await broken("expected CHUNK header");
          return await broken(slow());
        }
        if (header === null) return await broken("transfer stalled");
        let n: number;
        try {
          n = parseChunkHeader(header);
        } catch (err) {
          return await broken((err as Error).message);
        }
        if (n === 0) break;
        if (n > CHUNK_SIZE) return await broken("chunk too large");
        if (n < 0) return await broken("incomplete chunk");
        if (received + n > size) return await broken("received more data than declared size");
        try {
          await within(
            reader.readExact(n, (piece) => {
              // The reader's buffers are reused by nothing; keep the views as they are.
              hash.update(piece);
              pending.push(piece);
              pendingBytes += piece.length;
            }),
            wait(),
          );
        } catch (err) {
          if (err instanceof ProtocolError) return await broken("incomplete chunk");
          return await broken(slow());
        }
        received += n;
        if (pendingBytes >= WRITE_BLOCK) await flush();
      }
      await flush();
      if (received !== size) {
        return void await answer({
          ok: false,
          error: `size mismatch: expected ${size}, got ${received}`,
        });
      }
      if (req.checksum && req.checksum !== `sha256:${hash.digest("hex")}`) {
        return void await answer({ ok: false, error: "checksum mismatch" });
      }
      try {
        await file.syncData();
        file.close();
        file = null;
        // The destination must still be inside the share and not a link (spec §2.7).
        await resolveInShare(root, req.path);
        const st = await Deno.lstat(p.abs).catch(() => null);
        if (st?.isDirectory) throw new Error("destination is a directory");
        await Deno.rename(tmp, p.abs);
        tmp = "";
      } catch (err) {
        if (err instanceof SandboxError) {
          return void await answer({ ok: false, error: err.message });
        }
        return void await answer({ ok: false, error: "failed to finalize file" });
      }
      this.log.info(`[fileshare] write "${escapeForLog(p.rel)}": ${received} bytes`);
      await answer({ ok: true, size: received });
    } finally {
      reserved.set(share, Math.max(0, (reserved.get(share) ?? 0) - size));
      try {
        file?.close();
      } catch { /* closed */ }
      if (tmp) await Deno.remove(tmp).catch(() => {});
    }
  }

  /**
   * Reads and drops a chunk stream up to `CHUNK 0` (after an early refusal), each chunk
   * within the stall deadline. A malformed stream or EOF ends the connection.
   */
  async #drain(reader: ByteReader): Promise<void> {
    while (true) {
      let header: string | null;
      try {
        header = await within(reader.readLine(64), STALL_DEADLINE_MS);
      } catch {
        throw new ConnectionBroken("drain");
      }
      if (header === null) throw new ConnectionBroken("drain");
      let n: number;
      try {
        n = parseChunkHeader(header);
      } catch {
        throw new ConnectionBroken("drain");
      }
      if (n === 0) return;
      if (n < 0 || n > CHUNK_SIZE) throw new ConnectionBroken("drain");
      try {
        await within(reader.readExact(n, () => {}), STALL_DEADLINE_MS);
      } catch {
        throw new ConnectionBroken("drain");
      }
    }
  }

  async #delete(share: ShareConfig, root: string, req: ShareRequest): Promise<ShareResponse> {
    if (!(share.writable && share.allowDelete)) throw new Refusal("delete not allowed");
    if (!req.path) throw new Refusal("path required");
    const p = await resolveInShare(root, req.path);
    if (p.rel === "") throw rootRefusal();
    let st: Deno.FileInfo;
    try {
      st = await Deno.lstat(p.abs);
    } catch {
      throw new Refusal("file not found");
    }
    if (!st.isDirectory && !st.isFile) throw new Refusal("not a regular file or directory");
    if (st.isFile && !extensionAllowed(share, p.rel)) {
      throw new Refusal("file extension not allowed");
    }
    try {
      await Deno.remove(p.abs);
    } catch {
      throw new Refusal("delete failed");
    }
    this.log.info(`[fileshare] delete "${escapeForLog(p.rel)}"`);
    return { ok: true };
  }

  async #mkdir(share: ShareConfig, root: string, req: ShareRequest): Promise<ShareResponse> {
    if (!share.writable) throw new Refusal("file sharing is read-only");
    if (!req.path) throw new Refusal("path required");
    const p = await resolveInShare(root, req.path);
    checkNewPathText(req.path);
    if (p.rel === "") throw new Refusal("directory already exists");
    // Missing parents are made too (`tela files mkdir archive/2026` with no `archive` yet),
    // each within the share: resolveInShare checked every existing component above.
    try {
      await Deno.lstat(p.abs);
      throw new Refusal("directory already exists");
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    try {
      await Deno.mkdir(p.abs, { recursive: true, mode: 0o700 });
      // A directory made meanwhile by someone else could be a link: look again.
      await resolveInShare(root, req.path);
    } catch (err) {
      if (err instanceof SandboxError) throw err;
      throw new Refusal(`mkdir failed: mkdir ${p.rel}: ${osText(err)}`);
    }
    this.log.info(`[fileshare] mkdir "${escapeForLog(p.rel)}"`);
    return { ok: true };
  }

  async #rename(share: ShareConfig, root: string, req: ShareRequest): Promise<ShareResponse> {
    if (!share.writable) throw new Refusal("file sharing is read-only");
    if (!req.path || !req.newName) throw new Refusal("path and newName required");
    const p = await resolveInShare(root, req.path);
    checkNewName(req.newName);
    if (p.rel === "") throw rootRefusal();
    const parentRel = p.rel.includes("/") ? p.rel.slice(0, p.rel.lastIndexOf("/")) : "";
    const destRel = parentRel ? `${parentRel}/${req.newName}` : req.newName;
    const dest = await resolveInShare(root, destRel);
    let st: Deno.FileInfo;
    try {
      st = await Deno.lstat(p.abs);
    } catch {
      throw new Refusal("source not found");
    }
    if (st.isFile && !extensionAllowed(share, req.newName)) {
      throw new Refusal("file extension not allowed");
    }
    if (await exists(dest.abs)) throw new Refusal("destination already exists");
    try {
      await Deno.rename(p.abs, dest.abs);
    } catch (err) {
      throw new Refusal(`rename failed: rename ${p.rel} ${dest.rel}: ${osText(err)}`);
    }
    this.log.info(
      `[fileshare] rename "${escapeForLog(p.rel)}" -> "${escapeForLog(req.newName)}"`,
    );
    return { ok: true };
  }

  async #move(share: ShareConfig, root: string, req: ShareRequest): Promise<ShareResponse> {
    if (!share.writable) throw new Refusal("file sharing is read-only");
    if (!req.path || !req.newPath) throw new Refusal("path and newPath required");
    const src = await prefixed("source", resolveInShare(root, req.path));
    const newPath = req.newPath;
    let dest = await prefixed(
      "destination",
      resolveInShare(root, newPath).then((d) => (checkNewPathText(newPath), d)),
    );
    if (src.rel === "") throw rootRefusal();
    let st: Deno.FileInfo;
    try {
      st = await Deno.lstat(src.abs);
    } catch {
      throw new Refusal("source not found");
    }
    const dst = await Deno.lstat(dest.abs).catch(() => null);
    if (dst?.isDirectory) {
      const base = src.rel.slice(src.rel.lastIndexOf("/") + 1);
      dest = await resolveInShare(root, dest.rel ? `${dest.rel}/${base}` : base);
    }
    if (dest.rel === "") throw new Refusal("move would escape sandbox");
    if (await exists(dest.abs)) throw new Refusal("destination already exists");
    const parent = dest.abs.slice(0, dest.abs.lastIndexOf("/"));
    const pst = await Deno.lstat(parent).catch(() => null);
    if (!pst?.isDirectory) throw new Refusal("destination directory does not exist");
    if (dest.rel.startsWith(`${src.rel}/`)) {
      throw new Refusal("cannot move a directory into itself");
    }
    if (st.isFile && !extensionAllowed(share, dest.rel)) {
      throw new Refusal("file extension not allowed");
    }
    try {
      await Deno.rename(src.abs, dest.abs);
    } catch (err) {
      throw new Refusal(`move failed: rename ${src.rel} ${dest.rel}: ${osText(err)}`);
    }
    this.log.info(`[fileshare] move "${escapeForLog(src.rel)}" -> "${escapeForLog(dest.rel)}"`);
    return { ok: true };
  }
}

/** Q-FS-2 fixed: the share directory itself is not the client's to remove or rename. */
function rootRefusal(): SandboxError {
  return new SandboxError("path validation failed: the share root itself cannot be changed");
}

async function prefixed<T>(what: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof SandboxError) throw new SandboxError(`${what}: ${err.message}`);
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
