/**
 * The file-share protocol spoken inside the tunnel on TCP port 17377 (spec
 * agent-and-client.md §2; book, *File sharing* and its design rationale, *Chunked
 * transfer*): one JSON object per line (`\n`), bulk data framed as `CHUNK <n>\n<n bytes>`
 * with at most 16384 bytes per chunk and `CHUNK 0\n` at the end.
 *
 * This module is the codec: request and response objects in Go's key order and omitempty
 * rules (§1.4, §2.3, §2.4), chunk headers, and a buffered reader for lines and exact byte
 * counts over a web stream. It knows nothing of files or sockets.
 * @module
 */
import { concatBytes } from "../protocol/bytes.ts";
import type { Entry } from "./backend.ts";

export type { Entry };

/** The tunnel port of the file share (spec §2.1, §17). Not configurable. */
export const FILE_SHARE_PORT = 17377;
/** Largest chunk payload, in bytes (spec §2.2). */
export const CHUNK_SIZE = 16384;
/** Concurrent connections one session's listener serves; more are closed at once (§2.1). */
export const MAX_CONNECTIONS = 4;
/** Time allowed for reading one request line and answering it, in ms (spec §2.1). */
export const REQUEST_DEADLINE_MS = 60_000;
/** Time allowed between two chunks of a transfer, in ms (spec §2.6 `write` step 10). */
export const STALL_DEADLINE_MS = 30_000;
/**
 * Longest response line a client accepts, in bytes (a `list` of thousands of entries). Only
 * readers of the agent's responses use it; request lines have {@link MAX_REQUEST_LINE}.
 */
export const MAX_LINE = 64 * 1024 * 1024;
/**
 * Longest request line the agent (and the control API forwarding one) accepts, in bytes:
 * a request carries at most two paths of 4096 bytes (sandbox MAX_PATH_BYTES), JSON-escaped.
 */
export const MAX_REQUEST_LINE = 64 * 1024;
/** Prefix of the agent's in-flight upload files (spec §2.6 `write` step 9). */
export const UPLOAD_TEMP_PREFIX = ".tela-upload-";

/** The operations of spec §2.5. */
export type ShareOp =
  | "list-shares"
  | "list"
  | "read"
  | "write"
  | "delete"
  | "mkdir"
  | "rename"
  | "move"
  | "subscribe";

/** A request line (spec §2.3). */
export interface ShareRequest {
  op: string;
  share?: string;
  path?: string;
  /** `write`: the declared byte count. */
  size?: number;
  /** `write`: `sha256:<64 lowercase hex>`. */
  checksum?: string;
  /** `rename`: a bare file name. */
  newName?: string;
  /** `move`: the destination path. */
  newPath?: string;
  /** `list`: entries to skip. */
  offset?: number;
  /** `list`: entries to return at most; 0 = all. */
  limit?: number;
}

/** A share as `list-shares` puts it on the wire (spec §2.4): flags omitted when false. */
export interface WireShareInfo {
  name: string;
  writable?: boolean;
  allowDelete?: boolean;
}

