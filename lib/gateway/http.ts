/**
 * What the path gateway reads of HTTP/1.1 (RFC 9112): a message head (start line and header
 * fields, bounded), the framing of the body that follows (RFC 9112 §6.3), and the body copied
 * through as the bytes that arrived, chunk framing included, so a body is never decoded,
 * buffered whole or re-encoded. The book's rule for gateways: read only what routing needs.
 *
 * Hand-written rather than `http-parser-js` (which lib/hub/http1.ts uses): a proxy must find
 * where each message ends while passing its raw bytes on, and stop between pipelined requests
 * until the previous response is out; http-parser-js hands out decoded body bytes, parses on
 * through the next message in the same `execute`, and is lenient where a proxy must not be
 * (obs-fold, a header line without a colon, `parseInt` chunk sizes such as `-5`), which is how
 * request smuggling between a proxy and its upstream starts (RFC 9112 §6.1, §6.3, §11.2).
 * @module
 */

/** A request or response the gateway refuses, with the status it answers (400, 431, 501). */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The peer closed the connection in the middle of a message head or body. */
export class TruncatedMessageError extends Error {
  override name = "TruncatedMessageError";
}

/** One header field as received: name in its original case, value without surrounding OWS. */
export type Field = [name: string, value: string];

/** A parsed request head (RFC 9112 §3). */
export interface RequestHead {
  method: string;
  /** The request-target as received (origin-form, absolute-form, authority-form or `*`). */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  fields: Field[];
}

/** A parsed response head (RFC 9112 §4). */
export interface ResponseHead {
  minor: number;
  status: number;
  reason: string;
  fields: Field[];
}

/**
 * How the body after a head is delimited (RFC 9112 §6.3): none, a `Content-Length`, chunked
 * (a `Transfer-Encoding` ending in `chunked`), or the end of the connection (responses only).
 */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/**
 * A buffered reader over a byte stream: whole heads, lines and body pieces, with whatever
 * was read past them kept for the next call (the next pipelined request, or the first bytes
 * of an upgraded protocol).
 */
