/**
 * A WebSocket to the hub as agent and client use it (spec session-and-relay.md §1-§3):
 * JSON signaling read one message at a time, binary relay frames handed to whoever
 * attached (queued, bounded, until then), and the close code/reason kept for messages.
 * @module
 */
import { decodeSignal, type SignalMessage, type UnknownMessage } from "../protocol/mod.ts";
import { diagnoseDialFailure, HubDialError, HubTimeoutError } from "./hub_error.ts";
import {
  dialWebSocket,
  directDialPossible,
  WebSocketHandshakeTimeout,
} from "../transport/ws_client.ts";

/** The WebSocket ended (or never opened); `reason` is the hub's close reason if any. */
export class SocketClosedError extends Error {
  override name = "SocketClosedError";
  /**
   * @param code the WebSocket close code (RFC 6455 §7.4; 1006 when it never opened).
   * @param reason the close reason the hub sent, `""` for none.
   * @param message overrides the default `connection closed (<code> <reason>)`.
   */
  constructor(readonly code: number, readonly reason: string, message?: string) {
    super(message ?? `connection closed (${code}${reason ? ` ${reason}` : ""})`);
  }
}

/** Handshake timeout for hub WebSockets (spec §1.2), in milliseconds. */
export const WS_HANDSHAKE_TIMEOUT_MS = 15_000;
/** Binary frames kept while nobody is attached (spec §1.4: a 256-datagram queue). */
const BINARY_QUEUE_MAX = 256;

/** A signaling message or one whose type is outside the catalogue. */
export type AnySignal = SignalMessage | UnknownMessage;

/** One hub WebSocket. Create with {@link SignalSocket.dial}. */
export class SignalSocket {
  #texts: AnySignal[] = [];
  #waiters: { resolve: (m: AnySignal) => void; reject: (e: Error) => void }[] = [];
  #binary: ((frame: Uint8Array) => void) | null = null;
  #binaryQueue: Uint8Array[] = [];
  #closedError: SocketClosedError | null = null;
  #closedResolve!: (e: SocketClosedError) => void;
  /** Resolves once the socket is closed, with the close code and reason. */
  readonly closed: Promise<SocketClosedError>;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((r) => (this.#closedResolve = r));
    ws.binaryType = "arraybuffer";
    ws.onmessage = (ev) => {
      const data = ev.data;
      if (typeof data === "string") {
        let msg: AnySignal;
        try {
          msg = decodeSignal(data);
        } catch {
          return; // malformed text from the peer: ignored, as Go peers do
        }
        const w = this.#waiters.shift();
        if (w) w.resolve(msg);
        else this.#texts.push(msg);
        return;
      }
      const frame = new Uint8Array(data as ArrayBuffer);
      if (this.#binary) this.#binary(frame);
      else if (this.#binaryQueue.length < BINARY_QUEUE_MAX) this.#binaryQueue.push(frame);
    };
    ws.onclose = (ev) => this.#finish(ev.code, ev.reason);
    ws.onerror = () => {};
  }

  #finish(code: number, reason: string) {
    if (this.#closedError) return;
    this.#closedError = new SocketClosedError(code, reason);
    for (const w of this.#waiters.splice(0)) w.reject(this.#closedError);
    this.#closedResolve(this.#closedError);
  }

  /**
   * Dials the hub URL exactly as configured (spec §1.1), 15 s handshake timeout.
   * @param timeoutMs handshake timeout, in milliseconds.
   * @throws {HubDialError} whose message is {@link describeHubError}'s sentence (the URL, the
   *   cause: DNS, refused, timeout, TLS, ... and the fix); `cause` is the original error.
   */
  static async dial(url: string, timeoutMs = WS_HANDSHAKE_TIMEOUT_MS): Promise<SignalSocket> {
    if (directDialPossible(url)) {
      // Our own client socket, with TCP_NODELAY (lib/transport/ws_client.ts says why).
      try {
        return new SignalSocket(await dialWebSocket(url, timeoutMs) as unknown as WebSocket);
      } catch (err) {
        if (err instanceof WebSocketHandshakeTimeout) {
          throw new HubDialError(url, new HubTimeoutError(timeoutMs, "WebSocket handshake"));
        }
        // Refused, DNS, TLS, not a WebSocket: dial again with the runtime's WebSocket, whose
        // errors the diagnosis below knows how to explain.
      }
    }
    return SignalSocket.#dialRuntime(url, timeoutMs);
  }

  /** Dials with the runtime's `WebSocket` (proxies honoured; TCP_NODELAY off). */
  static #dialRuntime(url: string, timeoutMs: number): Promise<SignalSocket> {
    const started = Date.now();
    const fail = async (err: unknown) => {
      // A refused TCP connection reads only "tcp connect error"; ask the OS why.
      const left = Math.max(500, timeoutMs - (Date.now() - started));
      return new HubDialError(url, await diagnoseDialFailure(url, err, left));
    };
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(url);
      } catch (err) {
        return reject(new HubDialError(url, err));
      }
      const timer = setTimeout(() => {
        ws.onopen = ws.onerror = ws.onclose = null;
        try {
          ws.close();
        } catch { /* ignore */ }
        reject(new HubDialError(url, new HubTimeoutError(timeoutMs, "WebSocket handshake")));
      }, timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(new SignalSocket(ws));
      };
      ws.onerror = (ev) => {
        clearTimeout(timer);
        ws.onopen = ws.onclose = null;
        fail((ev as ErrorEvent).error ?? (ev as ErrorEvent).message).then(reject);
      };
    });
  }