/** A response line (spec §2.4). */
export interface ShareResponse {
  ok: boolean;
  error?: string;
  entries?: Entry[];
  shares?: WireShareInfo[];
  size?: number;
  modTime?: string;
  checksum?: string;
  total?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Go's omitempty: false, 0, "" and empty lists are left out. */
function empty(v: unknown): boolean {
  return v === undefined || v === null || v === false || v === 0 || v === "" ||
    (Array.isArray(v) && v.length === 0);
}

/**
 * A request as Go clients serialise it (spec §2.3): keys in the order `op, share, path,
 * size, checksum, newName, newPath, offset, limit`; `path` always present, the others
 * omitted when empty; a trailing `\n`.
 */
export function encodeRequest(req: ShareRequest): string {
  const o: Record<string, unknown> = { op: req.op };
  if (!empty(req.share)) o.share = req.share;
  o.path = req.path ?? "";
  for (const k of ["size", "checksum", "newName", "newPath", "offset", "limit"] as const) {
    if (!empty(req[k])) o[k] = req[k];
  }
  return JSON.stringify(o) + "\n";
}

/**
 * A response as the Go agent serialises it (spec §2.4): `ok` always, the rest in the order
 * `error, entries, shares, size, modTime, checksum, total` when not empty; entries with all
 * four keys; share infos with `writable`/`allowDelete` only when true; a trailing `\n`.
 */
export function encodeResponse(r: ShareResponse): string {
  const o: Record<string, unknown> = { ok: r.ok };
  if (!empty(r.error)) o.error = r.error;
  if (!empty(r.entries)) {
    o.entries = r.entries!.map((e) => ({
      name: e.name,
      size: e.size,
      modTime: e.modTime,
      isDir: e.isDir,
    }));
  }
  if (!empty(r.shares)) {
    o.shares = r.shares!.map((s) => ({
      name: s.name,
      ...(s.writable ? { writable: true } : {}),
      ...(s.allowDelete ? { allowDelete: true } : {}),
    }));
  }
  for (const k of ["size", "modTime", "checksum", "total"] as const) {
    if (!empty(r[k])) o[k] = r[k];
  }
  return JSON.stringify(o) + "\n";
}

/** The fields of a request with their JSON types (spec §2.3), for {@link parseRequest}. */
const REQUEST_FIELDS: Record<string, "string" | "int"> = {
  op: "string",
  share: "string",
  path: "string",
  size: "int",
  checksum: "string",
  newName: "string",
  newPath: "string",
  offset: "int",
  limit: "int",
};

/**
 * Parses one request line the way Go's `json.Unmarshal` into the request struct does: keys
 * matched case-insensitively, unknown keys ignored, `null` leaves a field empty, a wrong type
 * fails.
 * @param line the line without its `\n` (a trailing `\r` is JSON whitespace).
 * @returns the request, or null when the line is not such an object (the agent answers
 *   `invalid request`, spec §2.5 rule 1).
 */
export function parseRequest(line: string): ShareRequest | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) return null;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    const field = Object.keys(REQUEST_FIELDS).find((f) => f.toLowerCase() === k.toLowerCase());
    if (!field || val === null) continue;
    const type = REQUEST_FIELDS[field];
    if (type === "string" && typeof val !== "string") return null;
    if (type === "int" && (typeof val !== "number" || !Number.isInteger(val))) return null;
    out[field] = val;
  }
  return { op: "", ...out } as ShareRequest;
}

/**
 * Parses a response line.
 * @throws {ProtocolError} `invalid response: <why>` when it is not a JSON object with `ok`.
 */
export function parseResponse(line: string): ShareResponse {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new ProtocolError(`invalid response: ${(err as Error).message}`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) {
    throw new ProtocolError("invalid response: not a JSON object");
  }
  const r = v as ShareResponse;
  return { ...r, ok: r.ok === true };
}

/** `CHUNK <n>\n` as bytes. */
export function chunkHeader(n: number): Uint8Array {
  return enc.encode(`CHUNK ${n}\n`);
}

/** The end-of-data marker `CHUNK 0\n`. */
export const CHUNK_END: Uint8Array = chunkHeader(0);

/** A framing error in the byte stream (bad header, short chunk, line too long). */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/**
 * Parses a chunk header line the way the Go agent does (spec §2.2, §2.6 step 10): trailing
 * `\r`/`\n` stripped, the literal prefix `CHUNK ` required, a base-10 integer after it.
 * @returns the announced length (may be negative or over {@link CHUNK_SIZE}: the caller
 *   decides, with the spec's error strings).
 * @throws {ProtocolError} `expected CHUNK header` or `invalid chunk size`.
 */
export function parseChunkHeader(line: string): number {
  const l = line.replace(/[\r\n]+$/, "");
  if (!l.startsWith("CHUNK ")) throw new ProtocolError("expected CHUNK header");
  const num = l.slice(6);
  if (!/^[+-]?\d+$/.test(num)) throw new ProtocolError("invalid chunk size");
  return Number(num);
}

/**
 * Frames `data` (any length) as chunks of at most {@link CHUNK_SIZE} bytes in one buffer,
 * without the end marker: the sender writes one buffer per batch instead of two writes per
 * chunk.
 */
export function frameChunks(data: Uint8Array): Uint8Array {
  if (data.length === 0) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let off = 0; off < data.length; off += CHUNK_SIZE) {
    const piece = data.subarray(off, Math.min(off + CHUNK_SIZE, data.length));
    const h = chunkHeader(piece.length);
    parts.push(h, piece);
    total += h.length + piece.length;
  }
  return concatBytes(parts, total);
}

/**
 * A buffered reader over a byte stream: whole lines and exact byte counts, as the protocol
 * needs them. Data arriving after a line stays buffered for the next call.
 */
