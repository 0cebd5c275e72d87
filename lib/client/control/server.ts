/**
 * The local control API of `tela connect` (spec agent-and-client.md §13), the part file
 * sharing needs (issue 12; issue 15 adds events, services and logs to this router):
 * `127.0.0.1:<random>`, discovery file `<cfgdir>/run/control.json` (dir 0700, file 0600,
 * written atomically, removed on exit), bearer token compared in constant time, and
 *
 * - `GET /` (summary), `DELETE /` (shut the connection down),
 * - `GET /tunnels` (machines with a live tunnel),
 * - `/files-probe/<machine>` (one 3 s dial to port 17377),
 * - `POST /files/<machine>`: the file-share proxy, streamed both ways. Fixes of the Go
 *   proxy (spec §13.4): the request body is forwarded as it arrives (not read whole first),
 *   chunks follow every successful `read` (Q-CT-1, zero-byte files included) and only a
 *   `read` (Q-CT-2: a `write` answer ends the body at once).
 *
 * Started by every `tela connect`, profile or not (Q-CL-1 fixed).
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { writeFileAtomic } from "../../config/mod.ts";
import { runDir, TELA_VERSION } from "../../host/mod.ts";
import { escapeForLog, type Logger } from "../../log/mod.ts";
import { concatBytes } from "../../protocol/bytes.ts";
import type { TunnelConn } from "../../session/mod.ts";
import {
  ByteReader,
  CHUNK_SIZE,
  FILE_SHARE_PORT,
  MAX_REQUEST_LINE,
  parseChunkHeader,
  parseResponse,
} from "../../fileshare/protocol.ts";

/** What the control API needs from the running connections. */
export interface ControlTunnels {
  /** Machines with a live tunnel now. */
  machines(): string[];
  /**
   * Dials `port` on the machine's agent inside its tunnel.
   * @throws {Error} when the machine has no live tunnel or the dial fails/times out.
   */
  dial(machine: string, port: number, timeoutMs: number): Promise<TunnelConn>;
}

/** Per-attempt timeouts of the full dial (spec §3.1): 3 s, 5 s, 10 s. */
export const FULL_DIAL_TIMEOUTS_MS = [3_000, 5_000, 10_000] as const;
/** Probe dial timeout (spec §3.1). */
export const PROBE_DIAL_TIMEOUT_MS = 3_000;

/** Options of {@link ControlServer.start}. */
export interface ControlServerOptions {
  tunnels: ControlTunnels;
  log: Logger;
  /** Profile name for `GET /` (empty in ad-hoc mode). */
  profile?: string;
  /** Count of bound services for `GET /`. */
  services?: () => number;
  /** Called by `DELETE /` (100 ms after answering). */
  onShutdown?: () => void;
  /** Discovery file; default `<cfgdir>/run/control.json`. */
  controlFile?: string;
  /** Per-attempt dial timeouts (tests shorten them). */
  dialTimeoutsMs?: readonly number[];
}

const enc = new TextEncoder();