  /** Sends a JSON message as text; `newline` appends `\n` as Go's `WriteJSON` does. */
  sendJson(msg: object, newline = false): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify(msg) + (newline ? "\n" : ""));
  }

  /** Sends one binary message (a relay frame); the WebSocket copies `frame` during the call. */
  sendBinary(frame: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /** Sends raw text (e.g. the keepalive message). */
  sendText(text: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  /**
   * The next signaling message.
   * @param timeoutMs give up after this long (default: wait for ever).
   * @throws {SocketClosedError} when the socket closes first (or the timeout expires).
   */
  next(timeoutMs?: number): Promise<AnySignal> {
    const queued = this.#texts.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closedError) return Promise.reject(this.#closedError);
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      this.#waiters.push(w);
      if (timeoutMs !== undefined) {
        const t = setTimeout(() => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new SocketClosedError(0, "", `no message within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        const clear = () => clearTimeout(t);
        w.resolve = (m) => (clear(), resolve(m));
        w.reject = (e) => (clear(), reject(e));
      }
    });
  }

  /**
   * Routes every binary frame to `handler` (frames queued so far are delivered first).
   * The frame is owned by the handler (each WebSocket message is its own buffer).
   */
  onBinary(handler: (frame: Uint8Array) => void): void {
    this.#binary = handler;
    for (const f of this.#binaryQueue.splice(0)) handler(f);
  }

  /** Routes text messages arriving from now on to `handler` instead of {@link next}. */
  onText(handler: (msg: AnySignal) => void): void {
    for (const m of this.#texts.splice(0)) handler(m);
    this.#waiters.splice(0);
    this.ws.onmessage = ((orig) => (ev: MessageEvent) => {
      if (typeof ev.data === "string") {
        try {
          handler(decodeSignal(ev.data));
        } catch { /* ignored */ }
      } else orig!.call(this.ws, ev);
    })(this.ws.onmessage);
  }

  /** Bytes queued in the socket and not yet handed to the OS. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** True while the socket can send. */
  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes the socket (normal closure unless a code is given). */
  close(code = 1000, reason = ""): void {
    try {
      this.ws.close(code, reason);
    } catch { /* already closing */ }
    // The close event may take a while (or never come on a dead TCP connection).
    const t = setTimeout(() => this.#finish(code, reason), 3_000);
    Deno.unrefTimer(t);
  }
}