export class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #bufs: Uint8Array[] = [];
  #buffered = 0;
  #eof = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Bytes buffered and not consumed yet. */
  get buffered(): number {
    return this.#buffered;
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const { value, done } = await this.#reader.read();
    if (done) {
      this.#eof = true;
      return false;
    }
    if (value.length) {
      this.#bufs.push(value);
      this.#buffered += value.length;
    }
    return true;
  }

  /**
   * Reads up to and including the next `\n`.
   * @param max longest line accepted, in bytes.
   * @returns the line without `\n` (and without a trailing `\r`), or null at EOF before any
   *   byte of a line.
   * @throws {ProtocolError} `line too long` past `max`; `unexpected end of stream` when EOF
   *   cuts a line.
   */
  async readLine(max = MAX_LINE): Promise<string | null> {
    // Buffers are only appended while a line is looked for: scanning resumes at the first
    // buffer not scanned yet (each byte is looked at once, however many pieces arrive).
    let i = 0;
    let seen = 0;
    while (true) {
      for (; i < this.#bufs.length; i++) {
        const b = this.#bufs[i];
        const j = b.indexOf(10);
        if (j >= 0) {
          if (seen + j > max) throw new ProtocolError("line too long");
          const bytes = this.#take(seen + j + 1);
          let end = bytes.length - 1;
          if (end > 0 && bytes[end - 1] === 13) end--;
          return dec.decode(bytes.subarray(0, end));
        }
        seen += b.length;
      }
      if (seen > max) throw new ProtocolError("line too long");
      if (!(await this.#fill())) {
        if (this.#buffered === 0) return null;
        throw new ProtocolError("unexpected end of stream");
      }
    }
  }

  /**
   * Reads exactly `n` bytes, handing them to `sink` in the pieces they arrived in.
   * @throws {ProtocolError} `incomplete chunk` when the stream ends first.
   */
  async readExact(n: number, sink: (piece: Uint8Array) => void | Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.#buffered === 0 && !(await this.#fill())) {
        throw new ProtocolError("incomplete chunk");
      }
      const b = this.#bufs[0];
      if (b.length <= left) {
        this.#bufs.shift();
        this.#buffered -= b.length;
        left -= b.length;
        await sink(b);
      } else {
        this.#bufs[0] = b.subarray(left);
        this.#buffered -= left;
        await sink(b.subarray(0, left));
        left = 0;
      }
    }
  }

  /** Reads exactly `n` bytes into one array. @throws as {@link readExact}. */
  async readBytes(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let o = 0;
    await this.readExact(n, (p) => {
      out.set(p, o);
      o += p.length;
    });
    return out;
  }

  /** Whatever arrives next (the buffered bytes first); null at EOF. */
  async readSome(): Promise<Uint8Array | null> {
    if (this.#buffered === 0 && !(await this.#fill())) return null;
    const b = this.#bufs.shift()!;
    this.#buffered -= b.length;
    return b;
  }

  /** Removes the first `n` buffered bytes and returns them in one array. */
  #take(n: number): Uint8Array {
    if (this.#bufs[0].length >= n) {
      const b = this.#bufs[0];
      const out = b.subarray(0, n);
      if (b.length === n) this.#bufs.shift();
      else this.#bufs[0] = b.subarray(n);
      this.#buffered -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let o = 0;
    let i = 0;
    while (o < n) {
      const b = this.#bufs[i];
      const k = Math.min(b.length, n - o);
      out.set(b.subarray(0, k), o);
      o += k;
      if (k === b.length) i++;
      else this.#bufs[i] = b.subarray(k);
    }
    // One splice, not a shift per buffer (a long line may span many thousands of them).
    this.#bufs.splice(0, i);
    this.#buffered -= n;
    return out;
  }

  /** Stops reading the stream (the buffered bytes are dropped). */
  async cancel(): Promise<void> {
    this.#bufs = [];
    this.#buffered = 0;
    await this.#reader.cancel().catch(() => {});
  }

  /** Gives the stream back (buffered bytes are lost to the next reader). */
  release(): void {
    this.#reader.releaseLock();
  }
}

/** `sha256:<64 lowercase hex>` of a hex digest. */
export function checksumText(hex: string): string {
  return `sha256:${hex}`;
}

/** Size as `tela files` prints it (spec §3.4 `formatSize`): binary units, one decimal. */
export function formatSize(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KB`;
  return `${n} B`;
}

/** A time as the protocol writes it: UTC RFC 3339, second precision, `Z` (spec §2.4). */
export function rfc3339(d: Date | null | undefined): string {
  return (d ?? new Date(0)).toISOString().slice(0, 19) + "Z";
}
