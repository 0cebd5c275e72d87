/**
 * The hub's UDP relay (spec session-and-relay.md §5): per-side 8-byte tokens
 * handed out in `udp-offer`, PROBE → READY, and forwarding of
 * `token ‖ relay frame` datagrams to the real peer: over UDP when the peer has
 * probed (its address is known), else over the peer's own WebSocket (the spec's
 * recommended fix of the Go defect in §5.4).
 *
 * Hot path: datagrams are received into a small pool of reusable buffers; a
 * UDP→UDP forward rewrites the token and hop bytes in place and sends the same
 * buffer (which stays reserved until the send completes); a UDP→WS forward sends
 * a view of it. Token lookup uses the first six bytes as a number, so no string
 * is built per datagram.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock/mod.ts";
import {
  applyHop,
  bytesToHex,
  FLAG_DATA,
  isProbe,
  probeToReadyInPlace,
  UDP_TOKEN_LEN,
} from "../protocol/mod.ts";
import { logger } from "../log/mod.ts";

const log = logger("hub");

/** Something a token entry can deliver a frame to when its side is not on UDP. */
export interface FrameSink {
  /** Sends one relay frame (valid only during the call) on the side's WebSocket. */
  sendFrame(frame: Uint8Array): void;
}

/** One side's UDP relay state. */
export interface UdpTokenEntry {
  /** 16 lowercase hex chars, as sent in `udp-offer`. */
  readonly hex: string;
  readonly bytes: Uint8Array;
  /** The other side's entry. */
  peer?: UdpTokenEntry;
  /** This side's own WebSocket (where frames for this side go when it is not on UDP). */
  readonly sink: FrameSink;
  /**
   * Client leg of a bridged session (spec §3.7 step 5, §5.4 step 6): no peer token; frames
   * arriving with this token go to this bridge WebSocket.
   */
  bridge?: FrameSink;
  /** Last source address seen with this token (follows NAT rebinding). */
  addr?: Deno.NetAddr;
  readonly created: number;
  /** False once the session ended (the reaper may then delete it). */
  live: boolean;
  /** Datagrams received with this token, and forwarded to it. */
  rxDatagrams: number;
  /**
   * Called for each DATA datagram received with this token and forwarded (not PROBEs): the
   * side sends on the UDP relay (lib/hub/transports.ts).
   */
  onData?: () => void;
}

/** Reaper period and the age after which tokens without a live session go (spec §5.1). */
export const UDP_REAP_INTERVAL_MS = 60_000;
export const UDP_TOKEN_MAX_AGE_MS = 5 * 60_000;

/** A receive buffer of the pool with its two send-completion callbacks. */
interface PoolBuffer {
  bytes: Uint8Array;
  onSent: () => void;
  onSendError: (err: unknown) => void;
}

const POOL_SIZE = 32;
const BUF_SIZE = 65536;

function key48(b: Uint8Array): number {
  return ((b[0] << 16) | (b[1] << 8) | b[2]) * 0x1000000 + ((b[3] << 16) | (b[4] << 8) | b[5]);
}

/** Token table plus (when started) the UDP socket. */
export class UdpRelay {
  readonly #byKey = new Map<number, UdpTokenEntry>();
  readonly #clock: Pick<Clock, "now">;
  #conn?: Deno.DatagramConn;
  #closed = false;
  #reaper?: ReturnType<typeof setInterval>;
  readonly #free: PoolBuffer[] = [];
  #waiters: ((b: PoolBuffer) => void)[] = [];
  /** Counters for status/bench: datagrams in, forwarded over UDP, forwarded over WS, dropped. */
  readonly stats = { rx: 0, toUdp: 0, toWs: 0, dropped: 0, probes: 0 };

  constructor(opts: { clock?: Pick<Clock, "now"> } = {}) {
    this.#clock = opts.clock ?? systemClock;
  }

