/**
 * Talking to the local control API of a running `tela connect` (spec agent-and-client.md
 * §13) about file shares: the discovery file `<cfgdir>/run/control.json`, `GET /tunnels`,
 * `/files-probe/<machine>` and the file-share proxy `POST /files/<machine>` (§13.4), with
 * downloads and uploads streamed both ways. Used by `tela files` (a separate process, spec
 * §3.3) and by the {@link ShareBackend} of `tela mount` (control_backend.ts).
 * @module
 */
import { join } from "node:path";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { runDir } from "../host/mod.ts";
import {
  ByteReader,
  CHUNK_END,
  CHUNK_SIZE,
  encodeRequest,
  frameChunks,
  parseChunkHeader,
  parseResponse,
  ProtocolError,
  type ShareRequest,
  type ShareResponse,
} from "./protocol.ts";
import { ShareError } from "./backend.ts";

/** The discovery file's contents (spec §13.1). */
export interface ControlInfo {
  pid: number;
  port: number;
  /** 64 lowercase hex characters. */
  token: string;
}

/** Timeout of one non-transfer request, in ms (spec §3.3, §17: 30 s). */
export const CONTROL_OP_TIMEOUT_MS = 30_000;

/** `<cfgdir>/run/control.json`. */
export function controlFilePath(): string {
  return join(runDir(), "control.json");
}

/**
 * Reads the discovery file.
 * @throws {ShareError} (`unavailable`) `no running tela instance found (no control file)`,
 *   or `invalid control file` for bad JSON or port 0 (spec §3.3).
 */
export async function readControlFile(path = controlFilePath()): Promise<ControlInfo> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new ShareError(
      "no running tela instance found (no control file): start one with " +
        "'tela connect -hub <hub> -machine <machine>' and keep it running",
      "unavailable",
    );
  }
  let info: ControlInfo;
  try {
    info = JSON.parse(text) as ControlInfo;
    if (!info.port || typeof info.token !== "string") throw new Error("port 0");
  } catch {
    throw new ShareError(`invalid control file ${path} (restart tela connect)`, "unavailable");
  }
  if (!(await pidAlive(info.pid))) {
    throw new ShareError(
      `stale control file ${path}: tela connect (pid ${info.pid}) is not running ` +
        "(start tela connect again)",
      "unavailable",
    );
  }
  return info;
}

/**
 * Whether process `pid` exists, where the OS tells without signalling it: Linux's /proc.
 * True where it cannot tell (the server's token proof still protects the client).
 */
