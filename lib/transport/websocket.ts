/**
 * The hub's server side of RFC 6455 on an accepted TCP connection: framing
 * (§5.2), with every frame's length checked from its header before a byte of its
 * payload is buffered; unmasked client frames, reserved bits and unknown opcodes
 * failed with 1002 (§5.1, §5.2, §7.1.7); fragmentation (§5.4); ping/pong (§5.5.2,
 * §5.5.3); the closing handshake (§5.5.1, §7.1.2); idle pings like Deno's
 * `idleTimeout`. Frames are sent with one write each, and frames queued while a
 * write is in flight go out together in the next one.
 *
 * The object offers the subset of the browser `WebSocket` API the hub uses
 * ({@link HubWebSocket}), so the hub does not know which implementation it holds. With
 * `client: true` the same code is the client end (masked frames out, unmasked in) that
 * `ws_client.ts` opens for agent, client and the hub's bridge.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { escapeForLog, logger } from "../log/mod.ts";
import { concatBytes } from "../protocol/bytes.ts";
import { isConnectionGone } from "./net_errors.ts";

const log = logger("hub");

/** The GUID of RFC 6455 §1.3, appended to `Sec-WebSocket-Key`. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Close codes this file sends (RFC 6455 §7.4.1). */
export const WsClose = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  noStatus: 1005,
  abnormal: 1006,
  invalidData: 1007,
  policy: 1008,
  tooBig: 1009,
} as const;

/** A message as the hub receives it: text as a string, binary as a whole `ArrayBuffer`. */
export interface HubMessageEvent {
  readonly data: string | ArrayBuffer;
}