export class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #eof = false;

  /** @param readable the connection's byte stream; this reader holds its lock. */
  constructor(readable: ReadableStream<Uint8Array>) {
    this.#reader = readable.getReader();
  }

  /** Bytes read from the stream and not handed out yet. */
  get buffered(): number {
    return this.#buf.length;
  }

  /** Reads one more chunk into the buffer; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const { value, done } = await this.#reader.read();
    if (done || !value) {
      this.#eof = true;
      return false;
    }
    if (this.#buf.length === 0) {
      this.#buf = value;
    } else {
      const b = new Uint8Array(this.#buf.length + value.length);
      b.set(this.#buf);
      b.set(value, this.#buf.length);
      this.#buf = b;
    }
    return true;
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /**
   * Reads a message head: everything up to and including the empty line (CRLF CRLF). Empty
   * lines before a request line are skipped (RFC 9112 §2.2).
   * @param maxBytes the largest head accepted, in octets.
   * @returns the head's bytes, or null when the stream ended before any byte of one.
   * @throws {HttpError} 431 when no head ended within `maxBytes`.
   * @throws {TruncatedMessageError} when the stream ended inside a head.
   */
  async readHead(maxBytes: number): Promise<Uint8Array | null> {
    let from = 0;
    for (;;) {
      while (this.#buf.length >= 2 && this.#buf[0] === 13 && this.#buf[1] === 10) {
        this.#take(2);
        from = 0;
      }
      const b = this.#buf;
      for (let i = Math.max(0, from - 3); i + 4 <= b.length; i++) {
        if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) {
          if (i + 4 > maxBytes) break;
          return this.#take(i + 4);
        }
      }
      from = b.length;
      if (b.length > maxBytes) {
        throw new HttpError(431, `message head longer than ${maxBytes} bytes`);
      }
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return null;
        throw new TruncatedMessageError("connection closed inside a message head");
      }
    }
  }

  /**
   * Reads one line, CRLF included (a chunk-size line or a trailer field, RFC 9112 §7.1).
   * @throws {HttpError} 400 when no line ended within `maxBytes`.
   * @throws {TruncatedMessageError} at the end of the stream.
   */
  async readLine(maxBytes: number): Promise<Uint8Array> {
    let from = 0;
    for (;;) {
      const i = this.#buf.indexOf(10, from);
      if (i >= 0 && i < maxBytes) return this.#take(i + 1);
      if (this.#buf.length >= maxBytes) throw new HttpError(400, "line too long in a body");
      from = this.#buf.length;
      if (!(await this.#fill())) throw new TruncatedMessageError("connection closed in a body");
    }
  }

  /**
   * Up to `max` bytes: buffered ones first, else the next chunk from the stream.
   * @returns null at the end of the stream.
   */
  async readSome(max: number): Promise<Uint8Array | null> {
    if (this.#buf.length === 0 && !(await this.#fill())) return null;
    return this.#take(Math.min(max, this.#buf.length));
  }

  /** Stops reading: cancels the stream (the connection's read side). */
  async cancel(): Promise<void> {
    try {
      await this.#reader.cancel();
    } catch { /* already errored */ }
  }
}

/** Octets as a string, one code unit per octet (ISO 8859-1, exactly reversible). */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** A string of code units 0-255 as octets (the inverse of {@link latin1}). */
export function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** RFC 9110 §5.6.2 token. */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const REQUEST_LINE = new RegExp(`^(${TOKEN}) ([!-~]+) HTTP/1\\.([01])$`);
const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: ([\t !-~\x80-\xff]*))?$/;
const FIELD_LINE = new RegExp(`^(${TOKEN}):[ \\t]*([\\t !-~\\x80-\\xff]*?)[ \\t]*$`);

function headLines(head: Uint8Array): string[] {
  const text = latin1(head.subarray(0, head.length - 4));
  const lines = text.split("\r\n");
  if (lines.some((l) => l.includes("\n") || l.includes("\r"))) {
    throw new HttpError(400, "bare CR or LF in the message head");
  }
  return lines;
}

function parseFields(lines: string[]): Field[] {
  return lines.map((line) => {
    // No obs-fold, no whitespace before the colon, no control characters (RFC 9112 §5).
    const m = FIELD_LINE.exec(line);
    if (!m) throw new HttpError(400, "malformed header field line");
    return [m[1], m[2]];
  });
}

/**
 * Parses a request head read by {@link ByteReader.readHead}.
 * @throws {HttpError} 400 for a malformed request line or field line, 505 for a version
 *   other than HTTP/1.0 or HTTP/1.1.
 */
export function parseRequestHead(head: Uint8Array): RequestHead {
  const lines = headLines(head);
  const m = REQUEST_LINE.exec(lines[0]);
  if (!m) {
    if (/^\S+ \S+ HTTP\/\d/.test(lines[0])) {
      throw new HttpError(505, "only HTTP/1.0 and HTTP/1.1 are served");
    }
    throw new HttpError(400, "malformed request line");
  }
  return { method: m[1], target: m[2], minor: Number(m[3]), fields: parseFields(lines.slice(1)) };
}

/**
 * Parses a response head read by {@link ByteReader.readHead}.
 * @throws {HttpError} 502 for a malformed status line or field line.
 */
export function parseResponseHead(head: Uint8Array): ResponseHead {
  try {
    const lines = headLines(head);
    const m = STATUS_LINE.exec(lines[0]);
    if (!m) throw new HttpError(502, "malformed status line");
    return {
      minor: Number(m[1]),
      status: Number(m[2]),
      reason: m[3] ?? "",
      fields: parseFields(lines.slice(1)),
    };
  } catch (err) {
    if (err instanceof HttpError) throw new HttpError(502, `upstream response: ${err.message}`);
    throw err;
  }
}

/** All values of a field (case-insensitive name), in order. */
export function fieldValues(fields: Field[], name: string): string[] {
  const n = name.toLowerCase();
  return fields.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

/** The comma-separated list elements of a field, lower-cased (RFC 9110 §5.6.1). */
export function fieldTokens(fields: Field[], name: string): string[] {
  return fieldValues(fields, name).flatMap((v) => v.split(",")).map((t) => t.trim().toLowerCase())
    .filter((t) => t !== "");
}

function contentLength(fields: Field[], status: number): number | undefined {
  const cl = fieldValues(fields, "content-length").flatMap((v) => v.split(",")).map((v) =>
    v.trim()
  );
  if (cl.length === 0) return undefined;
  if (cl.some((v) => !/^[0-9]{1,15}$/.test(v)) || new Set(cl.map(Number)).size > 1) {
    throw new HttpError(status, "Content-Length is not one decimal length");
  }
  return Number(cl[0]);
}

/**
 * The framing of a request body (RFC 9112 §6.3 rules 3-6). Refuses what a proxy and its
 * upstream could read differently: Transfer-Encoding together with Content-Length, a
 * Transfer-Encoding not ending in `chunked`, a Content-Length that is not one decimal number.
 * @throws {HttpError} 400 for ambiguous framing, 501 for a transfer coding other than chunked.
 */
export function requestFraming(head: RequestHead): Framing {
  const te = fieldTokens(head.fields, "transfer-encoding");
  if (te.length > 0) {
    if (fieldValues(head.fields, "content-length").length > 0) {
      throw new HttpError(400, "Transfer-Encoding together with Content-Length");
    }
    if (te.length !== 1 || te[0] !== "chunked") {
      throw new HttpError(501, `transfer coding not implemented: ${te.join(", ")}`);
    }
    return { kind: "chunked" };
  }
  const n = contentLength(head.fields, 400);
  return n ? { kind: "length", length: n } : { kind: "none" };
}

/**
 * The framing of a response body (RFC 9112 §6.3 rules 1-7) to a request with `method`.
 * @throws {HttpError} 502 for a Content-Length that is not one decimal number.
 */
export function responseFraming(head: ResponseHead, method: string): Framing {
  const s = head.status;
  if (method === "HEAD" || (s >= 100 && s < 200) || s === 204 || s === 304) {
    return { kind: "none" };
  }
  const te = fieldTokens(head.fields, "transfer-encoding");
  if (te.length > 0) {
    return te[te.length - 1] === "chunked" ? { kind: "chunked" } : { kind: "close" };
  }
  const n = contentLength(head.fields, 502);
  if (n === undefined) return { kind: "close" };
  return n ? { kind: "length", length: n } : { kind: "none" };
}

/** Largest piece copied at once, in octets. */
const COPY_CHUNK = 64 * 1024;
/** Longest chunk-size line or trailer line accepted, in octets. */
const MAX_CHUNK_LINE = 4096;
/** Most trailer bytes accepted after the last chunk, in octets. */
const MAX_TRAILERS = 64 * 1024;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]{1,15})[ \t]*(;[^\r\n]*)?\r\n$/;

/**
 * Copies one body delimited by `framing` from `from` to `to`, byte for byte (chunk-size
 * lines, extensions and trailers included), each piece written as it arrives so streamed
 * responses (`text/event-stream`, long-polling, chunked progress) are not held back.
 * @throws {HttpError} 400 for a malformed chunk-size line or chunk end.
 * @throws {TruncatedMessageError} when `from` ends before the body does (not for `close`).
 * @param dechunk for a chunked body: write only the chunks' data (to an HTTP/1.0 client,
 *   which does not know chunked coding; the connection's end then delimits the body).
 * @throws whatever writing to `to` throws (the other side went away).
 */
export async function copyBody(
  from: ByteReader,
  to: WritableStreamDefaultWriter<Uint8Array>,
  framing: Framing,
  dechunk = false,
): Promise<void> {
  switch (framing.kind) {
    case "none":
      return;
    case "length":
      return copyExactly(from, to, framing.length);
    case "close":
      for (;;) {
        const b = await from.readSome(COPY_CHUNK);
        if (!b) return;
        await to.write(b);
      }
    case "chunked":
      for (;;) {
        const line = await from.readLine(MAX_CHUNK_LINE);
        const m = CHUNK_SIZE_LINE.exec(latin1(line));
        if (!m) throw new HttpError(400, "malformed chunk-size line");
        if (!dechunk) await to.write(line);
        const size = parseInt(m[1], 16);
        if (size === 0) break;
        await copyExactly(from, to, size);
        const end = await from.readLine(2);
        if (end.length !== 2 || end[0] !== 13) throw new HttpError(400, "chunk not ended by CRLF");
        if (!dechunk) await to.write(end);
      }
      // Trailer section, then the empty line (RFC 9112 §7.1.2).
      for (let total = 0;;) {
        const line = await from.readLine(MAX_CHUNK_LINE);
        total += line.length;
        if (total > MAX_TRAILERS) throw new HttpError(400, "trailer section too large");
        if (!dechunk) await to.write(line);
        if (line.length === 2 && line[0] === 13) return;
      }
  }
}

async function copyExactly(
  from: ByteReader,
  to: WritableStreamDefaultWriter<Uint8Array>,
  n: number,
): Promise<void> {
  while (n > 0) {
    const b = await from.readSome(Math.min(n, COPY_CHUNK));
    if (!b) throw new TruncatedMessageError(`connection closed with ${n} body bytes to come`);
    n -= b.length;
    await to.write(b);
  }
}