async function pidAlive(pid: unknown): Promise<boolean> {
  if (Deno.build.os !== "linux" || typeof pid !== "number" || !Number.isInteger(pid)) {
    return true;
  }
  try {
    await Deno.stat("/proc/self");
  } catch {
    return true; // no procfs
  }
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Request header carrying the client's nonce; the server answers in {@link PROOF_HEADER}. */
const NONCE_HEADER = "X-Tela-Nonce";
/** Response header: hex(HMAC-SHA256(key = token, nonce)) (RFC 2104). */
const PROOF_HEADER = "X-Tela-Proof";

/** A download: the agent's header and the file's bytes (chunk framing removed). */
export interface Download {
  size: number;
  modTime?: string;
  checksum?: string;
  /**
   * The bytes. Errors with a {@link ShareError} (`unavailable`) when the stream breaks, is
   * shorter or longer than `size`, or its SHA-256 differs from `checksum`: a consumer that
   * reads it to the end without an error got exactly the agent's file.
   */
  body: ReadableStream<Uint8Array>;
}

/** A client of one running `tela connect`'s control API. */
export class ControlClient {
  #verified: Promise<void> | null = null;
  constructor(readonly info: ControlInfo) {}

  /** A client of the `tela connect` that wrote `control.json`. @throws as {@link readControlFile}. */
  static async discover(path?: string): Promise<ControlClient> {
    return new ControlClient(await readControlFile(path));
  }

  get #base(): string {
    return `http://127.0.0.1:${this.info.port}`;
  }

  /**
   * Checks, once, that the server holds the token (`GET /` with a nonce) before any request
   * body is sent: a stale control.json's port may belong to another local user's program.
   */
  #verify(): Promise<void> {
    this.#verified ??= this.#fetch("/", { timeoutMs: CONTROL_OP_TIMEOUT_MS }, false).then(
      async (res) => void await res.body?.cancel(),
    );
    this.#verified.catch(() => this.#verified = null);
    return this.#verified;
  }

  async #fetch(
    path: string,
    init: RequestInit & { timeoutMs?: number } = {},
    verifyFirst = init.body !== undefined && init.body !== null,
  ): Promise<Response> {
    if (verifyFirst) await this.#verify();
    const signal = init.signal ??
      (init.timeoutMs ? AbortSignal.timeout(init.timeoutMs) : undefined);
    const nonce = Array.from(crypto.getRandomValues(new Uint8Array(16)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        ...init,
        signal,
        headers: {
          Authorization: `Bearer ${this.info.token}`,
          "Content-Type": "application/json",
          [NONCE_HEADER]: nonce,
          ...(init.headers ?? {}),
        },
      });
    } catch (err) {
      throw new ShareError(
        `control API request failed: ${(err as Error).message} (is tela connect still ` +
          `running? pid ${this.info.pid})`,
        "unavailable",
      );
    }
    const want = new TextEncoder().encode(
      createHmac("sha256", this.info.token).update(nonce).digest("hex"),
    );
    const got = new TextEncoder().encode(res.headers.get(PROOF_HEADER) ?? "");
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      await res.body?.cancel().catch(() => {});
      throw new ShareError(
        `control API on port ${this.info.port} did not prove it holds the token of ` +
          `control.json: the file is stale or another program took the port (pid ` +
          `${this.info.pid}; restart tela connect)`,
        "unavailable",
      );
    }
    return res;
  }

  /** Machines with a live tunnel (`GET /tunnels`). @throws {ShareError} `unavailable`. */
  async tunnels(): Promise<string[]> {
    const res = await this.#fetch("/tunnels", { timeoutMs: CONTROL_OP_TIMEOUT_MS });
    const body = await res.json().catch(() => null) as { machine: string }[] | null;
    if (!res.ok || !Array.isArray(body)) {
      throw new ShareError(`control API: GET /tunnels: HTTP ${res.status}`, "unavailable");
    }
    return body.map((t) => t.machine);
  }

  /** Whether `machine` answers on the file-share port (`/files-probe/<m>`, one 3 s dial). */
  async probe(machine: string): Promise<boolean> {
    const res = await this.#fetch(`/files-probe/${encodeURIComponent(machine)}`, {
      timeoutMs: CONTROL_OP_TIMEOUT_MS,
    });
    await res.body?.cancel();
    return res.status === 200;
  }

  /**
   * Starts one file-share request through the proxy and returns the HTTP response after
   * checking its status.
   * @throws {ShareError} the proxy's `error` (dial failure: `unavailable`).
   */
  async #files(
    machine: string,
    body: BodyInit,
    timeoutMs?: number,
    signal?: AbortSignal,
  ): Promise<Response> {
    const res = await this.#fetch(
      `/files/${encodeURIComponent(machine)}`,
      {
        method: "POST",
        body,
        timeoutMs,
        signal,
        // Streams need half-duplex fetch (WHATWG fetch `duplex`).
        ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
      } as RequestInit & { timeoutMs?: number },
    );
    if (res.status !== 200) {
      const text = await res.text().catch(() => "");
      let msg = `HTTP ${res.status}`;
      try {
        msg = (JSON.parse(text) as { error?: string }).error ?? msg;
      } catch { /* plain text */ }
      throw new ShareError(msg, res.status === 401 ? "unavailable" : "unavailable");
    }
    return res;
  }

  /**
   * One request without data (`list-shares`, `list`, `delete`, `mkdir`, `rename`, `move`).
   * @returns the agent's response (ok or not; the caller decides).
   * @throws {ShareError} `unavailable` for transport failures, `empty response`,
   *   `invalid response: ...`.
   */
  async request(machine: string, req: ShareRequest): Promise<ShareResponse> {
    const res = await this.#files(machine, encodeRequest(req), CONTROL_OP_TIMEOUT_MS);
    return await readAnswer(res);
  }

  /**
   * Downloads `path` (spec §2.6 `read`).
   * @param signal aborts the transfer.
   * @throws {ShareError} the agent's refusal (`file not found`, ...) or `unavailable`.
   */
  async read(
    machine: string,
    share: string,
    path: string,
    signal?: AbortSignal,
  ): Promise<Download> {
    const res = await this.#files(
      machine,
      encodeRequest({ op: "read", share, path }),
      undefined,
      signal,
    );
    const reader = new ByteReader(res.body!);
    let header: ShareResponse;
    try {
      const line = await reader.readLine();
      if (line === null) throw new ShareError("empty response", "unavailable");
      header = parseResponse(line);
    } catch (err) {
      await reader.cancel();
      if (err instanceof ShareError) throw err;
      throw new ShareError((err as Error).message, "unavailable");
    }
    if (!header.ok) {
      await reader.cancel();
      throw new ShareError(header.error ?? "read failed");
    }
    const size = header.size ?? 0;
    const hash = createHash("sha256");
    let got = 0;
    const fail = (msg: string) => new ShareError(msg, "unavailable");
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const line = await reader.readLine(64);
          if (line === null) throw fail(`transfer ended early: got ${got} of ${size} bytes`);
          const n = parseChunkHeader(line);
          if (n < 0 || n > CHUNK_SIZE) throw fail("Protocol error: invalid chunk size");
          if (n === 0) {
            if (got !== size) throw fail(`size mismatch: expected ${size}, got ${got}`);
            const sum = `sha256:${hash.digest("hex")}`;
            if (header.checksum && header.checksum !== sum) throw fail("checksum mismatch");
            await reader.cancel();
            controller.close();
            return;
          }
          if (got + n > size) throw fail("received more data than declared size");
          const data = await reader.readBytes(n);
          hash.update(data);
          got += n;
          controller.enqueue(data);
        } catch (err) {
          await reader.cancel();
          controller.error(
            err instanceof ShareError ? err : fail(
              err instanceof ProtocolError
                ? `Protocol error: ${err.message}`
                : `Error reading chunk: ${(err as Error).message}`,
            ),
          );
        }
      },
      async cancel() {
        await reader.cancel();
      },
    }, { highWaterMark: 0 });
    return { size, modTime: header.modTime, checksum: header.checksum, body };
  }

  /**
   * Uploads `size` bytes from `body` to `path` (spec §2.6 `write`), streamed: the request,
   * the chunks and `CHUNK 0` go out as they are read.
   * @param checksum `sha256:<hex>` for the agent to verify, when known in advance.
   * @returns the agent's answer (ok with `size`, or its refusal).
   * @throws {ShareError} `unavailable` for transport failures; a `body` that errors aborts
   *   the upload (the agent then deletes its temporary file).
   */
  async write(
    machine: string,
    share: string,
    path: string,
    size: number,
    body: ReadableStream<Uint8Array>,
    checksum?: string,
    signal?: AbortSignal,
  ): Promise<ShareResponse> {
    const head = new TextEncoder().encode(
      encodeRequest({ op: "write", share, path, size, checksum }),
    );
    const src = body.getReader();
    let sent = false;
    const framed = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(head);
      },
      async pull(controller) {
        if (sent) return;
        const { value, done } = await src.read();
        if (done) {
          sent = true;
          controller.enqueue(CHUNK_END);
          controller.close();
          return;
        }
        if (value.length) controller.enqueue(frameChunks(value));
      },
      async cancel(reason) {
        await src.cancel(reason);
      },
    }, { highWaterMark: 0 });
    const res = await this.#files(machine, framed, undefined, signal);
    return await readAnswer(res);
  }
}

/**
 * The agent's one-line answer (spec §2) in the body of a control API response.
 * @throws {ShareError} `unavailable` when the body cannot be read (`control API: ...`), is
 *   empty (`empty response`) or is not a valid answer (`invalid response: ...`).
 */
async function readAnswer(res: Response): Promise<ShareResponse> {
  const text = await res.text().catch((err) => {
    throw new ShareError(`control API: ${(err as Error).message}`, "unavailable");
  });
  const line = text.split("\n")[0];
  if (!line) throw new ShareError("empty response", "unavailable");
  try {
    return parseResponse(line);
  } catch (err) {
    throw new ShareError((err as Error).message, "unavailable");
  }
}