  /**
   * Binds the socket (IPv4, like Go) and starts the receive loop and the reaper.
   * @param hostname usually `0.0.0.0`.
   * @param port 0 for a free port.
   * @returns the bound port.
   * @throws when the port cannot be bound (the hub then runs WS-only).
   */
  start(hostname: string, port: number): number {
    this.#conn = Deno.listenDatagram({ hostname, port, transport: "udp" });
    for (let i = 0; i < POOL_SIZE; i++) this.#free.push(this.#newPoolBuffer());
    this.#reaper = setInterval(() => this.reap(), UDP_REAP_INTERVAL_MS);
    this.#loop();
    return (this.#conn.addr as Deno.NetAddr).port;
  }

  /** Creates the two linked tokens of one session (agent side and client side). */
  createPair(agent: FrameSink, client: FrameSink): { agent: UdpTokenEntry; client: UdpTokenEntry } {
    const a = this.#newEntry(agent);
    const c = this.#newEntry(client);
    a.peer = c;
    c.peer = a;
    return { agent: a, client: c };
  }

  /**
   * Creates the one token of a bridged session's client leg (spec §3.7 step 5): it has no
   * peer; datagrams with it are written to `bridge` after hop processing (§5.4 step 6).
   * @param client the client's WebSocket.
   * @param bridge the outbound WebSocket to the remote hub.
   */
  createBridgeLeg(client: FrameSink, bridge: FrameSink): UdpTokenEntry {
    const e = this.#newEntry(client);
    e.bridge = bridge;
    return e;
  }

  #newEntry(sink: FrameSink): UdpTokenEntry {
    for (;;) {
      const bytes = crypto.getRandomValues(new Uint8Array(UDP_TOKEN_LEN));
      const k = key48(bytes);
      if (this.#byKey.has(k)) continue; // 48-bit prefix must be unique for the lookup
      const e: UdpTokenEntry = {
        hex: bytesToHex(bytes),
        bytes,
        sink,
        created: this.#clock.now(),
        live: true,
        rxDatagrams: 0,
      };
      this.#byKey.set(k, e);
      return e;
    }
  }

  /** Forgets a session's tokens (any teardown, spec §3.4). */
  deletePair(...entries: (UdpTokenEntry | undefined)[]): void {
    for (const e of entries) {
      if (!e) continue;
      e.live = false;
      if (this.#byKey.get(key48(e.bytes)) === e) this.#byKey.delete(key48(e.bytes));
      e.peer = undefined;
      e.bridge = undefined;
    }
  }

  /** Deletes entries older than 5 min whose session is gone (safety net; spec §5.1). */
  reap(): number {
    const cutoff = this.#clock.now() - UDP_TOKEN_MAX_AGE_MS;
    let n = 0;
    for (const [k, e] of this.#byKey) {
      if (!e.live && e.created < cutoff) {
        this.#byKey.delete(k);
        n++;
      }
    }
    return n;
  }

  /** Number of tokens in the table. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Looks a datagram's token up (exported for tests). */
  lookup(datagram: Uint8Array): UdpTokenEntry | undefined {
    if (datagram.length < UDP_TOKEN_LEN) return undefined;
    const e = this.#byKey.get(key48(datagram));
    if (!e || e.bytes[6] !== datagram[6] || e.bytes[7] !== datagram[7]) return undefined;
    return e;
  }

  /**
   * Handles one datagram (spec §5.4).
   * @returns a promise while `datagram`'s buffer is still being sent (keep it reserved), else undefined.
   */
  handle(datagram: Uint8Array, from: Deno.NetAddr): Promise<unknown> | undefined {
    this.stats.rx++;
    const e = this.lookup(datagram);
    if (!e) {
      this.stats.dropped++;
      return undefined;
    }
    e.addr = from;
    e.rxDatagrams++;
    if (isProbe(datagram)) {
      this.stats.probes++;
      probeToReadyInPlace(datagram);
      return this.#send(datagram, from);
    }
    const frame = datagram.subarray(UDP_TOKEN_LEN);
    if (applyHop(frame) !== "forward") {
      this.stats.dropped++;
      return undefined;
    }
    if (e.bridge) {
      this.stats.toWs++;
      e.bridge.sendFrame(frame);
      return undefined;
    }
    const peer = e.peer;
    if (!peer || !peer.live) {
      this.stats.dropped++;
      return undefined;
    }
    if (e.onData && frame[2] === FLAG_DATA) e.onData();
    if (peer.addr) {
      datagram.set(peer.bytes, 0);
      this.stats.toUdp++;
      return this.#send(datagram, peer.addr);
    }
    this.stats.toWs++;
    peer.sink.sendFrame(frame);
    return undefined;
  }

  #send(buf: Uint8Array, to: Deno.NetAddr): Promise<unknown> | undefined {
    return this.#conn?.send(buf, to);
  }

  #acquire(): PoolBuffer | Promise<PoolBuffer> {
    const b = this.#free.pop();
    if (b) return b;
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #release(b: PoolBuffer): void {
    const w = this.#waiters.shift();
    if (w) w(b);
    else this.#free.push(b);
  }

  #newPoolBuffer(): PoolBuffer {
    // The release callbacks are made once per buffer, not per datagram.
    const b: PoolBuffer = {
      bytes: new Uint8Array(BUF_SIZE),
      onSent: () => this.#release(b),
      onSendError: (err: unknown) => {
        this.stats.dropped++;
        log.debug(`udp relay: send failed: ${(err as Error).message}`);
        this.#release(b);
      },
    };
    return b;
  }

  async #loop(): Promise<void> {
    const conn = this.#conn!;
    while (!this.#closed) {
      const buf = await this.#acquire();
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await conn.receive(buf.bytes);
      } catch (err) {
        this.#release(buf);
        if (this.#closed) return;
        log.debug(`udp relay: receive failed: ${(err as Error).message}`);
        continue;
      }
      let pending: Promise<unknown> | undefined;
      try {
        pending = this.handle(got[0], got[1] as Deno.NetAddr);
      } catch (err) {
        log.warn(`udp relay: datagram handling failed: ${(err as Error).message}`);
      }
      // A buffer being sent stays reserved until the send completes (Deno reads it then).
      if (pending) pending.then(buf.onSent, buf.onSendError);
      else this.#release(buf);
    }
  }

  /** Closes the socket and stops the reaper. */
  close(): void {
    this.#closed = true;
    if (this.#reaper !== undefined) clearInterval(this.#reaper);
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
  }
}