/** A JSON response as Go's writeJSON writes it: 2-space indent, trailing newline. */
function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body, null, 2) + "\n", {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/** A plain-text error as Go's http.Error writes it. */
function textError(status: number, msg: string): Response {
  return new Response(msg + "\n", {
    status,
    headers: {
      "Content-Type": "text/plain; charset=utf-8",
      "X-Content-Type-Options": "nosniff",
    },
  });
}

/**
 * `body` read with a BYOB reader into 16 KiB buffers where the stream supports it. Reading
 * Deno's HTTP request-body resource with its default 64 KiB reads showed up as seconds of
 * `op_read` self time per 64 MiB upload in tela connect's CPU profile (the JS thread held
 * while the tunnel starved); with 16 KiB reads that time mostly goes away (bench/files.ts).
 */
function smallReads(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = body.getReader({ mode: "byob" });
  } catch {
    return body;
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await reader.read(new Uint8Array(16384));
      if (done) controller.close();
      else if (value) controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** Go duration text in whole seconds: `45s`, `1m2s`, `1h2m3s`. */
export function goDuration(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h) return `${h}h${m}m${r}s`;
  if (m) return `${m}m${r}s`;
  return `${r}s`;
}

/** Request header: the client's random nonce, hex (see {@link controlProof}). */
export const NONCE_HEADER = "X-Tela-Nonce";
/** Response header: {@link controlProof} of the request's nonce. */
export const PROOF_HEADER = "X-Tela-Proof";

/**
 * The control server's proof that it holds `token`: hex(HMAC-SHA256(key = token, nonce))
 * (RFC 2104), sent in {@link PROOF_HEADER} for a request's {@link NONCE_HEADER}.
 */
export function controlProof(token: string, nonce: string): string {
  return createHmac("sha256", token).update(nonce).digest("hex");
}

/** The running control API. */
export class ControlServer {
  readonly token: string;
  readonly controlFile: string;
  #server!: Deno.HttpServer<Deno.NetAddr>;
  #started = Date.now();
  #port = 0;

  private constructor(readonly opts: ControlServerOptions) {
    this.token = Array.from(crypto.getRandomValues(new Uint8Array(32)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    this.controlFile = opts.controlFile ?? join(runDir(), "control.json");
  }

  /**
   * Listens on 127.0.0.1:0 and writes the discovery file (spec §13.1):
   * `{"pid", "port", "token"}`, 2-space indented, mode 0600 in a 0700 folder.
   * @throws {Error} when the file cannot be written (the server is closed again).
   */
  static async start(opts: ControlServerOptions): Promise<ControlServer> {
    const s = new ControlServer(opts);
    s.#server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
      onError: (err) => {
        opts.log.debug(`[control] ${(err as Error).message}`);
        return textError(500, "internal error");
      },
    }, async (req) => s.#prove(req, await s.#route(req)));
    s.#port = s.#server.addr.port;
    try {
      await Deno.mkdir(runDir(), { recursive: true, mode: 0o700 }).catch(() => {});
      await writeFileAtomic(
        s.controlFile,
        JSON.stringify({ pid: Deno.pid, port: s.#port, token: s.token }, null, 2),
        { mode: 0o600 },
      );
    } catch (err) {
      await s.#server.shutdown();
      throw err;
    }
    opts.log.info(`[control] API listening on 127.0.0.1:${s.#port} (${s.controlFile})`);
    return s;
  }

  /** The port listened on. */
  get port(): number {
    return this.#port;
  }

  /**
   * Stops listening and removes the discovery file if it is still this process's (another
   * `tela connect` started later may have replaced it).
   */
  async close(): Promise<void> {
    try {
      const cur = JSON.parse(await Deno.readTextFile(this.controlFile)) as { port?: number };
      if (cur.port === this.#port) await Deno.remove(this.controlFile);
    } catch { /* gone already */ }
    await this.#server.shutdown().catch(() => {});
  }

  /**
   * Proves to an authorized client that this server holds the token (a stale control.json
   * could name a port another local user now listens on): when the request carries
   * `X-Tela-Nonce` (16-128 hex characters), the response carries
   * `X-Tela-Proof: hex(HMAC-SHA256(token, nonce))`. Requests without it (Go's clients) are
   * answered as before.
   */
  #prove(req: Request, res: Response): Response {
    const nonce = req.headers.get(NONCE_HEADER);
    if (!nonce || !/^[0-9a-f]{16,128}$/.test(nonce) || this.#authorized(req)) return res;
    const proof = controlProof(this.token, nonce);
    try {
      res.headers.set(PROOF_HEADER, proof);
      return res;
    } catch {
      const headers = new Headers(res.headers);
      headers.set(PROOF_HEADER, proof);
      return new Response(res.body, { status: res.status, headers });
    }
  }

  #authorized(req: Request): Response | null {
    const h = req.headers.get("Authorization") ?? "";
    if (h.length < 7) return textError(401, "authorization required");
    const got = enc.encode(h.slice(7));
    const want = enc.encode(this.token);
    // Constant time over the expected length: a length mismatch compares against itself.
    const same = got.length === want.length
      ? timingSafeEqual(got, want)
      : (timingSafeEqual(want, want) && false);
    return same ? null : textError(401, "invalid token");
  }

  async #route(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    const known = path === "/" || path === "/tunnels" || path === "/files" ||
      path === "/files-probe" || path.startsWith("/files/") || path.startsWith("/files-probe/");
    if (!known) return textError(404, "404 page not found");
    if (path === "/files" || path === "/files-probe") {
      return new Response(null, { status: 301, headers: { Location: `${path}/` } });
    }
    const denied = this.#authorized(req);
    if (denied) {
      await req.body?.cancel().catch(() => {});
      return denied;
    }
    if (path === "/") {
      if (req.method === "GET") {
        return json(200, {
          _links: { connections: "/connections", services: "/services" },
          connections: 0,
          profile: this.opts.profile ?? "",
          services: this.opts.services?.() ?? 0,
          uptime: goDuration((Date.now() - this.#started) / 1000),
          version: TELA_VERSION,
        });
      }
      if (req.method === "DELETE") {
        setTimeout(() => this.opts.onShutdown?.(), 100);
        return json(202, { status: "shutting down" });
      }
      return textError(405, "method not allowed");
    }
    if (path === "/tunnels") {
      if (req.method !== "GET") return textError(405, "method not allowed");
      return json(200, this.opts.tunnels.machines().map((machine) => ({ machine })));
    }
    if (path.startsWith("/files-probe/")) {
      const machine = decodeURIComponent(path.slice("/files-probe/".length));
      if (!machine) return json(400, { error: "machine name required" });
      try {
        const c = await this.opts.tunnels.dial(machine, FILE_SHARE_PORT, PROBE_DIAL_TIMEOUT_MS);
        c.abort();
        return json(200, { status: "available" });
      } catch {
        return json(503, { error: "no file share" });
      }
    }
    if (req.method !== "POST") {
      await req.body?.cancel().catch(() => {});
      return textError(405, "method not allowed");
    }
    const machine = decodeURIComponent(path.slice("/files/".length));
    if (!machine) return json(400, { error: "machine name required" });
    return await this.#proxy(req, machine);
  }

  /** Full dial (spec §3.1): three attempts. @throws {Error} the spec's messages. */
  async #dialShare(machine: string): Promise<TunnelConn> {
    if (!this.opts.tunnels.machines().includes(machine)) {
      throw new Error(`no active tunnel for machine "${machine}" (is tela connect running?)`);
    }
    const timeouts = this.opts.dialTimeoutsMs ?? FULL_DIAL_TIMEOUTS_MS;
    let last: Error = new Error("no attempt");
    for (const [i, t] of timeouts.entries()) {
      try {
        return await this.opts.tunnels.dial(machine, FILE_SHARE_PORT, t);
      } catch (err) {
        last = err as Error;
        if (i < timeouts.length - 1) {
          this.opts.log.info(
            `[fileshare] dial ${escapeForLog(machine)}:${FILE_SHARE_PORT} timed out after ` +
              `${t / 1000}s, retrying...`,
          );
        }
      }
    }
    throw new Error(`cannot connect to file share on ${machine}: ${last.message}`);
  }

  /** `POST /files/<machine>` (spec §13.4, streamed both ways). */
  async #proxy(req: Request, machine: string): Promise<Response> {
    if (!req.body) return json(400, { error: "empty request" });
    let conn: TunnelConn;
    try {
      conn = await this.#dialShare(machine);
    } catch (err) {
      await req.body.cancel().catch(() => {});
      return json(503, { error: (err as Error).message });
    }
    const input = new ByteReader(smallReads(req.body));
    const writer = conn.writable.getWriter();
    const output = new ByteReader(conn.readable);
    const drop = async () => {
      await input.cancel();
      await output.cancel();
      try {
        conn.abort();
      } catch { /* closed */ }
    };
    let op = "";
    let first: string | null;
    try {
      first = await input.readLine(MAX_REQUEST_LINE);
      if (first === null) throw new Error("empty request");
      try {
        op = String((JSON.parse(first) as { op?: unknown }).op ?? "");
      } catch { /* the agent answers invalid request */ }
      await writer.write(enc.encode(first + "\n"));
    } catch (err) {
      await drop();
      return json(400, { error: (err as Error).message });
    }
    // The rest of the body (a write's chunks) is forwarded as it arrives.
    let pumping = true;
    (async () => {
      try {
        while (true) {
          const piece = await input.readSome();
          if (piece === null) break;
          await writer.write(piece);
        }
      } catch {
        // The client went away mid-upload: reset the tunnel connection so the agent drops
        // its temporary file now, not after its 30 s stall timeout.
        await drop();
      } finally {
        pumping = false;
      }
    })();
    let line: string | null;
    try {
      line = await output.readLine();
    } catch {
      line = null;
    }
    if (line === null) {
      await drop();
      return json(502, { error: "proxy recv failed" });
    }
    const head = enc.encode(line + "\n");
    let ok = false;
    try {
      ok = parseResponse(line).ok;
    } catch { /* passed on as is */ }
    if (op !== "read" || !ok) {
      // The answer is complete. A refused write answered early: stop forwarding its data.
      if (pumping) await drop();
      else {
        try {
          writer.releaseLock();
        } catch { /* pending */ }
        await output.cancel();
        Promise.resolve(conn.close()).catch(() => {});
      }
      return new Response(head, {
        status: 200,
        headers: { "Content-Type": "application/octet-stream" },
      });
    }
    // A download: the header line, then chunk frames up to and including CHUNK 0.
    let sentHead = false;
    let done = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sentHead) {
          sentHead = true;
          controller.enqueue(head);
          return;
        }
        try {
          const parts: Uint8Array[] = [];
          let bytes = 0;
          while (bytes < 256 * 1024) {
            const h = await output.readLine(64);
            if (h === null) throw new Error("agent closed the connection");
            const n = parseChunkHeader(h);
            if (n < 0 || n > CHUNK_SIZE) throw new Error("invalid chunk size");
            const hb = enc.encode(h + "\n");
            parts.push(hb);
            bytes += hb.length;
            if (n === 0) {
              done = true;
              break;
            }
            const data = await output.readBytes(n);
            parts.push(data);
            bytes += n;
          }
          controller.enqueue(concatBytes(parts, bytes));
          if (done) {
            controller.close();
            await drop();
          }
        } catch {
          // Ends the body early: the client sees a short transfer.
          controller.close();
          await drop();
        }
      },
      async cancel() {
        await drop();
      },
    }, { highWaterMark: 0 });
    return new Response(body, {
      status: 200,
      headers: { "Content-Type": "application/octet-stream" },
    });
  }
}
