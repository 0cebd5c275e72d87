/**
 * Test helpers: a {@link ShareServer} on a real loopback TCP listener, a raw protocol client,
 * temporary share directories.
 * @module
 */
import { createHash } from "node:crypto";
import { socketDuplex } from "../session/mod.ts";
import { type ShareConfig, type ShareFields, shareFromFields } from "./config.ts";
import {
  ByteReader,
  CHUNK_END,
  encodeRequest,
  frameChunks,
  parseChunkHeader,
  parseResponse,
  type ShareRequest,
  type ShareResponse,
} from "./protocol.ts";
import { ShareServer, type ShareServerOptions } from "./server.ts";

export const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const enc = new TextEncoder();

/** Log lines the server wrote. */
export const silentLog = () => {
  const lines: string[] = [];
  return {
    lines,
    info: (m: string) => void lines.push(m),
    warn: (m: string) => void lines.push(m),
    debug: () => {},
  };
};

/** A running server on 127.0.0.1 and where its shares live. */
export interface Harness {
  port: number;
  dir: string;
  server: ShareServer;
  shares: ShareConfig[];
  log: ReturnType<typeof silentLog>;
  close(): Promise<void>;
}

/**
 * Makes `dir` (temp) with an `outside/secret.txt` beside each share directory, and serves
 * the shares (fields without `path` get `<dir>/<name>`).
 */
export async function startServer(
  fields: ShareFields[],
  options: ShareServerOptions = {},
): Promise<Harness> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "fileshare-test-" }));
  await Deno.mkdir(`${dir}/outside`);
  await Deno.writeTextFile(`${dir}/outside/secret.txt`, "TOP SECRET\n");
  const shares = fields.map((f) => shareFromFields({ path: `${dir}/${f.name}`, ...f }));
  for (const s of shares) await Deno.mkdir(s.path, { recursive: true });
  const log = silentLog();
  const server = await ShareServer.create(shares, log, options);
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = server.serve({
    accept: async () => {
      const c = await l.accept();
      return { ...socketDuplex(c), abort: () => c.close() };
    },
    close: () => l.close(),
  });
  return {
    port: l.addr.port,
    dir,
    server,
    shares,
    log,
    async close() {
      server.close();
      try {
        l.close();
      } catch { /* closed */ }
      await served;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** One raw protocol connection. */
export class RawClient {
  readonly reader: ByteReader;
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private constructor(readonly conn: Deno.TcpConn) {
    const d = socketDuplex(conn);
    this.reader = new ByteReader(d.readable);
    this.writer = d.writable.getWriter();
  }

  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async send(bytes: Uint8Array | string): Promise<void> {
    await this.writer.write(typeof bytes === "string" ? enc.encode(bytes) : bytes);
  }

  /** The next response line, parsed; null at EOF. */
  async response(): Promise<ShareResponse | null> {
    const line = await this.reader.readLine();
    return line === null ? null : parseResponse(line);
  }

  async request(req: ShareRequest): Promise<ShareResponse> {
    await this.send(encodeRequest(req));
    const r = await this.response();
    if (!r) throw new Error("connection closed");
    return r;
  }

  /** `read`: the header and, when ok, the data (chunk frames removed). */
  async read(share: string, path: string): Promise<{ head: ShareResponse; data?: Uint8Array }> {
    const head = await this.request({ op: "read", share, path });
    if (!head.ok) return { head };
    const parts: Uint8Array[] = [];
    while (true) {
      const n = parseChunkHeader((await this.reader.readLine())!);
      if (n === 0) break;
      parts.push(await this.reader.readBytes(n));
    }
    const data = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) data.set(p, o), o += p.length;
    return { head, data };
  }

  /** `write` of `data` with its checksum (unless given), the whole stream sent first (Go). */
  async write(
    share: string,
    path: string,
    data: Uint8Array,
    opts: { size?: number; checksum?: string | null } = {},
  ): Promise<ShareResponse> {
    const checksum = opts.checksum === null ? undefined : opts.checksum ?? `sha256:${sha256(data)}`;
    await this.send(
      encodeRequest({ op: "write", share, path, size: opts.size ?? data.length, checksum }),
    );
    await this.send(frameChunks(data));
    await this.send(CHUNK_END);
    const r = await this.response();
    if (!r) throw new Error("connection closed");
    return r;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

/** Opens a connection, runs `fn`, closes it. */
export async function withClient<T>(port: number, fn: (c: RawClient) => Promise<T>): Promise<T> {
  const c = await RawClient.connect(port);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** Names in `dir` (non-recursive), sorted. */
export async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}