/** What a close reports (the `CloseEvent` fields the hub may read). */
export interface HubCloseEvent {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/** The subset of the `WebSocket` API the hub uses on an accepted socket. */
export interface HubWebSocket {
  binaryType: BinaryType;
  /** 0 connecting, 1 open, 2 closing, 3 closed (the `WebSocket` constants). */
  readonly readyState: number;
  /** Bytes queued by `send` and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  onmessage: ((ev: HubMessageEvent) => void) | null;
  onclose: ((ev: HubCloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: string | Uint8Array | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

/** Options of {@link ServerWebSocket}. */
export interface ServerWebSocketOptions {
  /** Largest message accepted (all fragments together), bytes; larger ones close with 1009. */
  maxMessageBytes: number;
  /** Silence after which a ping is sent, and the time the pong then has, each half of this, ms. */
  idleTimeoutMs: number;
  /** Time the peer has to answer our Close before the TCP connection is dropped, ms. */
  closeTimeoutMs?: number;
  /**
   * Most bytes queued for a peer that does not read, bytes (default
   * {@link MAX_BUFFERED_BYTES}); a `send` past it closes the socket with 1008.
   */
  maxBufferedBytes?: number;
  /**
   * The client end of the connection (RFC 6455 §5.1, §5.3): frames we send are masked with
   * a fresh key each, frames we receive must not be. Default: the server end.
   */
  client?: boolean;
}

/**
 * Default {@link ServerWebSocketOptions.maxBufferedBytes}: 8 MiB, twice the relay's
 * drop threshold (`SEND_BUFFER_LIMIT`, 4 MiB), so it only ends peers that stopped reading
 * while something other than relay frames kept coming for them.
 */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * Pongs are queued only while less than this is waiting to be written, bytes (64 KiB). A
 * peer that sends pings and never reads would otherwise make the hub queue pongs without
 * bound; RFC 6455 §5.5.3 lets an endpoint answer only the most recent of several pings.
 */
export const PONG_BUFFER_LIMIT = 64 * 1024;

/**
 * `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2 item 5.4):
 * base64 of the SHA-1 of the key followed by {@link WEBSOCKET_GUID}.
 * @example
 * ```ts
 * acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
 * ```
 */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
}

/** First read buffer of a WebSocket, bytes (gorilla's default); idle agents keep only this. */
const SMALL_READ = 2048;
/** Read buffer once a read fills the small one (a busy relay socket), bytes. */
const LARGE_READ = 65536;
const OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xa;
const CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;
// ignoreBOM: a text message that starts with U+FEFF keeps it (RFC 6455 carries text as sent).
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Most fragments one message may arrive in; past it the socket is closed with 1009. */
export const MAX_FRAGMENTS = 1024;
const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * Valid close codes a peer may send (RFC 6455 §7.4.1, §7.4.2, and the IANA registry's 1012
 * service restart, 1013 try again later, 1014 bad gateway; 1004-1006 and 1015 are never sent).
 */
function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

/**
 * A server WebSocket over a TCP connection whose HTTP upgrade the caller
 * answered. Created before the 101 is written (state connecting, sends are
 * queued); {@link attach} starts it.
 */
export class ServerWebSocket implements HubWebSocket {
  binaryType: BinaryType = "arraybuffer";
  onmessage: ((ev: HubMessageEvent) => void) | null = null;
  onclose: ((ev: HubCloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  /** Set by the hub's upgrade route: true once the peer has proven who it is. */
  authenticated?: () => boolean;
  /** Called once, when {@link authenticated} first returns true. */
  onAuthenticated?: () => void;
  /** Called once when the TCP connection is gone. */
  onDone?: () => void;

  #state = CONNECTING;
  #conn?: Deno.Conn;
  readonly #opts: ServerWebSocketOptions;
  // send side: frames are appended to #out while #spare is being written.
  #out: Uint8Array | null = null;
  #outLen = 0;
  #spare: Uint8Array | null = null;
  #writing = false;
  #buffered = 0;
  // receive side
  #fragOp = -1;
  #fragments: Uint8Array[] = [];
  #fragBytes = 0;
  /** Frames of the message being reassembled, empty ones included. */
  #fragCount = 0;
  #closeSent = false;
  #closeTimer?: ReturnType<typeof setTimeout>;
  #closeCode: number = WsClose.abnormal;
  #closeReason = "";
  #wasClean = false;
  #pendingAuth = true;
  /** Time of the last bytes received, ms (the front end's coarse clock). */
  lastRx = 0;
  /** Time a ping went unanswered since, ms; 0 = none outstanding. */
  pingAt = 0;

  /** @param opts the message size bound (octets) and the idle and close timeouts (ms). */
  constructor(opts: ServerWebSocketOptions) {
    this.#opts = opts;
  }

  get readyState(): number {
    return this.#state;
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  /** Idle timeout, ms (pings after half of it). */
  get idleTimeoutMs(): number {
    return this.#opts.idleTimeoutMs;
  }

  /**
   * Starts the socket on `conn` once the 101 response is written.
   * @param rest bytes that followed the request head (the first frames).
   * @param now the coarse clock, ms.
   */
  attach(conn: Deno.Conn, rest: Uint8Array, now: number): Promise<void> {
    this.#conn = conn;
    this.lastRx = now;
    if (this.#state === CLOSED) {
      // Shed or failed while the 101 was being written.
      this.#closeConn();
      return Promise.resolve();
    }
    if (this.#state === CONNECTING) this.#state = OPEN;
    if (this.#outLen > 0) this.#flush();
    return this.#readLoop(rest);
  }

  /**
   * Queues one data frame (text for strings, binary otherwise). When the queue would pass
   * `maxBufferedBytes` (the peer stopped reading), the socket is closed with 1008 instead.
   */
  send(data: string | Uint8Array | ArrayBuffer): void {
    if (this.#state >= CLOSING || this.#closeSent) return;
    const bytes = typeof data === "string"
      ? encoder.encode(data)
      : data instanceof Uint8Array
      ? data
      : new Uint8Array(data);
    if (this.#buffered + bytes.length > (this.#opts.maxBufferedBytes ?? MAX_BUFFERED_BYTES)) {
      this.fail(WsClose.policy, "send buffer full: the peer does not read");
      return;
    }
    this.#queue(typeof data === "string" ? OP_TEXT : OP_BINARY, bytes);
  }

  /** Starts the closing handshake (RFC 6455 §5.5.1); the TCP connection ends when the peer answers. */
  close(code: number = WsClose.normal, reason = ""): void {
    if (this.#state >= CLOSING) return;
    this.#state = CLOSING;
    this.#sendClose(code, reason);
    this.#closeTimer = setTimeout(() => this.#finish(), this.#opts.closeTimeoutMs ?? 5000);
  }

  /** Sends a ping (liveness, RFC 6455 §5.5.2) with an empty payload. */
  ping(): void {
    if (this.#state === OPEN) this.#queue(OP_PING, EMPTY);
  }

  /** Closes with `code` and drops the TCP connection without waiting for the peer. */
  fail(code: number, reason: string): void {
    if (this.#state === CLOSED) return;
    this.#sendClose(code, reason);
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#state = CLOSING;
    this.#finish();
  }

  // ---- send ----

  #sendClose(code: number, reason: string): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    const r = encoder.encode(reason);
    const body = new Uint8Array(2 + Math.min(r.length, 123));
    body[0] = code >> 8;
    body[1] = code & 0xff;
    body.set(r.subarray(0, 123), 2);
    this.#queue(OP_CLOSE, code === WsClose.noStatus ? EMPTY : body);
  }

  #queue(op: number, payload: Uint8Array): void {
    const len = payload.length;
    const client = this.#opts.client === true;
    const hdr = (len < 126 ? 2 : len < 65536 ? 4 : 10) + (client ? 4 : 0);
    const need = this.#outLen + hdr + len;
    let out = this.#out;
    if (!out || out.length < need) {
      const grown = new Uint8Array(Math.max(need, 1024, (out?.length ?? 0) * 2));
      if (out && this.#outLen) grown.set(out.subarray(0, this.#outLen));
      out = this.#out = grown;
    }
    let o = this.#outLen;
    out[o++] = 0x80 | op;
    const maskBit = client ? 0x80 : 0;
    if (len < 126) out[o++] = maskBit | len;
    else if (len < 65536) {
      out[o++] = maskBit | 126;
      out[o++] = len >> 8;
      out[o++] = len & 0xff;
    } else {
      out[o++] = maskBit | 127;
      out[o++] = 0, out[o++] = 0, out[o++] = 0, out[o++] = 0;
      out[o++] = len >>> 24, out[o++] = (len >> 16) & 0xff;
      out[o++] = (len >> 8) & 0xff, out[o++] = len & 0xff;
    }
    if (client) {
      // A fresh masking key per frame (RFC 6455 §5.3), from a pool of random octets.
      if (maskPoolAt + 4 > maskPool.length) {
        crypto.getRandomValues(maskPool);
        maskPoolAt = 0;
      }
      out.set(maskPool.subarray(maskPoolAt, maskPoolAt + 4), o);
      maskPoolAt += 4;
      const body = out.subarray(o + 4, o + 4 + len);
      unmaskInto(payload, out, o, body);
    } else {
      out.set(payload, o);
    }
    this.#outLen = need;
    this.#buffered += hdr + len;
    if (!this.#writing && this.#conn) this.#flush();
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    const conn = this.#conn!;
    try {
      while (this.#outLen > 0) {
        const buf = this.#out!;
        const n = this.#outLen;
        // Swap: new frames go to the spare buffer while this one is written.
        this.#out = this.#spare;
        this.#spare = buf.length > 4 * LARGE_READ ? null : buf;
        this.#outLen = 0;
        let off = 0;
        while (off < n) off += await conn.write(buf.subarray(off, n));
        this.#buffered -= n;
      }
    } catch (err) {
      if (!isConnectionGone(err)) {
        log.error(`websocket write: ${escapeForLog((err as Error)?.stack ?? String(err), 2000)}`);
      }
      this.#outLen = 0;
      this.#finish();
    } finally {
      this.#writing = false;
    }
    const then = this.#afterFlush;
    this.#afterFlush = undefined;
    then?.();
  }

  #peerClosed = false;
  #afterFlush?: () => void;
  #reported = false;

  // ---- receive ----

  async #readLoop(rest: Uint8Array): Promise<void> {
    // A client's handlers are set after the dial returns it: deliver nothing before then.
    if (this.#opts.client) await new Promise((r) => setTimeout(r, 0));
    let buf = new Uint8Array(Math.max(SMALL_READ, rest.length));
    buf.set(rest);
    let start = 0;
    let end = rest.length;
    let smallReads = 0; // consecutive short reads: a large buffer is no longer needed
    const conn = this.#conn!;
    try {
      while (this.#state !== CLOSED) {
        // Parse every whole frame in buf[start, end).
        let need = 0;
        while (this.#state !== CLOSED && !this.#peerClosed) {
          const r = this.#parseFrame(buf, start, end);
          if (r < 0) {
            need = -r;
            break;
          }
          start = r;
        }
        if (this.#state === CLOSED || this.#peerClosed) break;
        // Make room: compact, and grow to hold the frame that is arriving.
        if (start > 0) {
          buf.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        if (need > buf.length) {
          const grown = new Uint8Array(need);
          grown.set(buf.subarray(0, end));
          buf = grown;
        } else if (end === 0 && buf.length > LARGE_READ) {
          buf = new Uint8Array(LARGE_READ); // give a large message's buffer back
        } else if (end === 0 && smallReads >= 16 && buf.length > SMALL_READ) {
          buf = new Uint8Array(SMALL_READ); // quiet again (a control socket after a big register)
        }
        const n = await conn.read(buf.subarray(end));
        if (n === null) break;
        this.lastRx = frontClock.now;
        smallReads = n < SMALL_READ / 2 ? smallReads + 1 : 0;
        end += n;
        if (end === buf.length && buf.length < LARGE_READ) {
          const grown = new Uint8Array(LARGE_READ);
          grown.set(buf.subarray(0, end));
          buf = grown;
        }
      }
    } catch (err) {
      // Reset, or closed by us: expected. Anything else (a bug behind onmessage is caught by
      // the hub; this would be one in the framing) is logged, and the socket ends either way.
      if (!isConnectionGone(err)) {
        log.error(`websocket read: ${escapeForLog((err as Error)?.stack ?? String(err), 2000)}`);
      }
    }
    this.#finish();
  }

  /**
   * Parses one frame at `p`; returns the offset after it, or minus the number of
   * bytes the buffer must hold (from `p` = 0 after compaction) to parse it.
   */
  #parseFrame(buf: Uint8Array, p: number, end: number): number {
    const avail = end - p;
    if (avail < 2) return -2;
    const b0 = buf[p], b1 = buf[p + 1];
    if (b0 & 0x70) return this.#protocolError("reserved bits set");
    const client = this.#opts.client === true;
    if (client) {
      if (b1 & 0x80) return this.#protocolError("server frame masked");
    } else if (!(b1 & 0x80)) return this.#protocolError("client frame not masked");
    const fin = (b0 & 0x80) !== 0;
    const op = b0 & 0x0f;
    let len = b1 & 0x7f;
    const maskLen = client ? 0 : 4;
    let hdr = 2 + maskLen;
    if (len === 126) {
      if (avail < 4) return -4;
      len = (buf[p + 2] << 8) | buf[p + 3];
      hdr = 4 + maskLen;
    } else if (len === 127) {
      if (avail < 10) return -10;
      const hi = (buf[p + 2] << 24 | buf[p + 3] << 16 | buf[p + 4] << 8 | buf[p + 5]) >>> 0;
      const lo = (buf[p + 6] << 24 | buf[p + 7] << 16 | buf[p + 8] << 8 | buf[p + 9]) >>> 0;
      len = hi > 0 ? Number.MAX_SAFE_INTEGER : lo;
      hdr = 10 + maskLen;
    }
    if (op >= 0x8) {
      if (op > OP_PONG) return this.#protocolError(`unknown opcode ${op}`);
      if (!fin || len > 125) return this.#protocolError("bad control frame");
    } else {
      if (op > OP_BINARY) return this.#protocolError(`unknown opcode ${op}`);
      if (op === OP_CONT ? this.#fragOp < 0 : this.#fragOp >= 0) {
        return this.#protocolError("bad fragmentation");
      }
      // The size check that keeps a peer from making us buffer: from the header alone.
      if (this.#fragBytes + len > this.#opts.maxMessageBytes) {
        this.fail(WsClose.tooBig, "message too big");
        return -1;
      }
    }
    if (avail < hdr + len) return -(hdr + len);
    const m = p + hdr - 4;
    const body = buf.subarray(p + hdr, p + hdr + len);
    if (op === OP_BINARY && fin) {
      // The common relay case: unmask (or copy) straight into the message's own buffer.
      const ab = new ArrayBuffer(len);
      if (client) new Uint8Array(ab).set(body);
      else unmaskInto(body, buf, m, new Uint8Array(ab));
      this.#deliver(ab);
      return p + hdr + len;
    }
    if (!client) unmaskInto(body, buf, m, body);
    switch (op) {
      case OP_PING:
        // Bounded: a peer that pings and never reads gets no more pongs queued (§5.5.3).
        if (!this.#closeSent && this.#buffered < PONG_BUFFER_LIMIT) this.#queue(OP_PONG, body);
        break;
      case OP_PONG:
        this.pingAt = 0;
        break;
      case OP_CLOSE:
        this.#onCloseFrame(body);
        break;
      default:
        this.#onData(op, fin, body);
    }
    return p + hdr + len;
  }

  #onData(op: number, fin: boolean, body: Uint8Array): void {
    if (op !== OP_CONT) this.#fragOp = op;
    let fresh = false; // body is our own copy, not a view of the read buffer
    if (!fin || this.#fragCount > 0) {
      // Empty fragments cost a frame header each and add nothing: the count bounds them too.
      if (++this.#fragCount > MAX_FRAGMENTS) {
        this.fail(1009, "message in too many fragments");
        return;
      }
      if (body.length > 0) this.#fragments.push(body.slice());
      this.#fragBytes += body.length;
      if (!fin) return;
      body = concatBytes(this.#fragments, this.#fragBytes);
      fresh = true;
      this.#fragments = [];
      this.#fragBytes = 0;
      this.#fragCount = 0;
    }
    const whole = this.#fragOp;
    this.#fragOp = -1;
    if (whole === OP_TEXT) {
      let text: string;
      try {
        text = decoder.decode(body);
      } catch {
        this.fail(WsClose.invalidData, "invalid UTF-8");
        return;
      }
      this.#deliver(text);
    } else {
      this.#deliver((fresh ? body : body.slice()).buffer as ArrayBuffer);
    }
  }

  #deliver(data: string | ArrayBuffer): void {
    if (this.#state !== OPEN) return; // after our Close, data is discarded (§5.5.1)
    this.onmessage?.({ data });
    if (this.#pendingAuth && this.authenticated?.()) {
      this.#pendingAuth = false;
      this.onAuthenticated?.();
    }
  }

  #onCloseFrame(body: Uint8Array): void {
    let code: number = WsClose.noStatus;
    let reason = "";
    if (body.length === 1) {
      this.#protocolError("bad close frame");
      return;
    }
    if (body.length >= 2) {
      code = (body[0] << 8) | body[1];
      if (!validCloseCode(code)) {
        this.#protocolError("bad close code");
        return;
      }
      try {
        reason = decoder.decode(body.subarray(2));
      } catch {
        this.fail(WsClose.invalidData, "invalid UTF-8");
        return;
      }
    }
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#wasClean = true;
    this.#peerClosed = true;
    this.#state = CLOSING;
    this.#sendClose(code, reason); // echo (§5.5.1); no-op when we closed first
    this.#finish();
  }

  #protocolError(reason: string): number {
    this.fail(WsClose.protocolError, reason);
    return -1;
  }

  /**
   * Ends the TCP connection once what is queued (our Close) is written, at most
   * 1 s later, and reports the close once.
   */
  #finish(): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    clearTimeout(this.#closeTimer);
    if (this.#conn && (this.#writing || this.#outLen > 0)) {
      const t = setTimeout(() => this.#report(), 1000);
      this.#afterFlush = () => {
        clearTimeout(t);
        this.#report();
      };
      if (!this.#writing) this.#flush();
      return;
    }
    this.#report();
  }

  #report(): void {
    if (this.#reported) return;
    this.#reported = true;
    this.#closeConn();
    try {
      this.onDone?.();
      this.onclose?.({
        code: this.#closeCode,
        reason: this.#closeReason,
        wasClean: this.#wasClean,
      });
    } catch (err) {
      // Reached from timers and write completions: a throwing handler must not end the process.
      log.error(
        `websocket close handler: ${escapeForLog((err as Error)?.stack ?? String(err), 2000)}`,
      );
    }
  }

  #closeConn(): void {
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
  }
}

/** A clock the front end advances about once a second, ms (cheaper than a call per read). */
export const frontClock = { now: 0 };

/** Random octets for client masking keys, refilled 1024 keys at a time. */
const maskPool = new Uint8Array(4096);
let maskPoolAt = maskPool.length;

/** True on a little-endian host (typed arrays use the host's byte order). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Copies `src` XOR the 4-byte mask at `key[m..m+4]` into `dst` (RFC 6455 §5.3); `dst` may be `src`. */
function unmaskInto(src: Uint8Array, key: Uint8Array, m: number, dst: Uint8Array): void {
  const n = src.length;
  let i = 0;
  if (n >= 64 && LITTLE_ENDIAN) {
    // Copy natively, then XOR 32-bit words of `dst` in place: 4 octets per step.
    if (dst !== src) dst.set(src);
    for (; ((dst.byteOffset + i) & 3) !== 0; i++) dst[i] ^= key[m + (i & 3)];
    const words = (n - i) >> 2;
    const k = key[m + (i & 3)] | key[m + ((i + 1) & 3)] << 8 | key[m + ((i + 2) & 3)] << 16 |
      key[m + ((i + 3) & 3)] << 24;
    const w = new Uint32Array(dst.buffer, dst.byteOffset + i, words);
    for (let j = 0; j < words; j++) w[j] ^= k;
    i += words << 2;
    for (; i < n; i++) dst[i] ^= key[m + (i & 3)];
    return;
  }
  const k0 = key[m], k1 = key[m + 1], k2 = key[m + 2], k3 = key[m + 3];
  for (; i + 4 <= n; i += 4) {
    dst[i] = src[i] ^ k0;
    dst[i + 1] = src[i + 1] ^ k1;
    dst[i + 2] = src[i + 2] ^ k2;
    dst[i + 3] = src[i + 3] ^ k3;
  }
  for (; i < n; i++) dst[i] = src[i] ^ key[m + (i & 3)];
}
